"""The 2014 GAN's theory, in numbers and pictures (Goodfellow et al. 2014, arXiv:1406.2661).

For a fixed G the best discriminator is (Proposition 1)

    D*(x) = p_data(x) / (p_data(x) + p_g(x)),

and with D = D* the generator's criterion becomes (Theorem 1)

    C(G) = E_{p_data}[log D*(x)] + E_{p_g}[log(1 − D*(x))] = −log 4 + 2·JSD(p_data ‖ p_g),

minimal (−log 4) exactly when p_g = p_data. Densities here are 1-D, sampled on a grid.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .utils import check_positive

__all__ = ["gaussian_pdf", "optimal_discriminator", "js_divergence", "virtual_training_criterion",
           "plot_optimal_discriminator", "generator_loss_curves", "plot_generator_losses", "kl_divergence",
           "wasserstein_1d", "divergences_as_supports_separate", "point_mass_divergences",
           "instance_noise_divergences", "plot_divergences", "plot_instance_noise", "plot_kl_asymmetry"]


def gaussian_pdf(x: torch.Tensor, mu: float = 0.0, sigma: float = 1.0) -> torch.Tensor:
    """N(x; μ, σ²) = exp(−(x − μ)²/2σ²) / (σ√(2π))."""
    check_positive("sigma", sigma)
    return torch.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data / (p_data + p_g); ½ where both densities vanish (D has nothing to go on)."""
    total = p_data + p_g
    return torch.where(total > 0, p_data / total.clamp_min(torch.finfo(total.dtype).tiny),
                       torch.full_like(total, 0.5))


def _xlogy(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.where(x > 0, x * torch.log(y.clamp_min(torch.finfo(y.dtype).tiny)), torch.zeros_like(x))


def js_divergence(p: torch.Tensor, q: torch.Tensor, dx: float) -> float:
    """JSD(p ‖ q) = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2, in nats: 0 iff p = q, at most log 2."""
    check_positive("dx", dx)
    m = (p + q) / 2
    kl_pm = (_xlogy(p, p) - _xlogy(p, m)).sum() * dx
    kl_qm = (_xlogy(q, q) - _xlogy(q, m)).sum() * dx
    return float(0.5 * (kl_pm + kl_qm))


def virtual_training_criterion(p_data: torch.Tensor, p_g: torch.Tensor, dx: float) -> float:
    """C(G) = ∫ p_data log D* + p_g log(1 − D*) dx, the value G faces against the best D."""
    d_star = optimal_discriminator(p_data, p_g)
    return float((_xlogy(p_data, d_star) + _xlogy(p_g, 1 - d_star)).sum() * dx)


def plot_optimal_discriminator(mu_g: float = 2.0, sigma_g: float = 1.0, mu_data: float = 0.0,
                               sigma_data: float = 1.0, ax=None) -> Figure:
    """p_data, p_g and D* on one axis; the title gives JSD and C(G) = −log 4 + 2·JSD."""
    x = torch.linspace(-6.0, 8.0, 1401, dtype=torch.float64)
    dx = float(x[1] - x[0])
    p_data, p_g = gaussian_pdf(x, mu_data, sigma_data), gaussian_pdf(x, mu_g, sigma_g)
    d_star = optimal_discriminator(p_data, p_g)
    jsd = js_divergence(p_data, p_g, dx)
    c_g = virtual_training_criterion(p_data, p_g, dx)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.2))
    else:
        fig = ax.figure
    ax.fill_between(x, p_data, alpha=0.3, color="black", label="p_data")
    ax.fill_between(x, p_g, alpha=0.3, color="tab:orange", label="p_g")
    ax.plot(x, d_star, color="tab:blue", lw=2, label="D*(x)")
    ax.axhline(0.5, color="gray", ls=":", lw=1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("x")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(f"JSD = {jsd:.3f} nats (max log 2 = 0.693),  C(G) = {c_g:.3f} (min −log 4 = −1.386)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def generator_loss_curves(n: int = 400) -> dict[str, np.ndarray]:
    """The two generator losses and their gradients with respect to D's logit ℓ, D(G(z)) = σ(ℓ).

    minimax: log(1 − σ(ℓ)), gradient −σ(ℓ) → 0 as D(G(z)) → 0 (it saturates early in training);
    non-saturating: −log σ(ℓ), gradient −(1 − σ(ℓ)) → −1 there (a strong signal when G is bad).
    """
    d = np.linspace(1e-3, 1 - 1e-3, n)
    return {"d_fake": d, "minimax": np.log1p(-d), "nonsaturating": -np.log(d),
            "grad_minimax": -d, "grad_nonsaturating": -(1 - d)}


def plot_generator_losses() -> Figure:
    """Left: both generator losses against D(G(z)). Right: their gradients w.r.t. the logit."""
    c = generator_loss_curves()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(c["d_fake"], c["minimax"], label="minimax  log(1 − D(G(z)))")
    a.plot(c["d_fake"], c["nonsaturating"], label="non-saturating  −log D(G(z))")
    a.set_xlabel("D(G(z))")
    a.set_ylabel("generator loss (minimised)")
    a.set_ylim(-5, 5)
    b.plot(c["d_fake"], np.abs(c["grad_minimax"]), label="minimax")
    b.plot(c["d_fake"], np.abs(c["grad_nonsaturating"]), label="non-saturating")
    b.axvspan(0, 0.1, color="tab:red", alpha=0.1)
    b.text(0.02, 0.5, "early training:\nD rejects fakes", fontsize=8, color="tab:red")
    b.set_xlabel("D(G(z))")
    b.set_ylabel("|∂ loss / ∂ logit|")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- lesson 04: why JS fails


def kl_divergence(p: torch.Tensor, q: torch.Tensor, dx: float) -> float:
    """KL(p ‖ q) = ∫ p log(p/q) dx in nats; +∞ where p > 0 = q."""
    check_positive("dx", dx)
    if bool(((p > 0) & (q <= 0)).any()):
        return math.inf
    return float((_xlogy(p, p) - _xlogy(p, q)).sum() * dx)


def wasserstein_1d(p: torch.Tensor, q: torch.Tensor, dx: float) -> float:
    """W₁(p, q) = ∫ |F_p(x) − F_q(x)| dx for 1-D densities on a grid (F the CDFs): exact in 1-D."""
    check_positive("dx", dx)
    cdf_p, cdf_q = torch.cumsum(p, 0) * dx, torch.cumsum(q, 0) * dx
    return float((cdf_p - cdf_q).abs().sum() * dx)


def divergences_as_supports_separate(shifts=None, width: float = 0.5) -> dict[str, np.ndarray]:
    """p_data = U[0, w] and p_θ = U[θ, θ + w]: JSD and W₁ as θ grows (a 1-D variant of Arjovsky et al.
    2017, Example 1).

    Once the supports stop overlapping (θ ≥ w), JSD is stuck at log 2 while W₁ = |θ| keeps
    growing. Unlike the paper's example (:func:`point_mass_divergences`), the bars overlap for
    0 < θ < w, so here JSD rises continuously from 0 to log 2 instead of jumping at θ = 0.
    """
    shifts = np.linspace(0, 4, 81) if shifts is None else np.asarray(shifts, dtype=float)
    x = torch.linspace(-1.0, 6.0, 14001, dtype=torch.float64)
    dx = float(x[1] - x[0])

    def uniform(a):
        u = ((x >= a) & (x < a + width)).double()
        return u / (u.sum() * dx)

    p = uniform(0.0)
    jsd = [js_divergence(p, uniform(t), dx) for t in shifts]
    w1 = [wasserstein_1d(p, uniform(t), dx) for t in shifts]
    return {"shift": shifts, "jsd": np.array(jsd), "w1": np.array(w1)}


def point_mass_divergences(shifts=None) -> dict[str, np.ndarray]:
    """P_0 = δ_0 and P_θ = δ_θ, the 1-D form of Arjovsky et al. (2017), Example 1 (parallel lines).

    W₁ = |θ|,  JSD = log 2 for θ ≠ 0 and 0 at θ = 0,  KL(P_θ ‖ P_0) = +∞ for θ ≠ 0 and 0 at θ = 0:
    JSD and KL jump at θ = 0 and are flat elsewhere (no gradient), W₁ is continuous with slope ±1.
    """
    shifts = np.linspace(-2, 2, 81) if shifts is None else np.asarray(shifts, dtype=float)
    moved = shifts != 0
    return {"shift": shifts, "w1": np.abs(shifts), "jsd": np.where(moved, math.log(2), 0.0),
            "kl": np.where(moved, math.inf, 0.0)}


def _smoothed_density(x: torch.Tensor, shift: float, width: float, sigma: float) -> torch.Tensor:
    """The density of U[θ, θ + w] + N(0, σ²) (δ_θ + N(0, σ²) when w = 0) on the grid x."""
    if width == 0:
        return gaussian_pdf(x, shift, sigma)
    cdf = lambda t: 0.5 * (1 + torch.erf(t / (sigma * math.sqrt(2))))  # noqa: E731
    return (cdf(x - shift) - cdf(x - shift - width)) / width


def instance_noise_divergences(shifts=None, sigma: float = 0.5, width: float = 0.0) -> dict[str, np.ndarray]:
    """JSD and W₁ between p_data * N(0, σ²) and p_θ * N(0, σ²): instance noise (Arjovsky & Bottou 2017, §3).

    p_data = δ_0 and p_θ = δ_θ (``width=0``) or the bars U[0, w] and U[θ, θ + w]. Adding noise of one
    distribution to real and fake samples alike makes the two densities overlap everywhere, so JSD becomes a
    smooth function of θ (≈ θ²/8σ² near 0 for the point masses, → log 2 far away); W₁ = |θ| is
    unchanged (the same law of noise on both sides shifts nothing).
    """
    check_positive("sigma", sigma)
    if width < 0:
        raise ValueError(f"width must be ≥ 0, got {width}")
    shifts = np.linspace(0, 4, 81) if shifts is None else np.asarray(shifts, dtype=float)
    span = float(np.max(np.abs(shifts))) if shifts.size else 0.0
    x = torch.linspace(-span - width - 10 * sigma, span + width + 10 * sigma, 20001, dtype=torch.float64)
    dx = float(x[1] - x[0])
    p = _smoothed_density(x, 0.0, width, sigma)
    jsd, w1 = [], []
    for t in shifts:
        q = _smoothed_density(x, float(t), width, sigma)
        jsd.append(js_divergence(p, q, dx))
        w1.append(wasserstein_1d(p, q, dx))
    return {"shift": shifts, "jsd": np.array(jsd), "w1": np.array(w1), "sigma": sigma}


def plot_divergences(width: float = 0.5) -> Figure:
    """JSD and W₁ as p_θ slides away from p_0: the point masses of the WGAN paper, and bars of width w."""
    pm = point_mass_divergences(np.linspace(0, 4, 81))
    c = divergences_as_supports_separate(width=width)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.2), sharey=True)
    th = pm["shift"]
    a.plot(th[1:], pm["jsd"][1:], color="tab:blue", label="JSD (nats)")
    a.plot([0], [0], "o", color="tab:blue")
    a.plot([0], [math.log(2)], "o", mfc="white", color="tab:blue")
    a.plot(th, pm["w1"], color="tab:orange", label="Wasserstein-1")
    a.set_title("point masses δ_0 and δ_θ (WGAN paper, Example 1)", fontsize=9)
    a.set_xlabel("shift θ")
    b.plot(c["shift"], c["jsd"], label="JSD (nats)")
    b.plot(c["shift"], c["w1"], label="Wasserstein-1")
    b.axvline(width, color="gray", ls="--", lw=1)
    b.text(width + 0.05, 3.3, "supports stop\noverlapping", fontsize=8, color="gray")
    b.set_title(f"bars U[0, {width:g}] and U[θ, θ + {width:g}] (a variant)", fontsize=9)
    b.set_xlabel("shift θ")
    for ax in (a, b):
        ax.axhline(math.log(2), color="tab:blue", ls=":", lw=1)
        ax.text(3.0, math.log(2) + 0.1, "log 2", color="tab:blue")
        ax.legend(loc="center right", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_instance_noise(sigmas=(0.1, 0.3, 1.0), width: float = 0.0) -> Figure:
    """JSD against θ between noisy point masses (or bars) for several noise levels σ, and without noise."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    shifts = np.linspace(0, 3, 121)
    if width == 0:
        pm = point_mass_divergences(shifts)
        ax.plot(shifts[1:], pm["jsd"][1:], color="black", lw=2, label="no noise (jumps at 0)")
        ax.plot([0], [0], "o", color="black")
    else:
        c = divergences_as_supports_separate(shifts, width=width)
        ax.plot(shifts, c["jsd"], color="black", lw=2, label="no noise")
    for s in sigmas:
        c = instance_noise_divergences(shifts, sigma=s, width=width)
        ax.plot(shifts, c["jsd"], label=f"noise σ = {s:g}")
    ax.axhline(math.log(2), color="gray", ls=":", lw=1)
    ax.set_xlabel("shift θ")
    ax.set_ylabel("JSD (nats)")
    ax.set_title("instance noise: JSD between the noisy distributions", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_kl_asymmetry(separation: float = 4.0) -> Figure:
    """p_data with two modes against a p_g that covers both or sits on one: KL in each direction."""
    x = torch.linspace(-8, 8, 3201, dtype=torch.float64)
    dx = float(x[1] - x[0])
    p = 0.5 * gaussian_pdf(x, -separation / 2, 0.5) + 0.5 * gaussian_pdf(x, separation / 2, 0.5)
    candidates = {"covers both modes (wide)": gaussian_pdf(x, 0.0, separation / 2 + 0.5),
                  "sits on one mode": gaussian_pdf(x, separation / 2, 0.5)}
    fig, axes = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
    for ax, (name, q) in zip(axes, candidates.items()):
        ax.fill_between(x, p, alpha=0.3, color="black", label="p_data")
        ax.plot(x, q, color="tab:orange", label="p_g")
        ax.set_title(f"{name}\nKL(p_data‖p_g) = {kl_divergence(p, q, dx):.2f}   "
                     f"KL(p_g‖p_data) = {kl_divergence(q, p, dx):.2f}", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
