"""Lessons 04–05 (Arjovsky et al. 2017; Gulrajani et al. 2017): critic loss, clipping, the penalty."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from .. import losses as L
from ._common import Check, _close, _call, _raised, _scalar, _check_loss


def critic_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Check:
    """Exercise: ``fn(d_real, d_fake)`` → the WGAN critic's loss E[D(G(z))] − E[D(x)] (minimised)."""

    def diagnoses(d_real, d_fake, ref):
        return [
            (-ref, "the sign is flipped: the critic *maximises* E[D(x)] − E[D(G(z))], so the loss to minimise is "
                   "E[D(G(z))] − E[D(x)]"),
            (L.d_loss_bce(d_real, d_fake), "that is the GAN's BCE loss: a critic outputs an unbounded score, no "
                                           "sigmoid and no log — just the difference of the means"),
            (d_real.shape[0] * ref, "you summed over the batch; take the means"),
            (d_fake.mean(), "only the fake term: the critic must also push D(x) up"),
            (-d_real.mean(), "only the real term: the critic must also push D(G(z)) down"),
        ]

    return _check_loss("critic loss", fn, lambda r, f: (r, f), L.d_loss_wgan, diagnoses,
                       "L_critic = mean(d_fake) − mean(d_real)",
                       "right — minimising it maximises E[D(x)] − E[D(G(z))], the dual estimate of W₁")


def clip_weights(fn: Callable[[nn.Module, float], None]) -> Check:
    """Exercise: ``fn(critic, c)`` clamps every parameter of the critic into [−c, c], in place."""
    name = "weight clipping"
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))
    before = [p.detach().clone() for p in critic.parameters()]
    c = 0.05
    out, err = _call(fn, critic, c)
    if err is not None:
        hint = (" — change .data, or wrap the loop in torch.no_grad(): clamping is not part of the graph"
                if "in-place" in str(err) or "leaf" in str(err) else "")
        return Check(False, _raised(err) + hint, name)
    after = [p.detach() for p in critic.parameters()]
    if all(torch.equal(a, b) for a, b in zip(before, after)):
        if isinstance(out, nn.Module) and out is not critic:
            return Check(False, "you returned a new model; clip the critic's own parameters in place "
                                "(p.clamp_(-c, c)), so its optimiser keeps working on them", name)
        return Check(False, "the critic's parameters did not change: clamp them in place with p.data.clamp_(-c, c) "
                            "(p = p.clamp(...) only rebinds a name)", name)
    want = [b.clamp(-c, c) for b in before]
    if all(torch.allclose(a, w) for a, w in zip(after, want)):
        return Check(True, f"right — every parameter now lies in [−{c}, {c}]; values inside are untouched", name)
    weights_only = [w if a.dim() > 1 else b for a, w, b in zip(after, want, before)]
    if all(torch.allclose(a, w) for a, w in zip(after, weights_only)):
        return Check(False, "the weights are clipped but the biases are not: WGAN clips every parameter "
                            "(a bias is a weight on a constant input)", name)
    if any((a.abs() > c + 1e-7).any() for a in after):
        return Check(False, f"some parameters are still outside [−{c}, {c}]", name)
    return Check(False, "all values are within [−c, c], but values already inside were changed too: clamp, "
                        "don't rescale", name)


def gradient_penalty(fn: Callable[[Callable, torch.Tensor, torch.Tensor], torch.Tensor]) -> Check:
    """Exercise: ``fn(critic, x_real, x_fake)`` → E[(‖∇x̂ D(x̂)‖₂ − 1)²], x̂ = εx_real + (1 − ε)x_fake."""
    name = "gradient penalty"
    g = torch.Generator().manual_seed(0)
    # 1. A linear critic D(x) = w·vec(x) with ‖w‖ = 3: the penalty is (3 − 1)² = 4 for any ε.
    w = torch.randn(1 * 4 * 4, generator=g)
    w = 3 * w / w.norm()
    linear = lambda x: x.flatten(1) @ w  # noqa: E731
    x_real, x_fake = torch.randn(8, 1, 4, 4, generator=g), torch.randn(8, 1, 4, 4, generator=g)
    out, err = _call(fn, linear, x_real, x_fake)
    if err is not None:
        return Check(False, _raised(err), name)
    bad = _scalar(name, out)
    if bad is not None:
        return bad
    if _close(out, 40.0):
        return Check(False, "you multiplied by λ = 10: return the bare penalty; the caller applies λ", name)
    if _close(out, 4.0 * 8):
        return Check(False, "you summed over the batch; take the mean over samples", name)
    if _close(out, 9.0 - 1.0) or _close(out, 9.0):
        return Check(False, "penalise (‖∇‖₂ − 1)², the squared *distance* of the norm from 1, not the squared norm", name)
    # 2. x_real = x_fake (so x̂ = x whatever ε) and D(x) = a·½‖x‖²: ∇D = a·x, per-sample norms known.
    a = nn.Parameter(torch.tensor(1.0))
    quad = lambda x: a * 0.5 * (x ** 2).flatten(1).sum(1)  # noqa: E731
    x = torch.randn(6, 2, 3, 3, generator=g) * torch.linspace(0.1, 1.0, 6).view(6, 1, 1, 1)
    ref = ((x.flatten(1).norm(dim=1) - 1) ** 2).mean()
    out, err = _call(fn, quad, x.clone(), x.clone())
    if err is not None:
        return Check(False, _raised(err), name)
    bad = _scalar(name, out)
    if bad is not None:
        return bad
    if not _close(out, ref):
        if _close(out, ((x.norm(dim=1) - 1) ** 2).mean()):
            return Check(False, "the norm is over dim=1 of a 4-D tensor (the channels) — take it over each "
                                "flattened sample: grad.flatten(1).norm(dim=1)", name)
        if _close(out, (x.flatten().norm() - 1) ** 2):
            return Check(False, "one norm over the whole batch: the penalty is per sample, (‖∇‖ − 1)² averaged", name)
        if _close(out, 0.0) and not _close(ref, 0.0):
            return Check(False, "the penalty came out 0; did you take the gradient at x̂ (with requires_grad) and "
                                "of D's output summed over the batch?", name)
        return Check(False, f"got {out.item():.4f}, expected {ref.item():.4f} for a critic with ∇D(x) = x", name)
    if not out.requires_grad:
        return Check(False, "the penalty has no gradient: pass create_graph=True to torch.autograd.grad so the "
                            "penalty can train the critic (a double backward)", name)
    (da,) = torch.autograd.grad(out, a, allow_unused=True)
    if da is None or _close(da, 0.0):
        return Check(False, "the penalty does not reach the critic's weights: create_graph=True in autograd.grad", name)
    return Check(True, "right — per-sample gradient norms at the interpolates, differentiable for the critic", name)
