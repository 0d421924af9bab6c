"""Pictures of training: sample grids, loss curves, the fixed-z timeline, 2-D points over D.

Every function returns a matplotlib ``Figure`` (and draws nothing else), so a notebook shows it
and a test can inspect it without a screen.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["grid_image", "show_grid", "plot_losses", "plot_timeline", "decision_surface", "plot_points", "schedule_figure", "fade_figure", "plot_growth",
           "smooth"]


def grid_image(x: torch.Tensor, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """An H×W×C array in [0, 1] tiling images ``x`` (N×C×H×W in [-1, 1], or uint8) with torchvision."""
    from torchvision.utils import make_grid

    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a tensor of images N×C×H×W, got {getattr(x, 'shape', type(x).__name__)}")
    x = x.detach().cpu()
    x = x.float() / 255.0 if x.dtype == torch.uint8 else (x.float().clamp(-1, 1) + 1) / 2
    grid = make_grid(x, nrow=nrow, padding=padding, pad_value=1.0)
    return grid.permute(1, 2, 0).numpy()


def show_grid(x: torch.Tensor, nrow: int = 8, title: str | None = None, ax=None, size: float = 4.0) -> Figure:
    """Show images as one grid (grey for one channel)."""
    img = grid_image(x, nrow=nrow)
    if ax is None:
        fig, ax = plt.subplots(figsize=(size, size * img.shape[0] / img.shape[1]))
    else:
        fig = ax.figure
    ax.imshow(img[..., 0] if img.shape[2] == 1 or np.allclose(img[..., 0], img[..., 1]) else img,
              cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Moving average over ``window`` points (shorter at the start), for readable loss curves."""
    v = np.asarray(values, dtype=float)
    if window <= 1 or v.size == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    out = np.empty_like(v)
    for i in range(v.size):
        lo = max(0, i + 1 - window)
        out[i] = (c[i + 1] - c[lo]) / (i + 1 - lo)
    return out


def plot_losses(history: dict, keys: Sequence[str] = ("d_loss", "g_loss"), window: int | None = None,
                ax=None, title: str = "losses") -> Figure:
    """Loss curves against generator step, lightly smoothed (raw values faint behind)."""
    missing = [k for k in keys if k not in history]
    if missing:
        raise KeyError(f"history has no {missing}; it has {sorted(history)}")
    steps = np.asarray(history["step"])
    if window is None:
        window = max(1, len(steps) // 50)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.2))
    else:
        fig = ax.figure
    for k in keys:
        line, = ax.plot(steps, smooth(history[k], window), label=k)
        if window > 1:
            ax.plot(steps, history[k], color=line.get_color(), alpha=0.2, linewidth=0.8)
    ax.set_xlabel("generator step")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_timeline(snapshots: Sequence[tuple[int, torch.Tensor]], n_columns: int = 6, n_images: int = 16) -> Figure:
    """The same fixed z at ``n_columns`` moments of training: what G learned, and when."""
    if not snapshots:
        raise ValueError("no snapshots yet: train first")
    idx = np.unique(np.linspace(0, len(snapshots) - 1, min(n_columns, len(snapshots))).round().astype(int))
    nrow = int(np.ceil(np.sqrt(n_images)))
    fig, axes = plt.subplots(1, len(idx), figsize=(2.1 * len(idx), 2.4), squeeze=False)
    for ax, i in zip(axes[0], idx):
        step, x = snapshots[i]
        if x.dim() == 4:
            show_grid(x[:n_images], nrow=nrow, ax=ax, title=f"step {step}")
        else:  # 2-D points
            pts = x.float().numpy()
            ax.scatter(pts[:, 0], pts[:, 1], s=2)
            ax.set_title(f"step {step}")
            ax.set_aspect("equal")
    fig.suptitle("fixed z over training", y=1.02)
    fig.tight_layout()
    return fig


@torch.no_grad()
def decision_surface(D: torch.nn.Module, xlim=(-3, 3), ylim=(-3, 3), n: int = 100,
                     logits: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """D over a 2-D grid: (xs, ys, values n×n) with values σ(D(x)) (or raw scores if ``logits``)."""
    dev = next(D.parameters()).device
    xs, ys = np.linspace(*xlim, n), np.linspace(*ylim, n)
    gx, gy = np.meshgrid(xs, ys)
    pts = torch.tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32, device=dev)
    was = D.training
    D.eval()
    try:
        out = D(pts).reshape(n, n)
    finally:
        D.train(was)
    values = out if logits else torch.sigmoid(out)
    return xs, ys, values.cpu().numpy()


def plot_points(x_real: torch.Tensor, x_fake: torch.Tensor, D: torch.nn.Module | None = None, ax=None,
                lim: float = 3.0, title: str | None = None, logits: bool = False) -> Figure:
    """Real (black) and generated (orange) 2-D points, over D's output as a heat map if D is given."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 4))
    else:
        fig = ax.figure
    if D is not None:
        xs, ys, v = decision_surface(D, (-lim, lim), (-lim, lim), logits=logits)
        im = ax.pcolormesh(xs, ys, v, cmap="RdBu_r", shading="auto", vmin=None if logits else 0,
                           vmax=None if logits else 1, alpha=0.8)
        fig.colorbar(im, ax=ax, fraction=0.046, label="critic score" if logits else "D(x) = P(real)")
    r, f = x_real.detach().cpu().numpy(), x_fake.detach().cpu().numpy()
    ax.scatter(r[:, 0], r[:, 1], s=3, c="black", label="real", alpha=0.6)
    ax.scatter(f[:, 0], f[:, 1], s=3, c="tab:orange", label="G(z)", alpha=0.6)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    return fig


# Notebooks close figures they show; a script that makes many should too.
matplotlib.rcParams["figure.max_open_warning"] = 50


# ----------------------------------------------------------------------------- progressive growing (lesson 06)


def schedule_figure(schedule, n_images: int, batch_size: int | None = None) -> Figure:
    """Resolution and fade-in α against real images shown (Karras et al. 2018's schedule), Adam resets marked."""
    from .models.pggan import level_of

    x = np.linspace(0, n_images, 800)
    lods = np.array([schedule.lod(int(i)) for i in x])
    res = np.array([level_of(float(v), schedule.max_resolution)[0] for v in lods])
    alpha = np.array([level_of(float(v), schedule.max_resolution)[1] for v in lods])
    fig, (a, b) = plt.subplots(2, 1, figsize=(8, 3.6), sharex=True)
    a.step(x, res, where="post", color="tab:blue")
    a.set_yscale("log", base=2); a.set_yticks(sorted(set(res.tolist()))); a.set_yticklabels([f"{r}×{r}" for r in sorted(set(res.tolist()))])
    a.set_ylabel("resolution")
    b.plot(x, alpha, color="tab:orange"); b.set_ylim(-0.05, 1.05); b.set_ylabel("α (fade-in)")
    fades = np.flatnonzero(np.diff(np.floor(lods)) != 0) + 1      # floor(lod) or ceil(lod) changes: Adam reset
    ends = np.flatnonzero(np.diff(np.ceil(lods)) != 0) + 1
    for i in np.union1d(fades, ends):
        for ax in (a, b):
            ax.axvline(x[i], color="gray", lw=0.8, ls=":")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    b.set_xlabel("real images shown" + (f" (batch {batch_size}: {n_images // batch_size:,} steps)" if batch_size else ""))
    a.set_title(f"{schedule!r}; dotted: Adam's state reset", fontsize=9)
    fig.tight_layout()
    return fig


@torch.no_grad()
def fade_figure(G, z: torch.Tensor, x_real: torch.Tensor, resolution: int, alpha: float, D=None,
                nrow: int = 4, title: str | None = None) -> Figure:
    """The fade-in at (resolution, α): G's old path, new path and blend; the real images as D sees them.

    Works on G (and D) at that level and puts their level back. With ``D``, the titles carry its
    mean score on the blended fakes and on the faded reals.
    """
    from .progressive import fade_reals

    saved = [(m, m.resolution, m.alpha) for m in (G, D) if m is not None]
    try:
        G.set_level(resolution, alpha)
        if D is not None:
            D.set_level(resolution, alpha)
        dev = next(G.parameters()).device
        old, new = (t.cpu() for t in G.fade_paths(z.to(dev)))
        blend = G(z.to(dev)).cpu()
        x = x_real.cpu()
        r_old, r_new, r_blend = fade_reals(x, resolution, 0.0), fade_reals(x, resolution, 1.0), fade_reals(x, resolution, alpha)
        score = {}
        if D is not None:
            ddev = next(D.parameters()).device
            score = {"fake": D(blend.to(ddev)).mean().item(), "real": D(r_blend.to(ddev)).mean().item()}
    finally:
        for m, res, a in saved:
            m.set_level(res, a)
    fig, axes = plt.subplots(2, 3, figsize=(9, 7.0))
    half = resolution // 2
    cols = [f"old: {half}×{half} upscaled", f"new: {resolution}×{resolution}", f"blend, α = {alpha:.2f}"]
    for j, (img, head) in enumerate(zip((old, new, blend), cols)):
        show_grid(img, nrow=nrow, ax=axes[0, j], title=f"G · {head}" + (f"\nD(fake) = {score['fake']:.2f}" if score and j == 2 else ""))
    for j, (img, head) in enumerate(zip((r_old, r_new, r_blend), cols)):
        show_grid(img, nrow=nrow, ax=axes[1, j], title=f"reals · {head}" + (f"\nD(real) = {score['real']:.2f}" if score and j == 2 else ""))
    fig.suptitle(title or f"fading in {resolution}×{resolution}: (1 − α)·old + α·new for G's output and D's input", fontsize=10)
    fig.tight_layout()
    return fig


def plot_growth(snapshots, schedule, images_per_step: int, n_images: int = 16) -> Figure:
    """The fixed-z snapshots of a progressive run, each titled with its resolution and α."""
    if not snapshots:
        raise ValueError("no snapshots yet: train first")
    nrow = int(np.ceil(np.sqrt(n_images)))
    fig, axes = plt.subplots(1, len(snapshots), figsize=(1.9 * len(snapshots), 2.5), squeeze=False)
    for ax, (step, x) in zip(axes[0], snapshots):
        res, alpha = schedule.level(max(step - 1, 0) * images_per_step)  # the level G sampled at
        show_grid(x[:n_images], nrow=nrow, ax=ax)
        ax.set_title(f"step {step}\n{res}×{res}" + (f", α {alpha:.2f}" if alpha < 1 else ""), fontsize=8)
    fig.suptitle("the same z as the networks grow", y=1.02)
    fig.tight_layout()
    return fig
