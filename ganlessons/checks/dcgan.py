"""Lesson 03 (Radford et al. 2015): transposed-convolution size, a generator block."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ._common import Check, _call, _raised


def transposed_conv_size(fn: Callable[[int, int, int, int, int], int]) -> Check:
    """Exercise: ``fn(n, k, s, p, op)`` → the output side of ``nn.ConvTranspose2d``."""
    name = "transposed convolution size"
    cases = [(1, 4, 1, 0, 0), (4, 4, 2, 1, 0), (4, 3, 2, 1, 0), (7, 4, 2, 1, 0), (5, 3, 2, 1, 1), (6, 5, 3, 2, 2),
             (3, 3, 1, 1, 0)]
    for n, k, s, p, op in cases:
        out, err = _call(fn, n, k, s, p, op)
        if err is not None:
            return Check(False, _raised(err), name)
        ref = nn.ConvTranspose2d(1, 1, k, s, p, op)(torch.zeros(1, 1, n, n)).shape[-1]
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
    ConvTranspose2d(k 4, s 2, p 1, no bias) → BatchNorm2d → ReLU."""
    name = "DCGAN generator block"
    block, err = _call(fn, 16, 8)
    if err is not None:
        return Check(False, _raised(err), name)
    if not isinstance(block, nn.Module):
        return Check(False, f"return an nn.Module (e.g. nn.Sequential), got {type(block).__name__}", name)
    x = torch.randn(4, 16, 7, 7)
    try:
        y = block(x)
    except Exception as e:  # the learner's module: explain instead of crashing
        return Check(False, f"your block fails on a 4×16×7×7 input: {type(e).__name__}: {e}", name)
    if y.shape != (4, 8, 14, 14):
        return Check(False, f"a 4×16×7×7 input should give 4×8×14×14 (channels c_out, side doubled), got "
                            f"{tuple(y.shape)}; k=4, s=2, p=1 gives (7 − 1)·2 − 2 + 4 = 14", name)
    mods = list(block.modules())
    kinds = [type(m) for m in mods]
    if nn.Upsample in kinds or nn.MaxUnpool2d in kinds:
        return Check(False, "DCGAN learns its upsampling: use a strided ConvTranspose2d, not Upsample", name)
    if nn.BatchNorm2d not in kinds:
        return Check(False, "add nn.BatchNorm2d(c_out) after the transposed convolution (every G layer but the "
                            "output one)", name)
    if not any(k in kinds for k in (nn.ReLU,)):
        if nn.LeakyReLU in kinds:
            return Check(False, "DCGAN's generator uses ReLU (LeakyReLU is for the discriminator)", name)
        return Check(False, "add the ReLU activation after BatchNorm", name)
    conv = next(m for m in mods if isinstance(m, nn.ConvTranspose2d))
    order = [k for k in kinds if k in (nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU)]
    if order != [nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU]:
        return Check(False, f"the order should be ConvTranspose2d → BatchNorm2d → ReLU, got "
                            f"{' → '.join(k.__name__ for k in order)}", name)
    if conv.bias is not None:
        return Check(True, "works — and a small point: BatchNorm subtracts the mean right after, so the "
                           "convolution's bias does nothing; bias=False saves the parameters", name)
    return Check(True, "right — a learned 2× upsampling, normalised and rectified", name)
