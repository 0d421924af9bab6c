"""Lipschitz constants of layers, measured: power iteration on the operator itself.

Spectral normalisation (Miyato, Kataoka, Koyama & Yoshida 2018, arXiv:1802.05957) divides a
layer's weight by σ(W̄), the largest singular value of the weight *reshaped to a matrix*
W̄ ∈ ℝ^{c_out × c_in·k·k}. For a linear layer that is the layer's operator norm

    ‖A‖₂ = max_{x ≠ 0} ‖A x‖₂ / ‖x‖₂,

and so its Lipschitz constant. For a convolution it is not: the convolution x ↦ W ∗ x on an
H×W input is a much larger (sparse, weight-shared) matrix. Each output position j applies W̄ to
one patch P_j x, and every input pixel lies in at most ⌈k/s⌉² patches, so

    ‖A x‖² = Σ_j ‖W̄ P_j x‖² ≤ σ(W̄)² Σ_j ‖P_j x‖² ≤ ⌈k/s⌉² σ(W̄)² ‖x‖²,

i.e. σ(W̄) ≤ ‖conv‖₂ ≤ ⌈k/s⌉·σ(W̄) (the lower bound where some output sees a whole patch).
Both ends are reached; the kernel,
padding and input size decide where a layer lies. This module measures ‖A‖₂ directly:

    x ← Aᵀ A x / ‖Aᵀ A x‖   (n_iter times),   ‖A‖₂ ≈ ‖A x‖,

where A is the layer's linear part (bias excluded) on the actual input shape and Aᵀ comes from
autograd (for a convolution Aᵀ is the transposed convolution with the same kernel).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .utils import check_positive

__all__ = ["linear_map", "matrix_sigma", "operator_norm", "layer_operator_norms"]

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d)


def _weight(layer: nn.Module) -> torch.Tensor:
    """The weight the layer uses in forward, read without side effects.

    A spectral_norm parametrization runs one power-iteration step (and updates its vector u)
    every time ``layer.weight`` is read in training mode; reading it in eval mode does not.
    """
    was = layer.training
    layer.eval()
    try:
        with torch.no_grad():
            return layer.weight.detach().clone()
    finally:
        layer.train(was)


def linear_map(layer: nn.Module, dtype: torch.dtype = torch.float64) -> Callable[[torch.Tensor], torch.Tensor]:
    """x ↦ A x: the layer without its bias (A = W for Linear, x ↦ W ∗ x for a convolution)."""
    if not isinstance(layer, _LAYERS):
        raise TypeError(f"layer must be one of {[c.__name__ for c in _LAYERS]}, got {type(layer).__name__}")
    w = _weight(layer).to(dtype)
    if isinstance(layer, nn.Linear):
        return lambda x: F.linear(x, w)
    if isinstance(layer, nn.ConvTranspose2d):
        return lambda x: F.conv_transpose2d(x, w, None, layer.stride, layer.padding, layer.output_padding,
                                            layer.groups, layer.dilation)
    conv = F.conv1d if isinstance(layer, nn.Conv1d) else F.conv2d
    if layer.padding_mode != "zeros":   # circular / reflect / replicate: pad first, as nn.Conv does
        pad = layer._reversed_padding_repeated_twice
        return lambda x: conv(F.pad(x, pad, mode=layer.padding_mode), w, None, layer.stride, 0,
                              layer.dilation, layer.groups)
    return lambda x: conv(x, w, None, layer.stride, layer.padding, layer.dilation, layer.groups)


def matrix_sigma(layer: nn.Module) -> float:
    """σ(W̄): largest singular value of the weight reshaped to c_out × (c_in·k·k) — what SN divides by.

    For ConvTranspose2d the output channels are dim 1 of the weight, as in torch's ``spectral_norm``.
    """
    w = _weight(layer).double()
    if isinstance(layer, nn.ConvTranspose2d):
        w = w.transpose(0, 1)
    return torch.linalg.matrix_norm(w.flatten(1), ord=2).item()


def operator_norm(layer_or_fn, input_shape: Sequence[int], n_iter: int = 100,
                  generator: torch.Generator | None = None, dtype: torch.dtype | None = None) -> float:
    """‖A‖₂ = max ‖A x‖ / ‖x‖ by power iteration on AᵀA, for x of shape ``input_shape``.

    ``layer_or_fn``: an nn.Linear / nn.Conv1d / nn.Conv2d / nn.ConvTranspose2d (its bias is left
    out), or a function x ↦ f(x) that is linear or affine (f(0) is subtracted, so a bias does not
    count). ``input_shape`` is the shape the layer is called with, batch included (use 1).
    ``generator``: a torch.Generator for the start vector (the global RNG is never used).
    The result is a lower bound that rises to ‖A‖₂ as n_iter grows.
    """
    check_positive("n_iter", n_iter, integer=True)
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must be a non-empty shape of positive sizes, got {input_shape!r}")
    if isinstance(layer_or_fn, nn.Module):
        dtype = dtype or torch.float64
        fn = linear_map(layer_or_fn, dtype)
        device = _weight(layer_or_fn).device
    elif callable(layer_or_fn):
        dtype, device = dtype or torch.float32, None
        f, zero = layer_or_fn, None

        def fn(x):   # the linear part of an affine f
            nonlocal zero
            if zero is None:
                with torch.no_grad():
                    zero = f(torch.zeros_like(x))
            return f(x) - zero
    else:
        raise TypeError(f"layer_or_fn must be a layer or a function, got {type(layer_or_fn).__name__}")
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g, dtype=dtype)
    if device is not None:
        x = x.to(device)
    x = x / x.norm()
    for _ in range(n_iter):
        x = x.detach().requires_grad_(True)
        y = fn(x)
        (aty,) = torch.autograd.grad(y, x, grad_outputs=y.detach())   # Aᵀ(A x), the adjoint by autograd
        nrm = aty.norm()
        if nrm == 0:
            return 0.0
        x = aty / nrm
    with torch.no_grad():
        return fn(x.detach()).norm().item()


def layer_operator_norms(D: nn.Module, input_shape: Sequence[int], n_iter: int = 100,
                         generator: torch.Generator | None = None) -> list[dict]:
    """‖A_l‖₂ for each Linear/Conv layer of D in the order D calls them, on the inputs they really get.

    A forward pass on zeros of ``input_shape`` (in eval mode, without gradients; D's state is left as
    it was) records each layer's input shape through hooks. Returns one dict per layer:
    ``name``, ``input_shape``, ``operator_norm`` (measured) and ``matrix_sigma`` (σ of the reshaped
    weight, what spectral normalisation divides by). The product of the operator norms bounds D's
    Lipschitz constant when the activations between them are 1-Lipschitz (ReLU, LeakyReLU).
    """
    names = {m: n for n, m in D.named_modules()}
    seen: list[tuple[nn.Module, tuple]] = []
    hooks = [m.register_forward_hook(lambda m, inp, out: seen.append((m, tuple(inp[0].shape))))
             for m in D.modules() if isinstance(m, _LAYERS)]
    was = D.training
    D.eval()
    try:
        with torch.no_grad():
            p = next(D.parameters(), None)
            D(torch.zeros(tuple(input_shape), device=p.device if p is not None else None))
    finally:
        for h in hooks:
            h.remove()
        D.train(was)
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    out = []
    for m, shape in seen:
        out.append({"name": names.get(m, type(m).__name__), "input_shape": (1,) + shape[1:],
                    "operator_norm": operator_norm(m, (1,) + shape[1:], n_iter=n_iter, generator=g),
                    "matrix_sigma": matrix_sigma(m)})
    return out
