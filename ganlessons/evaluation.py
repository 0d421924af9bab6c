"""What lesson 08 measures: each metric on controlled experiments, its traps, and the course table.

The metrics themselves live in :mod:`ganlessons.metrics` (FID, Heusel et al. 2017, arXiv:1706.08500;
KID, Bińkowski et al. 2018, arXiv:1801.01401; IS, Salimans et al. 2016, arXiv:1606.03498; improved
precision and recall, Kynkäänniemi et al. 2019, arXiv:1904.06991; density and coverage, Naeem et
al. 2020, arXiv:2002.09797; FID∞, Chong & Forsyth 2020, arXiv:1911.07023). This module adds:

- :class:`Bench`: the real digits every experiment measures against, with their features φ;
- :func:`controlled_set`: a "generated" set made of real digits with one defect dialled in
  (classes dropped, pixel noise, blur, copies of training digits), and :func:`truncated_samples`;
- :func:`tv_kde_features`: the total-variation distance ½∫|p − q| between kernel density estimates,
  done as it should be, and :func:`tutorial_tvd_features` / :class:`TutorialCNN`, the popular
  version, reproduced to measure what goes wrong with it;
- :func:`memorisation_features`: how many samples sit closer to a training digit than real unseen
  digits do;
- :func:`size_study`, :func:`permutation_test`, :func:`seeds_needed`: sample size and seed variance;
- :func:`course_table` and :func:`generator_from_checkpoint`: every generator of the course on one table.

Every function draws its random numbers from a local ``torch.Generator`` seeded by ``seed``: the
same inputs give the same numbers, and the global RNG is never touched.
"""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass, field
from itertools import combinations
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import metrics as M
from .utils import check_in, check_positive, own_rng, pick_device, safe_load

__all__ = ["Bench", "bench", "controlled_set", "truncated_samples", "sample_features", "logits_from_features", "memorisation_features",
           "kde_log_density", "kde_bandwidth", "whitening", "tv_kde_features", "TutorialCNN", "tutorial_tvd_features",
           "score_features", "score_images", "sweep", "response_figure", "experiment_figure", "experiment_explorer", "truncation_explorer",
           "size_study", "size_figure", "permutation_test", "seeds_needed", "generator_from_checkpoint",
           "course_table", "table_text", "table_figure", "METRICS"]

TRAIN_SPLIT = 4000   # mnist-5k: the shipped generators and the domain classifier saw the first 4,000 digits
SEEN = 2000          # the controlled experiments: train[:2000] play a generator's training set, train[2000:] its novel samples

# name, label, which way is better: +1 higher, −1 lower, 0 nearest the real floor (precision above real data's
# and density above ≈ 1 mean samples bunched on typical digits, not better ones: a warning, not a win)
METRICS = (("domain_fid", "FID", -1), ("fid_infinity", "FID∞", -1), ("kid", "KID", -1), ("inception_score", "IS", +1),
           ("precision", "precision", 0), ("recall", "recall", +1), ("density", "density", 0),
           ("coverage", "coverage", +1), ("tv", "TV (KDE)", -1), ("memorised", "memorised", -1),
           ("class_min", "rarest class", +1))


# ----------------------------------------------------------------------------- the real digits


@dataclass
class Bench:
    """mnist-5k split as the shipped generators saw it, with the domain classifier's features φ.

    ``x_ref`` (the held-out 1,000, digits 4,000–4,999) is what every metric compares with;
    ``x_train`` the 4,000 the shipped generators (and the classifier) were trained on. The
    controlled experiments split ``x_train`` once more: the first 2,000 play a generator's training
    set (copies come from there), the last 2,000 its novel samples.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_ref: torch.Tensor
    y_ref: torch.Tensor
    f_train: torch.Tensor
    f_ref: torch.Tensor
    domain: str = "mnist"
    _near: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return (f"Bench({self.x_train.shape[0]:,} training digits, {self.x_ref.shape[0]:,} held out, "
                f"φ of {self.f_ref.shape[1]} features, domain {self.domain!r})")

    def ref_nearest(self, n_train: int) -> torch.Tensor:
        """Each held-out digit's φ-distance to its nearest of the first ``n_train`` training digits (cached)."""
        if n_train not in self._near:
            self._near[n_train] = _nearest(self.f_ref, self.f_train[:n_train])
        return self._near[n_train]


def bench(device="cpu") -> Bench:
    """The :class:`Bench` of mnist-5k (offline, in the package's data), on ``device``."""
    from . import data as gdata

    train, ref = gdata.load("mnist-5k", size=28, device=device).split(TRAIN_SPLIT)
    x_train, x_ref = train.images(), ref.images()
    return Bench(x_train, train.y, x_ref, ref.y, M.features(x_train).double(), M.features(x_ref).double())


# ----------------------------------------------------------------------------- controlled "generated" sets


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of N×1×H×W images with standard deviation ``sigma`` pixels (reflecting borders)."""
    if sigma <= 0:
        return x
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))


def controlled_set(b: Bench, n: int = 500, *, classes_kept: int = 10, noise: float = 0.0, blur: float = 0.0,
                   copies: float = 0.0, distinct: int | None = None, seed: int = 0) -> torch.Tensor:
    """``n`` real digits standing in for a generator's samples, with defects dialled in.

    Drawn from the novel half of the training digits (``x_train[2000:]``), keeping the classes
    0 … ``classes_kept`` − 1 (mode dropping); then a fraction ``copies`` of them is replaced by exact
    copies of digits of the pretend training set ``x_train[:2000]`` (memorisation), drawn from only
    ``distinct`` different digits if given (duplicates); then blurred (σ = ``blur`` pixels) and given
    Gaussian pixel noise (σ = ``noise``, clipped to [-1, 1]). All defaults: a perfect generator.
    """
    check_positive("n", n, integer=True)
    if isinstance(classes_kept, bool) or not isinstance(classes_kept, int) or not 1 <= classes_kept <= 10:
        raise ValueError(f"classes_kept must be an int in 1..10, got {classes_kept!r}")
    for name, v in (("noise", noise), ("blur", blur)):
        check_positive(name, v, allow_zero=True)
    if blur > 5:
        raise ValueError(f"blur={blur!r}: a σ above 5 pixels blurs a 28×28 digit away; use 0 to 5")
    if distinct is not None:
        check_positive("distinct", distinct, integer=True)
    if isinstance(copies, bool) or not isinstance(copies, (int, float)) or not 0.0 <= copies <= 1.0:
        raise ValueError(f"copies must be a fraction in [0, 1], got {copies!r}")
    g = torch.Generator().manual_seed(seed)
    keep = lambda y: (y < classes_kept).nonzero().flatten().cpu()
    novel = SEEN + keep(b.y_train[SEEN:])
    if n > len(novel):
        raise ValueError(f"n={n}: with classes_kept={classes_kept} (digits 0–{classes_kept - 1}) the pool holds only "
                         f"{len(novel)} novel digits; lower n or raise classes_kept")
    idx = novel[torch.randperm(len(novel), generator=g)[:n]]
    n_copies = round(copies * n)
    if n_copies:
        seen = keep(b.y_train[:SEEN])
        seen = seen[torch.randperm(len(seen), generator=g)]
        if distinct is not None:
            seen = seen[:distinct]
        pick = torch.randint(len(seen), (n_copies,), generator=g) if n_copies > len(seen) or distinct else \
            torch.randperm(len(seen), generator=g)[:n_copies]
        idx = torch.cat([seen[pick], idx[n_copies:]])
    x = _blur(b.x_train[idx.to(b.x_train.device)], float(blur))
    if noise > 0:
        x = x + float(noise) * torch.randn(x.shape, generator=g).to(x.device)
    return x.clamp(-1.0, 1.0)


@torch.no_grad()
def truncated_samples(G: nn.Module, n: int, psi: float, seed: int = 0) -> torch.Tensor:
    """``n`` samples of a StyleGenerator at truncation ψ (1 = none), as 28×28 digits in [-1, 1].

    z from a generator of their own, the noise inputs from ``own_rng(seed)``: the global RNG is untouched.
    """
    from .pretrained import _as_digits

    check_positive("n", n, integer=True)
    if not callable(getattr(G, "truncate", None)):
        raise TypeError(f"G must be a StyleGenerator (truncation needs its w and w_avg), got {type(G).__name__}")
    if isinstance(psi, bool) or not isinstance(psi, (int, float)) or not 0.0 <= psi <= 1.0:
        raise ValueError(f"psi must be in [0, 1] (1 = no truncation), got {psi!r}")
    dev = next(G.parameters()).device
    z = torch.randn(n, G.latent_dim, generator=torch.Generator().manual_seed(seed))
    was = G.training
    G.eval()
    try:
        with own_rng(seed):
            x = torch.cat([G(z[i:i + 500].to(dev), psi=float(psi)) for i in range(0, n, 500)])
    finally:
        G.train(was)
    return _as_digits(x).cpu()


def sample_features(G: nn.Module, n: int, seed: int = 0) -> torch.Tensor:
    """φ of ``n`` samples of G (28×28 digits; each class equally often for a conditional G), float64 on the CPU."""
    from .pretrained import _samples

    check_positive("n", n, integer=True)
    return M.features(_samples(G, n, seed)).double().cpu()


# ----------------------------------------------------------------------------- metrics this lesson adds


def logits_from_features(f: torch.Tensor, domain: str = "mnist") -> torch.Tensor:
    """The domain classifier's logits W₂·relu(φ) + b₂ from its features φ (no second pass over the images)."""
    net = M.domain_classifier(domain, "cpu")
    with torch.no_grad():
        return net.fc2(F.relu(torch.as_tensor(f).float().cpu()))


def memorisation_features(f_fake, f_train, f_ref, quantile: float = 0.01) -> dict:
    """Samples closer to a training digit than unseen real digits are.

    d(y) = min_i ‖φ(y) − φ(x_i)‖ over the training digits x_i. For the real unseen digits ``f_ref``
    these distances set the yardstick: ``memorised`` is the fraction of samples with d below the
    ``quantile``-quantile of the unseen digits' d (≈ ``quantile`` for a generator that does not copy,
    1 for one that does); ``ratio`` is median d(samples) / median d(unseen) (< 1: closer than new
    digits are). FID, KID, precision and recall all reward copies; this is the check that does not.
    """
    f_fake, f_train = M._check_pair(f_fake, f_train, min_n=1)
    f_ref = M._check_features("f_ref", f_ref, min_n=1).to(f_train.device)
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be in (0, 1), got {quantile!r}")
    return _memorisation(_nearest(f_fake, f_train), _nearest(f_ref, f_train), quantile)


def _nearest(f: torch.Tensor, f_train: torch.Tensor) -> torch.Tensor:
    # float64 and the matrix-product form: a copy's distance comes out ~1e-6, far below any real digit's
    return torch.cat([torch.cdist(f[i:i + 1000], f_train).min(dim=1).values for i in range(0, f.shape[0], 1000)])


def _memorisation(d_fake: torch.Tensor, d_ref: torch.Tensor, quantile: float = 0.01) -> dict:
    threshold = torch.quantile(d_ref, quantile)
    return {"memorised": (d_fake < threshold).double().mean().item(),
            "ratio": (d_fake.median() / d_ref.median()).item()}


def _sq_distances(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    return torch.cat([M._distances(x[i:i + 2000].double(), centers.double()).square() for i in range(0, x.shape[0], 2000)])


def _log_density(sq: torch.Tensor, d: int, h: float) -> torch.Tensor:
    return torch.logsumexp(-sq / (2 * h * h), dim=1) - math.log(sq.shape[1]) - d / 2 * math.log(2 * math.pi * h * h)


def kde_log_density(x: torch.Tensor, centers: torch.Tensor, h: float) -> torch.Tensor:
    """log p̂(x) of a Gaussian KDE: p̂(x) = 1/n Σᵢ N(x; cᵢ, h²I), for each row of x (float64, log-sum-exp)."""
    check_positive("h", h)
    return _log_density(_sq_distances(x, centers), centers.shape[1], float(h))


def kde_bandwidth(f: torch.Tensor, grid=None, seed: int = 0) -> dict:
    """The bandwidth h that maximises held-out likelihood: 2-fold, mean log p̂_A(B) and log p̂_B(A).

    The h found is best for a KDE of n/2 points; the returned ``h`` is scaled to n points by the
    rate of the optimal bandwidth, n^(−1/(d+4)). Returns {"h", "grid", "loglik", "at_edge"}.
    """
    f = M._check_features("f", f, min_n=4)
    grid = torch.logspace(-1.5, 0.7, 23, dtype=torch.float64).tolist() if grid is None else [float(h) for h in grid]
    if not grid or min(grid) <= 0:
        raise ValueError(f"grid must hold positive bandwidths, got {grid!r}")
    perm = torch.randperm(f.shape[0], generator=torch.Generator().manual_seed(seed)).to(f.device)
    a, b = f[perm[: f.shape[0] // 2]], f[perm[f.shape[0] // 2:]]
    sq_ba, sq_ab = _sq_distances(b, a), _sq_distances(a, b)  # once; only h changes along the grid
    d = f.shape[1]
    loglik = [0.5 * (_log_density(sq_ba, d, h).mean() + _log_density(sq_ab, d, h).mean()).item() for h in grid]
    best = max(range(len(grid)), key=loglik.__getitem__)
    return {"h": grid[best] * 2 ** (-1 / (d + 4)), "grid": grid, "loglik": loglik,
            "at_edge": best in (0, len(grid) - 1)}


def whitening(f_ref: torch.Tensor, dim: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """One affine map for both sets: the first ``dim`` principal axes of ``f_ref``, scaled to unit variance."""
    f_ref = M._check_features("f_ref", f_ref, min_n=2)
    check_positive("dim", dim, integer=True)
    mu = f_ref.mean(dim=0)
    _, s, vt = torch.linalg.svd(f_ref - mu, full_matrices=False)
    if dim > len(s) or s[dim - 1] <= 1e-9 * s[0]:
        raise ValueError(f"dim={dim}: f_ref spans only {int((s > 1e-9 * s[0]).sum())} dimensions")
    w = vt[:dim].T / (s[:dim] / math.sqrt(f_ref.shape[0] - 1))
    return lambda f: (f - mu) @ w


def tv_kde_features(f_fake, f_real, dim: int = 4, n_mc: int = 4000, seed: int = 0,
                    bandwidth: float | None = None) -> dict:
    """Total variation ½∫|p̂ − q̂| between Gaussian KDEs p̂ (of ``f_fake``) and q̂ (of ``f_real``).

    Both sets are projected by one map (the real set's first ``dim`` principal axes, whitened);
    each KDE's bandwidth is chosen on held-out points (:func:`kde_bandwidth`) unless ``bandwidth``
    is given. With m = (p̂ + q̂)/2, ½∫|p̂ − q̂| = E_{x∼m} |p̂ − q̂|/(p̂ + q̂) = E_{x∼m} |tanh(½ log p̂/q̂)|:
    ``n_mc`` draws, half from each KDE: an unbiased Monte Carlo estimate of the TV between the two
    KDEs, in [0, 1]. The KDEs are not the distributions: two samples of one distribution score well
    above 0, more so in more dimensions (measure this floor), while a projection can only lower the
    features' TV. A bandwidth at the edge of its grid (duplicated points drive the held-out
    optimum to the grid's smallest h) is warned about: then the TV is the grid's, not the sets'.
    Returns {"tv", "h_fake", "h_real", "dim"}.
    """
    f_fake, f_real = M._check_pair(f_fake, f_real, min_n=4)
    check_positive("dim", dim, integer=True)
    check_positive("n_mc", n_mc, integer=True)
    if dim > min(f_real.shape[1], f_real.shape[0] - 1):
        raise ValueError(f"dim={dim} is more than the {min(f_real.shape[1], f_real.shape[0] - 1)} principal axes f_real has")
    if bandwidth is not None:
        check_positive("bandwidth", bandwidth)
    project = whitening(f_real, dim)
    p, q = project(f_fake), project(f_real)
    h_p, h_q = bandwidth, bandwidth
    if bandwidth is None:
        bw_p, bw_q = kde_bandwidth(p, seed=seed), kde_bandwidth(q, seed=seed + 1)
        h_p, h_q = bw_p["h"], bw_q["h"]
        for which, bw in (("f_fake", bw_p), ("f_real", bw_q)):
            if bw["at_edge"]:
                # e.g. a set of a few digits repeated: held-out points coincide with fitted ones, the likelihood
                # grows without bound as h → 0, and the KDE becomes spikes at the copies (TV → 1)
                warnings.warn(f"tv_kde_features: the bandwidth of {which} is at the edge of the grid (h = {bw['h']:.3g}); "
                              "the held-out likelihood has no maximum inside it (duplicated points?), so the TV "
                              "measures the bandwidth grid as much as the sets", RuntimeWarning, stacklevel=2)
    g = torch.Generator().manual_seed(seed)
    draw = lambda c, h, k: c[torch.randint(c.shape[0], (k,), generator=g)] + h * torch.randn(k, dim, generator=g, dtype=c.dtype)
    x = torch.cat([draw(p, h_p, n_mc // 2), draw(q, h_q, n_mc - n_mc // 2)])
    log_ratio = kde_log_density(x, p, h_p) - kde_log_density(x, q, h_q)
    return {"tv": torch.tanh(log_ratio / 2).abs().mean().item(), "h_fake": h_p, "h_real": h_q, "dim": dim}


class TutorialCNN(nn.Module):
    """The popular tutorial's feature network: conv3×3 (32) → ReLU → maxpool 2 → linear 50 → ReLU, never trained."""

    def __init__(self, seed: int = 0):
        super().__init__()
        with own_rng(seed):  # its random initial weights, without touching the caller's RNG
            self.conv1 = nn.Conv2d(1, 32, kernel_size=3, stride=1, padding=1)
            self.fc1 = nn.Linear(32 * 14 * 14, 50)
        self.eval().requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        return torch.relu(self.fc1(x.flatten(1)))


def tutorial_tvd_features(f_fake, f_real, seed: int = 0) -> float:
    """The tutorial's "total variation distance", reproduced as written (to measure it, not to use it).

    Each set separately: standardised, PCA to 20 dimensions, KDE with bandwidth 0.5; then 1,000
    draws from each set's own KDE, each scored under its own KDE, and ½·mean|p_real(a) − p_gen(b)|.
    """
    f_fake, f_real = M._check_pair(f_fake, f_real, min_n=21)
    g = torch.Generator().manual_seed(seed)

    def own_space(f):  # StandardScaler (a constant feature keeps scale 1) then PCA(20), fitted on this set alone
        sd = f.std(dim=0, unbiased=False)
        f = (f - f.mean(dim=0)) / torch.where(sd > 0, sd, torch.ones_like(sd))
        _, _, vt = torch.linalg.svd(f - f.mean(dim=0), full_matrices=False)
        return f @ vt[:20].T

    densities = []
    for f in (own_space(f_real), own_space(f_fake)):
        draws = f[torch.randint(f.shape[0], (1000,), generator=g)] + 0.5 * torch.randn(1000, f.shape[1], generator=g, dtype=f.dtype)
        densities.append(kde_log_density(draws, f, 0.5).exp())
    return 0.5 * (densities[0] - densities[1]).abs().mean().item()


# ----------------------------------------------------------------------------- every metric at once


def score_features(f_fake, b: Bench, *, n_train: int = TRAIN_SPLIT, seed: int = 0, kid_subset: int = 500,
                   kid_subsets: int = 50, tv_dim: int = 4) -> dict:
    """Every metric of the lesson for features ``f_fake`` against the bench's held-out digits.

    ``n_train``: the memorisation check compares with the first ``n_train`` training digits (all
    4,000 the shipped generators saw; 2,000 for the controlled experiments).
    """
    f_fake = M._check_features("f_fake", f_fake, min_n=10).to(b.f_ref.device)
    if not 1 <= n_train <= b.f_train.shape[0]:
        raise ValueError(f"n_train must be in [1, {b.f_train.shape[0]}], got {n_train!r}")
    f_ref = b.f_ref
    n = min(f_fake.shape[0], f_ref.shape[0])
    kid, kid_std = M.kid_features(f_fake, f_ref, subset_size=min(kid_subset, n), subsets=kid_subsets, seed=seed)
    logits = logits_from_features(f_fake, b.domain)
    shares = torch.bincount(logits.argmax(1), minlength=logits.shape[1]).double() / f_fake.shape[0]
    out = {"domain_fid": M.fid_from_features(f_fake, f_ref),
           "fid_infinity": M.fid_infinity_features(f_fake, f_ref, seed=seed)["fid_infinity"],
           "kid": kid, "kid_std": kid_std,
           "inception_score": M.inception_score_from_logits(logits, seed=seed)[0],
           **M.precision_recall_features(f_fake, f_ref), **M.density_coverage_features(f_fake, f_ref),
           "tv": tv_kde_features(f_fake, f_ref, dim=tv_dim, seed=seed)["tv"]}
    memo = _memorisation(_nearest(f_fake, b.f_train[:n_train]), b.ref_nearest(n_train))
    out.update(memorised=memo["memorised"], memo_ratio=memo["ratio"], class_min=shares.min().item(), n=f_fake.shape[0])
    return out


def score_images(x_fake: torch.Tensor, b: Bench, **kwargs) -> dict:
    """:func:`score_features` of images (N×1×28×28 or ×32×32 in [-1, 1])."""
    return score_features(M.features(x_fake).double(), b, **kwargs)


# ----------------------------------------------------------------------------- experiments and their pictures


def sweep(b: Bench, knob: str, values, n: int = 500, seed: int = 0, G: nn.Module | None = None, **fixed) -> dict:
    """Every metric as one knob of :func:`controlled_set` moves (or ψ of a StyleGAN ``G``, knob="psi").

    The memorisation check compares with the pretend training set ``x_train[:2000]``.
    Returns {"knob", "values", name: [value per setting] for every metric}.
    """
    check_in("knob", knob, {"classes_kept", "noise", "blur", "copies", "distinct", "psi"})
    out = {"knob": knob, "values": list(values)}
    for v in values:
        if knob == "psi":
            if G is None:
                raise ValueError("knob='psi' needs the StyleGAN generator G=")
            x = truncated_samples(G, n, v, seed)
        else:
            x = controlled_set(b, n, seed=seed, **{**fixed, knob: v})
        # a StyleGAN saw all 4,000 training digits; a controlled set's copies come from the first 2,000
        for k, val in score_images(x, b, n_train=TRAIN_SPLIT if knob == "psi" else SEEN, seed=seed).items():
            out.setdefault(k, []).append(val)
    return out


_PANELS = ((("domain_fid", "fid_infinity"), "FID, FID∞"), (("kid",), "KID"),
           (("precision", "density", "recall", "coverage"), "fidelity (—) and diversity (--)"),
           (("inception_score", "tv", "memorised"), "IS / 10, TV, memorised"))
_LABEL = {k: lab for k, lab, _ in METRICS}


def response_figure(sweeps: dict, floor: dict | None = None):
    """Rows: experiments (``{title: sweep}``); columns: groups of metrics, each against the knob."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(sweeps), len(_PANELS), figsize=(15, 2.9 * len(sweeps)), squeeze=False)
    for row, (title, s) in zip(axes, sweeps.items()):
        xs = s["values"]
        for ax, (keys, head) in zip(row, _PANELS):
            for key in keys:
                ys = [v / 10 for v in s[key]] if key == "inception_score" else s[key]
                style = "--" if key in ("recall", "coverage") else "-"
                ax.plot(xs, ys, style, marker="o", ms=3, label=_LABEL[key] + (" / 10" if key == "inception_score" else ""))
                if key == "kid":
                    ax.fill_between(xs, [m - e for m, e in zip(s["kid"], s["kid_std"])],
                                    [m + e for m, e in zip(s["kid"], s["kid_std"])], alpha=0.25)
                if floor and key in ("domain_fid", "kid"):
                    ax.axhline(floor[key], color="gray", lw=0.8, ls=":")
            ax.set_xlabel(s["knob"])
            ax.grid(alpha=0.3)
            ax.set_title(f"{title}: {head}", fontsize=9)
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def experiment_figure(b: Bench, baseline: dict | None = None, n: int = 500, seed: int = 0, x: torch.Tensor | None = None,
                      title: str | None = None, n_train: int = SEEN, **settings):
    """The dashboard of one setting: some of its images, and each metric as a bar beside its
    value for the defect-free set (the black tick). ``x``: images to score instead of a controlled
    set (then ``n_train`` = the training digits their generator saw, for the memorisation check)."""
    import matplotlib.pyplot as plt

    from .viz import show_grid

    x = controlled_set(b, n, seed=seed, **settings) if x is None else x
    s = score_images(x, b, n_train=n_train, seed=seed)
    fig = plt.figure(figsize=(12, 5.6))
    show_grid(x[:48], nrow=8, ax=fig.add_axes([0.0, 0.05, 0.33, 0.85]),
              title=title or ", ".join(f"{k} {v}" for k, v in settings.items() if v is not None) or "defect-free")
    for i, (key, label, better) in enumerate(METRICS):
        ax = fig.add_axes([0.45 + (i % 2) * 0.28, 0.84 - (i // 2) * 0.152, 0.2, 0.05])
        v, v0 = s[key], (baseline or {}).get(key)
        hi = {"inception_score": 10.0, "density": 1.5}.get(key, 1.0)
        if key in ("domain_fid", "fid_infinity", "kid"):
            hi = max(abs(v), abs(v0 or 0)) * 1.15 or 1.0
        worse = v0 is not None and ((v - v0) * better < 0 if better else v < v0)  # 0: below the defect-free set is worse
        bunched = v0 is not None and not better and v > 1.05 * v0                  # 0: above it, a warning
        ax.barh([0], [v], color="tab:red" if worse else ("tab:orange" if bunched else "tab:blue"))
        if v0 is not None:
            ax.axvline(v0, color="black", lw=2)
        ax.set_xlim(min(0.0, v * 1.15), hi)
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
        ax.set_title(f"{label} {'↑' if better > 0 else ('↓' if better < 0 else '≈ floor')}: {v:.3g}" + (f"  (defect-free {v0:.3g})" if v0 is not None else ""),
                     fontsize=8, loc="left")
    return fig


def experiment_explorer(b: Bench, baseline: dict, n: int = 500, seed: int = 0):
    """Sliders for the defects of :func:`controlled_set`; every metric redrawn beside the defect-free set's."""
    import ipywidgets as W

    from .widgets import interactive

    lay = W.Layout(width="260px")
    sliders = {"classes_kept": W.IntSlider(value=10, min=3, max=10, description="classes kept", continuous_update=False, layout=lay),
               "noise": W.FloatSlider(value=0.0, min=0.0, max=0.8, step=0.05, description="noise σ", continuous_update=False, layout=lay),
               "blur": W.FloatSlider(value=0.0, min=0.0, max=2.0, step=0.25, description="blur σ", continuous_update=False, layout=lay),
               "copies": W.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.1, description="copies", continuous_update=False, layout=lay),
               # "all" is 0, not None: a Dropdown whose value is None has no option selected (ipywidgets),
               # so the browser showed a blank box and choosing "all" changed nothing
               "distinct": W.Dropdown(options=[("all", 0), ("200", 200), ("50", 50), ("10", 10)], value=0,
                                      description="of distinct", layout=lay)}

    def draw(distinct, **knobs):
        return experiment_figure(b, baseline, n, seed, distinct=distinct or None, **knobs)

    return interactive(draw, **sliders)


def truncation_explorer(G: nn.Module, b: Bench, baseline: dict, n: int = 500, seed: int = 0, psi: float = 0.7):
    """A ψ slider for a StyleGAN: its truncated samples and every metric beside the defect-free real set's."""
    import ipywidgets as W

    from .widgets import interactive

    slider = W.FloatSlider(value=float(psi), min=0.0, max=1.0, step=0.05, description="ψ", continuous_update=False)
    return interactive(lambda psi: experiment_figure(b, baseline, x=truncated_samples(G, n, psi, seed), seed=seed,
                                                     n_train=TRAIN_SPLIT, title=f"shipped StyleGAN, ψ = {psi:.2f}"),
                       psi=slider)


# ----------------------------------------------------------------------------- sample size, seeds


def size_study(f_fake, f_real, sizes, repeats: int = 5, seed: int = 0, fit_from: int = 256) -> dict:
    """FID_N and KID_N of ``repeats`` random subsets of N fakes per size N, against all of ``f_real``.

    FID_N ≈ FID∞ + b/N is fitted by least squares to the mean FID_N of the sizes N ≥ ``fit_from``
    (Chong & Forsyth 2020 fit from 5,000 up; below about twice the feature dimension the covariance
    is nearly singular and the 1/N law does not hold yet). KID_N: one unbiased estimate from
    m = min(N, n_real) samples of each side per subset (so beyond N = n_real, KID's m stays at
    n_real). Returns {"sizes", "fid" and "kid" (a list of ``repeats`` values per size), "kid_m" (m
    per size), "fid_infinity", "slope", "fit_sizes"}.
    """
    f_fake, f_real = M._check_pair(f_fake, f_real)
    sizes = [int(s) for s in sizes]
    if not sizes:
        raise ValueError("sizes is empty: give the sample counts N to measure, e.g. [100, 200, 500, 1000]")
    if min(sizes) < 2 or max(sizes) > f_fake.shape[0]:
        raise ValueError(f"sizes must lie in [2, {f_fake.shape[0]}] (the fakes there are), got {sizes}")
    check_positive("repeats", repeats, integer=True)
    fit_sizes = [s for s in sizes if s >= fit_from]
    if len(set(fit_sizes)) < 2:
        raise ValueError(f"the fit of FID∞ needs at least 2 sizes ≥ fit_from={fit_from}, got {sizes}")
    g = torch.Generator().manual_seed(seed)
    fid, kid = [], []
    for s in sizes:
        fid.append([]), kid.append([])
        for r in range(repeats):
            sub = f_fake[torch.randperm(f_fake.shape[0], generator=g)[:s].to(f_fake.device)]
            fid[-1].append(M.fid_from_features(sub, f_real))
            kid[-1].append(M.kid_features(sub, f_real, subset_size=min(s, f_real.shape[0]), subsets=1,
                                          seed=seed + 1000 * r + s)[0])
    inv = torch.tensor([1 / s for s in fit_sizes], dtype=torch.float64)
    mean = torch.tensor([sum(v) / len(v) for s, v in zip(sizes, fid) if s >= fit_from], dtype=torch.float64)
    design = torch.stack([torch.ones_like(inv), inv], dim=1)
    intercept, slope = torch.linalg.lstsq(design, mean[:, None]).solution.flatten().tolist()
    return {"sizes": sizes, "fid": fid, "kid": kid, "kid_m": [min(s, f_real.shape[0]) for s in sizes],
            "fid_infinity": intercept, "slope": slope, "fit_sizes": fit_sizes}


def size_figure(studies: dict):
    """FID against N with its fitted FID∞ + b/N (left), KID against N (right), for each ``{label: study}``."""
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 3.8))
    for i, (label, s) in enumerate(studies.items()):
        c = f"C{i}"
        n = torch.tensor(s["sizes"], dtype=torch.float64)
        for ax, key in ((a, "fid"), (b, "kid")):
            v = torch.tensor(s[key], dtype=torch.float64)
            ax.errorbar(n, v.mean(1), yerr=v.std(1), fmt="o", color=c, ms=4, capsize=3, label=label)
        grid = torch.logspace(math.log10(n.min()), math.log10(n.max()), 50, dtype=torch.float64)
        a.plot(grid, s["fid_infinity"] + s["slope"] / grid, "-", color=c, lw=1)
        a.axhline(s["fid_infinity"], color=c, ls=":", lw=1)
    a.set_title("FID_N (mean ± sd over subsets); line FID∞ + b/N, dotted FID∞", fontsize=9)
    b.set_title("KID (mean ± sd over subsets) of m = min(N, n_real) a side: unbiased, noisier at small m", fontsize=9)
    b.axhline(0, color="gray", lw=0.8)
    for ax in (a, b):
        ax.set_xscale("log"); ax.set_xlabel("N generated samples"); ax.grid(alpha=0.3); ax.legend(fontsize=8)
    a.set_yscale("log")
    fig.tight_layout()
    return fig


def permutation_test(a, b, max_exact: int = 20000, seed: int = 0) -> float:
    """Two-sided p-value of a difference in means between two groups (e.g. FIDs over seeds).

    Exact: every way of splitting the pooled values into groups of the two sizes. With 2 seeds a
    side the smallest possible p is 2/6 ≈ 0.33, with 3 2/20 = 0.1, with 4 2/70 ≈ 0.029. When there
    are more than ``max_exact`` splits, B = ``max_exact`` random ones, and p = (b + 1)/(B + 1) with
    b of them as extreme as the observed one (Phipson & Smyth 2010: the observed labelling counts
    too, so p is never 0).
    """
    a, b = [float(v) for v in a], [float(v) for v in b]
    if len(a) < 1 or len(b) < 1:
        raise ValueError(f"each group needs at least one value, got {len(a)} and {len(b)}")
    pool, na = a + b, len(a)
    observed = abs(sum(a) / na - sum(b) / len(b))
    diff = lambda idx: abs(sum(pool[i] for i in idx) / na - sum(pool[i] for i in range(len(pool)) if i not in idx) / len(b))
    if math.comb(len(pool), na) <= max_exact:
        splits = [set(c) for c in combinations(range(len(pool)), na)]
        return sum(diff(s) >= observed - 1e-12 for s in splits) / len(splits)
    g = torch.Generator().manual_seed(seed)
    splits = [set(torch.randperm(len(pool), generator=g)[:na].tolist()) for _ in range(max_exact)]
    return (sum(diff(s) >= observed - 1e-12 for s in splits) + 1) / (len(splits) + 1)


def seeds_needed(delta: float, sd: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Seeds per setting to detect a difference ``delta`` between two means, each run with spread ``sd``:

        n = 2 (z_{1−α/2} + z_{power})² sd² / δ²   (two-sided test, normal approximation), at least 4.

    The normal approximation undercounts at small n (a t-test needs a few more; Student's t has
    heavier tails), and a permutation test cannot reach p < 0.05 with fewer than 4 runs a side
    (the smallest p with 3 is 0.1): hence the minimum of 4.
    """
    check_positive("delta", abs(delta))
    check_positive("sd", sd, allow_zero=True)
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"alpha and power must be in (0, 1), got {alpha!r} and {power!r}")
    z = statistics.NormalDist()
    n = 2 * (z.inv_cdf(1 - alpha / 2) + z.inv_cdf(power)) ** 2 * sd ** 2 / delta ** 2
    return max(4, math.ceil(n - 1e-9))


# ----------------------------------------------------------------------------- the course table


def generator_from_checkpoint(path, G: nn.Module | None = None, device="cpu") -> nn.Module:
    """The generator of a :meth:`Trainer.save` checkpoint, in eval mode, ready for :func:`course_table`.

    The checkpoint holds G's class and weights, not the sizes it was built with: pass ``G`` built
    as in your lesson (``gl.models.DCGANGenerator28(latent_dim, nf=...)``); without it the class is
    built with its defaults and the checkpoint's latent_dim, and a mismatch says what to pass.
    """
    from . import models
    from .train import CHECKPOINT_FORMAT

    ckpt = safe_load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path!s} is not a ganlessons trainer checkpoint (format {CHECKPOINT_FORMAT!r}); "
                         f"write one with trainer.save(path)")
    cls_name, state = ckpt["G_class"], ckpt["G"]
    if G is None:
        cls = getattr(models, cls_name, None)
        if not isinstance(cls, type):
            raise ValueError(f"{path!s}: its generator class {cls_name!r} is not in gl.models; pass G= built as in your lesson")
        G = cls(latent_dim=ckpt["config"]["latent_dim"])
    elif type(G).__name__ != cls_name:
        raise ValueError(f"{path!s} holds a generator of class {cls_name}, but G is a {type(G).__name__}")
    mine = G.state_dict()
    wrong = [f"{k}: {tuple(state[k].shape)} there, {tuple(v.shape)} here" for k, v in mine.items()
             if k in state and tuple(state[k].shape) != tuple(v.shape)]
    missing, extra = sorted(set(mine) - set(state)), sorted(set(state) - set(mine))
    if wrong or missing or extra:
        raise ValueError(f"{path!s}: the checkpoint's {cls_name} was built with other sizes than this G "
                         f"({'; '.join(wrong[:2]) or f'missing {missing[:2]}, unexpected {extra[:2]}'}); "
                         f"build G as in your lesson (latent_dim, nf, fmap_base …) and pass it as G=")
    G.load_state_dict(state)
    return G.eval().requires_grad_(False).to(pick_device(device))


def course_table(b: Bench, generators: dict, n: int = 1000, seed: int = 0, kid_subset: int = 500) -> list[dict]:
    """Every metric for each generator (``{name: G}``) and for the real-data floor, at equal N.

    Each G gives ``n`` samples (:func:`ganlessons.pretrained._samples`: 28×28, each class equally
    often for a conditional G), measured against the held-out 1,000. The first row, ``real``, is
    ``n`` training digits: the floor of every distance at this N, and a perfect copier (its
    memorised column says so). Returns one dict per row: {"name", metrics …}.
    """
    check_positive("n", n, integer=True)
    if n > b.x_train.shape[0]:
        raise ValueError(f"n={n}: the real floor needs n training digits, there are {b.x_train.shape[0]}")
    rows = [{"name": "real", **score_features(b.f_train[:n], b, seed=seed, kid_subset=kid_subset)}]
    for name, G in generators.items():
        rows.append({"name": name, **score_features(sample_features(G, n, seed), b, seed=seed, kid_subset=kid_subset)})
    return rows


_SHORT = {"domain_fid": "FID", "fid_infinity": "FID∞", "kid": "KID", "inception_score": "IS", "precision": "precision",
          "recall": "recall", "density": "density", "coverage": "coverage", "tv": "TV", "memorised": "memorised",
          "class_min": "rarest cl."}


def table_text(rows: list[dict]) -> str:
    """The course table as aligned text; * marks the best generator of each quality column.

    Best is highest or lowest, except for precision and density: there it is nearest the real row
    (a value above real data's means bunched samples, not better ones).
    """
    starred = [(k, better) for k, _, better in METRICS if k != "memorised"]  # copying is a check, not a score
    key = lambda k, better: (lambda r: -better * r[k] if better else abs(r[k] - rows[0][k]))
    best = {k: min(rows[1:], key=key(k, better))[k] for k, better in starred} if len(rows) > 1 else {}
    fmt = lambda k, v: f"{v:.0f}" if k in ("domain_fid", "fid_infinity", "kid") and abs(v) >= 100 else \
        (f"{v:.1f}" if k in ("domain_fid", "fid_infinity", "kid", "inception_score") else f"{v:.2f}")
    head = f"{'':<11}" + "".join(f"{_SHORT[k]:>11}" for k, _, _ in METRICS)
    lines = [head, "-" * len(head)]
    for r in rows:
        cells = [fmt(k, r[k]) + ("*" if r["name"] != "real" and r[k] == best.get(k) else " ") for k, _, _ in METRICS]
        lines.append(f"{r['name'][:11]:<11}" + "".join(f"{c:>11}" for c in cells))
    return "\n".join(lines)


def table_figure(rows: list[dict]):
    """One panel per metric: a dot per generator, the real floor as a grey line; green where a
    generator is beyond the floor (better than real data: look twice; for precision and density,
    above it: bunched samples). KID with its spread over subsets."""
    import matplotlib.pyplot as plt

    names = [r["name"] for r in rows[1:]]
    fig, axes = plt.subplots(2, 6, figsize=(16, max(3.6, 2.2 + 0.28 * len(names))), sharey=True, layout="constrained")
    for ax, (key, label, better) in zip(axes.flat, METRICS):
        vals = [r[key] for r in rows[1:]]
        beyond = [key != "memorised" and (v - rows[0][key]) * (better or 1) > 0 for v in vals]
        ax.errorbar(vals, range(len(names)), xerr=[r["kid_std"] for r in rows[1:]] if key == "kid" else None,
                    fmt="none", ecolor="gray", capsize=2)
        ax.scatter(vals, range(len(names)), color=["tab:green" if x else "tab:blue" for x in beyond], zorder=3)
        ax.axvline(rows[0][key], color="gray", lw=1.5)
        if key in ("domain_fid", "fid_infinity") and min(vals + [rows[0][key]]) > 0:
            ax.set_xscale("log")
        ax.set_title(f"{label} ({'higher is better' if better > 0 else 'lower is better' if better < 0 else 'nearest the floor'})",
                     fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    note = axes.flat[-1]
    note.set_axis_off()
    note.text(0, 0.5, f"grey line: {rows[0]['n']} real training digits\n(the floor; being training digits,\n"
                      "they are copies: memorised = 1)\ngreen: beyond the real floor\n(precision, density: bunching)\nKID bars: ± sd over subsets",
              fontsize=8, va="center")
    for row in axes:
        row[0].set_yticks(range(len(names)), names)
    axes[0, 0].invert_yaxis()
    fig.suptitle(f"every generator of the course, {rows[0]['n']} samples each against the 1,000 held-out digits",
                 fontsize=10)
    return fig
