"""Lesson 06 (Karras et al. 2018, progressive growing): the fade-in blend, PixelNorm, minibatch stddev."""

from __future__ import annotations

from typing import Callable

import torch

from ..layers import MinibatchStdDev, PixelNorm
from ._common import Check, _call, _close, _raised, _tensor_answer


def fade_in(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> Check:
    """Exercise: ``fn(old, new, alpha)`` → (1 − α)·old + α·new, G's output (and D's input) during a fade-in."""
    name = "fade-in"
    g = torch.Generator().manual_seed(6)
    old, new = torch.randn(8, 1, 8, 8, generator=g) * 1.5, torch.randn(8, 1, 8, 8, generator=g) * 1.5
    for alpha in (0.3, 0.85, 0.0, 1.0):  # inside (0, 1) first: at the ends some mistakes look alike
        out, err = _call(fn, old.clone(), new.clone(), alpha)
        if err is not None:
            return Check(False, _raised(err), name)
        bad = _tensor_answer(name, out, old.shape)
        if bad is not None:
            return bad
        ref = (1 - alpha) * old + alpha * new
        if _close(out, ref):
            continue
        diagnoses = [
            (alpha * old + (1 - alpha) * new, "old and new are swapped: at α = 0 the output must be the old "
                                              "(upscaled) path, at α = 1 the new layers' image"),
            (torch.tanh(ref), "no tanh on the blend: the official G has a linear toRGB and no tanh at all, and "
                              "the real images are faded linearly — a tanh after the blend makes G's fade a "
                              "different, non-linear mix"),
            ((1 - alpha) * torch.tanh(old) + alpha * torch.tanh(new), "no tanh: PGGAN's toRGB outputs are "
                                                                      "linear (networks.py has no tanh)"),
            (old + alpha * new, "the old path must fade *out* as the new one fades in: (1 − α)·old + α·new"),
            (new, "during a fade-in the output is a blend, not the new path alone (only at α = 1)"),
            (old, "during a fade-in the output is a blend, not the old path alone (only at α = 0)"),
        ]
        for value, why in diagnoses:
            if _close(out, value):
                return Check(False, why, name)
        return Check(False, f"at α = {alpha} your blend differs from (1 − α)·old + α·new "
                            f"(largest difference {(out - ref).abs().max().item():.3g})", name)
    return Check(True, "right — the old path at α = 0, the new at α = 1, and a straight line between: the "
                       "same lerp fades G's output, D's input and the real images", name)


def pixel_norm(fn: Callable[[torch.Tensor], torch.Tensor]) -> Check:
    """Exercise: ``fn(x)`` → x / sqrt(mean over channels of x² + 1e-8), for N×C×H×W and N×C inputs."""
    name = "PixelNorm"
    g = torch.Generator().manual_seed(7)
    ref_layer = PixelNorm()
    for shape in ((4, 16, 5, 5), (6, 32)):
        x = torch.randn(*shape, generator=g) * 3 + 0.5
        out, err = _call(fn, x.clone())
        if err is not None:
            return Check(False, _raised(err), name)
        bad = _tensor_answer(name, out, x.shape)
        if bad is not None:
            return bad
        ref = ref_layer(x)
        if _close(out, ref, rtol=1e-4, atol=1e-5):
            continue
        c = x.shape[1]
        diagnoses = [(x / x.norm(dim=1, keepdim=True),
                      f"that is x/‖x‖: divide by the root *mean* square over the C channels, not the root sum "
                      f"(yours is √C = {c ** 0.5:.2f} times too small)"),
                     (x / (x.pow(2).mean(dim=1, keepdim=True) + 1e-8),
                      "missing the square root: divide by sqrt(mean(x²) + ε)"),
                     (x / torch.sqrt(x.pow(2).mean(dim=0, keepdim=True) + 1e-8),
                      "that averages over the batch (dim 0), like BatchNorm: PixelNorm normalises each pixel's "
                      "feature vector on its own, over the channels (dim=1)")]
        if x.dim() == 4:
            diagnoses += [(x / torch.sqrt(x.pow(2).mean(dim=(2, 3), keepdim=True) + 1e-8),
                           "that averages over the pixels (dims 2, 3): PixelNorm averages over the channels "
                           "(dim=1), separately at every pixel"),
                          (x / torch.sqrt(x.pow(2).mean(dim=(1, 2, 3), keepdim=True) + 1e-8),
                           "that averages over channels *and* pixels: PixelNorm averages over the channels only "
                           "(dim=1), separately at every pixel"),
                          (x / torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + 1e-8),
                           "that averages over the last dimension (the width): use dim=1, the channels")]
        for value, why in diagnoses:
            if _close(out, value, rtol=1e-4, atol=1e-5):
                return Check(False, why, name)
        return Check(False, f"for an input of shape {tuple(x.shape)} your result differs from "
                            "x / sqrt(mean over dim 1 of x² + 1e-8)", name)
    return Check(True, "right — every pixel's feature vector now has unit root mean square over the channels", name)


def minibatch_stddev(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> Check:
    """Exercise: ``fn(x, group_size)`` → x with one more feature map, as the official minibatch stddev layer."""
    name = "minibatch stddev"
    g = torch.Generator().manual_seed(8)
    x = torch.randn(12, 3, 4, 4, generator=g)
    x[0::3] = x[0]                               # group 0 (samples 0, 3, 6, 9 in the official grouping) collapsed
    ref = MinibatchStdDev(4)(x)
    out, err = _call(fn, x.clone(), 4)
    if err is not None:
        return Check(False, _raised(err), name)
    bad = _tensor_answer(name, out, ref.shape)
    if bad is not None:
        if isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[1] == x.shape[1]:
            return Check(False, "append the statistic as one more feature map: torch.cat([x, y], dim=1) gives "
                                f"N×(C+1)×H×W = {tuple(ref.shape)}", name)
        return bad
    if not _close(out[:, :-1], x):
        return Check(False, "the first C feature maps must be x itself, unchanged; the statistic comes last", name)
    if _close(out, ref, rtol=1e-4, atol=1e-6):
        return _group_sizes(fn, name)

    def feature(groups: torch.Tensor, assign: torch.Tensor, unbiased: bool, eps: str) -> torch.Tensor:
        dev = groups - groups.mean(dim=1, keepdim=True)
        var = dev.pow(2).sum(1) / (groups.shape[1] - (1 if unbiased else 0))
        sd = {"inside": torch.sqrt(var + 1e-8), "outside": torch.sqrt(var) + 1e-8, "none": torch.sqrt(var)}[eps]
        return sd.mean(dim=(1, 2, 3))[assign]

    n = x.shape[0]
    official = torch.arange(n) % (n // 4)          # sample i in group i mod (N/G)
    groupings = {"official": (torch.stack([x[official == k] for k in range(n // 4)]), official),
                 "batch": (x[None], torch.zeros(n, dtype=torch.long)),
                 "consecutive": (x.view(n // 4, 4, *x.shape[1:]), torch.arange(n) // 4)}
    why = {
        "batch": "that is one standard deviation over the whole batch (the paper's §3, with its minibatch of 16); the "
                 "authors' code takes it within groups of group_size samples (4), so a collapsed group stands out "
                 "instead of being averaged with the rest of the batch",
        "consecutive": "your groups are runs of consecutive samples (i // G); the official reshape "
                       "x.reshape(G, -1, C, H, W) puts sample i in group i mod (N/G) — the same idea, other "
                       "numbers: use that reshape",
        "unbiased": "that is the unbiased (N − 1) standard deviation (torch.std's default): the official layer uses "
                    "the plain mean of squared deviations, then sqrt(· + 1e-8)",
        "outside": "ε goes inside the square root, sqrt(var + 1e-8): outside, the gradient of sqrt at a collapsed "
                   "group (var = 0) is infinite",
        "none": "add ε inside the square root, sqrt(var + 1e-8): without it the gradient of sqrt at a collapsed "
                "group (var = 0) is infinite",
    }
    candidates = []
    for grouping, (groups, assign) in groupings.items():
        for unbiased in (False, True):
            for eps in ("inside", "outside", "none"):
                key = grouping if grouping != "official" else ("unbiased" if unbiased else eps)
                if key != "inside":
                    candidates.append((feature(groups, assign, unbiased, eps), why[key]))
    last = out[:, -1]
    if not torch.allclose(last, last[:, :1, :1].expand_as(last)):
        return Check(False, "the extra feature map must be one number per sample, repeated over H×W: average the "
                            "standard deviations over channels and pixels", name)
    for value, why in candidates:
        if _close(last[:, 0, 0], value, rtol=1e-4, atol=1e-6):
            return Check(False, why, name)
    return Check(False, "the extra feature map differs from the group standard deviation, averaged over C, H, W",
                 name)


def _group_sizes(fn, name: str) -> Check:
    """A right answer at group_size 4: also right for a batch smaller than the group (G = N) and for G = 2?"""
    g = torch.Generator().manual_seed(9)
    for n, gs in ((3, 4), (8, 2)):
        x = torch.randn(n, 2, 3, 3, generator=g)
        out, err = _call(fn, x.clone(), gs)
        if err is not None:
            return Check(False, f"right for group_size 4, but a batch of {n} with group_size {gs} fails: " + _raised(err),
                         name)
        if not isinstance(out, torch.Tensor) or not _close(out, MinibatchStdDev(gs)(x), rtol=1e-4, atol=1e-6):
            return Check(False, f"right for group_size 4, but not for a batch of {n} with group_size {gs}: the "
                                "group size is min(group_size, N), and use the group_size argument", name)
    return Check(True, "right — groups as the official reshape forms them, the biased std with ε inside the root, "
                       "one number per group appended as a feature map", name)
