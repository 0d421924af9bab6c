"""Lesson 07 (Karras et al. 2019, StyleGAN): AdaIN, the truncation trick, the style-mixing crossover."""

from __future__ import annotations

from typing import Callable

import torch

from ..layers import instance_norm
from ._common import Check, _call, _close, _raised, _tensor_answer


def _diagnose(out, diagnoses, name, otherwise: str, rtol=1e-4, atol=1e-5) -> Check:
    """The first mistake whose value the answer matches, or ``otherwise``; always a failing Check."""
    for value, why in diagnoses:
        if _close(out, value, rtol=rtol, atol=atol):
            return Check(False, why, name)
    return Check(False, otherwise, name)


def adain(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> Check:
    """Exercise: ``fn(x, s, b)`` → (s + 1)·instance_norm(x) + b, with s and b of shape N×C (``style_mod``)."""
    name = "AdaIN"
    g = torch.Generator().manual_seed(71)
    x = torch.randn(4, 3, 5, 5, generator=g) * 2.5 + 1.5
    s, b = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    out, err = _call(fn, x.clone(), s.clone(), b.clone())
    if err is not None:
        return Check(False, _raised(err), name)
    bad = _tensor_answer(name, out, x.shape)
    if bad is not None:
        return bad
    S, B = s[:, :, None, None], b[:, :, None, None]
    ref = instance_norm(x) * (S + 1) + B
    if _close(out, ref, rtol=1e-3, atol=1e-4):
        return Check(True, "right — each channel of each sample normalised over its pixels, then scaled by s + 1 "
                           "and shifted by b: the style sets the statistics the normalisation erased", name)
    centred = x - x.mean(dim=(2, 3), keepdim=True)
    unbiased = centred / x.std(dim=(2, 3), keepdim=True)
    layer = (x - x.mean(dim=(1, 2, 3), keepdim=True)) / torch.sqrt(x.var(dim=(1, 2, 3), unbiased=False, keepdim=True) + 1e-8)
    batch = (x - x.mean(dim=(0, 2, 3), keepdim=True)) / torch.sqrt(x.var(dim=(0, 2, 3), unbiased=False, keepdim=True) + 1e-8)
    diagnoses = [
        (instance_norm(x) * S + B, "the scale is s + 1, not s: the affine map starts near 0, so the style starts as "
                                   "the identity (``x * (style[:,0] + 1) + style[:,1]`` in networks_stylegan.py)"),
        (unbiased * (S + 1) + B, "that divides by the unbiased standard deviation (x.std's default): instance norm "
                                 "uses the mean of squared deviations, sqrt(mean((x − μ)²) + 1e-8)"),
        (layer * (S + 1) + B, "that normalises over channels and pixels together (a layer norm): AdaIN normalises "
                              "each channel on its own, over its H×W pixels"),
        (batch * (S + 1) + B, "that normalises over the batch (a BatchNorm): AdaIN normalises each sample's "
                              "channels on their own"),
        (instance_norm(x * (S + 1) + B), "the style comes after the normalisation, or the normalisation erases it"),
        (centred * (S + 1) + B, "subtract the mean *and* divide by the standard deviation over the pixels"),
        (x / torch.sqrt(x.pow(2).mean(dim=(2, 3), keepdim=True) + 1e-8) * (S + 1) + B,
         "subtract each channel's mean over its pixels first, then divide by the standard deviation"),
        (x * (S + 1) + B, "normalise x first (instance norm), then apply the style"),
    ]
    return _diagnose(out, diagnoses, name, "your result differs from (s + 1)·(x − μ)/σ + b with μ, σ over each "
                     "channel's pixels", rtol=1e-3, atol=1e-4)


def truncation(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> Check:
    """Exercise: ``fn(w, w_avg, psi)`` → w̄ + ψ·(w − w̄), the truncation trick."""
    name = "truncation"
    g = torch.Generator().manual_seed(72)
    w, w_avg = torch.randn(6, 8, generator=g) * 2, torch.randn(8, generator=g) + 1
    for psi in (0.7, 0.0, 1.0, 0.3):
        out, err = _call(fn, w.clone(), w_avg.clone(), psi)
        if err is not None:
            return Check(False, _raised(err), name)
        bad = _tensor_answer(name, out, w.shape)
        if bad is not None:
            return bad
        ref = w_avg + psi * (w - w_avg)
        if _close(out, ref):
            continue
        diagnoses = [
            (psi * w, "that pulls w towards 0; truncation pulls it towards the average w̄ (the tracked w_avg): "
                      "w̄ + ψ·(w − w̄)"),
            (w_avg + (1 - psi) * (w - w_avg), "ψ is reversed: ψ = 1 must leave w unchanged and ψ = 0 give w̄"),
            (psi * w_avg + (1 - psi) * w, "ψ is reversed: ψ = 1 must leave w unchanged and ψ = 0 give w̄"),
            (w - psi * w_avg, "w̄ + ψ·(w − w̄): a point on the line from w̄ to w"),
        ]
        return _diagnose(out, diagnoses, name, f"at ψ = {psi} your result differs from w̄ + ψ·(w − w̄)")
    return Check(True, "right — ψ = 1 leaves w alone, ψ = 0 gives the average w for every z, and in between w "
                       "moves along the line towards w̄", name)


def style_mixing(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> Check:
    """Exercise: ``fn(ws1, ws2, crossover)`` → per-layer w: layers < crossover from ws1, the rest from ws2."""
    name = "style mixing"
    g = torch.Generator().manual_seed(73)
    ws1, ws2 = torch.randn(3, 8, 5, generator=g), torch.randn(3, 8, 5, generator=g)
    idx = torch.arange(8).view(1, -1, 1)
    for crossover in (3, 1, 7, 0, 8):
        out, err = _call(fn, ws1.clone(), ws2.clone(), crossover)
        if err is not None:
            return Check(False, _raised(err), name)
        bad = _tensor_answer(name, out, ws1.shape)
        if bad is not None:
            return bad
        ref = torch.where(idx < crossover, ws1, ws2)
        if _close(out, ref, rtol=0, atol=1e-6):  # a mask formula ws2 + m·(ws1 − ws2) rounds: not bit-equal
            continue
        diagnoses = [
            (torch.where(idx < crossover, ws2, ws1), "swapped: the layers before the crossover (the coarse styles: "
                                                    "pose, shape) come from the first latent, the rest from the second"),
            (torch.where(idx <= crossover, ws1, ws2), "off by one: layer `crossover` itself already comes from the "
                                                     "second latent (layer_idx < mixing_cutoff in networks_stylegan.py)"),
            (torch.where(torch.arange(3).view(-1, 1, 1) < crossover, ws1, ws2),
             "that mixes samples of the batch (dim 0); mix along the layers (dim 1)"),
            (torch.where(torch.arange(5).view(1, 1, -1) < crossover, ws1, ws2),
             "that mixes the components of w (the last dim); mix whole layers (dim 1)"),
        ]
        return _diagnose(out, diagnoses, name, f"at crossover {crossover} your result differs from: layers < crossover "
                         "from ws1, the rest from ws2", rtol=0, atol=1e-6)
    return Check(True, "right — each layer takes its whole w from one latent: crossover 0 is all ws2, "
                       "crossover L all ws1", name)
