"""The evaluation lesson's metrics on cases with known answers: KID, IS, precision/recall,
density/coverage, the Fréchet distance and FID∞ (features-level where possible: fast)."""

import random

import numpy as np
import pytest
import torch

import ganlessons as gl
from ganlessons import metrics as M


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def ring():
    """Two independent samples of the ring of 8 Gaussians: 'real' and 'fake', 1,000 points each."""
    data = gl.data.load("ring-8", n=2000, device="cpu")
    return data.x[:1000], data.y[:1000], data.x[1000:], data.y[1000:], data.std


@pytest.fixture(scope="module")
def digits(mnist5k):
    x = mnist5k.images()
    return x[:400], x[400:800], mnist5k.y[:400]


# ----------------------------------------------------------------------------- precision/recall, density/coverage

def test_identical_sets_score_one():
    f = torch.randn(300, 16, generator=_gen(0))
    pr = M.precision_recall_features(f, f.clone())
    dc = M.density_coverage_features(f, f.clone())
    assert pr == {"precision": 1.0, "recall": 1.0}  # prdc's strict `<` gives 1 here too (distance 0 < r_i) …
    # Density counts y_j = x_j in its own ball too: Σ_j #{i ≠ j: x_j ∈ B_i} = Σ_i k = kN, so 1 + 1/k exactly
    # (≈ 1 is for two independent samples of one distribution; see the ring test).
    assert dc["coverage"] == 1.0 and dc["density"] == pytest.approx(1 + 1 / 5)
    assert M.precision_recall_features(f, f, k=1) == {"precision": 1.0, "recall": 1.0}  # even at k = 1
    # … but its density: the k-th neighbour sits on the ball's edge, so with `<` each point is in k balls, not k + 1
    d = torch.cdist(f.double(), f.double(), compute_mode="donot_use_mm_for_euclid_dist")
    radii = d.kthvalue(6, dim=1).values
    assert (d < radii).sum().item() / (5 * len(f)) == pytest.approx(1.0)


def test_points_repeated_k_plus_1_times_score_one_with_le_and_zero_with_strict_lt():
    """Each point present k + 1 times: NND_k = 0, and a ball of radius 0 holds its copies only with `<=`."""
    k = 3
    f = torch.randn(40, 8, generator=_gen(1), dtype=torch.float64).repeat(k + 1, 1)
    pr = M.precision_recall_features(f, f.clone(), k=k)
    dc = M.density_coverage_features(f, f.clone(), k=k)
    assert pr == {"precision": 1.0, "recall": 1.0} and dc["coverage"] == 1.0
    d = torch.cdist(f, f, compute_mode="donot_use_mm_for_euclid_dist")
    radii = d.kthvalue(k + 1, dim=1).values
    assert (radii == 0).all()
    strict = d < radii                                     # the prdc package's comparison
    assert strict.any(dim=1).double().mean().item() == 0.0 and strict.any(dim=0).double().mean().item() == 0.0


def test_dropped_modes_lower_recall_and_coverage_not_precision(ring):
    x_real, _, x_fake, y_fake, _ = ring
    half = x_fake[y_fake < 4]  # a generator that lost 4 of the 8 modes
    full_pr, full_dc = M.precision_recall_features(x_fake, x_real), M.density_coverage_features(x_fake, x_real)
    pr, dc = M.precision_recall_features(half, x_real), M.density_coverage_features(half, x_real)
    assert full_pr["precision"] > 0.95 and full_pr["recall"] > 0.95 and full_dc["coverage"] > 0.95
    assert full_dc["density"] == pytest.approx(1.0, abs=0.1)                # independent samples: ≈ 1
    assert pr["precision"] > 0.95 and dc["density"] > 0.8                    # what is there is good …
    assert pr["recall"] == pytest.approx(0.5, abs=0.05)                      # … but half is missing
    assert dc["coverage"] == pytest.approx(0.5, abs=0.05)


def test_noisy_fakes_lower_precision_and_density(ring):
    x_real, _, x_fake, _, std = ring
    noisy = x_fake + 4 * std * torch.randn(x_fake.shape, generator=_gen(1))
    clean_pr, clean_dc = M.precision_recall_features(x_fake, x_real), M.density_coverage_features(x_fake, x_real)
    pr, dc = M.precision_recall_features(noisy, x_real), M.density_coverage_features(noisy, x_real)
    assert pr["precision"] < 0.5 * clean_pr["precision"], (pr, clean_pr)
    assert dc["density"] < 0.5 * clean_dc["density"], (dc, clean_dc)


def test_precision_recall_and_density_coverage_on_digits(digits):
    a, b, _ = digits
    noise = torch.rand(a.shape, generator=_gen(2)) * 2 - 1
    real = M.precision_recall(a, b)
    assert real["precision"] > 0.8 and real["recall"] > 0.8, real
    on_noise = M.precision_recall(noise, b)  # 400 reals: wide k-NN balls still take in some noise
    assert on_noise["precision"] < 0.3 * real["precision"] and on_noise["recall"] < 0.05, on_noise
    dc = M.density_coverage(a, b)
    assert dc["coverage"] > 0.8 and M.density_coverage(noise, b)["coverage"] < 0.05
    fa, fb = M.features(a), M.features(b)
    assert fa.shape == (400, 128)
    assert M.precision_recall_features(fa, fb) == real  # the image-level call is φ, then the features one


# ----------------------------------------------------------------------------- KID

def _biased_mmd2(x, y):
    """The V-statistic: the diagonal k(x_i, x_i) included, biased upwards by O(1/m)."""
    k = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3
    return (k(x, x).mean() + k(y, y).mean() - 2 * k(x, y).mean()).item()


def test_kid_is_unbiased_where_the_v_statistic_is_not():
    g = _gen(3)
    draws = [(torch.randn(20, 8, generator=g), torch.randn(20, 8, generator=g)) for _ in range(400)]
    kids = torch.tensor([M.kid_features(x, y, subsets=1)[0] for x, y in draws])
    biased = torch.tensor([_biased_mmd2(x.double(), y.double()) for x, y in draws])
    stderr = kids.std() / len(kids) ** 0.5
    assert abs(kids.mean()) < 3 * stderr, (kids.mean(), stderr)       # ≈ 0 at m = 20 …
    assert biased.mean() > 20 * stderr and (kids < 0).any()           # … the biased one is not; KID may be < 0


def test_kid_separates_distributions_and_adapts_to_small_samples():
    g = _gen(4)
    x, y = (torch.randn(200, 16, generator=g) for _ in range(2))
    same, shifted = M.kid_features(x, y, subset_size=100), M.kid_features(x + 0.5, y, subset_size=100)
    assert abs(same[0]) < 3 * same[1] and shifted[0] > 5 * shifted[1] > 0, (same, shifted)
    assert shifted[0] > 10 * abs(same[0])
    assert M.kid_features(x[:50], y) != M.kid_features(x[:50], y, seed=1)  # the subsets of y differ by seed
    assert M.kid_features(x[:50], y) == M.kid_features(x[:50], y)                    # and not otherwise
    whole = M.kid_features(x[:50], y[:50])  # m = 50 = both sizes: every subset is all of both
    assert whole[1] == 0.0 and whole == M.kid_features(x[:50], y[:50], subsets=1)


@pytest.mark.filterwarnings("ignore:Metric `Kernel Inception Distance` will save")
def test_kid_on_50_digits_matches_torchmetrics(digits):
    from torchmetrics.image.kid import KernelInceptionDistance

    from ganlessons.models.lenet import LeNetFeatures

    a, b, _ = digits
    assert M.kid(a[:50], b[:50])[0] > -1e3  # 50 < the default subset size 1000: no error
    ours = M.kid(a[:100], b[:100], subset_size=50, subsets=20, seed=7)
    tm = KernelInceptionDistance(feature=LeNetFeatures(M.domain_classifier("mnist")), subset_size=50, subsets=20)
    tm.update(b[:100], real=True)
    tm.update(a[:100], real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)  # the same subsets, drawn in the same order, from the global RNG
        mean, std = tm.compute()
    assert ours == pytest.approx((mean.item(), std.item()), rel=1e-3, abs=1e-5)
    noise = M.kid(torch.rand(100, 1, 28, 28, generator=_gen(5)) * 2 - 1, b[:100], subset_size=50, subsets=20)
    assert noise[0] > 3 * noise[1] and noise[0] > 20 * abs(ours[0]), (noise, ours)


# ----------------------------------------------------------------------------- Inception score

def test_inception_score_known_values():
    confident = 50.0 * torch.eye(10).repeat(100, 1)          # 1,000 sure predictions, 100 per class
    assert M.inception_score_from_logits(confident, splits=1) == pytest.approx((10.0, 0.0), abs=1e-6)
    mean, std = M.inception_score_from_logits(confident)     # shuffled splits: counts ≈ but ≠ 100/10
    assert 9.0 < mean <= 10.0 and std > 0
    one_class = 50.0 * torch.eye(10)[[3] * 500]
    assert M.inception_score_from_logits(one_class)[0] == pytest.approx(1.0, abs=1e-6)
    unsure = torch.zeros(500, 10)                            # p(y|x) uniform: KL = 0
    assert M.inception_score_from_logits(unsure)[0] == pytest.approx(1.0, abs=1e-6)
    sorted_logits = 50.0 * torch.eye(10).repeat_interleave(100, 0)   # sorted by class: shuffling matters
    assert M.inception_score_from_logits(sorted_logits)[0] > 9.0


def test_inception_score_of_digits(mnist5k):
    x = mnist5k.images(1000)
    mean, std = M.inception_score(x)
    assert 8.5 < mean <= 10.0 and std < 0.5, (mean, std)
    sevens = mnist5k.images()[mnist5k.y == 7][:200]
    assert M.inception_score(sevens, splits=2)[0] < 1.3


# ----------------------------------------------------------------------------- FID: closed form and FID∞

def test_frechet_distance_known_gaussians():
    g = _gen(6)
    a = torch.randn(6, 6, generator=g, dtype=torch.float64)
    sigma = a @ a.T + 0.1 * torch.eye(6, dtype=torch.float64)
    mu1, mu2 = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    assert M.frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(((mu1 - mu2) ** 2).sum().item(), rel=1e-9, abs=1e-9)
    s1, s2 = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([9.0, 1.0, 0.25])  # variances: (σ₁ − σ₂)² = 4, 1, 0
    zero = torch.zeros(3)
    assert M.frechet_distance(zero, torch.diag(s1), zero, torch.diag(s2)) == pytest.approx(5.0, rel=1e-9)
    assert M.frechet_distance(mu1, sigma, mu1, sigma) == pytest.approx(0.0, abs=1e-9)
    scipy_linalg = pytest.importorskip("scipy.linalg")
    b = torch.randn(6, 6, generator=g, dtype=torch.float64)
    sigma2 = b @ b.T
    root = scipy_linalg.sqrtm(sigma.numpy() @ sigma2.numpy()).real  # pytorch-fid's route
    want = ((mu1 - mu2) ** 2).sum().item() + np.trace(sigma.numpy() + sigma2.numpy() - 2 * root)
    assert M.frechet_distance(mu1.numpy(), sigma.numpy(), mu2, sigma2) == pytest.approx(want, rel=1e-7)


def test_fid_from_features_matches_domain_fid(digits):
    a, b, _ = digits
    assert M.fid_from_features(M.features(a), M.features(b)) == pytest.approx(M.domain_fid(a, b), rel=1e-3)


def _whitened(n, d, g):
    """n points whose sample mean is exactly 0 and sample covariance exactly I."""
    r = torch.randn(n, d, generator=g, dtype=torch.float64)
    r = r - r.mean(0)
    return r @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(r.T))).T


def test_fid_infinity_recovers_the_intercept():
    g = _gen(7)
    f_real = _whitened(20000, 64, g)                        # N(0, I), exactly
    shift = torch.zeros(64, dtype=torch.float64)
    shift[0] = 1.0
    f_fake = torch.randn(2000, 64, generator=g, dtype=torch.float64) + shift   # N(Δ, I): FID = ‖Δ‖² = 1
    out = M.fid_infinity_features(f_fake, f_real)
    sizes = [n for n, _ in out["points"]]
    assert sizes[0] == 400 and sizes[-1] == 2000 and len(sizes) == 15
    fid_at_n = out["points"][-1][1]
    assert fid_at_n > 1.4                                    # FID_N is biased upwards at N = 2000 in 64-d …
    assert out["fid_infinity"] == pytest.approx(1.0, abs=0.2) and out["slope"] > 0  # … FID∞ is not
    fids = torch.tensor([fid for _, fid in out["points"]])  # the points lie near FID∞ + b/N: R² > 0.9
    fitted = torch.tensor([out["fid_infinity"] + out["slope"] / n for n, _ in out["points"]])
    assert 1 - ((fids - fitted) ** 2).sum() / ((fids - fids.mean()) ** 2).sum() > 0.9


def test_fid_infinity_on_digits(digits):
    a, b, _ = digits
    out = M.fid_infinity(a, b, n_points=5, n_min=100)
    assert [n for n, _ in out["points"]] == [100, 175, 250, 325, 400]
    assert out["fid_infinity"] < out["points"][-1][1] and out["slope"] > 0


# ----------------------------------------------------------------------------- determinism and the global RNG

def test_no_metric_touches_the_global_rng(digits, ring):
    a, b, _ = digits
    x_real, _, x_fake, _, _ = ring
    calls = [
        lambda: M.kid(a[:60], b[:60], subsets=5), lambda: M.kid_features(x_fake, x_real, subset_size=50, subsets=5),
        lambda: M.inception_score(a), lambda: M.inception_score_from_logits(torch.eye(10).repeat(5, 1), splits=5),
        lambda: M.precision_recall(a[:100], b[:100]), lambda: M.precision_recall_features(x_fake, x_real),
        lambda: M.density_coverage(a[:100], b[:100]), lambda: M.density_coverage_features(x_fake, x_real),
        lambda: M.fid_infinity(a, b, n_points=3), lambda: M.fid_infinity_features(x_fake, x_real, n_points=3),
        lambda: M.fid_from_features(x_fake, x_real), lambda: M.features(a[:10]),
        lambda: M.frechet_distance(torch.zeros(2), torch.eye(2), torch.ones(2), torch.eye(2)),
    ]
    for call in calls:
        torch.manual_seed(123)
        states = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
        first = call()
        assert torch.equal(states[0], torch.get_rng_state()), call
        assert np.array_equal(states[1], np.random.get_state()[1]) and states[2] == random.getstate()
        torch.manual_seed(999)  # another global state: the same numbers
        again = call()
        assert torch.equal(again, first) if isinstance(first, torch.Tensor) else again == first


# ----------------------------------------------------------------------------- bad input

def test_bad_arguments_name_the_argument_and_what_is_allowed(digits):
    a, b, _ = digits
    f = torch.randn(10, 4)
    with pytest.raises(ValueError, match=r"k=10 must be less than the number of real samples \(10\)"):
        M.precision_recall_features(torch.randn(20, 4), f, k=10)
    with pytest.raises(ValueError, match=r"k=5 must be less than the number of fake samples \(5\)"):
        M.precision_recall_features(f[:5], f, k=5)
    with pytest.raises(ValueError, match="k must be > 0, got 0"):
        M.density_coverage_features(f, f, k=0)
    with pytest.raises(TypeError, match="k must be an int, got 2.5"):
        M.precision_recall_features(f, f, k=2.5)
    with pytest.raises(ValueError, match=r"f_fake and f_real must have the same number of features d.*\(10, 3\)"):
        M.density_coverage_features(torch.randn(10, 3), f)
    with pytest.raises(ValueError, match=r"f_real must have shape \(N, d\).*\(10,\)"):
        M.fid_from_features(f, torch.randn(10))
    with pytest.raises(ValueError, match="f_fake needs at least 2 samples, got 1"):
        M.kid_features(f[:1], f)
    with pytest.raises(ValueError, match="f_real contains NaN"):
        M.fid_from_features(f, f * float("nan"))
    with pytest.raises(TypeError, match="f_fake must be a torch.Tensor .* got list"):
        M.precision_recall_features([[0.0, 1.0]], f)
    with pytest.raises(ValueError, match=r"subset_size=50 is not allowed: it must lie in \[2, 10\]"):
        M.kid_features(f, torch.randn(60, 4), subset_size=50)
    with pytest.raises(ValueError, match="subsets must be > 0, got 0"):
        M.kid_features(f, f, subsets=0)
    with pytest.raises(ValueError, match="splits=11 is more than the 10 samples"):
        M.inception_score_from_logits(torch.randn(10, 10), splits=11)
    with pytest.raises(ValueError, match="logits must have shape"):
        M.inception_score_from_logits(torch.randn(10))
    with pytest.raises(ValueError, match=r"n_min=10 is not allowed: it must lie in \[2, 9\]"):
        M.fid_infinity_features(f, f, n_min=10)
    with pytest.raises(ValueError, match="n_points=1 is not allowed"):
        M.fid_infinity_features(f, f, n_points=1)
    with pytest.raises(ValueError, match=r"sigma2 must have shape \(d, d\) with d = len\(mu1\) = 3, got \(2, 2\)"):
        M.frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(3), torch.eye(2))
    with pytest.raises(ValueError, match=r"x_fake must be in \[-1, 1\]"):
        M.precision_recall(a * 255, b)
    with pytest.raises(ValueError, match=r"x_real must have shape"):
        M.kid(a, b.flatten(1))
    with pytest.raises(ValueError, match="x_fake needs at least 2 image"):
        M.density_coverage(a[:1], b)
    with pytest.raises(ValueError, match="domain='cifar'"):
        M.inception_score(a, domain="cifar")


def test_loading_the_domain_classifier_leaves_the_global_rng_alone():
    """The first metric of a session builds the LeNet (random init, then the shipped weights): that
    must not move a training run's random stream, or re-running a cell would change the run."""
    from ganlessons import metrics as M
    M._classifier.cache_clear()
    state = torch.random.get_rng_state()
    M.domain_classifier("mnist")
    assert torch.equal(torch.random.get_rng_state(), state)
