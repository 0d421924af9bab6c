"""Transposed convolution from first principles (Dumoulin & Visin 2016, arXiv:1603.07285).

A transposed convolution with kernel k, stride s, padding p and output padding op is a plain
convolution (stride 1) over a *zero-inserted* input: put s − 1 zeros between neighbouring input
pixels, pad by k − 1 − p on each side (plus op on the bottom/right), and slide the flipped
kernel. Equivalently, every input pixel stamps a scaled copy of the kernel onto the output at
stride s, and overlapping stamps add up. Either way the output side is

    o = (n − 1)·s − 2p + k + op.

Where the name comes from (Dumoulin & Visin §4): a convolution is a linear map, y = C x with C a
sparse matrix holding the kernel's entries (``conv_matrix``); the transposed convolution with the
same kernel is x' = Cᵀ y, the map that goes back from y's shape to x's (it is the gradient of the
convolution with respect to its input, which is how frameworks compute it).

Where k is not a multiple of s, output pixels receive different numbers of stamps: the
checkerboard artifacts of Odena, Dumoulin & Olah (2016, distill.pub/2016/deconv-checkerboard).
A multiple (k = 4, s = 2) evens the count out but does not remove the artifacts — learned kernels
can still weight the stamps unevenly — so Odena et al. recommend resize-convolution: nearest-
neighbour upsampling, then a stride-1 convolution.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

__all__ = ["output_size", "zero_insert", "conv_transpose2d", "conv_matrix", "overlap_counts", "plot_transposed_conv"]


def _check(n: int, k: int, s: int, p: int, op: int) -> None:
    for name, v, lo in (("n", n, 1), ("k", k, 1), ("s", s, 1), ("p", p, 0), ("op", op, 0)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name} must be an int ≥ {lo}, got {v!r}")
    if op >= s and op >= 1:
        raise ValueError(f"op (output padding) must be smaller than the stride s={s}, got op={op}")
    if p > k - 1:
        raise ValueError(f"p must be at most k − 1 = {k - 1} for this picture (got p={p})")


def output_size(n: int, k: int, s: int = 1, p: int = 0, op: int = 0) -> int:
    """o = (n − 1)·s − 2p + k + op: the side of a transposed convolution's output."""
    _check(n, k, s, p, op)
    return (n - 1) * s - 2 * p + k + op


def zero_insert(x: torch.Tensor, s: int) -> torch.Tensor:
    """Put s − 1 zeros between neighbouring pixels of x (…×H×W → …×((H−1)s+1)×((W−1)s+1))."""
    h, w = x.shape[-2:]
    out = x.new_zeros(*x.shape[:-2], (h - 1) * s + 1, (w - 1) * s + 1)
    out[..., ::s, ::s] = x
    return out


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, s: int = 1, p: int = 0, op: int = 0) -> torch.Tensor:
    """``F.conv_transpose2d(x, weight, stride=s, padding=p, output_padding=op)`` the long way.

    Zero-insert, pad by k − 1 − p (and op more on the bottom/right), then a stride-1
    convolution with the kernel flipped in space and its in/out channels swapped.
    """
    k = weight.shape[-1]
    _check(x.shape[-1], k, s, p, op)
    z = zero_insert(x, s)
    q = k - 1 - p
    z = F.pad(z, (q, q + op, q, q + op))
    w = weight.flip(-1, -2).transpose(0, 1)  # (C_in, C_out, k, k) → (C_out, C_in, k, k), flipped
    return F.conv2d(z, w)


def conv_matrix(kernel: torch.Tensor, n: int, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """C with C @ x.flatten() == F.conv2d(x, kernel, stride, padding).flatten() for one n×n channel.

    ``kernel``: k×k. C has shape (o², n²), o = ⌊(n + 2p − k)/s⌋ + 1; row (r, c) holds the kernel's
    entries at the columns of the input pixels (r·s − p + a, c·s − p + b) it covers (zero padding:
    positions outside the input are simply absent). Cᵀ is the transposed convolution.
    """
    if kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"kernel must be a k×k tensor, got shape {tuple(kernel.shape)}")
    k = kernel.shape[0]
    for name, v, lo in (("n", n, 1), ("stride", stride, 1), ("padding", padding, 0)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
            raise ValueError(f"{name} must be an int ≥ {lo}, got {v!r}")
    if n + 2 * padding < k:
        raise ValueError(f"the padded input ({n} + 2·{padding}) is smaller than the kernel (k={k})")
    o = (n + 2 * padding - k) // stride + 1
    C = kernel.new_zeros(o * o, n * n)
    for r in range(o):
        for c in range(o):
            for a in range(k):
                for b in range(k):
                    i, j = r * stride - padding + a, c * stride - padding + b
                    if 0 <= i < n and 0 <= j < n:
                        C[r * o + c, i * n + j] = kernel[a, b]
    return C


def overlap_counts(n: int, k: int, s: int = 1, p: int = 0, op: int = 0) -> np.ndarray:
    """How many kernel stamps land on each output pixel: the transposed convolution of ones with ones."""
    _check(n, k, s, p, op)
    x = torch.ones(1, 1, n, n, dtype=torch.float64)
    w = torch.ones(1, 1, k, k, dtype=torch.float64)
    counts = F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op)
    return counts[0, 0].numpy()


def plot_transposed_conv(n: int = 3, k: int = 3, s: int = 2, p: int = 1, op: int = 0) -> Figure:
    """Input, zero-inserted and padded input, and the output coloured by overlap count."""
    o = output_size(n, k, s, p, op)
    x = torch.arange(1, n * n + 1, dtype=torch.float64).view(1, 1, n, n)
    z = zero_insert(x, s)
    q = k - 1 - p
    zp = F.pad(z, (q, q + op, q, q + op))[0, 0].numpy()
    counts = overlap_counts(n, k, s, p, op)
    torch_o = torch.nn.ConvTranspose2d(1, 1, k, s, p, op)(torch.zeros(1, 1, n, n)).shape[-1]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8), gridspec_kw={"width_ratios": [n, zp.shape[0], o]})
    panels = ((x[0, 0].numpy(), f"input {n}×{n}", "Greys"),
              (zp != 0, f"zero-inserted (s−1 = {s - 1}) and padded (k−1−p = {q})", "Greys"),
              (counts, f"output {o}×{o}: stamps per pixel", "viridis"))
    for ax, (img, title, cmap) in zip(axes, panels):
        ax.imshow(img, cmap=cmap, vmin=0, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks(np.arange(-0.5, img.shape[1], 1), minor=True)
        ax.set_yticks(np.arange(-0.5, img.shape[0], 1), minor=True)
        ax.grid(which="minor", color="tab:gray", lw=0.5)
        ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    for (i, j), v in np.ndenumerate(counts):
        axes[2].text(j, i, f"{v:.0f}", ha="center", va="center", color="white", fontsize=7 if o > 12 else 9)
    interior = counts[k:o - k, k:o - k]  # away from the borders, where fewer stamps reach anyway
    even = None if interior.size == 0 else bool(interior.min() == interior.max())
    fig.suptitle(f"o = (n−1)·s − 2p + k + op = ({n}−1)·{s} − 2·{p} + {k} + {op} = {o};  "
                 f"nn.ConvTranspose2d gives {torch_o}" + ("" if even is None else
                                                           ("  (even overlap)" if even else "  (uneven overlap: checkerboard)")),
                 fontsize=10)
    fig.tight_layout()
    return fig
