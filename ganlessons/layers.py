"""The layers of progressive growing (Karras, Aila, Laine & Lehtinen 2018, arXiv:1710.10196, §3–4.2).

Each follows the authors' code (github.com/tkarras/progressive_growing_of_gans, ``networks.py``):

- :class:`PixelNorm`, §4.2: b = a / sqrt(mean_j (a_j)² + ε), ε = 1e-8, over the channels of each pixel;
- :class:`MinibatchStdDev`, §3: the standard deviation of each feature over a group of samples,
  averaged to one number per group and appended as one more feature map;
- :class:`EqualizedLinear` / :class:`EqualizedConv2d`, §4.1: weights stored as w ~ N(0, 1) and scaled
  at *run time* by He's constant, as ``get_weight(use_wscale=True)``: ŵ = w · gain/sqrt(fan_in) (the
  paper writes ŵ = w/c), so every layer learns at the same relative speed under Adam, whose steps
  do not depend on the gradient's scale.
- :func:`upscale2d` (nearest neighbour) and :func:`downscale2d` (2×2 box filter), the resampling
  of G and D.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .utils import check_positive

__all__ = ["PixelNorm", "MinibatchStdDev", "EqualizedLinear", "EqualizedConv2d", "upscale2d", "downscale2d",
           "lerp"]


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """a + (b − a)·t: ``a`` at t = 0, ``b`` at t = 1 (the official ``lerp``)."""
    return a + (b - a) * t


def upscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour upsampling: each pixel becomes a factor × factor block (G's upsampling)."""
    if factor == 1:
        return x
    return F.interpolate(x, scale_factor=factor, mode="nearest")


def downscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Box-filter downsampling: the mean of each factor × factor block (D's downsampling, the reals' mipmaps).

    ``downscale2d(upscale2d(x, f), f) == x`` up to float rounding: box down undoes nearest up.
    """
    if factor == 1:
        return x
    return F.avg_pool2d(x, factor)


class PixelNorm(nn.Module):
    """b_{x,y} = a_{x,y} / sqrt((1/C) Σ_j (a^j_{x,y})² + ε): each pixel's feature vector to unit RMS.

    Karras et al. 2018, §4.2, eq. after (1); ε = 1e-8 as ``networks.py:pixel_norm``. Applied to z
    and after every convolution of G. It has no parameters, unlike BatchNorm: it does not mix
    samples and it does not learn to undo itself, it only keeps G's and D's competition from
    escalating the feature magnitudes.
    """

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        check_positive("eps", eps)
        self.eps = float(eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f"PixelNorm needs a batch of vectors or feature maps (N×C…), got shape {tuple(x.shape)}")
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)

    def extra_repr(self) -> str:
        return f"over channels, eps={self.eps:g}"


class MinibatchStdDev(nn.Module):
    """One more feature map: the mean over (C, H, W) of the per-feature standard deviation in a group.

    As ``networks.py:minibatch_stddev_layer``: G' = min(group_size, N); the batch is reshaped to
    (G', N/G', C, H, W), so sample i belongs to group i mod (N/G'); within each group
    σ = sqrt(mean((x − mean x)²) + 1e-8) (the biased variance, ε inside the root), averaged to one
    number per group, and that number is appended to every sample of the group as a constant
    H×W map. A collapsed G, whose samples in a group are alike, gives σ ≈ 0 and D can tell.
    N must be divisible by G' (the official reshape fails otherwise): a clear error here.
    """

    def __init__(self, group_size: int = 4):
        super().__init__()
        check_positive("group_size", group_size, integer=True)
        self.group_size = int(group_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"MinibatchStdDev needs feature maps N×C×H×W, got shape {tuple(x.shape)}")
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        if n % g:
            raise ValueError(f"MinibatchStdDev(group_size={self.group_size}): the batch of {n} is not divisible "
                             f"into groups of {g}; use a batch size divisible by {g} (as the official code requires)")
        y = x.float().reshape(g, n // g, c, h, w)       # sample i in group i mod (n/g), as the official reshape
        y = y - y.mean(dim=0, keepdim=True)
        y = torch.sqrt(y.pow(2).mean(dim=0) + 1e-8)    # (n/g, C, H, W): σ of each feature within its group
        y = y.mean(dim=(1, 2, 3), keepdim=True)         # (n/g, 1, 1, 1): one number per group
        y = y.to(x.dtype).repeat(g, 1, h, w)            # back to (n, 1, H, W), same order as the reshape
        return torch.cat([x, y], dim=1)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, +1 feature map"


class _Equalized(nn.Module):
    """Shared by the equalized layers: weight ~ N(0, 1/lr_mul²), scaled at run time by gain/sqrt(fan_in)·lr_mul."""

    def _setup(self, shape: tuple[int, ...], fan_in: int, gain: float, lr_mul: float, bias: bool,
               use_wscale: bool) -> None:
        check_positive("gain", gain)
        check_positive("lr_mul", lr_mul)
        self.gain, self.lr_mul, self.use_wscale, self.fan_in = float(gain), float(lr_mul), bool(use_wscale), fan_in
        he_std = self.gain / math.sqrt(fan_in)          # He et al. 2015 with the layer's gain
        if self.use_wscale:
            init_std, self.w_mul = 1.0 / self.lr_mul, he_std * self.lr_mul
        else:                                           # the usual init: the He constant baked into the weights
            init_std, self.w_mul = he_std / self.lr_mul, self.lr_mul
        self.weight = nn.Parameter(torch.randn(shape) * init_std)
        self.bias = nn.Parameter(torch.zeros(shape[0])) if bias else None
        self.b_mul = self.lr_mul

    def _bias(self):
        return None if self.bias is None else self.bias * self.b_mul

    def _repr_tail(self) -> str:
        scale = f"w·{self.w_mul:.4g} (gain {self.gain:.4g}/√{self.fan_in}" + \
                (f", lr_mul {self.lr_mul:g}" if self.lr_mul != 1 else "") + ")"
        return (scale if self.use_wscale else "plain He init (use_wscale=False)") + \
            ("" if self.bias is not None else ", no bias")


class EqualizedLinear(_Equalized):
    """y = x·(w·c)ᵀ + b·lr_mul with w ~ N(0, 1/lr_mul²), c = gain/sqrt(in_features)·lr_mul, b = 0 at start.

    Karras et al. 2018 §4.1 (``get_weight(use_wscale=True)`` and ``dense``); the learning-rate
    multiplier is StyleGAN's (``networks_stylegan.py``, mapping network: lr_mul = 0.01). Gains of the
    official code: √2 for layers followed by LeakyReLU, √2/4 for G's first dense layer, 1 for D's output.
    """

    def __init__(self, in_features: int, out_features: int, *, gain: float = math.sqrt(2), lr_mul: float = 1.0,
                 bias: bool = True, use_wscale: bool = True):
        super().__init__()
        check_positive("in_features", in_features, integer=True)
        check_positive("out_features", out_features, integer=True)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self._setup((self.out_features, self.in_features), self.in_features, gain, lr_mul, bias, use_wscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[-1] != self.in_features:
            raise ValueError(f"{type(self).__name__}({self.in_features} → {self.out_features}) needs inputs "
                             f"with last dimension {self.in_features}, got shape {tuple(x.shape)}")
        return F.linear(x, self.weight * self.w_mul, self._bias())

    def extra_repr(self) -> str:
        return f"{self.in_features} → {self.out_features}, {self._repr_tail()}"


class EqualizedConv2d(_Equalized):
    """conv2d(x, w·c) + b·lr_mul with w ~ N(0, 1/lr_mul²), c = gain/sqrt(in_channels·k²)·lr_mul, "same" padding, b = 0 at start.

    Karras et al. 2018 §4.1 (``get_weight`` and ``conv2d``): odd kernels, stride 1; resampling is
    done apart (:func:`upscale2d`, :func:`downscale2d`), as in the paper.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, gain: float = math.sqrt(2),
                 lr_mul: float = 1.0, bias: bool = True, use_wscale: bool = True):
        super().__init__()
        check_positive("in_channels", in_channels, integer=True)
        check_positive("out_channels", out_channels, integer=True)
        check_positive("kernel_size", kernel_size, integer=True)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (the official conv2d pads 'SAME' around a centre), "
                             f"got {kernel_size}")
        self.in_channels, self.out_channels, self.kernel_size = int(in_channels), int(out_channels), int(kernel_size)
        self._setup((self.out_channels, self.in_channels, self.kernel_size, self.kernel_size),
                    self.in_channels * self.kernel_size ** 2, gain, lr_mul, bias, use_wscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__}({self.in_channels} → {self.out_channels}) needs N×"
                             f"{self.in_channels}×H×W feature maps, got shape {tuple(x.shape)}")
        return F.conv2d(x, self.weight * self.w_mul, self._bias(), padding=self.kernel_size // 2)

    def extra_repr(self) -> str:
        k = self.kernel_size
        return f"{self.in_channels} → {self.out_channels}, {k}×{k}, {self._repr_tail()}"
