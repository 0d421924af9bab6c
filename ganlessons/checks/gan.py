"""Lesson 01 (Goodfellow et al. 2014): the D and G losses, D*, the detached D step."""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import losses as L
from ._common import Check, _close, _call, _inputs, _raised, _rng_sandbox, _scalar, _check_loss


def d_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Check:
    """Exercise: ``fn(d_real, d_fake)`` → L_D = −E[log σ(d_real)] − E[log(1 − σ(d_fake))] (logits in).

    Any c·L_D with a constant c > 0 is the same objective (same minimiser, same gradient direction)
    and is accepted, with a word on what the factor changes: the halved sum, or the BCE over the
    concatenated real+fake batch (= ½·L_D when both halves have the same size). The two input sets
    have different batch sizes, so a factor that grows with the batch (a sum) is not taken for one.
    """
    name = "discriminator loss"
    formula = "L_D = BCE(d_real, 1) + BCE(d_fake, 0), with the logits given"

    def diagnoses(d_real, d_fake, ref):
        n = d_real.shape[0]
        return [  # each is recognised up to a positive factor, so ½ × a slip is still named
            (-ref, "the sign is flipped: you return V(D, G), which D maximises; the optimiser minimises, so return −V"),
            (L.d_loss_bce(d_fake, d_real), "real and fake are swapped: real samples take label 1, fakes label 0"),
            (n * ref, "you summed over the batch; take the mean so the step size does not depend on the batch size"),
            (F.softplus(-d_real).mean(), "only the real term: D must also push D(G(z)) towards 0"),
            (F.softplus(d_fake).mean(), "only the fake term: D must also push D(x) towards 1"),
        ]

    outs, refs, wrongs = [], [], []
    for seed, n in ((0, 32), (1, 20)):
        d_real, d_fake = _inputs(seed, n)
        out, err = _call(fn, d_real, d_fake)
        if err is not None:
            return Check(False, _raised(err), name)
        bad = _scalar(name, out)
        if bad is not None:
            return bad
        ref = L.d_loss_bce(d_real, d_fake)
        outs.append(out.detach().double())
        refs.append(ref.detach().double())
        wrongs.append([(v.detach().double(), why) for v, why in diagnoses(d_real, d_fake, ref)])
    if all(_close(o, r) for o, r in zip(outs, refs)):
        return Check(True, "right — and computed from logits, so it stays finite when D is very sure", name)
    factor = _common_factor(outs, refs)
    if factor is not None:
        return Check(True, _rescaled_praise(factor), name)
    for k, (_, why) in enumerate(wrongs[0]):
        if _common_factor(outs, [w[k][0] for w in wrongs]) is not None:
            return Check(False, why, name)
    if all(abs(o.item()) < 1e-6 for o in outs):
        return Check(False, f"your loss is 0 for every input; {formula}", name)
    return Check(False, f"got {outs[0].item():.4f}, expected {refs[0].item():.4f} for the same inputs; {formula}",
                 name)


def _common_factor(outs, refs, low: float = 1e-3, high: float = 1e3) -> float | None:
    """c when every out ≈ c·ref with one constant c in [low, high] (a positive rescaling), else None."""
    if any(abs(r.item()) < 1e-8 for r in refs):
        return None
    c = (outs[0] / refs[0]).item()
    if not low <= c <= high:
        return None
    return c if all(_close(o, c * r) for o, r in zip(outs, refs)) else None


def _rescaled_praise(c: float) -> str:
    head = ("yours is ½ × ours — the mean of the two terms, or BCE over the concatenated real + fake batch, which "
            "is the same when both halves are the same size" if abs(c - 0.5) < 1e-3 else f"yours is {c:.3g} × ours")
    return (f"right — {head}. A positive constant factor leaves the objective's minimiser and its gradient direction "
            f"unchanged and scales the gradient by {c:.3g}: Adam normalises that scale away (up to its small ε), "
            f"so training with Adam is practically the same; with plain SGD it acts like a learning rate {c:.3g} × "
            "as large. If you add a penalty to this loss, its relative weight changes by 1/" + f"{c:.3g}.")


def g_loss(fn: Callable[[torch.Tensor], torch.Tensor]) -> Check:
    """Exercise: ``fn(d_fake)`` → the non-saturating L_G = −E[log σ(d_fake)]."""

    def diagnoses(d_fake, ref):
        return [
            (L.g_loss_minimax(d_fake), "that is the original minimax loss log(1 − D(G(z))): it saturates when D "
                                       "rejects the fakes. Maximise log D(G(z)) instead, i.e. minimise −log σ(d_fake)"),
            (-ref, "the sign is flipped: G wants D(G(z)) → 1, so minimise −log σ(d_fake)"),
            (F.softplus(d_fake).mean(), "you used the label 0 for the fakes: in G's step the fakes take the label 1"),
            (d_fake.shape[0] * ref, "you summed over the batch; take the mean"),
        ]

    return _check_loss("non-saturating generator loss", fn, lambda r, f: (f,), L.g_loss_nonsaturating, diagnoses,
                       "L_G = BCE(d_fake, 1)",
                       "right — its gradient is large exactly when D confidently rejects the fakes")


def optimal_discriminator(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Check:
    """Exercise: ``fn(p_data, p_g)`` → D*(x) = p_data(x) / (p_data(x) + p_g(x)) on a grid of x."""
    name = "optimal discriminator D*"
    x = torch.linspace(-4, 6, 201, dtype=torch.float64)
    p_data = torch.exp(-0.5 * x ** 2) / math.sqrt(2 * math.pi)
    p_g = torch.exp(-0.5 * ((x - 2) / 1.5) ** 2) / (1.5 * math.sqrt(2 * math.pi))
    out, err = _call(fn, p_data.clone(), p_g.clone())
    if err is not None:
        return Check(False, _raised(err), name)
    if not isinstance(out, torch.Tensor):
        out = torch.as_tensor(out)
    if out.shape != x.shape:
        return Check(False, f"return D*(x) at every grid point: expected shape {tuple(x.shape)}, got {tuple(out.shape)}",
                     name)
    ref = p_data / (p_data + p_g)
    out = out.detach().to(torch.float64).cpu()
    if _close(out, ref, rtol=1e-6, atol=1e-9) or _close_with_safety_eps(out, ref, p_data + p_g):
        if not _half_at_equilibrium(fn):
            return Check(False, "with p_g = p_data your D* should be ½ everywhere", name)
        note = ("" if _close(out, ref, rtol=1e-6, atol=1e-9) else
                " (your small safety ε in the division only shows where both densities are nearly 0)")
        return Check(True, "right — and where p_g = p_data it is ½ everywhere: D can do no better than a coin" + note,
                     name)
    if _close(out, 1 - ref, rtol=1e-6, atol=1e-9):
        return Check(False, "that is the probability of *fake*, p_g/(p_data + p_g); D* gives the probability of real",
                     name)
    if _close(out, p_data / p_g, rtol=1e-6, atol=1e-9):
        return Check(False, "p_data/p_g is a density ratio, not a probability (it exceeds 1); divide by p_data + p_g",
                     name)
    if out.min() < 0 or out.max() > 1:
        return Check(False, f"D*(x) is a probability, but your values run from {out.min():.3g} to {out.max():.3g}", name)
    return Check(False, "not D*: maximise p_data·log D + p_g·log(1 − D) pointwise; the derivative is zero at "
                        "D = p_data/(p_data + p_g)", name)


def _close_with_safety_eps(out: torch.Tensor, ref: torch.Tensor, total: torch.Tensor) -> bool:
    """D* up to a small ε guarding the division: p_data/(p_data + p_g + ε), (p_data + ε)/(p_data + p_g + 2ε)…

    Such an ε moves D* by about ε/(p_data + p_g), so |out − D*|·(p_data + p_g) stays below ε (≤ 1e-5
    accepted) — large only where both densities are tiny — and the values remain probabilities.
    """
    if not torch.isfinite(out).all() or out.min() < -1e-6 or out.max() > 1 + 1e-6:
        return False
    return bool(((out - ref).abs() * total).max() <= 1.5e-5)


def _half_at_equilibrium(fn) -> bool:
    """D* = ½ everywhere when p_g = p_data (the paper's global optimum)."""
    p = torch.exp(-0.5 * torch.linspace(-3, 3, 11, dtype=torch.float64) ** 2)
    out, err = _call(fn, p.clone(), p.clone())
    return err is None and _close(out, torch.full_like(p, 0.5))


def d_step_detach(fn: Callable[[nn.Module, nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]) -> Check:
    """Exercise: ``fn(G, D, x_real, z)`` → D's loss for one step, computed without touching G:
    L_D = BCE(D(x_real), 1) + BCE(D(G(z).detach()), 0).

    Judged by where the gradient goes: after back-propagating the loss (the checker does it, or the
    learner's function already did), D's parameters have gradients and G's have none.
    """
    name = "discriminator step"
    gen = torch.Generator().manual_seed(0)
    with _rng_sandbox(0):  # the modules' initial weights come from the global RNG
        G = nn.Sequential(nn.Linear(4, 8), nn.Tanh())
        D = nn.Sequential(nn.Linear(8, 1), nn.Flatten(0))
    x_real = torch.randn(16, 8, generator=gen)
    z = torch.randn(16, 4, generator=gen)
    out, err = _call(fn, G, D, x_real, z)
    if err is not None:
        return Check(False, _raised(err), name)
    bad = _scalar(name, out)
    if bad is not None:
        return bad
    with torch.no_grad():
        ref = L.d_loss_bce(D(x_real), D(G(z)))
    if not _close(out, ref):
        return Check(False, f"the loss is {out.item():.4f}, expected {ref.item():.4f}: "
                            "L_D = BCE(D(x_real), 1) + BCE(D(G(z)), 0)", name)
    if not out.requires_grad:
        return Check(False, "the loss has no gradient: don't wrap D's forward pass in torch.no_grad()", name)
    # the learner may have called backward() already (then the graph is freed and a second call would fail)
    called_backward = any(p.grad is not None for p in (*G.parameters(), *D.parameters()))
    if not called_backward:
        try:
            out.backward()
        except RuntimeError as e:  # e.g. a graph freed by the learner's own backward(retain_graph=False) elsewhere
            return Check(False, f"back-propagating your loss failed: {e}", name)
    if any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters()):
        return Check(False, "your D step back-propagated into G: detach the fakes (G(z).detach()) so D's "
                            "update neither computes nor accumulates gradients in G", name)
    if all(p.grad is None or not p.grad.abs().sum() > 0 for p in D.parameters()):
        return Check(False, "D's parameters got no gradient", name)
    note = (" You also called backward() inside: fine here, but then the training loop must not call it again "
            "(the graph is freed, and gradients would accumulate twice)." if called_backward else "")
    return Check(True, "right — the fakes are detached, so only D learns from this loss." + note, name)
