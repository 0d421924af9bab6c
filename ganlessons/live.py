"""Training the class can watch: the fixed-z samples and the curves, redrawn while ``fit`` runs.

``fit(..., live=True)`` (the default in a notebook when ``progress`` is on) keeps one figure in
the training cell's output and redraws it every ``every_seconds`` seconds of wall time — not
every step, so it costs a few percent of the training time on a CPU. When training ends or is
interrupted, the last frame stays in the output as a static image, so an executed notebook
reads well without a kernel. In a terminal, and under papermill (seen by its injected
parameters cell, see :mod:`ganlessons.lesson`), it falls back to the progress bar; the
environment variable ``GANLESSONS_LIVE=0`` or ``1`` overrides the choice.
"""

from __future__ import annotations

import os
import sys
import time

import torch

__all__ = ["LiveView", "available"]

# Set by ganlessons.lesson when papermill's injected parameters cell runs in this kernel.
HEADLESS = {"papermill": False}


def available() -> bool:
    """True in a Jupyter kernel that is not run by papermill, unless GANLESSONS_LIVE says otherwise."""
    env = os.environ.get("GANLESSONS_LIVE", "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipykernel brings IPython
        return False
    shell = get_ipython()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    return env in ("1", "true", "yes", "on") or not HEADLESS["papermill"]


class LiveView:
    """One figure, redrawn in place: the fixed-z sample grid (or 2-D points), the losses, the metrics.

    Args:
        trainer: the :class:`ganlessons.train.Trainer` being watched.
        every_seconds: wall time between frames (3 s: 20 frames a minute).
        target: the step the current ``fit`` call trains to (for the title), or None.
    """

    dpi = 80  # a projector-sized frame that is quick to encode

    def __init__(self, trainer, every_seconds: float = 3.0, target: int | None = None):
        if not every_seconds > 0:
            raise ValueError(f"every_seconds must be > 0, got {every_seconds!r}")
        self.trainer, self.every_seconds, self.target = trainer, float(every_seconds), target
        self.frames = 0
        self.draw_seconds = 0.0
        self._handle = None
        self._fig = None
        self._last = time.perf_counter()

    # called after every generator step: one clock read unless a frame is due
    def maybe_update(self) -> None:
        now = time.perf_counter()
        if now - self._last >= self.every_seconds:
            self.update()
            self._last = time.perf_counter()

    def update(self) -> None:
        """Draw a frame now (and show it in place of the previous one)."""
        import io

        from IPython.display import Image, display

        t0 = time.perf_counter()
        fig = self._draw()
        buf = io.BytesIO()  # a PNG made here, whatever matplotlib backend the kernel has
        fig.savefig(buf, format="png", dpi=self.dpi)
        frame = Image(data=buf.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(frame, display_id=True)
        else:
            self._handle.update(frame)
        self.frames += 1
        self.draw_seconds += time.perf_counter() - t0

    def close(self) -> None:
        """The last frame, left in the output as a static figure."""
        import matplotlib.pyplot as plt

        self.update()
        if self._fig is not None:
            plt.close(self._fig)

    # ------------------------------------------------------------------ drawing

    def _draw(self):
        import matplotlib.pyplot as plt

        from .viz import grid_image, smooth

        tr = self.trainer
        tr._flush(None)  # losses still on the device: one sync a frame, not one a step
        if self._fig is None:
            n_panels = 3 if tr.evals else 2
            self._fig, self._axes = plt.subplots(1, n_panels, figsize=(4.0 * n_panels, 3.4))
            plt.close(self._fig)  # keep the inline backend from showing it a second time
        fig, axes = self._fig, self._axes
        for ax in axes:
            ax.clear()
        x = tr.sample().float().cpu()
        if x.dim() == 4:
            axes[0].imshow(grid_image(x[:64]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            axes[0].set_axis_off()
        else:
            real, _ = tr.data.sample(512, generator=torch.Generator(device=tr.data.device).manual_seed(0))
            real = real.float().cpu()
            axes[0].scatter(real[:, 0], real[:, 1], s=3, alpha=0.3, color="tab:blue", label="real")
            axes[0].scatter(x[:, 0], x[:, 1], s=3, alpha=0.6, color="tab:orange", label="G(z)")
            axes[0].set_aspect("equal")
            axes[0].legend(loc="upper right", fontsize=7)
        axes[0].set_title(f"fixed z at step {tr.step}", fontsize=9)
        steps = tr.history["step"]
        window = max(1, len(steps) // 50)
        for name in ("d_loss", "g_loss"):
            values = tr.history.get(name, [])
            if values:
                axes[1].plot(steps[:len(values)], smooth(values, window), label=name, lw=1)
        axes[1].set_xlabel("generator step")
        axes[1].legend(fontsize=7)
        axes[1].grid(alpha=0.3)
        axes[1].set_title("losses" + (f" (moving average of {window})" if window > 1 else ""), fontsize=9)
        if len(axes) > 2:
            for name, points in tr.evals.items():
                if points:
                    s, v = zip(*points)
                    axes[2].plot(s, v, "o-", label=name, ms=3)
            axes[2].set_xlabel("generator step")
            axes[2].legend(fontsize=7)
            axes[2].grid(alpha=0.3)
            axes[2].set_title("metrics", fontsize=9)
        goal = f"/{self.target}" if self.target else ""
        fig.suptitle(f"{type(tr.G).__name__} vs {type(tr.D).__name__}: step {tr.step}{goal}", fontsize=10)
        fig.tight_layout()
        return fig
