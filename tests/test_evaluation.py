"""Lesson 08's helpers (ganlessons.evaluation) and its exercise checkers (ganlessons.checks.evaluation),
on cases with known answers. The metrics themselves are tested in test_metrics_eval.py."""

import math
import random
import statistics

import numpy as np
import pytest
import torch

import ganlessons as gl
import ganlessons.checks.evaluation as C
import ganlessons.evaluation as E
from ganlessons import metrics as M


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _states():
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


def _same(a, b):
    return torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


@pytest.fixture(scope="module")
def bench():
    return E.bench()


def _rows_in(x, pool):
    """For each image of x, whether it is an exact copy of an image of pool."""
    d = torch.cdist(x.flatten(1).double(), pool.flatten(1).double(), compute_mode="donot_use_mm_for_euclid_dist")
    return (d == 0).any(dim=1)


# ----------------------------------------------------------------------------- the bench and controlled sets


def test_bench_is_the_shipped_split(bench):
    assert bench.x_train.shape == (4000, 1, 28, 28) and bench.x_ref.shape == (1000, 1, 28, 28)
    assert bench.f_train.shape == (4000, 128) and bench.f_ref.dtype == torch.float64
    torch.testing.assert_close(bench.f_ref[:5], M.features(bench.x_ref[:5]).double(), atol=1e-4, rtol=1e-5)


def test_controlled_set_draws_novel_digits_and_copies_on_request(bench):
    seen = bench.x_train[:E.SEEN]
    clean = E.controlled_set(bench, 300, seed=1)
    assert clean.shape == (300, 1, 28, 28) and clean.min() >= -1 and clean.max() <= 1
    assert not _rows_in(clean, seen).any() and _rows_in(clean, bench.x_train[E.SEEN:]).all()
    assert torch.equal(clean, E.controlled_set(bench, 300, seed=1))              # same seed, same set
    assert not torch.equal(clean, E.controlled_set(bench, 300, seed=2))
    half = E.controlled_set(bench, 300, copies=0.5, seed=1)
    assert _rows_in(half, seen).sum().item() == 150
    few = E.controlled_set(bench, 300, copies=1.0, distinct=7, seed=1)
    assert _rows_in(few, seen).all() and torch.unique(few.flatten(1), dim=0).shape[0] <= 7


def test_controlled_set_keeps_only_the_asked_classes(bench):
    x = E.controlled_set(bench, 300, classes_kept=3, seed=0)
    idx = torch.cdist(x.flatten(1), bench.x_train.flatten(1)).argmin(dim=1)
    assert set(bench.y_train[idx].tolist()) <= {0, 1, 2}


def test_noise_and_blur(bench):
    clean = E.controlled_set(bench, 50, seed=3)
    noisy = E.controlled_set(bench, 50, noise=0.3, seed=3)
    residual = (noisy - clean)[(clean > -0.5) & (clean < 0.5)]  # away from the clipping
    assert residual.std().item() == pytest.approx(0.3, rel=0.3)
    flat = torch.full((1, 1, 28, 28), 0.25)
    torch.testing.assert_close(E._blur(flat, 1.5), flat)                       # a constant stays constant
    assert torch.equal(E._blur(flat, 0.0), flat)
    delta = torch.zeros(1, 1, 28, 28)
    delta[0, 0, 14, 14] = 1.0
    out = E._blur(delta, 1.5)[0, 0]
    assert out.sum().item() == pytest.approx(1.0, abs=1e-5)
    t = torch.arange(28.0) - 14
    assert (out.sum(0) * t ** 2).sum().item() == pytest.approx(1.5 ** 2, rel=0.02)  # variance σ² per axis


def test_controlled_set_bad_arguments(bench):
    for kwargs, word in (({"classes_kept": 0}, "classes_kept"), ({"classes_kept": 11}, "classes_kept"),
                         ({"copies": 1.5}, "copies"), ({"noise": -0.1}, "noise"), ({"blur": -1.0}, "blur"), ({"blur": 12.0}, "blur"),
                         ({"n": 0}, "n"), ({"n": 400, "classes_kept": 1}, "classes_kept"),
                         ({"copies": 0.5, "distinct": 0}, "distinct"), ({"distinct": 2.5}, "distinct")):
        with pytest.raises((ValueError, TypeError), match=word):
            E.controlled_set(bench, **{"n": 100, **kwargs})


def test_controlled_set_leaves_the_global_rng_alone(bench):
    before = _states()
    E.controlled_set(bench, 100, noise=0.2, copies=0.3, seed=4)
    assert _same(before, _states())


# ----------------------------------------------------------------------------- memorisation


def test_memorisation_known_answers():
    g = _gen(0)
    f_train, f_ref, f_new = (torch.randn(n, 8, generator=g, dtype=torch.float64) for n in (500, 1000, 1000))
    copies = f_train[torch.randint(500, (200,), generator=g)]
    m = E.memorisation_features(copies, f_train, f_ref)
    assert m["memorised"] == 1.0 and m["ratio"] < 1e-6
    fresh = E.memorisation_features(f_new, f_train, f_ref)
    assert fresh["memorised"] == pytest.approx(0.01, abs=0.015) and fresh["ratio"] == pytest.approx(1.0, abs=0.1)
    mixed = E.memorisation_features(torch.cat([copies[:100], f_new[:100]]), f_train, f_ref)
    assert mixed["memorised"] == pytest.approx(0.5, abs=0.03)
    with pytest.raises(ValueError, match="quantile"):
        E.memorisation_features(f_new, f_train, f_ref, quantile=1.0)
    with pytest.raises(ValueError, match="same number of features"):
        E.memorisation_features(f_new[:, :4], f_train, f_ref)


# ----------------------------------------------------------------------------- KDE and total variation


def test_kde_log_density_is_a_normalised_gaussian_mixture():
    c = torch.tensor([[0.0], [2.0]], dtype=torch.float64)
    x = torch.linspace(-8, 10, 4001, dtype=torch.float64)[:, None]
    p = E.kde_log_density(x, c, 0.7).exp()
    assert torch.trapezoid(p, x[:, 0]).item() == pytest.approx(1.0, abs=1e-6)
    one = E.kde_log_density(torch.tensor([[0.3, -0.2]], dtype=torch.float64), torch.zeros(1, 2), 0.5)
    expected = -(0.3 ** 2 + 0.2 ** 2) / (2 * 0.25) - math.log(2 * math.pi * 0.25)
    assert one.item() == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="h"):
        E.kde_log_density(x, c, 0.0)


def test_bandwidth_by_held_out_likelihood_is_near_the_normal_reference():
    f = torch.randn(2000, 1, generator=_gen(1), dtype=torch.float64)
    bw = E.kde_bandwidth(f, seed=0)
    silverman = 1.06 * 2000 ** (-1 / 5)  # optimal for Gaussian data: ≈ 0.23
    assert not bw["at_edge"] and 0.6 * silverman < bw["h"] < 1.6 * silverman
    assert len(bw["loglik"]) == len(bw["grid"])
    # the h chosen on halves of 1,000 is scaled to 2,000 points by n^(−1/(d+4)): 2^(−1/5) here
    best = bw["grid"][max(range(len(bw["grid"])), key=bw["loglik"].__getitem__)]
    assert bw["h"] == pytest.approx(best * 2 ** (-1 / 5), rel=1e-12)
    f3 = torch.randn(400, 3, generator=_gen(2), dtype=torch.float64)
    bw3 = E.kde_bandwidth(f3, grid=[0.2, 0.4, 0.8, 1.6], seed=0)
    assert bw3["h"] / bw3["grid"][max(range(4), key=bw3["loglik"].__getitem__)] == pytest.approx(2 ** (-1 / 7))
    with pytest.raises(ValueError, match="grid"):
        E.kde_bandwidth(f, grid=[0.1, -1.0])


def test_tv_of_two_gaussians_matches_the_closed_form():
    """TV(N(0, 1), N(μ, 1)) = 2Φ(μ/2) − 1."""
    g = _gen(2)
    a = torch.randn(1000, 1, generator=g, dtype=torch.float64)
    for mu in (0.0, 1.0, 2.0):
        b = torch.randn(1000, 1, generator=g, dtype=torch.float64) + mu
        exact = 2 * statistics.NormalDist().cdf(mu / 2) - 1
        tv = E.tv_kde_features(b, a, dim=1, seed=0)["tv"]
        assert tv == pytest.approx(exact, abs=0.06), (mu, tv, exact)  # measured within 0.04 (seeds 2–4)
    far = E.tv_kde_features(a + 20, a, dim=1, seed=0)["tv"]
    assert far > 0.999
    assert E.tv_kde_features(b, a, dim=1, seed=3) == E.tv_kde_features(b, a, dim=1, seed=3)  # same seed, same number


def test_tv_bad_arguments():
    f = torch.randn(100, 3, generator=_gen(3), dtype=torch.float64)
    with pytest.raises(ValueError, match="dim"):
        E.tv_kde_features(f, f, dim=4)
    with pytest.raises((ValueError, TypeError), match="n_mc"):
        E.tv_kde_features(f, f, n_mc=0)


def test_whitening_is_one_map_to_unit_variance_principal_axes():
    g = _gen(4)
    f = torch.randn(500, 5, generator=g, dtype=torch.float64) @ torch.randn(5, 5, generator=g, dtype=torch.float64) + 3.0
    project = E.whitening(f, 3)
    p = project(f)
    assert p.shape == (500, 3)
    torch.testing.assert_close(p.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-10, rtol=0)
    torch.testing.assert_close(torch.cov(p.T), torch.eye(3, dtype=torch.float64), atol=1e-10, rtol=0)
    variances = [torch.var(f @ v) for v in torch.linalg.svd(f - f.mean(0), full_matrices=False)[2][:3]]
    assert variances[0] >= variances[1] >= variances[2]          # the leading axes, in order
    torch.testing.assert_close(project(f + 1.0) - p, (project(f[:1] + 1.0) - project(f[:1])).expand(500, 3))  # affine
    for bad in (0, -1):
        with pytest.raises(ValueError, match="dim"):
            E.whitening(f, bad)
    with pytest.raises(ValueError, match="dim=6"):
        E.whitening(f, 6)


def test_tv_leaves_the_global_rng_alone_and_warns_on_duplicates():
    g = _gen(5)
    a, b = torch.randn(300, 2, generator=g, dtype=torch.float64), torch.randn(300, 2, generator=g, dtype=torch.float64)
    torch.manual_seed(1)
    before = _states()
    tv = E.tv_kde_features(a, b, dim=2, seed=4)
    assert _same(before, _states()) and tv == E.tv_kde_features(a, b, dim=2, seed=4)
    dup = a[:10].repeat(30, 1)                                      # 10 points, 30 copies each
    with pytest.warns(RuntimeWarning, match="edge of the grid"):
        out = E.tv_kde_features(dup, b, dim=2, seed=0)
    assert out["h_fake"] == pytest.approx(min(E.kde_bandwidth(dup)["grid"]) * 2 ** (-1 / 6))


def test_the_tutorial_tvd_is_blind_by_construction():
    """Its per-set standardisation and PCA erase location and scale; its densities in 20-d are ~1e-8."""
    g = _gen(4)
    f_real, f_fake = torch.randn(500, 50, generator=g, dtype=torch.float64), torch.randn(500, 50, generator=g, dtype=torch.float64)
    same = E.tutorial_tvd_features(f_fake, f_real)
    moved = E.tutorial_tvd_features(-3 * f_fake + 7, f_real)      # another distribution altogether
    assert same < 1e-6 and moved == pytest.approx(same, rel=1e-6)
    assert E.tv_kde_features(-3 * f_fake + 7, f_real, seed=0)["tv"] > 0.99  # done right: disjoint


def test_tutorial_cnn_is_the_untrained_network_and_leaves_the_rng_alone():
    before = _states()
    a, b = E.TutorialCNN(seed=0), E.TutorialCNN(seed=0)
    assert _same(before, _states())
    x = torch.rand(4, 1, 28, 28, generator=_gen(5)) * 2 - 1
    out = a(x)
    assert out.shape == (4, 50) and (out >= 0).all() and torch.equal(out, b(x))
    assert not torch.equal(out, E.TutorialCNN(seed=1)(x))


# ----------------------------------------------------------------------------- every metric at once, experiments


def test_logits_from_features_are_the_classifiers(bench):
    x = bench.x_ref[:20]
    net = M.domain_classifier("mnist", "cpu")
    torch.testing.assert_close(E.logits_from_features(M.features(x)), net(x), atol=1e-5, rtol=1e-5)


def test_score_features_on_real_digits(bench):
    s = E.score_features(bench.f_train[:500], bench, seed=0)
    assert {k for k, _, _ in E.METRICS} <= set(s) and s["n"] == 500
    assert s["memorised"] == 1.0                                      # training digits are copies of themselves
    assert s["precision"] > 0.8 and s["recall"] > 0.8 and s["inception_score"] > 8.5
    novel = E.score_features(bench.f_train[1000:1500], bench, n_train=1000, seed=0)  # not among the first 1,000
    assert novel["memorised"] < 0.05
    assert E.score_features(bench.f_train[:500], bench, seed=0) == s
    with pytest.raises(ValueError, match="n_train"):
        E.score_features(bench.f_train[:500], bench, n_train=0)


def test_sweep_dropping_classes_lowers_recall_not_precision(bench):
    s = E.sweep(bench, "classes_kept", [10, 3], n=300, seed=0)
    assert s["values"] == [10, 3] and len(s["domain_fid"]) == 2
    assert s["recall"][1] < 0.55 * s["recall"][0] and s["coverage"][1] < 0.55 * s["coverage"][0]
    assert abs(s["precision"][1] - s["precision"][0]) < 0.1 and s["domain_fid"][1] > 10 * s["domain_fid"][0]
    with pytest.raises(ValueError, match="G="):
        E.sweep(bench, "psi", [1.0], n=100)
    with pytest.raises(ValueError, match="knob"):
        E.sweep(bench, "colour", [1.0], n=100)


def test_figures_and_the_explorer(bench):
    import matplotlib.pyplot as plt

    base = E.score_images(E.controlled_set(bench, 200), bench, n_train=E.SEEN)
    s = E.sweep(bench, "noise", [0.0, 0.5], n=200)
    assert isinstance(E.response_figure({"noise": s}, floor=base), plt.Figure)
    assert isinstance(E.experiment_figure(bench, base, 200, classes_kept=4), plt.Figure)
    box = E.experiment_explorer(bench, base, n=200)
    assert box.sliders["distinct"].index == 0  # "all" selected (a None value would show a blank box)
    box.sliders["classes_kept"].value = 5
    box.sliders["distinct"].value = 10
    box.sliders["copies"].value = 0.5
    assert box.state["error"] is None


def test_truncated_samples():
    torch.manual_seed(0)
    G = gl.models.StyleGenerator(8, 8, mapping_layers=1, fmap_base=16, fmap_max=8).eval()
    before = _states()
    x = E.truncated_samples(G, 6, 0.5, seed=1)
    assert _same(before, _states())
    assert x.shape == (6, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x, E.truncated_samples(G, 6, 0.5, seed=1))
    with pytest.raises(ValueError, match="psi"):
        E.truncated_samples(G, 6, 1.5)
    with pytest.raises(TypeError, match="StyleGenerator"):
        E.truncated_samples(gl.models.MLPGenerator(8, hidden=(16,)), 6, 0.5)


# ----------------------------------------------------------------------------- sample size, seeds


def test_size_study_recovers_fid_infinity():
    """N(μ, I) against N(0, I) in 8-d: FID = ‖μ‖² = 1; FID_N = FID + b/N with b > 0."""
    g = _gen(6)
    f_real = torch.randn(20000, 8, generator=g, dtype=torch.float64)
    mu = torch.zeros(8, dtype=torch.float64)
    mu[0] = 1.0
    f_fake = torch.randn(2000, 8, generator=g, dtype=torch.float64) + mu
    s = E.size_study(f_fake, f_real, [50, 100, 300, 1000, 2000], repeats=4, seed=0, fit_from=100)
    means = [sum(v) / len(v) for v in s["fid"]]
    assert means[0] > means[1] > means[-1] and s["slope"] > 0
    assert s["fid_infinity"] == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="sizes"):
        E.size_study(f_fake, f_real, [10, 5000])
    with pytest.raises(ValueError, match="fit_from"):
        E.size_study(f_fake, f_real, [10, 100, 300], fit_from=256)
    with pytest.raises(ValueError, match="sizes is empty"):
        E.size_study(f_fake, f_real, [])
    big = E.size_study(f_fake, f_real[:500], [100, 300, 1000], repeats=1, fit_from=100)
    assert big["kid_m"] == [100, 300, 500]                 # KID's m stops at the real set's size


def test_size_study_and_sample_features_leave_the_global_rng_alone():
    g = _gen(9)
    f_fake, f_real = torch.randn(400, 4, generator=g, dtype=torch.float64), torch.randn(300, 4, generator=g, dtype=torch.float64)
    G = gl.models.MLPGenerator(16, hidden=(32,)).eval()
    E.sample_features(G, 30, seed=2)   # loads the cached domain classifier (building it draws its initial weights)
    torch.manual_seed(3)
    before = _states()
    s = E.size_study(f_fake, f_real, [50, 100, 200], repeats=2, seed=1, fit_from=50)
    f = E.sample_features(G, 30, seed=2)
    assert _same(before, _states())
    assert s == E.size_study(f_fake, f_real, [50, 100, 200], repeats=2, seed=1, fit_from=50)
    assert torch.equal(f, E.sample_features(G, 30, seed=2))


def test_permutation_test_known_p_values():
    assert E.permutation_test([1, 2, 3], [4, 5, 6]) == pytest.approx(2 / 20)   # the 2 most extreme of C(6, 3)
    assert E.permutation_test([1, 2, 3, 4], [5, 6, 7, 8]) == pytest.approx(2 / 70)
    assert E.permutation_test([1.0, 1.0], [1.0, 1.0]) == 1.0
    assert E.permutation_test([1, 3], [2, 4]) == pytest.approx(4 / 6)
    big = E.permutation_test(list(range(12)), list(range(5, 17)), max_exact=500, seed=0)
    assert big == E.permutation_test(list(range(12)), list(range(5, 17)), max_exact=500, seed=0) and 0 < big < 0.1
    # Monte Carlo: (b + 1)/(B + 1) (Phipson & Smyth 2010): never 0, even when no random split is as extreme
    far = E.permutation_test(list(range(20)), list(range(100, 120)), max_exact=99, seed=0)
    assert far == pytest.approx(1 / 100)
    with pytest.raises(ValueError, match="at least one"):
        E.permutation_test([], [1.0])


def test_seeds_needed_normal_approximation():
    assert E.seeds_needed(1.0, 1.0) == 16                   # 2·(1.96 + 0.84)² = 15.7
    assert E.seeds_needed(2.0, 1.0) == 4
    assert E.seeds_needed(1.0, 2.0) == 63                   # 4× the variance, 4× the seeds
    assert E.seeds_needed(10.0, 0.0) == 4                  # at least 4: a permutation test with 3 a side stops at p = 0.1
    assert E.seeds_needed(3.0, 1.0) == 4                   # 1.7 by the formula: raised to 4
    for bad in ({"alpha": 0.0}, {"power": 1.0}):
        with pytest.raises(ValueError, match="alpha and power"):
            E.seeds_needed(1.0, 1.0, **bad)
    with pytest.raises(ValueError, match="delta"):
        E.seeds_needed(0.0, 1.0)


# ----------------------------------------------------------------------------- the course table


def _tiny_checkpoint(mnist5k, path, **G_kwargs):
    torch.manual_seed(0)
    G = gl.models.MLPGenerator(**G_kwargs)
    D = gl.models.MLPDiscriminator(hidden=(32,))
    trainer = gl.train.Trainer(G, D, mnist5k, batch_size=8, device="cpu", progress=False, live=False)
    trainer.fit(n_steps=2)
    trainer.save(path)
    return trainer.G


def test_generator_from_checkpoint(mnist5k, tmp_path):
    G = _tiny_checkpoint(mnist5k, tmp_path / "a.pt", latent_dim=16, hidden=(32, 64))
    back = E.generator_from_checkpoint(tmp_path / "a.pt", G=gl.models.MLPGenerator(16, hidden=(32, 64)))
    z = torch.randn(4, 16, generator=_gen(7))
    G.eval()
    torch.testing.assert_close(back(z), G(z))
    assert not back.training and not any(p.requires_grad for p in back.parameters())
    with pytest.raises(ValueError, match="pass it as G="):          # built with other sizes than the defaults
        E.generator_from_checkpoint(tmp_path / "a.pt")
    with pytest.raises(ValueError, match="DCGANGenerator28"):
        E.generator_from_checkpoint(tmp_path / "a.pt", G=gl.models.DCGANGenerator28(16))
    _tiny_checkpoint(mnist5k, tmp_path / "b.pt", latent_dim=16)      # default sizes: no G needed
    assert E.generator_from_checkpoint(tmp_path / "b.pt").latent_dim == 16
    torch.save({"weights": 1}, tmp_path / "c.pt")
    with pytest.raises(ValueError, match="not a ganlessons trainer checkpoint"):
        E.generator_from_checkpoint(tmp_path / "c.pt")


def test_course_table(bench):
    import matplotlib.pyplot as plt

    torch.manual_seed(0)
    G = gl.models.MLPGenerator(16, hidden=(32,)).eval()
    rows = E.course_table(bench, {"untrained": G}, n=200, seed=0)
    assert [r["name"] for r in rows] == ["real", "untrained"]
    real, bad = rows
    assert real["memorised"] == 1.0 and real["n"] == 200
    assert bad["domain_fid"] > 20 * real["domain_fid"] and bad["coverage"] < real["coverage"]
    before = _states()
    assert rows == E.course_table(bench, {"untrained": G}, n=200, seed=0)  # same seed, same numbers
    assert _same(before, _states())                                         # and the global RNG untouched
    text = E.table_text(rows)
    assert "untrained" in text and "FID∞" in text and len(text.splitlines()) == 4
    assert isinstance(E.table_figure(rows), plt.Figure)
    with pytest.raises(ValueError, match="n="):
        E.course_table(bench, {}, n=5000)


# ----------------------------------------------------------------------------- the exercise checkers


def _fid_np(a, b):
    import scipy.linalg

    a, b = np.asarray(a), np.asarray(b)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real))


def _fid_torch32(a, b):
    a, b = a.float(), b.float()
    s1, s2 = torch.cov(a.T), torch.cov(b.T)
    return (a.mean(0) - b.mean(0)).pow(2).sum() + s1.trace() + s2.trace() - 2 * torch.linalg.eigvals(s1 @ s2).sqrt().real.sum()


def _fid_biased_cov(a, b):
    s1 = torch.cov(a.T, correction=0)
    s2 = torch.cov(b.T, correction=0)
    return M.frechet_distance(a.mean(0), s1, b.mean(0), s2)


def _fid_with(cross=2.0, root_of_sum=False, elementwise=False, roots=False):
    def fid(a, b):
        s1, s2 = torch.cov(a.T), torch.cov(b.T)
        if elementwise:
            tr = torch.sqrt(s1 @ s2).diagonal().sum()
        elif roots:
            r = lambda s: (lambda lam, v: v @ torch.diag(lam.clamp(min=0).sqrt()) @ v.T)(*torch.linalg.eigh(s))
            tr = (r(s1) @ r(s2)).trace()
        else:
            tr = torch.linalg.eigvals(s1 @ s2).sqrt().real.sum()
        out = (a.mean(0) - b.mean(0)).pow(2).sum() + s1.trace() + s2.trace() - cross * tr
        return out.sqrt() if root_of_sum else out
    return fid


@pytest.mark.parametrize("fn", [_fid_np, _fid_torch32, _fid_biased_cov, M.fid_from_features], ids=["numpy-scipy", "torch-float32", "1/N covariance", "package"])
def test_fid_checker_accepts_right_answers(fn):
    assert C.frechet_distance(fn)


@pytest.mark.parametrize("fn, word", [(_fid_with(cross=1.0), "factor 2"), (_fid_with(root_of_sum=True), "square root of FID"),
                                      (_fid_with(elementwise=True), "each entry"), (_fid_with(roots=True), "commute"),
                                      (lambda a, b: (a.mean(0) - b.mean(0)).pow(2).sum(), "only the mean term"),
                                      (lambda a, b: (torch.cov(a) @ torch.cov(b)).trace(), "d×d"),
                                      (lambda a, b: 1j, "complex"), (lambda a, b: torch.ones(3), "one number")])
def test_fid_checker_names_the_mistake(fn, word):
    result = C.frechet_distance(fn)
    assert not result and word in result.message, result.message


def _precision(le=True, kth=1, recall=False, axis=1):
    def fn(f_fake, f_real, k):
        a, b = (f_real, f_fake) if recall else (f_fake, f_real)
        radii = torch.cdist(b, b).kthvalue(k + kth, dim=1).values
        d = torch.cdist(a, b)
        inside = d <= radii if le else d < radii
        return inside.any(dim=axis).double().mean()
    return fn


def _precision_numpy(f_fake, f_real, k):
    ff, fr = np.asarray(f_fake, dtype=np.float32), np.asarray(f_real, dtype=np.float32)
    radii = np.sort(np.sqrt(((fr[:, None] - fr[None]) ** 2).sum(-1)), axis=1)[:, k]
    return float((np.sqrt(((ff[:, None] - fr[None]) ** 2).sum(-1)) <= radii[None]).any(1).mean())


@pytest.mark.parametrize("fn", [_precision(), _precision_numpy, lambda f, r, k: M.precision_recall_features(f, r, k)["precision"]],
                         ids=["torch", "numpy-float32", "package"])
def test_precision_checker_accepts_right_answers(fn):
    assert C.precision(fn)


def _precision_mean_radius(f_fake, f_real, k):
    radius = torch.cdist(f_real, f_real).kthvalue(k + 1, dim=1).values.mean()
    return (torch.cdist(f_fake, f_real) <= radius).any(dim=1).double().mean()


@pytest.mark.parametrize("fn, word", [(_precision(le=False), "<="), (_precision(kth=0), "(k + 1)-th"),
                                      (_precision_mean_radius, "its own radius"),
                                      (_precision(recall=True), "recall"), (_precision(axis=0), "coverage"),
                                      (lambda f, r, k: (torch.cdist(f, r) <= torch.cdist(r, r).kthvalue(k + 1, 1).values).sum() / (k * len(f)), "density")])
def test_precision_checker_names_the_mistake(fn, word):
    result = C.precision(fn)
    assert not result and word in result.message, result.message


def _mmd(diag=False, scale=True, one=1.0, deg=3, cross=2.0, cross_norm=None, u_stat=False):
    def fn(x, y):
        m, d = x.shape
        k = lambda a, b: (a @ b.T / (d if scale else 1) + one) ** deg
        kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
        if diag:
            within = kxx.mean() + kyy.mean()
        else:
            within = (kxx.sum() - kxx.trace() + kyy.sum() - kyy.trace()) / (m * (m - 1))
        if u_stat:   # Gretton's MMD²_u: i = j dropped from the cross term too
            return within - cross * (kxy.sum() - kxy.trace()) / (m * (m - 1))
        return within - cross * kxy.sum() / (cross_norm or m * m)
    return fn


@pytest.mark.parametrize("fn", [_mmd(), lambda x, y: _mmd()(x.float(), y.float()),
                                lambda x, y: M.kid_features(x, y, subset_size=len(x), subsets=1)[0], _mmd(u_stat=True)],
                         ids=["torch", "float32", "package", "u-statistic"])
def test_mmd_checker_accepts_right_answers(fn):
    assert C.unbiased_mmd(fn)


@pytest.mark.parametrize("fn, word", [(_mmd(diag=True), "V-statistic"), (_mmd(scale=False), "dimension d"),
                                      (_mmd(one=0.0), "adds 1"), (_mmd(deg=2), "cubic"), (_mmd(cross=1.0), "twice"),
                                      (lambda x, y: _mmd(cross_norm=len(x) * (len(x) - 1))(x, y), "divide by m²")])
def test_mmd_checker_names_the_mistake(fn, word):
    result = C.unbiased_mmd(fn)
    assert not result and word in result.message, result.message


@pytest.mark.parametrize("check, fn", [(C.frechet_distance, _fid_np), (C.precision, _precision()), (C.unbiased_mmd, _mmd())])
def test_checkers_leave_the_global_rng_alone(check, fn):
    def drawing(*args):
        torch.rand(3); np.random.rand(2); random.random()  # noqa: E702 — a learner's function may draw
        return fn(*args)

    torch.manual_seed(5)
    before = _states()
    assert check(drawing)
    assert _same(before, _states())
    assert check(lambda *a: (_ for _ in ()).throw(NotImplementedError())).message.endswith("your code")
