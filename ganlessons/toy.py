"""2-D toy GANs, in the spirit of GAN Lab (Kahng et al. 2018, arXiv:1809.01587).

On a mixture such as the ring of 8 Gaussians (Metz et al. 2016, arXiv:1611.02163) everything a
GAN does can be seen at once: the real points, G's points from a fixed z, and D's output
D(x) = σ(d(x)) over the plane. A :class:`FrameRecorder` passed to the trainer as a callback
keeps those three every few steps; :func:`plot_frames` lays them out side by side.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from . import metrics, viz
from .models.mlp import MLPDiscriminator, MLPGenerator
from .utils import check_positive

__all__ = ["toy_gan", "deep_critic", "layer_gradient_norms", "scale_into", "share_at_bound", "fit_critic",
           "Frame", "FrameRecorder", "plot_frame", "plot_frames"]


def toy_gan(latent_dim: int = 2, width: int = 128, depth: int = 3) -> tuple[MLPGenerator, MLPDiscriminator]:
    """G: R^latent_dim → R² and D: R² → logit, each ``depth`` LeakyReLU layers of ``width`` units.

    No BatchNorm and no tanh on G's output: the points live on a ring of radius 2.
    """
    check_positive("width", width, integer=True)
    check_positive("depth", depth, integer=True)
    hidden = (int(width),) * int(depth)
    return (MLPGenerator(latent_dim, 2, hidden, batchnorm=False, image=False), MLPDiscriminator(2, hidden))


def deep_critic(depth: int = 12, width: int = 64) -> MLPDiscriminator:
    """A deep, narrow 2-D critic (``depth`` ReLU-free LeakyReLU layers): where clipping's trouble shows.

    Gulrajani et al. (2017, Fig. 1b) trained a 12-layer critic on toy data to show that, under
    weight clipping, gradient norms shrink or grow geometrically from layer to layer.
    """
    check_positive("depth", depth, integer=True)
    check_positive("width", width, integer=True)
    return MLPDiscriminator(2, (int(width),) * int(depth))


def layer_gradient_norms(critic: torch.nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor,
                         wrt: str = "activations", dtype: torch.dtype | None = torch.float64) -> list[float]:
    """Per linear/conv layer l of the critic, the gradient norm of L = E[D(x_fake)] − E[D(x_real)].

    ``wrt="activations"``: ‖∂L/∂h_l‖, h_l the layer's output — the signal back-propagation
    carries, which shrinks or grows by each layer's gain (Gulrajani et al. 2017, Fig. 1b).
    ``wrt="weights"``: ‖∂L/∂W_l‖, what the optimiser sees.
    ``dtype``: the measurement runs on a copy of the critic in this precision (float64 by
    default): the norm squares the gradient's entries, and for a gradient that vanishes
    geometrically through 12 layers (entries near 1e-27) the squares underflow float32 to 0.
    ``None`` measures the critic as it is.
    """
    if wrt not in ("activations", "weights"):
        raise ValueError(f"wrt must be 'activations' or 'weights', got {wrt!r}")
    if dtype is not None and not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating-point torch.dtype or None, got {dtype!r}")
    if dtype is not None:
        critic = copy.deepcopy(critic).to(dtype)
        x_real, x_fake = x_real.detach().to(dtype), x_fake.detach().to(dtype)
    layers = [m for m in critic.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    if not layers:
        raise ValueError("the critic has no Linear or Conv2d layers to measure")
    if wrt == "weights":
        loss = critic(x_fake).mean() - critic(x_real).mean()
        return [g.norm().item() for g in torch.autograd.grad(loss, [m.weight for m in layers])]
    outputs: list[list[torch.Tensor]] = [[] for _ in layers]
    hooks = [m.register_forward_hook(lambda mod, inp, out, i=i: outputs[i].append(out)) for i, m in enumerate(layers)]
    try:
        loss = critic(x_fake).mean() - critic(x_real).mean()
    finally:
        for h in hooks:
            h.remove()
    grads = torch.autograd.grad(loss, [o for pair in outputs for o in pair])
    # Each layer ran twice (fakes, then reals): combine both passes' gradients.
    return [math.sqrt(grads[2 * i].norm().item() ** 2 + grads[2 * i + 1].norm().item() ** 2) for i in range(len(layers))]


@torch.no_grad()
def scale_into(model: torch.nn.Module, clip_value: float) -> None:
    """Rescale each parameter tensor w ← w · c / max|w| so it lies inside [−c, c] (same shape of histogram).

    A start for a weight-clipped critic that the first clamp does not change, so what piles up at
    ±c later is the work of training, not of the clamp on the default initialisation.
    """
    check_positive("clip_value", clip_value)
    for p in model.parameters():
        m = p.abs().max()
        if m > clip_value:
            p.mul_(clip_value / m)


def share_at_bound(model: torch.nn.Module, clip_value: float, rtol: float = 1e-3) -> float:
    """The share of a model's parameters with |w| ≥ c·(1 − rtol): those a clamp to [−c, c] holds at ±c."""
    check_positive("clip_value", clip_value)
    w = torch.cat([p.detach().flatten() for p in model.parameters()])
    return float((w.abs() >= clip_value * (1 - rtol)).float().mean())


def fit_critic(critic: torch.nn.Module, sample_real: Callable[[int], torch.Tensor],
               sample_fake: Callable[[int], torch.Tensor], n_steps: int = 1000, batch_size: int = 256, *,
               clip_value: float | None = None, lambda_gp: float | None = None,
               optimizer: Callable | None = None, every: int = 0,
               callback: Callable[[int, torch.nn.Module], None] | None = None) -> list[float]:
    """Train a WGAN critic alone against a FIXED fake distribution; returns its W₁ estimates per step.

    Minimises E[f(x_fake)] − E[f(x_real)] (+ λ·gradient penalty, or clamp to [−c, c] after each
    step) — Gulrajani et al. (2017, Fig. 1a) train critics "to optimality" this way to compare the
    value surfaces weight clipping and the gradient penalty learn. Exactly one of ``clip_value``
    and ``lambda_gp`` is given. Default optimisers: the papers' RMSProp(5e-5) with clipping,
    Adam(1e-4, β = (0.5, 0.9)) (the authors' toy script) with the penalty. ``callback(step,
    critic)`` runs after every ``every`` steps (e.g. to measure the critic on held-out data).
    """
    from . import losses

    check_positive("n_steps", n_steps, integer=True)
    check_positive("batch_size", batch_size, integer=True)
    if (clip_value is None) == (lambda_gp is None):
        raise ValueError(f"give exactly one of clip_value and lambda_gp, got clip_value={clip_value!r}, "
                         f"lambda_gp={lambda_gp!r}")
    if optimizer is None:
        optimizer = ((lambda p: torch.optim.RMSprop(p, lr=5e-5)) if clip_value is not None
                     else (lambda p: torch.optim.Adam(p, lr=1e-4, betas=(0.5, 0.9))))
    opt = optimizer(critic.parameters())
    estimates = []
    critic.train()
    for _ in range(int(n_steps)):
        x_real, x_fake = sample_real(batch_size), sample_fake(batch_size)
        w_estimate = critic(x_real).mean() - critic(x_fake).mean()
        loss = -w_estimate
        if lambda_gp is not None:
            loss = loss + lambda_gp * losses.gradient_penalty(critic, x_real, x_fake)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if clip_value is not None:
            losses.clip_weights(critic, clip_value)
        estimates.append(w_estimate.item())
        if callback is not None and every and len(estimates) % every == 0:
            callback(len(estimates), critic)
    return estimates


@dataclass
class Frame:
    """One moment of a toy run: G's points for the fixed z, D(x) on a grid, modes covered."""

    step: int
    x_fake: torch.Tensor          # N×2, on the CPU
    surface: tuple                # (xs, ys, D values n×n), from viz.decision_surface
    modes_covered: int | None = None


class FrameRecorder:
    """Trainer callback: every ``every`` steps, keep a :class:`Frame` (and one at the start)."""

    def __init__(self, every: int, n_points: int = 1000, lim: float = 3.0, resolution: int = 80,
                 seed: int = 0):
        check_positive("every", every, integer=True)
        check_positive("n_points", n_points, integer=True)
        self.every, self.n_points, self.lim, self.resolution = int(every), int(n_points), float(lim), int(resolution)
        self.seed = int(seed)
        self.frames: list[Frame] = []
        self._z = None

    def _frame(self, trainer) -> Frame:
        if self._z is None:
            gen = torch.Generator().manual_seed(self.seed)
            self._z = torch.randn(self.n_points, trainer.latent_dim, generator=gen)
        x = trainer.sample(self._z).cpu()
        surface = viz.decision_surface(trainer.D, (-self.lim, self.lim), (-self.lim, self.lim), n=self.resolution)
        covered = None
        if hasattr(trainer.data, "centers"):
            covered = metrics.modes_covered(x, trainer.data.centers, trainer.data.std)["modes_covered"]
        return Frame(trainer.step, x, surface, covered)

    def before_step(self, trainer) -> None:
        if not self.frames and trainer.step == 0:  # the untrained picture, for comparison
            self.frames.append(self._frame(trainer))

    def __call__(self, trainer) -> None:
        if trainer.step % self.every == 0:
            self.frames.append(self._frame(trainer))


def plot_frame(frame: Frame, x_real: torch.Tensor, ax=None, title: str | None = None, colorbar: bool = True) -> Figure:
    """Real points (black), G's points (orange), over D(x) as a heat map (red: "real")."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.2, 3.8))
    else:
        fig = ax.figure
    xs, ys, v = frame.surface
    im = ax.pcolormesh(xs, ys, v, cmap="RdBu_r", shading="auto", vmin=0, vmax=1, alpha=0.8)
    if colorbar:
        fig.colorbar(im, ax=ax, fraction=0.046, label="D(x)")
    r, f = x_real.detach().cpu().numpy(), frame.x_fake.numpy()
    ax.scatter(r[:, 0], r[:, 1], s=2, c="black", alpha=0.5)
    ax.scatter(f[:, 0], f[:, 1], s=2, c="tab:orange", alpha=0.6)
    lim = float(np.max(np.abs(xs)))
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is None:
        title = f"step {frame.step}" + ("" if frame.modes_covered is None else f" · {frame.modes_covered}/8 modes")
    ax.set_title(title, fontsize=9)
    return fig


def plot_frames(frames: list[Frame], x_real: torch.Tensor, n_columns: int = 6, suptitle: str | None = None) -> Figure:
    """``n_columns`` frames spread evenly over the run (first and last included)."""
    if not frames:
        raise ValueError("no frames recorded: pass the FrameRecorder to the trainer as a callback and train")
    idx = np.unique(np.linspace(0, len(frames) - 1, min(n_columns, len(frames))).round().astype(int))
    fig, axes = plt.subplots(1, len(idx), figsize=(2.3 * len(idx), 2.6), squeeze=False)
    for ax, i in zip(axes[0], idx):
        plot_frame(frames[i], x_real, ax=ax, colorbar=False)
    if suptitle:
        fig.suptitle(suptitle, y=1.0)
    fig.tight_layout()
    return fig
