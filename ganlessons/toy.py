"""2-D toy GANs, in the spirit of GAN Lab (Kahng et al. 2018, arXiv:1809.01587).

On a mixture such as the ring of 8 Gaussians (Metz et al. 2016, arXiv:1611.02163) everything a
GAN does can be seen at once: the real points, G's points from a fixed z, and D's output
D(x) = σ(d(x)) over the plane. A :class:`FrameRecorder` passed to the trainer as a callback
keeps those three every few steps; :func:`plot_frames` lays them out side by side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from . import metrics, viz
from .models.mlp import MLPDiscriminator, MLPGenerator
from .utils import check_positive

__all__ = ["toy_gan", "deep_critic", "layer_gradient_norms", "Frame", "FrameRecorder", "plot_frame", "plot_frames"]


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
                         wrt: str = "activations") -> list[float]:
    """Per linear/conv layer l of the critic, the gradient norm of L = E[D(x_fake)] − E[D(x_real)].

    ``wrt="activations"``: ‖∂L/∂h_l‖, h_l the layer's output — the signal back-propagation
    carries, which shrinks or grows by each layer's gain (Gulrajani et al. 2017, Fig. 1b).
    ``wrt="weights"``: ‖∂L/∂W_l‖, what the optimiser sees.
    """
    if wrt not in ("activations", "weights"):
        raise ValueError(f"wrt must be 'activations' or 'weights', got {wrt!r}")
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
