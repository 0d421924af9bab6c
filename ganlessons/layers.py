"""The layers of progressive growing (Karras, Aila, Laine & Lehtinen 2018, arXiv:1710.10196, §3–4.2)
and of StyleGAN (Karras, Laine & Aila 2019, arXiv:1812.04948; StyleGAN2: Karras et al. 2020, arXiv:1912.04958).

Each follows the authors' code (github.com/tkarras/progressive_growing_of_gans, ``networks.py``):

- :class:`PixelNorm`, §4.2: b = a / sqrt(mean_j (a_j)² + ε), ε = 1e-8, over the channels of each pixel;
- :class:`MinibatchStdDev`, §3: the standard deviation of each feature over a group of samples,
  averaged to one number per group and appended as one more feature map;
- :class:`EqualizedLinear` / :class:`EqualizedConv2d`, §4.1: weights stored as w ~ N(0, 1) and scaled
  at *run time* by He's constant, as ``get_weight(use_wscale=True)``: ŵ = w · gain/sqrt(fan_in) (the
  paper writes ŵ = w/c), so every layer learns at the same relative speed under Adam, whose steps
  do not depend on the gradient's scale.
- :func:`upscale2d` (nearest neighbour) and :func:`downscale2d` (2×2 box filter), the resampling
  of G and D;
- StyleGAN's :class:`NoiseInjection`, :class:`AdaIN` (instance norm, then the style's scale and
  bias) and :class:`Blur` (``networks_stylegan.py``), and StyleGAN2's :class:`ModulatedConv2d`
  (weight demodulation, ``networks_stylegan2.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .utils import check_positive

__all__ = ["PixelNorm", "MinibatchStdDev", "EqualizedLinear", "EqualizedConv2d", "upscale2d", "downscale2d",
           "lerp", "NoiseInjection", "AdaIN", "instance_norm", "Blur", "ModulatedConv2d"]


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """a + (b − a)·t: ``a`` at t = 0, ``b`` at t = 1 (the official ``lerp``); t a number or a 0-d tensor."""
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


# ----------------------------------------------------------------------------- StyleGAN (Karras, Laine & Aila 2019)


class NoiseInjection(nn.Module):
    """x + B·n with n ~ N(0, 1) of shape N×1×H×W and B a learned per-channel scale, initialised to 0.

    ``networks_stylegan.py:apply_noise``: one noise image per sample, shared by the channels and
    scaled per channel; B = 0 at the start, so the layer begins as the identity. ``noise`` gives the
    noise image (fixed noise, or zeros to switch it off); else it is drawn fresh.
    """

    def __init__(self, channels: int):
        super().__init__()
        check_positive("channels", channels, integer=True)
        self.weight = nn.Parameter(torch.zeros(int(channels)))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        elif noise.dim() != 4 or noise.shape[1] != 1 or noise.shape[2:] != x.shape[2:]:
            raise ValueError(f"noise must have shape (N, 1, {x.shape[2]}, {x.shape[3]}), got {tuple(noise.shape)}")
        return x + noise * self.weight.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.weight.numel()} channels, per-channel scale (0 at start)"


def instance_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(x − mean_HW x) / sqrt(mean_HW (x − mean)² + ε) per sample and channel (``networks_stylegan.py``)."""
    x = x - x.mean(dim=(2, 3), keepdim=True)
    return x * torch.rsqrt(x.pow(2).mean(dim=(2, 3), keepdim=True) + eps)


class AdaIN(nn.Module):
    """AdaIN(x, w) = (s(w) + 1) · instance_norm(x) + b(w), with (s, b) = A(w), A an equalized affine map.

    Karras et al. 2019, eq. (1), as the authors' code computes it (``instance_norm`` then
    ``style_mod``; the paper writes y_s·x̂ + y_b, the code adds 1 to y_s). A has gain 1 and zero
    biases, so at the start s ~ N(0, mean w²): the "+ 1" centres the scale on 1 (about 1 ± 1),
    where without it the scale would centre on 0 (random sign, many maps nearly erased).
    """

    def __init__(self, channels: int, w_dim: int):
        super().__init__()
        self.channels = int(channels)
        self.affine = EqualizedLinear(w_dim, 2 * self.channels, gain=1.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"AdaIN needs N×{self.channels}×H×W feature maps, got {tuple(x.shape)}")
        style = self.affine(w).view(-1, 2, self.channels, 1, 1)
        return instance_norm(x) * (style[:, 0] + 1) + style[:, 1]

    def extra_repr(self) -> str:
        return f"{self.channels} channels, styles from w ({self.affine.in_features})"


class Blur(nn.Module):
    """The [1, 2, 1] ⊗ [1, 2, 1] / 16 low-pass filter, per channel, "same" padding (``blur2d``).

    StyleGAN applies it after each upsampling in G (and before each downsampling in D) against the
    aliasing of nearest-neighbour resampling.
    """

    def __init__(self):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (k[:, None] * k[None, :] / 16.0)[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        return F.conv2d(x, self.kernel.to(x.dtype).expand(c, 1, 3, 3), padding=1, groups=c)

    def extra_repr(self) -> str:
        return "[1, 2, 1] ⊗ [1, 2, 1] / 16"


class ModulatedConv2d(nn.Module):
    """StyleGAN2's convolution: w′ = w·s (s = A(w) + 1 per input channel), then demodulation
    w″ = w′ / sqrt(Σ_{in, k} w′² + 1e-8) per output channel (Karras et al. 2020, eq. 1–3).

    With inputs of unit variance and independent entries, every output channel has unit variance:
    demodulation does what instance norm did, from the weights alone, so the feature maps keep
    their relative magnitudes (instance norm's erasure of them is what the "droplet" artefacts
    work around). Grouped convolution: one kernel per sample.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int, *, demodulate: bool = True):
        super().__init__()
        self.conv = EqualizedConv2d(in_channels, out_channels, kernel_size, bias=False)
        self.affine = EqualizedLinear(w_dim, in_channels, gain=1.0)
        self.demodulate = bool(demodulate)

    def weights(self, w: torch.Tensor) -> torch.Tensor:
        """The per-sample kernels w″, N × out × in × k × k."""
        s = self.affine(w) + 1.0                                              # N × in
        weight = self.conv.weight[None] * self.conv.w_mul * s[:, None, :, None, None]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        return weight

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        n, c, h, wd = x.shape
        if c != self.conv.in_channels:
            raise ValueError(f"ModulatedConv2d needs N×{self.conv.in_channels}×H×W inputs, got {tuple(x.shape)}")
        weight = self.weights(w)
        out = F.conv2d(x.reshape(1, n * c, h, wd), weight.reshape(-1, c, *weight.shape[3:]),
                       padding=self.conv.kernel_size // 2, groups=n)
        return out.reshape(n, -1, h, wd)

    def extra_repr(self) -> str:
        return f"demodulate={self.demodulate}"
