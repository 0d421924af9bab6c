"""Lesson 03 (Radford et al. 2015): transposed-convolution size, a generator block."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._common import Check, _call, _close, _raised


def transposed_conv_size(fn: Callable[[int, int, int, int, int], int]) -> Check:
    """Exercise: ``fn(n, k, s, p, op)`` → the output side of ``nn.ConvTranspose2d``."""
    name = "transposed convolution size"
    cases = [(1, 4, 1, 0, 0), (4, 4, 2, 1, 0), (4, 3, 2, 1, 0), (7, 4, 2, 1, 0), (5, 3, 2, 1, 1), (6, 5, 3, 2, 2),
             (3, 3, 1, 1, 0)]
    for n, k, s, p, op in cases:
        out, err = _call(fn, n, k, s, p, op)
        if err is not None:
            return Check(False, _raised(err), name)
        # the functional form with a zero kernel: no module, so no initial weights drawn from the global RNG
        ref = F.conv_transpose2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p,
                                 output_padding=op).shape[-1]
        if out == ref:
            continue
        args = f"n={n}, k={k}, s={s}, p={p}, op={op}"
        if out == (n + 2 * p - k) // s + 1:
            return Check(False, f"for {args} you gave {out}: that is the size of an ordinary convolution, "
                                "which shrinks; the transposed one grows: o = (n − 1)·s − 2p + k + op", name)
        if out == (n - 1) * s + 2 * p + k + op:
            return Check(False, f"for {args} you gave {out}: padding *removes* p pixels on each side of a "
                                "transposed convolution's output (−2p)", name)
        if out == (n - 1) * s - 2 * p + k:
            return Check(False, f"for {args} you gave {out}: add the output padding op (it resolves the "
                                "ambiguity of sizes when s > 1)", name)
        if out == n * s - 2 * p + k + op:
            return Check(False, f"for {args} you gave {out}: n inputs have n − 1 gaps between them: (n − 1)·s", name)
        return Check(False, f"for {args} you gave {out}, nn.ConvTranspose2d gives {ref}", name)
    return Check(True, "right — o = (n − 1)·s − 2p + k + op, as nn.ConvTranspose2d computes it", name)


def generator_block(fn: Callable[[int, int], nn.Module]) -> Check:
    """Exercise: ``fn(c_in, c_out)`` → a DCGAN generator block that doubles the side:
    y = ReLU(BN(ConvTranspose2d(x))), k 4, s 2, p 1, no bias.

    Judged by what the block computes, not by its module types: its output on a batch is compared
    with ReLU(BN(convᵀ(x))) recomputed from the block's own transposed-convolution weights (and
    BatchNorm affine parameters), so ``F.relu`` or ``F.batch_norm`` in a custom ``forward`` is as
    right as ``nn.ReLU`` and ``nn.BatchNorm2d`` modules in an ``nn.Sequential``.
    """
    name = "DCGAN generator block"
    block, err = _call(fn, 16, 8)  # inside the RNG sandbox: building it draws its initial weights
    if err is not None:
        return Check(False, _raised(err), name)
    if not isinstance(block, nn.Module):
        return Check(False, f"return an nn.Module (e.g. nn.Sequential), got {type(block).__name__}", name)
    x = torch.randn(4, 16, 7, 7, generator=torch.Generator().manual_seed(0))
    block.train()  # BatchNorm with the batch's statistics, as during training
    y, err = _call(block, x)
    if err is not None:
        return Check(False, f"your block fails on a 4×16×7×7 input: {type(err).__name__}: {err}", name)
    if not isinstance(y, torch.Tensor):
        return Check(False, f"the block should return a tensor, got {type(y).__name__}", name)
    if y.shape != (4, 8, 14, 14):
        return Check(False, f"a 4×16×7×7 input should give 4×8×14×14 (channels c_out, side doubled), got "
                            f"{tuple(y.shape)}; k=4, s=2, p=1 gives (7 − 1)·2 − 2 + 4 = 14", name)
    mods = list(block.modules())
    kinds = [type(m) for m in mods]
    if nn.Upsample in kinds or nn.MaxUnpool2d in kinds:
        return Check(False, "DCGAN learns its upsampling: use a strided ConvTranspose2d, not Upsample", name)
    convs = [m for m in mods if isinstance(m, nn.ConvTranspose2d)]
    if not convs:
        return Check(False, "use nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False) for the learned 2× "
                            "upsampling", name)
    conv = convs[0]
    bns = [m for m in mods if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    y = y.detach()
    with torch.no_grad():
        h = F.conv_transpose2d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.output_padding,
                               conv.groups, conv.dilation)
        bn = bns[0] if bns else None
        normed = F.batch_norm(h, None, None, bn.weight if bn is not None else None,
                              bn.bias if bn is not None else None, training=True,
                              eps=bn.eps if bn is not None else 1e-5)
        if _close(y, F.relu(normed), rtol=1e-4, atol=1e-5):
            if conv.bias is not None:
                return Check(True, "works — and a small point: BatchNorm subtracts the mean right after, so the "
                                   "convolution's bias does nothing; bias=False saves the parameters", name)
            return Check(True, "right — a learned 2× upsampling, normalised and rectified", name)
        # name the slip by what the block computes
        if _close(y, normed, rtol=1e-4, atol=1e-5):
            return Check(False, "add the ReLU activation after BatchNorm", name)
        if (y < 0).any() and _close(y, F.leaky_relu(normed, 0.2), rtol=1e-4, atol=1e-5) or nn.LeakyReLU in kinds:
            return Check(False, "DCGAN's generator uses ReLU (LeakyReLU is for the discriminator)", name)
        if _close(y, F.batch_norm(F.relu(h), None, None, training=True), rtol=1e-3, atol=1e-4) or \
                _close(y, F.batch_norm(F.relu(h), None, None, bn.weight if bn is not None else None,
                                       bn.bias if bn is not None else None, training=True), rtol=1e-3, atol=1e-4):
            return Check(False, "the order should be ConvTranspose2d → BatchNorm2d → ReLU, got ConvTranspose2d → "
                                "ReLU → BatchNorm2d", name)
        if _close(y, F.relu(h), rtol=1e-4, atol=1e-5) or not bns:
            return Check(False, "add nn.BatchNorm2d(c_out) after the transposed convolution (every G layer but the "
                                "output one)", name)
        if (y < 0).any():
            return Check(False, "some outputs are negative: the block should end with ReLU "
                                "(ConvTranspose2d → BatchNorm2d → ReLU)", name)
    return Check(False, "the shape is right, but the output is not ReLU(BatchNorm(ConvTranspose2d(x))) computed "
                        "with your block's own weights: the order should be ConvTranspose2d → BatchNorm2d → ReLU, "
                        "nothing else", name)
