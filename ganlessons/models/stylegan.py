"""StyleGAN's generator (Karras, Laine & Aila 2019, arXiv:1812.04948), at a size a CPU can train.

As ``G_style``, ``G_mapping`` and ``G_synthesis`` of the authors' code (github.com/NVlabs/stylegan,
``training/networks_stylegan.py``):

    mapping:   z → PixelNorm → n × (dense, lr multiplier 0.01, LeakyReLU 0.2) → w
    synthesis: learned constant 4×4 (ones) → per layer: [↑2 → conv3×3 → blur] or [conv3×3]
               → noise (per-channel scale, 0 at start) → bias → LeakyReLU → AdaIN(w of that layer)
               two layers per resolution: 4×4 (the constant, a conv), 8×8, 16×16, 32×32 → toRGB (1×1)

and the things ``G_style`` does around them: while training, the average of w is tracked
(w̄ ← β·w̄ + (1 − β)·mean_batch(w), β = 0.995) and, with probability 0.9, two z are mixed — the layers
before a random crossover take w₁, the rest w₂; when sampling, the truncation trick
w′ = w̄ + ψ(w − w̄) on the layers below a cutoff (at 32×32, the official cutoff of 8 is every layer).

Deviations, on purpose: no progressive growing (StyleGAN2 dropped it; the networks train at 32×32
from the start); D is lesson 06's, without the blur the official D applies before each downsampling;
and a tanh after toRGB (``output_tanh``, on by default). The official toRGB is linear: nothing keeps
its output in [−1, 1], and for photographs, whose pixels spread over the range, that does not
matter. Digits are ~80 % background at exactly −1 with strokes near +1. Measured at lesson size
(fmap 128/32, batch 32, NS + R1): with the linear output the samples reached ±3.4, beyond every
real pixel, G collapsed to one digit and held-out ``domain_fid`` went from 1,218 at step 100 to
1,689 at step 400; with the tanh it fell from 1,183 to 531 (lesson 06's PGGAN G with the same
loss and D: 553). (Below 128 px the official code also upsamples as here, nearest-neighbour then
a 3×3 conv; its fused transposed convolution is for larger layers.)
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn as nn

from ..layers import AdaIN, Blur, EqualizedConv2d, EqualizedLinear, NoiseInjection, PixelNorm, upscale2d
from ..utils import check_positive

__all__ = ["MappingNetwork", "SynthesisNetwork", "StyleGenerator"]


class MappingNetwork(nn.Module):
    """f: z ↦ w, PixelNorm then ``n_layers`` equalized dense layers with learning-rate multiplier ``lr_mul``.

    Each layer: y = LeakyReLU_0.2(x·(W·c)ᵀ + b·lr_mul), W ~ N(0, 1/lr_mul²), c = √2/√fan_in·lr_mul:
    Adam's steps on W move the used weights W·c 100× more slowly (lr_mul = 0.01) than in the synthesis
    network (``G_mapping``, ``mapping_lrmul=0.01``).
    """

    def __init__(self, latent_dim: int = 512, w_dim: int = 512, n_layers: int = 8, hidden: int | None = None,
                 lr_mul: float = 0.01, normalize_latents: bool = True):
        super().__init__()
        check_positive("n_layers", n_layers, integer=True)
        self.latent_dim, self.w_dim = int(latent_dim), int(w_dim)
        hidden = int(hidden or w_dim)
        self.normalize = PixelNorm() if normalize_latents else nn.Identity()
        sizes = [self.latent_dim] + [hidden] * (n_layers - 1) + [self.w_dim]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [EqualizedLinear(a, b, lr_mul=lr_mul), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(self.normalize(z))


class StyleLayer(nn.Module):
    """One synthesis layer: [↑2 → conv → blur | conv | nothing (the constant)] → noise → bias → act → AdaIN.

    The order of ``layer_epilogue``: noise, bias, LeakyReLU, instance norm, style.
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, *, conv: bool = True, up: bool = False):
        super().__init__()
        self.up = bool(up)
        self.conv = EqualizedConv2d(in_channels, out_channels, 3, bias=False) if conv else None
        self.blur = Blur() if up else None
        self.noise = NoiseInjection(out_channels)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.act = nn.LeakyReLU(0.2)
        self.adain = AdaIN(out_channels, w_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if self.up:
            x = upscale2d(x)
        if self.conv is not None:
            x = self.conv(x)
        if self.blur is not None:
            x = self.blur(x)
        x = self.act(self.noise(x, noise) + self.bias.view(1, -1, 1, 1))
        return self.adain(x, w)


class SynthesisNetwork(nn.Module):
    """g: (w₀ … w_{L−1}) ↦ image, from a learned constant; L = 2·log₂(resolution) − 2 style inputs."""

    def __init__(self, w_dim: int = 512, *, max_resolution: int = 32, channels: int = 1, fmap_base: int = 8192,
                 fmap_max: int = 512, output_tanh: bool = True):
        super().__init__()
        r = int(math.log2(max_resolution)) if max_resolution > 0 else 0
        if max_resolution < 8 or 2 ** r != max_resolution:
            raise ValueError(f"max_resolution must be a power of two ≥ 8, got {max_resolution}")
        check_positive("fmap_base", fmap_base, integer=True)
        check_positive("fmap_max", fmap_max, integer=True)
        self.max_resolution, self.fmap_base, self.fmap_max = int(max_resolution), int(fmap_base), int(fmap_max)
        nf = self.nf
        self.const = nn.Parameter(torch.ones(1, nf(1), 4, 4))           # initialised to ones, as ``Const``
        layers = [StyleLayer(nf(1), nf(1), w_dim, conv=False), StyleLayer(nf(1), nf(1), w_dim)]
        for res in range(3, r + 1):                                     # 8×8 … max: ↑conv+blur, conv
            layers += [StyleLayer(nf(res - 2), nf(res - 1), w_dim, up=True), StyleLayer(nf(res - 1), nf(res - 1), w_dim)]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = EqualizedConv2d(nf(r - 1), channels, 1, gain=1.0)
        self.num_layers = len(layers)
        self.output_tanh = bool(output_tanh)           # not in the official code: see the module's docstring

    def nf(self, stage: int) -> int:
        """Feature maps: min(fmap_base / 2^stage, fmap_max), stage = log₂(resolution) − 1."""
        return max(1, min(int(self.fmap_base / 2.0 ** stage), self.fmap_max))

    def resolutions(self) -> list[int]:
        """The resolution of each style layer: 4, 4, 8, 8, …"""
        return [4 * 2 ** (i // 2) for i in range(self.num_layers)]

    def make_noise(self, n: int, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """One fixed noise image per layer (N×1×H×W), to hold the noise still while w changes."""
        return [torch.randn(n, 1, r, r, generator=generator) for r in self.resolutions()]

    def forward(self, ws: torch.Tensor, noise: list | str = "random") -> torch.Tensor:
        """``ws``: N × L × w_dim; ``noise``: "random" (fresh every call), or a list of L noise images,
        None entries switching that layer's noise off."""
        if ws.dim() != 3 or ws.shape[1] != self.num_layers:
            raise ValueError(f"ws must have shape (N, {self.num_layers}, w_dim): one w per style layer, "
                             f"got {tuple(ws.shape)}")
        if isinstance(noise, str):
            if noise != "random":
                raise ValueError(f"noise must be 'random' or a list of {self.num_layers} noise images, got {noise!r}")
            noise = [None] * self.num_layers
            off = [False] * self.num_layers
        else:
            if len(noise) != self.num_layers:
                raise ValueError(f"noise must hold one entry per style layer ({self.num_layers}), got {len(noise)}")
            off = [n is None for n in noise]
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        for i, layer in enumerate(self.layers):
            n_i = noise[i]
            if off[i]:
                n_i = torch.zeros(ws.shape[0], 1, *[self.resolutions()[i]] * 2, device=ws.device, dtype=ws.dtype)
            elif n_i is not None:
                n_i = n_i.to(device=ws.device, dtype=ws.dtype)
            x = layer(x, ws[:, i], n_i)
        x = self.to_rgb(x)
        return torch.tanh(x) if self.output_tanh else x


class StyleGenerator(nn.Module):
    """G(z) = g(f(z)) with w tracking, style mixing while training and truncation when sampling (``G_style``).

    Args:
        latent_dim, w_dim: sizes of z and w (the paper: 512 and 512).
        mapping_layers: depth of f (the paper: 8; NVIDIA's own 32×32 configuration: 2).
        max_resolution, channels, fmap_base, fmap_max: the synthesis network's size.
        output_tanh: squash the output into [−1, 1] (our addition for digits; the official toRGB is linear).
        style_mixing_prob: the probability of mixing two z in a training batch (0.9).
        w_avg_beta: decay of the tracked average of w (0.995).
    """

    def __init__(self, latent_dim: int = 512, w_dim: int = 512, *, mapping_layers: int = 8, mapping_lr_mul: float = 0.01,
                 max_resolution: int = 32, channels: int = 1, fmap_base: int = 8192, fmap_max: int = 512,
                 style_mixing_prob: float = 0.9, w_avg_beta: float = 0.995, output_tanh: bool = True):
        super().__init__()
        if not 0.0 <= style_mixing_prob <= 1.0:
            raise ValueError(f"style_mixing_prob must be in [0, 1], got {style_mixing_prob!r}")
        if not 0.0 <= w_avg_beta < 1.0:
            raise ValueError(f"w_avg_beta must be in [0, 1), got {w_avg_beta!r}")
        self.latent_dim, self.w_dim = int(latent_dim), int(w_dim)
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers, lr_mul=mapping_lr_mul)
        self.synthesis = SynthesisNetwork(w_dim, max_resolution=max_resolution, channels=channels,
                                          fmap_base=fmap_base, fmap_max=fmap_max, output_tanh=output_tanh)
        self.num_layers = self.synthesis.num_layers
        self.style_mixing_prob, self.w_avg_beta = float(style_mixing_prob), float(w_avg_beta)
        self.register_buffer("w_avg", torch.zeros(self.w_dim))          # ``dlatent_avg``, zeros at start

    @property
    def graph_key(self) -> tuple:
        """The number a training step compares its draw with (``ganlessons.fast``: part of a graph)."""
        return (self.style_mixing_prob,)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """w (N × w_dim) → one copy per style layer (N × L × w_dim)."""
        return w[:, None, :].expand(-1, self.num_layers, -1)

    def truncate(self, ws: torch.Tensor, psi: float, cutoff: int | None = None) -> torch.Tensor:
        """w′ = w̄ + ψ·(w − w̄) on the layers below ``cutoff`` (all by default): ψ = 1 changes nothing,
        ψ = 0 gives the average image for every z."""
        if isinstance(psi, bool) or not isinstance(psi, (int, float)):
            raise TypeError(f"psi must be a number (1 = no truncation), got {psi!r}")
        cutoff = self.num_layers if cutoff is None else int(cutoff)
        coefs = torch.where(torch.arange(self.num_layers, device=ws.device) < cutoff, float(psi), 1.0)
        return self.w_avg + (ws - self.w_avg) * coefs.view(1, -1, 1).to(ws.dtype)

    @staticmethod
    def mix(ws1: torch.Tensor, ws2: torch.Tensor, crossover: int | torch.Tensor) -> torch.Tensor:
        """Layers below ``crossover`` from ws1 (coarse styles), the rest from ws2 (finer styles).

        ``crossover`` is a layer index, or a 0-d integer tensor of one drawn on the device (training)."""
        if torch.is_tensor(crossover):
            if crossover.dim() != 0 or crossover.is_floating_point():
                raise ValueError(f"crossover must be an int or a 0-d integer tensor, got {crossover!r}")
        elif (isinstance(crossover, bool) or not isinstance(crossover, numbers.Integral)
              or not 0 <= int(crossover) <= ws1.shape[1]):
            raise ValueError(f"crossover must be a layer index in 0..{ws1.shape[1]}, got {crossover!r}")
        else:
            crossover = int(crossover)
        idx = torch.arange(ws1.shape[1], device=ws1.device).view(1, -1, 1)
        return torch.where(idx < crossover, ws1, ws2)

    def mixing_crossover(self, device) -> torch.Tensor:
        """The training crossover, drawn on the device as ``G_style`` does with ``tf.cond``: with probability
        ``style_mixing_prob`` uniform in [1, layers), else ``layers`` (no mixing: every layer takes w₁)."""
        mix = torch.rand((), device=device) < self.style_mixing_prob
        return torch.where(mix, torch.randint(1, self.num_layers, (), device=device), self.num_layers)

    def forward(self, z: torch.Tensor, psi: float = 1.0, truncation_cutoff: int | None = None,
                noise: list | str = "random") -> torch.Tensor:
        w = self.mapping(z)
        ws = self.broadcast(w)
        if self.training:
            with torch.no_grad():                    # w̄ = lerp(mean of this batch's w, w̄, β), training only
                self.w_avg.lerp_(w.detach().mean(dim=0).to(self.w_avg.dtype), 1.0 - self.w_avg_beta)
            if self.style_mixing_prob > 0:           # as G_style: w₂ is always mapped, the draw picks the layers
                ws2 = self.broadcast(self.mapping(torch.randn_like(z)))
                ws = self.mix(ws, ws2, self.mixing_crossover(z.device))  # one crossover for the batch
        elif psi != 1:                               # truncation at inference only
            ws = self.truncate(ws, psi, truncation_cutoff)
        return self.synthesis(ws, noise)
