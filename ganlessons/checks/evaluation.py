"""Lesson 08 (evaluating GANs): FID from two feature sets, precision via k-NN balls, KID's unbiased MMD².

A learner's answer may be a Python float, a NumPy number or a 0-d tensor, computed in float32 or
float64, with NumPy, SciPy or torch: each is compared with the reference in float64 within a
tolerance that float32 arithmetic meets.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from .. import metrics as M
from ._common import Check, _call, _raised


def _number(name: str, out) -> tuple[float | None, Check | None]:
    """The learner's answer as a float, or a failing Check saying why it is not one number."""
    if isinstance(out, torch.Tensor):
        if out.numel() != 1:
            return None, Check(False, f"return one number, got a tensor of shape {tuple(out.shape)}", name)
        out = out.detach().cpu().item()
    elif isinstance(out, np.ndarray):
        if out.size != 1:
            return None, Check(False, f"return one number, got an array of shape {out.shape}", name)
        out = out.item()
    if isinstance(out, complex) or np.iscomplexobj(out):
        return None, Check(False, "your result is complex: scipy.linalg.sqrtm returns complex numbers with tiny "
                                  "imaginary parts; keep the real part (.real) of the trace", name)
    if isinstance(out, bool) or not isinstance(out, (int, float, np.integer, np.floating)):
        return None, Check(False, f"return a number (float or 0-d tensor), got {type(out).__name__}", name)
    out = float(out)
    if not math.isfinite(out):
        return None, Check(False, f"got {out}: a NaN usually comes from the square root of a matrix with negative "
                                  "entries (an element-wise sqrt) or of a slightly negative eigenvalue", name)
    return out, None


def _first_match(value: float, diagnoses, name: str, otherwise: str, rtol: float, atol: float) -> Check:
    for wrong, why in diagnoses:
        if wrong is not None and math.isclose(value, wrong, rel_tol=rtol, abs_tol=atol):
            return Check(False, why, name)
    return Check(False, otherwise, name)


def _feature_sets(seed: int, d: int = 6, n_fake: int = 300, n_real: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """Two correlated Gaussian feature sets with different means and covariances (float64)."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(d, d, generator=g, dtype=torch.float64), torch.randn(d, d, generator=g, dtype=torch.float64)
    f_real = torch.randn(n_real, d, generator=g, dtype=torch.float64) @ a + 1.0
    f_fake = torch.randn(n_fake, d, generator=g, dtype=torch.float64) @ (a + 0.5 * b) + 1.5
    return f_fake, f_real


# ----------------------------------------------------------------------------- FID


def _fid_parts(f_fake, f_real, ddof: int = 1):
    mu1, mu2 = f_fake.mean(0), f_real.mean(0)
    s1 = torch.cov(f_fake.T, correction=ddof)
    s2 = torch.cov(f_real.T, correction=ddof)
    return mu1, s1, mu2, s2


def _sqrt_psd(s: torch.Tensor) -> torch.Tensor:
    lam, vec = torch.linalg.eigh((s + s.T) / 2)
    return vec @ torch.diag(lam.clamp(min=0).sqrt()) @ vec.T


def frechet_distance(fn: Callable[[torch.Tensor, torch.Tensor], object]) -> Check:
    """Exercise: ``fn(f_fake, f_real)`` → FID = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}) of two N×d feature sets."""
    name = "FID from two feature sets"
    cases = [_feature_sets(81), _feature_sets(82, d=4, n_fake=500, n_real=200)]
    same = cases[0][1]
    for i, (f_fake, f_real) in enumerate(cases + [(same, same.clone())]):  # identical sets last: 0 hides most slips
        out, err = _call(fn, f_fake.clone(), f_real.clone())
        if err is not None:
            hint = ""
            if any(w in str(err).lower() for w in ("size", "shape", "dimension", "broadcast", "mismatch")):
                hint = (" — the covariances must be d×d: np.cov(f, rowvar=False) or torch.cov(f.T) (rows are "
                        "samples, columns features)")
            return Check(False, _raised(err) + hint, name)
        value, bad = _number(name, out)
        if bad is not None:
            return bad
        ref = M.fid_from_features(f_fake, f_real)
        scale = (torch.cov(f_fake.T).trace() + torch.cov(f_real.T).trace()).item()
        atol = 1e-5 * scale  # float32 arithmetic, and an identical pair that comes out at 1e-6 instead of 0
        if math.isclose(value, ref, rel_tol=1e-3, abs_tol=atol):
            continue
        mu1, s1, mu2, s2 = _fid_parts(f_fake, f_real)
        biased = M.frechet_distance(*_fid_parts(f_fake, f_real, ddof=0)[:2], *_fid_parts(f_fake, f_real, ddof=0)[2:])
        if math.isclose(value, biased, rel_tol=1e-3, abs_tol=atol):
            continue  # the 1/N covariance: another estimator, not a mistake (pytorch-fid uses 1/(N − 1))
        dmu = (mu1 - mu2).square().sum().item()
        tr = (s1.trace() + s2.trace()).item()
        tr_sqrt = (ref - dmu - tr) / -2
        r1, r2 = _sqrt_psd(s1), _sqrt_psd(s2)
        prod_diag = torch.diagonal(s1 @ s2)
        diagnoses = [
            (dmu + tr - tr_sqrt, "the cross term is −2·Tr((Σ₁Σ₂)^{1/2}): the factor 2 is missing"),
            (math.sqrt(max(ref, 0.0)), "that is the square root of FID: FID is the *squared* Fréchet distance, "
                                       "‖μ₁ − μ₂‖² + Tr(…) with no root over the sum"),
            (math.sqrt(dmu) + tr - 2 * tr_sqrt, "square the distance of the means: ‖μ₁ − μ₂‖², not ‖μ₁ − μ₂‖"),
            (dmu, "that is only the mean term ‖μ₁ − μ₂‖²: add Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2})"),
            (tr - 2 * tr_sqrt, "the mean term ‖μ₁ − μ₂‖² is missing"),
            (dmu + tr - 2 * prod_diag.clamp(min=0).sqrt().sum().item() if bool((prod_diag >= 0).all()) else None,
             "that takes the square root of each entry of Σ₁Σ₂ (np.sqrt, torch.sqrt): the matrix square root "
             "is another thing — scipy.linalg.sqrtm, or the eigenvalues of Σ₁^{1/2}Σ₂Σ₁^{1/2}"),
            (dmu + tr - 2 * (r1 @ r2).trace().item(), "Tr(Σ₁^{1/2}Σ₂^{1/2}) is not Tr((Σ₁Σ₂)^{1/2}) unless the "
                                                    "covariances commute: take the root of the product"),
            (dmu + tr - 2 * (s1 * s2).sqrt().sum().item() if bool((s1 * s2 >= 0).all()) else None,
             "that multiplies Σ₁ and Σ₂ element-wise: the product in FID is the matrix product Σ₁Σ₂"),
        ]
        which = "two identical sets (FID must be 0)" if i == len(cases) else f"test set {i + 1}"
        return _first_match(value, diagnoses, name, f"for {which} you got {value:.4f}, expected {ref:.4f}: "
                            "‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}) with μ, Σ the mean and covariance over the rows",
                            rtol=1e-3, atol=atol)
    return Check(True, "right — the means' squared distance plus the covariances' Fréchet term; identical sets "
                       "give 0 (up to rounding in the matrix square root)", name)


# ----------------------------------------------------------------------------- precision


def _lattice_case() -> tuple[torch.Tensor, torch.Tensor, int]:
    """Reals on a 6×6 integer grid; fakes inside, exactly on ball boundaries, and outside (ties are exact)."""
    xs, ys = torch.meshgrid(torch.arange(6.0), torch.arange(6.0), indexing="ij")
    real = torch.stack([xs.flatten(), ys.flatten()], 1).double()
    inside = torch.tensor([[0.5, 0.5], [2.5, 3.5], [4.5, 1.5], [1.0, 2.0], [3.0, 3.0]])
    boundary = torch.tensor([[-1.0, 2.0], [-1.0, 3.0], [6.0, 1.0], [2.0, 6.0], [3.0, -1.0]])  # NND_3 = 1 at the edge
    outside = torch.tensor([[-2.0, 2.0], [8.0, 8.0], [2.0, -3.0], [-3.0, -3.0], [9.0, 0.0], [2.5, 8.0]])
    return torch.cat([inside, boundary, outside]).double(), real, 3


def _precision_variants(f_fake, f_real, k):
    d_rr = torch.cdist(f_real, f_real)
    d_fr = torch.cdist(f_fake, f_real)
    d_ff = torch.cdist(f_fake, f_fake)
    r_real = d_rr.kthvalue(k + 1, dim=1).values
    r_fake = d_ff.kthvalue(k + 1, dim=1).values
    inside = d_fr <= r_real
    return {
        "strict": (d_fr < r_real).any(1).double().mean().item(),
        "self_as_neighbour": (d_fr <= d_rr.kthvalue(k, dim=1).values).any(1).double().mean().item(),
        "recall": (d_fr.T <= r_fake).any(1).double().mean().item(),
        "coverage": inside.any(0).double().mean().item(),
        "density": inside.sum().item() / (k * f_fake.shape[0]),
        "mean_radius": (d_fr <= r_real.mean()).any(1).double().mean().item(),
    }


def precision(fn: Callable[[torch.Tensor, torch.Tensor, int], object]) -> Check:
    """Exercise: ``fn(f_fake, f_real, k)`` → improved precision: the fraction of fakes inside at least one
    ball B(x_i, NND_k(x_i)) around a real x_i (Kynkäänniemi et al. 2019)."""
    name = "precision via k-NN balls"
    # sets where every listed slip gives a different count (so a slip is named right), then the lattice
    cases = [(*_feature_sets(94, d=3, n_fake=150, n_real=120), 3), (*_feature_sets(92, d=5, n_fake=200, n_real=100), 5),
             _lattice_case()]  # the lattice last: only its exact ties tell <= from <
    for i, (f_fake, f_real, k) in enumerate(cases):
        out, err = _call(fn, f_fake.clone(), f_real.clone(), k)
        if err is not None:
            return Check(False, _raised(err), name)
        value, bad = _number(name, out)
        if bad is not None:
            return bad
        ref = M.precision_recall_features(f_fake, f_real, k)["precision"]
        tol = 0.5 / f_fake.shape[0]  # a fraction of M samples: anything closer than half a sample is the same count
        if abs(value - ref) < tol:
            continue
        v = _precision_variants(f_fake, f_real, k)
        diagnoses = [
            (v["strict"], "a fake exactly on a ball's edge, ‖y − x_i‖ = NND_k(x_i), is inside: compare with <=, not <. "
                          "(With the `prdc` package's strict <, a real digit present k + 1 times gets a ball of "
                          "radius 0 that holds not even its own copies.)"),
            (v["self_as_neighbour"], "NND_k(x_i) is the distance to the k-th nearest *other* real: x_i's distance to "
                                     "itself, 0, is the first of the sorted row — take the (k + 1)-th smallest"),
            (v["recall"], "that is recall (reals inside balls around the fakes): precision asks whether each fake "
                          "lies inside a ball around some real"),
            (v["coverage"], "that counts the real balls that hold a fake (coverage, Naeem et al. 2020): precision "
                            "counts the fakes that lie in some real ball, divided by the number of fakes"),
            (v["density"], "that counts every ball a fake is in, divided by k (density): precision counts a fake "
                           "once if it is in at least one ball"),
            (v["mean_radius"], "each real x_i has its own radius NND_k(x_i): dense regions get small balls, sparse "
                               "ones large"),
        ]
        return _first_match(value, diagnoses, name, f"for test set {i + 1} (k = {k}) you got {value:.4f}, expected "
                            f"{ref:.4f}: the fraction of fakes y_j with ‖y_j − x_i‖ ≤ NND_k(x_i) for at least one real x_i",
                            rtol=0, atol=tol)
    return Check(True, "right — each real's ball reaches its k-th nearest real neighbour; a fake counts if any "
                       "ball holds it, edges included", name)


# ----------------------------------------------------------------------------- KID (unbiased MMD²)


def unbiased_mmd(fn: Callable[[torch.Tensor, torch.Tensor], object]) -> Check:
    """Exercise: ``fn(f_x, f_y)`` → MMD²_u with k(a, b) = (aᵀb/d + 1)³ for two sets of m samples (one KID subset)."""
    name = "KID's unbiased MMD²"
    g = torch.Generator().manual_seed(93)
    cases = [(torch.randn(40, 5, generator=g, dtype=torch.float64), torch.randn(40, 5, generator=g, dtype=torch.float64) * 1.3 + 0.4),
             (torch.randn(25, 8, generator=g, dtype=torch.float64) + 0.2, torch.randn(25, 8, generator=g, dtype=torch.float64))]
    for i, (x, y) in enumerate(cases):
        out, err = _call(fn, x.clone(), y.clone())
        if err is not None:
            return Check(False, _raised(err), name)
        value, bad = _number(name, out)
        if bad is not None:
            return bad
        ref = M.kid_features(y, x, subset_size=x.shape[0], subsets=1)[0]
        m = x.shape[0]

        def mmd(deg=3, scale=True, one=1.0, diag=False, cross=2.0, cross_norm=None, cross_diag=True):
            d = x.shape[1] if scale else 1
            k = lambda a, b: (a @ b.T / d + one) ** deg
            kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
            if diag:
                within = (kxx.sum() + kyy.sum()) / m ** 2
            else:
                within = (kxx.sum() - kxx.trace() + kyy.sum() - kyy.trace()) / (m * (m - 1))
            kxy_sum = kxy.sum() if cross_diag else kxy.sum() - kxy.trace()
            return (within - cross * kxy_sum / (cross_norm or m ** 2)).item()

        atol = 1e-4 * abs(mmd(diag=True)) + 1e-6
        if math.isclose(value, ref, rel_tol=1e-3, abs_tol=atol):
            continue
        # Gretton et al.'s U-statistic MMD²_u drops i = j from the cross term too: −2 Σ_{i≠j} k(x_i, y_j)/(m(m−1)).
        # Also unbiased (Bińkowski et al.'s code offers it as mmd_est="u-statistic"); KID's code uses the full cross mean.
        if math.isclose(value, mmd(cross_diag=False, cross_norm=m * (m - 1)), rel_tol=1e-3, abs_tol=atol):
            continue
        diagnoses = [
            (mmd(diag=True), "that keeps the diagonal k(x_i, x_i) in the within-set sums (the biased V-statistic): "
                             "sum over i ≠ j and divide by m(m − 1)"),
            (mmd(scale=False), "the kernel divides the dot product by the feature dimension d: (aᵀb/d + 1)³"),
            (mmd(one=0.0), "the kernel adds 1 before the cube: (aᵀb/d + 1)³"),
            (mmd(deg=2), "KID's kernel is cubic: (aᵀb/d + 1)³"),
            (mmd(cross=1.0), "the cross term counts twice: − 2/m² Σ_ij k(x_i, y_j)"),
            (mmd(cross_norm=m * (m - 1)), "the cross term has every pair, i = j too: divide by m², not m(m − 1)"),
        ]
        return _first_match(value, diagnoses, name, f"for test set {i + 1} you got {value:.6g}, expected {ref:.6g}: "
                            "Σ_{i≠j}[k(x_i,x_j) + k(y_i,y_j)]/(m(m−1)) − 2 Σ_ij k(x_i,y_j)/m²", rtol=1e-3, atol=atol)
    return Check(True, "right — without the diagonal the within-set means are unbiased, so the estimate averages "
                       "to the true MMD² (and can dip below 0 when the two distributions are the same). KID uses the "
                       "full cross mean; Gretton's U-statistic, which also drops i = j from the cross term, is unbiased "
                       "too and is accepted", name)
