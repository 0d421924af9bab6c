"""Progressive growing's training schedule and its fade-in, as the authors' ``train.py`` does them.

Karras et al. 2018 (arXiv:1710.10196, §3 and §A.1) and github.com/tkarras/progressive_growing_of_gans:

- the level of detail is a function of the **real images shown** (``TrainingSchedule``): each
  resolution is first faded in over ``transition_images`` (α from 0 to 1, linear in images), then
  stabilised over ``images_per_phase`` (α = 1); the code's default is 600k images for each (the
  paper's CelebA-HQ run: 800k, App. A.1);
- the real images are faded like G's output (``process_reals``): x_r, the r×r box-filtered mipmap,
  becomes (1 − α)·upscale(downscale(x_r)) + α·x_r, then is upscaled to the full size;
- Adam's moments (and step count) are reset whenever new layers enter or finish fading in
  (``reset_opt_for_new_lod``: when floor(lod) or ceil(lod) changes).

The schedule is a ``before_step`` callback of the one trainer (:class:`ganlessons.train.Trainer`): it
reads ``trainer.images_seen`` and sets the level on G, D, the faded reals and any averaged copy of G
(an :class:`ganlessons.pretrained.EMA` in the callbacks). The loss (WGAN-GP with the drift term) and
the optimiser are the trainer's usual arguments.
"""

from __future__ import annotations

import math

import torch

from .layers import downscale2d, lerp, upscale2d
from .models.pggan import level_of, lod_of
from .utils import check_positive

__all__ = ["ProgressiveSchedule", "FadedReals", "fade_reals", "fade_reals_lod"]


def fade_reals_lod(x: torch.Tensor, lod: float, alpha_tensor: torch.Tensor | None = None) -> torch.Tensor:
    """The real images at level of detail ``lod``, faded and upscaled back to full size (``process_reals``).

    ``alpha_tensor``, when given, holds the same α as ``lod`` (a 0-d tensor the blend reads, so a CUDA
    graph of the step replays later values of it)."""
    top = int(math.log2(x.shape[-1]))
    res, alpha = level_of(lod, 2 ** top)
    f = x.shape[-1] // res
    x_r = downscale2d(x, f)                       # the r×r mipmap: 2×2 box filter, repeated
    if alpha < 1.0:                               # blend with the previous level, as G's output is blended
        x_r = lerp(upscale2d(downscale2d(x_r)), x_r, alpha if alpha_tensor is None else alpha_tensor)
    return upscale2d(x_r, f)


def fade_reals(x: torch.Tensor, resolution: int, alpha: float = 1.0) -> torch.Tensor:
    """Real images as D sees them at ``resolution`` with fade-in ``alpha``: (1 − α)·old + α·new, full size.

    ``x`` is N×C×H×W at the full resolution (a power of two). At α = 1 this is the r×r box-filtered
    image upscaled (nearest); at α = 0 it is the r/2×r/2 one.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a batch of images N×C×H×W, got {getattr(x, 'shape', type(x).__name__)}")
    return fade_reals_lod(x, lod_of(resolution, alpha, x.shape[-1]))


class FadedReals:
    """A dataset whose ``sample`` returns the real images at the schedule's level of detail.

    Wraps a :mod:`ganlessons.data` dataset (at the networks' full resolution); everything else
    (``images``, ``split``, ``name`` …) is the wrapped dataset's.
    """

    def __init__(self, data, lod: float | None = None):
        if isinstance(data, FadedReals):
            data = data.data
        if not hasattr(data, "sample") or not hasattr(data, "image_shape"):
            raise TypeError(f"data must be an image dataset from gl.data.load, got {type(data).__name__}")
        side = data.image_shape[-1]
        if side < 4 or 2 ** int(math.log2(side)) != side:
            raise ValueError(f"progressive growing needs images whose side is a power of two; these are "
                             f"{side}×{side}: load them with gl.data.load(name, size=32)")
        self.data = data
        self.lod = 0.0
        self._alpha = torch.ones((), device=data.device)  # α, filled in place (see fade_reals_lod)
        self.set_lod(float(lod) if lod is not None else 0.0)

    def set_lod(self, lod: float) -> "FadedReals":
        _, alpha = level_of(lod, self.data.image_shape[-1])
        if float(lod) != self.lod:
            self._alpha.fill_(alpha)
        self.lod = float(lod)
        return self

    def set_level(self, resolution: int, alpha: float = 1.0) -> "FadedReals":
        """Fade the reals to ``resolution`` with the newest level at ``alpha`` (as the networks' ``set_level``)."""
        return self.set_lod(lod_of(resolution, alpha, self.data.image_shape[-1]))

    @property
    def graph_key(self) -> tuple[int, bool]:
        """The level the reals are faded to, and whether it is fading in (see ``ganlessons.fast``)."""
        res, alpha = level_of(self.lod, self.data.image_shape[-1])
        return res, alpha < 1.0

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        x, y = self.data.sample(batch_size, generator)
        return fade_reals_lod(x, self.lod, self._alpha), y

    def to(self, device) -> "FadedReals":
        return FadedReals(self.data.to(device), self.lod)

    def __len__(self) -> int:
        return len(self.data)

    def __getattr__(self, name):
        if name == "data":
            raise AttributeError(name)
        return getattr(self.data, name)

    def __repr__(self) -> str:
        res, alpha = level_of(self.lod, self.data.image_shape[-1])
        return f"FadedReals({self.data!r}, now {res}×{res}, alpha={alpha:.3g})"


class ProgressiveSchedule:
    """lod(images shown) of ``TrainingSchedule``: stabilise 4×4, then fade in and stabilise each level.

    With T = ``images_per_phase`` (stabilisation) and U = ``transition_images`` (fade-in, default T):
    phase p = floor(i / (T + U)) at i images; lod = log2(max/start) − p − max(i − p(T + U) − T, 0)/U,
    never below 0 (full resolution, stabilised for as long as training goes on).
    """

    def __init__(self, images_per_phase: int, *, transition_images: int | None = None, start_resolution: int = 4,
                 max_resolution: int = 32, reset_optimizers: bool = True):
        check_positive("images_per_phase", images_per_phase, integer=True)
        if transition_images is not None:
            check_positive("transition_images", transition_images, integer=True)
        lod_of(start_resolution, 1.0, max_resolution)   # validates both resolutions
        self.images_per_phase = int(images_per_phase)
        self.transition_images = int(transition_images if transition_images is not None else images_per_phase)
        self.start_resolution, self.max_resolution = int(start_resolution), int(max_resolution)
        self.lod_start = math.log2(max_resolution) - math.log2(start_resolution)
        self.reset_optimizers = bool(reset_optimizers)
        self.prev_lod: float | None = None
        self.resets: list[int] = []                    # images shown at each Adam reset
        self.history: list[tuple[int, float]] = []     # (images shown, lod) at each step

    def lod(self, images: int) -> float:
        """The level of detail after ``images`` real images (the official formula)."""
        if images < 0:
            raise ValueError(f"images must be ≥ 0, got {images}")
        dur = self.images_per_phase + self.transition_images
        phase = images // dur
        into = images - phase * dur
        lod = self.lod_start - phase - max(into - self.images_per_phase, 0) / self.transition_images
        return max(float(lod), 0.0)

    def level(self, images: int) -> tuple[int, float]:
        """(resolution, alpha) after ``images`` real images."""
        return level_of(self.lod(images), self.max_resolution)

    @property
    def images_to_full(self) -> int:
        """Real images until the last level has faded in (then it stabilises for the rest of the run)."""
        return int(round(self.lod_start)) * (self.images_per_phase + self.transition_images)

    def steps_for(self, batch_size: int, n_critic: int = 1, extra_phases: float = 1.0) -> int:
        """Generator steps that reach full resolution and stabilise it for ``extra_phases`` phases."""
        check_positive("batch_size", batch_size, integer=True)
        images = self.images_to_full + extra_phases * self.images_per_phase
        return int(math.ceil(images / (batch_size * n_critic)))

    def before_step(self, trainer) -> None:
        lod = self.lod(trainer.images_seen)
        if not hasattr(trainer.data, "set_lod"):
            raise TypeError("progressive growing fades the real images like G's output (train.py: process_reals): "
                            "give the trainer FadedReals(data), not the dataset itself")
        targets = [trainer.G, trainer.D, trainer.data] + [cb.G for cb in trainer.callbacks
                                                          if hasattr(getattr(cb, "G", None), "set_lod")]
        for t in targets:
            if hasattr(t, "set_lod"):
                t.set_lod(lod)
        prev = self.prev_lod
        if self.reset_optimizers and prev is not None and (
                math.floor(lod) != math.floor(prev) or math.ceil(lod) != math.ceil(prev)):
            for opt in (trainer.opt_d, trainer.opt_g):  # new layers: Adam's moments start over
                opt.state.clear()
            self.resets.append(trainer.images_seen)
        self.prev_lod = lod
        if not self.history or self.history[-1][0] != trainer.images_seen:
            self.history.append((trainer.images_seen, lod))

    def __repr__(self) -> str:
        return (f"ProgressiveSchedule({self.start_resolution}→{self.max_resolution}, "
                f"{self.images_per_phase:,} images per stabilisation, {self.transition_images:,} per fade-in)")


# ----------------------------------------------------------------------------- watching it grow


class TransitionSnapshots:
    """Keeps a copy of G (or of ``source``, e.g. an EMA copy) and of D halfway through each fade-in.

    ``models[r] = (G_r, D_r)``: the networks when resolution r was half faded in (α ≥ 0.5 for the
    first time), in eval mode — what the fade-in α slider explores.
    """

    def __init__(self, source=None):
        self.source = source
        self.models: dict[int, tuple] = {}

    def after_step(self, trainer) -> None:
        import copy

        res, alpha = trainer.G.resolution, trainer.G.alpha
        if res > 4 and 0.5 <= alpha < 1.0 and res not in self.models:
            G = copy.deepcopy(self.source if self.source is not None else trainer.G).eval().requires_grad_(False)
            D = copy.deepcopy(trainer.D).eval().requires_grad_(False)
            self.models[res] = (G, D)


class ActivationRMS:
    """Root mean square of each of G's convolution outputs (before activation and PixelNorm), every ``every`` steps.

    ``history[name]`` is a list of (step, rms) for each :class:`ganlessons.layers.EqualizedConv2d` of
    G's blocks that ran at that step (its level is in use): the feature magnitudes PixelNorm keeps in check.
    """

    def __init__(self, G, every: int = 10):
        from .layers import EqualizedConv2d

        check_positive("every", every, integer=True)
        self.every, self.step = int(every), 0
        self.history: dict[str, list[tuple[int, float]]] = {}
        self._latest: dict[str, float] = {}
        self._handles = []
        for name, m in G.named_modules():
            if isinstance(m, EqualizedConv2d) and name.startswith("blocks."):
                self._handles.append(m.register_forward_hook(self._hook(name)))

    def _hook(self, name):
        def hook(_module, _inputs, out):
            if self.step % self.every == 0 and out.requires_grad:  # the training forward passes only
                self._latest[name] = out.detach().pow(2).mean().sqrt()
        return hook

    def after_step(self, trainer) -> None:
        for name, v in self._latest.items():
            self.history.setdefault(name, []).append((self.step, float(v)))
        self._latest = {}
        self.step = trainer.step

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def relative_update_sizes(model, loss_fn, *, n_steps: int = 20, lr: float = 1e-3,
                          betas: tuple[float, float] = (0.0, 0.99)) -> dict[str, float]:
    """‖Δŵ‖ / ‖ŵ‖ per layer after ``n_steps`` Adam steps on ``loss_fn(model)``, ŵ the weight the layer uses.

    ŵ = w·c for an equalized layer (c its run-time scale), w for a plain one. Adam moves every
    stored parameter by about lr per step whatever its gradient, so a layer's relative change is
    about (lr per step) / (the typical size of its stored weights): the same for all layers when the
    stored weights are N(0, 1) (equalized LR); with the usual init (std gain/√fan_in) it grows like
    √fan_in/gain. Works on a copy.
    """
    import copy

    from .layers import EqualizedConv2d, EqualizedLinear

    check_positive("n_steps", n_steps, integer=True)
    net = copy.deepcopy(model).train()
    layers = {n: m for n, m in net.named_modules() if isinstance(m, (EqualizedConv2d, EqualizedLinear))}
    effective = lambda m: (m.weight * m.w_mul).detach().clone()
    before = {n: effective(m) for n, m in layers.items()}
    opt = torch.optim.Adam(net.parameters(), lr=lr, betas=betas)
    for _ in range(n_steps):
        opt.zero_grad(set_to_none=True)
        loss_fn(net).backward()
        opt.step()
    return {n: float((effective(m) - before[n]).norm() / before[n].norm()) for n, m in layers.items()
            if m.weight.grad is not None}
