"""Progressive growing of GANs (Karras, Aila, Laine & Lehtinen 2018, arXiv:1710.10196), G and D.

As the authors' ``G_paper`` and ``D_paper`` (github.com/tkarras/progressive_growing_of_gans,
``networks.py``), at any power-of-two resolution (the course uses 4 → 8 → 16 → 32 on padded digits):

    G: z → PixelNorm → dense (gain √2/4) → 4×4 → [conv3×3] → (↑2 nearest → conv3×3 → conv3×3) per level
       every conv followed by LeakyReLU(0.2) and PixelNorm; toRGB: a 1×1 conv (gain 1), no tanh
    D: fromRGB (1×1 conv) → (conv3×3 → conv3×3 → 2×2 average pool) per level
       → 4×4: minibatch stddev → conv3×3 → dense → dense (gain 1) → one score

Channels per level: nf(stage) = min(fmap_base / 2^stage, fmap_max) (``fmap_decay = 1``); the
4×4 level has nf(1) maps, 8×8 nf(2), … ``G_paper``'s defaults are fmap_base 8192 and fmap_max 512
(512 maps at every level up to 32×32); the paper's CIFAR-10 networks (the original ``config.py``,
§6.5) have fmap_base 4096, fmap_max 128 and z of 128; a lecture on a CPU uses far fewer.

**The level of detail.** Both networks take the official ``lod``: lod = log2(max_resolution/r) + (1 − α),
where r is the resolution being trained and α ∈ [0, 1] the fade-in of its newest layers. While α < 1
G's output is the blend (1 − α)·upscale(toRGB_old(h_old)) + α·toRGB_new(h_new), D's input is
mirrored — (1 − α)·fromRGB_old(downscale(x)) + α·block_new(fromRGB_new(x)) — and the real images are
faded the same way (:func:`ganlessons.progressive.fade_reals`). G's output is always upscaled to
the full resolution and D always takes the full resolution (downscaling it inside), so the loss,
the gradient penalty and every picture work at one size while only the layers in use compute (the
official "recursive" structure). Set the level with :meth:`set_lod` or :meth:`set_level`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, downscale2d, lerp, upscale2d
from ..utils import check_positive

__all__ = ["ProgressiveGenerator", "ProgressiveDiscriminator", "lod_of", "level_of"]


def _log2_resolution(resolution: int) -> int:
    check_positive("resolution", resolution, integer=True)
    r = int(math.log2(resolution)) if resolution > 0 else 0
    if resolution < 4 or 2 ** r != resolution:
        raise ValueError(f"resolution must be a power of two ≥ 4 (4, 8, 16, 32, …), got {resolution}")
    return r


def lod_of(resolution: int, alpha: float, max_resolution: int) -> float:
    """The official level of detail: log2(max_resolution / resolution) + (1 − alpha)."""
    r, top = _log2_resolution(resolution), _log2_resolution(max_resolution)
    if resolution > max_resolution:
        raise ValueError(f"resolution={resolution} is above the networks' max_resolution={max_resolution}")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha (the fade-in of the new layers) must be a number in [0, 1], got {alpha!r}")
    if resolution == 4 and alpha != 1:
        raise ValueError(f"alpha={alpha} at resolution 4: the 4×4 networks have no older layers to fade from "
                         "(alpha must be 1 there)")
    return float(top - r) + (1.0 - float(alpha))


def level_of(lod: float, max_resolution: int) -> tuple[int, float]:
    """(resolution, alpha) of a level of detail: r = max_resolution / 2^floor(lod), α = 1 − frac(lod)."""
    top = _log2_resolution(max_resolution)
    if isinstance(lod, bool) or not isinstance(lod, (int, float)) or not 0.0 <= float(lod) <= top - 2:
        raise ValueError(f"lod must be a number in [0, {top - 2}] for max_resolution={max_resolution} "
                         f"(0 = full resolution, {top - 2} = 4×4), got {lod!r}")
    k = math.floor(lod)
    return 2 ** (top - k), 1.0 - (float(lod) - k)


class _Progressive(nn.Module):
    """The level of detail both networks share: ``lod``, ``resolution``, ``alpha``."""

    def _init_levels(self, max_resolution: int, fmap_base: int, fmap_max: int) -> None:
        self.max_resolution = int(max_resolution)
        self.log2_max = _log2_resolution(max_resolution)
        check_positive("fmap_base", fmap_base, integer=True)
        check_positive("fmap_max", fmap_max, integer=True)
        self.fmap_base, self.fmap_max = int(fmap_base), int(fmap_max)
        self.n_levels = self.log2_max - 1              # 4×4, 8×8, …, max
        self._k, self._alpha = self.n_levels - 1, 1.0  # trained networks sample at full resolution
        # α also lives in a buffer, filled in place by set_lod: a CUDA graph of a training step
        # (ganlessons.fast) reads it from there at every replay instead of baking one number in
        self.register_buffer("fade_alpha", torch.ones(()), persistent=False)

    def nf(self, stage: int) -> int:
        """Feature maps at a stage: min(fmap_base / 2^stage, fmap_max) (``networks.py:nf``)."""
        return max(1, min(int(self.fmap_base / 2.0 ** stage), self.fmap_max))

    def set_lod(self, lod: float) -> "_Progressive":
        """Work at the official level of detail ``lod`` (0 = full resolution, fractional = fading in)."""
        res, alpha = level_of(lod, self.max_resolution)
        return self._set(int(math.log2(res)) - 2, alpha)

    def set_level(self, resolution: int, alpha: float = 1.0) -> "_Progressive":
        """Work at ``resolution`` with its newest layers faded in by ``alpha`` (1 = fully in, 0 = the old path).

        (resolution, 0) computes the same images as (resolution / 2, 1), through the new level's
        blend; the official ``lod`` of both is the same number.
        """
        lod_of(resolution, alpha, self.max_resolution)  # validates
        return self._set(int(math.log2(resolution)) - 2, float(alpha))

    def _set(self, k: int, alpha: float) -> "_Progressive":
        if alpha != self._alpha:
            self.fade_alpha.fill_(alpha)
        self._k, self._alpha = k, alpha
        return self

    @property
    def graph_key(self) -> tuple[int, bool]:
        """What fixes the layers a forward pass runs: the level, and whether it is fading in."""
        return self._k, self._alpha < 1.0

    @property
    def lod(self) -> float:
        return float(self.n_levels - 1 - self._k) + (1.0 - self._alpha)

    @property
    def resolution(self) -> int:
        return 4 * 2 ** self._k

    @property
    def alpha(self) -> float:
        return self._alpha

    def _level(self) -> tuple[int, float]:
        return self._k, self._alpha                    # index of the newest level in use (0 = 4×4), its fade-in


def _act() -> nn.Module:
    return nn.LeakyReLU(0.2)


class ProgressiveGenerator(_Progressive):
    """G of Karras et al. 2018: z ↦ image at ``max_resolution``, grown level by level (see the module doc)."""

    def __init__(self, latent_dim: int | None = None, *, max_resolution: int = 32, channels: int = 1,
                 fmap_base: int = 8192, fmap_max: int = 512, normalize_latents: bool = True,
                 use_pixelnorm: bool = True, use_wscale: bool = True, use_batchnorm: bool = False):
        super().__init__()
        self._init_levels(max_resolution, fmap_base, fmap_max)
        if use_batchnorm and use_pixelnorm:
            raise ValueError("use_batchnorm=True replaces PixelNorm: give use_pixelnorm=False with it")
        check_positive("channels", channels, integer=True)
        self.latent_dim = int(latent_dim if latent_dim is not None else self.nf(0))  # official: nf(0)
        check_positive("latent_dim", self.latent_dim, integer=True)
        self.channels, self.use_pixelnorm, self.use_wscale = int(channels), bool(use_pixelnorm), bool(use_wscale)
        self.use_batchnorm = bool(use_batchnorm)
        # the course's "common mistake" variant: BatchNorm where the paper has PixelNorm (it mixes the samples)
        norm = lambda c: PixelNorm() if use_pixelnorm else (nn.BatchNorm2d(c) if use_batchnorm else nn.Identity())
        self.normalize_z = PixelNorm() if normalize_latents else nn.Identity()
        c0 = self.nf(1)
        # dense to 4×4 with the gain √2/4 "to match the original Theano implementation" (networks.py);
        # its bias is per channel of the 4×4 maps (apply_bias after the reshape), not per unit
        self.dense = EqualizedLinear(self.latent_dim, c0 * 16, gain=math.sqrt(2) / 4, bias=False,
                                     use_wscale=use_wscale)
        self.dense_bias = nn.Parameter(torch.zeros(c0))
        self.dense_post = nn.Sequential(_act(), norm(c0))
        self.blocks = nn.ModuleList([nn.Sequential(EqualizedConv2d(c0, c0, 3, use_wscale=use_wscale), _act(), norm(c0))])
        for level in range(1, self.n_levels):         # 8×8 and up: ↑2, conv, conv
            c_in, c_out = self.nf(level), self.nf(level + 1)
            self.blocks.append(nn.Sequential(
                EqualizedConv2d(c_in, c_out, 3, use_wscale=use_wscale), _act(), norm(c_out),
                EqualizedConv2d(c_out, c_out, 3, use_wscale=use_wscale), _act(), norm(c_out)))
        self.to_rgb = nn.ModuleList([EqualizedConv2d(self.nf(level + 1), self.channels, 1, gain=1.0,
                                                     use_wscale=use_wscale) for level in range(self.n_levels)])

    def _features(self, z: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The feature maps of level k and of level k − 1 (the same for k = 0)."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        x = self.dense(self.normalize_z(z)).view(z.shape[0], -1, 4, 4) + self.dense_bias.view(1, -1, 1, 1)
        x = self.blocks[0](self.dense_post(x))
        x_old = x
        for level in range(1, k + 1):
            x_old = x
            x = self.blocks[level](upscale2d(x))
        return x, x_old

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        k, alpha = self._level()
        x, x_old = self._features(z, k)
        img = self.to_rgb[k](x)
        if k > 0 and alpha < 1.0:                      # fade-in: the blend of the two images, no tanh
            img = lerp(upscale2d(self.to_rgb[k - 1](x_old)), img, self.fade_alpha)
        return upscale2d(img, self.max_resolution >> (k + 2))

    def fade_paths(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(old, new) at the current level, both at full size: G(z) = (1 − α)·old + α·new.

        old = upscale(toRGB_{r/2}(h_{r/2})), the previous level's image; new = toRGB_r(h_r). At 4×4
        there is no older level and both are the 4×4 image.
        """
        k, _ = self._level()
        x, x_old = self._features(z, k)
        up = self.max_resolution >> (k + 2)
        new = upscale2d(self.to_rgb[k](x), up)
        old = upscale2d(upscale2d(self.to_rgb[k - 1](x_old)), up) if k > 0 else new
        return old, new

    def extra_repr(self) -> str:
        res, alpha = self.resolution, self.alpha
        return f"now at {res}×{res}, alpha={alpha:.3g} (lod {self.lod:.3g}); output {self.max_resolution}×{self.max_resolution}"


class ProgressiveDiscriminator(_Progressive):
    """D of Karras et al. 2018: image at ``max_resolution`` ↦ one score per sample (see the module doc)."""

    def __init__(self, *, max_resolution: int = 32, channels: int = 1, fmap_base: int = 8192, fmap_max: int = 512,
                 mbstd_group_size: int = 4, use_wscale: bool = True):
        super().__init__()
        self._init_levels(max_resolution, fmap_base, fmap_max)
        check_positive("channels", channels, integer=True)
        check_positive("mbstd_group_size", mbstd_group_size, integer=True, allow_zero=True)
        self.channels, self.use_wscale = int(channels), bool(use_wscale)
        self.from_rgb = nn.ModuleList([nn.Sequential(EqualizedConv2d(self.channels, self.nf(level + 1), 1,
                                                                     use_wscale=use_wscale), _act())
                                       for level in range(self.n_levels)])
        self.blocks = nn.ModuleList([nn.Identity()])  # level 0 (4×4) is the final block below
        for level in range(1, self.n_levels):         # conv → conv → 2×2 average pool
            self.blocks.append(nn.Sequential(
                EqualizedConv2d(self.nf(level + 1), self.nf(level + 1), 3, use_wscale=use_wscale), _act(),
                EqualizedConv2d(self.nf(level + 1), self.nf(level), 3, use_wscale=use_wscale), _act(),
                nn.AvgPool2d(2)))
        c1 = self.nf(1)
        # minibatch stddev once, in the 4×4 block (group_size 0 or 1 switches it off, as mbstd_group_size)
        self.mbstd = MinibatchStdDev(mbstd_group_size) if mbstd_group_size > 1 else nn.Identity()
        extra = 1 if mbstd_group_size > 1 else 0
        self.final = nn.Sequential(
            EqualizedConv2d(c1 + extra, c1, 3, use_wscale=use_wscale), _act(), nn.Flatten(),
            EqualizedLinear(c1 * 16, self.nf(0), use_wscale=use_wscale), _act(),
            EqualizedLinear(self.nf(0), 1, gain=1.0, use_wscale=use_wscale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        full = (self.channels, self.max_resolution, self.max_resolution)
        if x.dim() != 4 or tuple(x.shape[1:]) != full:
            raise ValueError(f"D takes images of shape (N, {', '.join(map(str, full))}) at every level (it "
                             f"downscales them itself), got {tuple(x.shape)}")
        k, alpha = self._level()
        x = downscale2d(x, self.max_resolution >> (k + 2))   # the level's resolution (undoes G's upscaling)
        h = self.from_rgb[k](x)
        if k > 0:
            h = self.blocks[k](h)
            if alpha < 1.0:                                 # fade-in, mirrored: old path on the downscaled input
                h = lerp(self.from_rgb[k - 1](downscale2d(x)), h, self.fade_alpha)
            for level in range(k - 1, 0, -1):
                h = self.blocks[level](h)
        return self.final(self.mbstd(h)).squeeze(1)

    def extra_repr(self) -> str:
        res, alpha = self.resolution, self.alpha
        return f"now at {res}×{res}, alpha={alpha:.3g} (lod {self.lod:.3g}); input {self.max_resolution}×{self.max_resolution}"
