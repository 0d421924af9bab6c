"""Lessons 04–05 (Arjovsky et al. 2017; Gulrajani et al. 2017): critic loss, clipping, the penalty."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import losses as L
from ._common import Check, _close, _call, _raised, _rng_sandbox, _scalar, _check_loss


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
    with _rng_sandbox(0):  # the initial weights come from the global RNG: leave the learner's draws alone
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
                            "(Arjovsky et al.'s code clamps all of netD.parameters()). A bias does not change a "
                            "layer's Lipschitz constant, but clipping everything is the rule that also catches "
                            "scales such as BatchNorm's γ, which do", name)
    if any((a.abs() > c + 1e-7).any() for a in after):
        return Check(False, f"some parameters are still outside [−{c}, {c}]", name)
    return Check(False, "all values are within [−c, c], but values already inside were changed too: clamp, "
                        "don't rescale", name)



# ----------------------------------------------------------------------------- the gradient penalty

_GP_N = 2048            # samples per call: enough to test ε's distribution, cheap for a tiny critic
_GP_SHAPE = (2, 2, 3)   # C×H×W of each sample: 4-D like the lesson's images, 12 numbers each


class _RecordingCritic(nn.Module):
    """D(x) = Σⱼ aⱼ·xⱼ² + bⱼ·xⱼ per sample, so ∇D(x) = 2a⊙x + b depends on *where* x̂ is.

    It records every input it is called on: the checker reads ε off the x̂ the learner built,
    instead of guessing it from the penalty's value (a linear critic, whose gradient is the same
    everywhere, cannot tell a right ε from a wrong one).
    """

    def __init__(self, a: torch.Tensor, b: torch.Tensor):
        super().__init__()
        self.a, self.b = nn.Parameter(a.clone()), nn.Parameter(b.clone())
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x)
        if x.dim() < 2 or x[0].numel() != self.a.numel():
            raise ValueError(f"the critic takes a batch shaped like x_real, (N, {', '.join(map(str, _GP_SHAPE))}), "
                             f"got {tuple(x.shape)}")
        v = x.flatten(1)
        return (self.a.to(v.dtype) * v ** 2 + self.b.to(v.dtype) * v).sum(1)  # one score per sample, like D


def _gp_problem(seed: int):
    """A critic and x_real ≠ x_fake with every |x_real − x_fake| ≥ 0.5 (so ε can be read off x̂)."""
    g = torch.Generator().manual_seed(seed)
    x_real = torch.randn(_GP_N, *_GP_SHAPE, generator=g)
    sign = torch.randint(0, 2, x_real.shape, generator=g) * 2 - 1
    x_fake = x_real - sign * (0.5 + torch.rand(x_real.shape, generator=g))
    d = x_real[0].numel()
    a = 0.06 + 0.1 * torch.rand(d, generator=g)     # ‖∇D(x̂)‖ then straddles 1 along the segments
    b = 0.1 * torch.randn(d, generator=g)
    return _RecordingCritic(a, b), x_real, x_fake


def _gp_reference(critic: _RecordingCritic, x_hat: torch.Tensor):
    """(per-sample gradients, penalty) at the given x̂, in float64; the penalty is differentiable
    in the critic's a and b."""
    v = x_hat.detach().to(torch.float64).flatten(1)
    grad = 2 * critic.a.double() * v + critic.b.double()          # ∇D(x̂) of the quadratic critic
    return grad, ((grad.norm(dim=1) - 1) ** 2).mean()


def _gp_error_hint(err: Exception) -> str:
    text = str(err)
    if "does not require grad" in text:
        return (" — x̂ must require grad before the critic sees it: x_hat.requires_grad_(True), and don't "
                ".detach() it afterwards")
    if "not have been used in the graph" in text:
        return (" — the critic's output does not depend on the tensor you differentiate: call the critic on x̂ "
                "itself (not on x̂.detach() or a copy) and take the gradient with respect to that same x̂")
    if "grad_output" in text or "Mismatch in shape" in text:
        return " — grad_outputs must have the shape of the critic's output: torch.ones_like(d_hat)"
    if "must match the size" in text or "broadcast" in text or "the critic takes a batch" in text:
        return (" — x̂ must have x's shape (N, C, H, W). ε is one number per sample, shaped (N, 1, 1, 1) so it "
                "broadcasts over C, H, W (an ε of shape (N, 1) or (N,) lines up with the last dims, not the "
                "batch): torch.rand(x_real.shape[0], *[1] * (x_real.dim() - 1))")
    return ""


def _eps_diagnosis(x_hat: torch.Tensor, x_real: torch.Tensor, x_fake: torch.Tensor):
    """(ε per sample, None) when x̂ᵢ = εᵢ·x_real,ᵢ + (1 − εᵢ)·x_fake,ᵢ with εᵢ ~ U[0, 1]; else (None, why)."""
    if not isinstance(x_hat, torch.Tensor) or tuple(x_hat.shape) != tuple(x_real.shape):
        shape = tuple(x_hat.shape) if isinstance(x_hat, torch.Tensor) else type(x_hat).__name__
        return None, (f"the critic was called on a batch of shape {shape}; x̂ should have x_real's shape "
                      f"{tuple(x_real.shape)}, one interpolate per pair of samples")
    t = ((x_hat.detach().double() - x_fake.double()) / (x_real.double() - x_fake.double())).cpu()
    if not torch.isfinite(t).all():
        return None, "x̂ holds inf or NaN values"
    # ε read off each element; with one ε per sample it is the same for all of a sample's elements
    varies = [d for d in range(1, t.dim()) if ((t - t.mean(d, keepdim=True)).abs() > 1e-4).any()]
    if varies:
        if (t < -1e-4).any() or (t > 1 + 1e-4).any():
            return None, ("x̂ is not an interpolate: some of its values lie outside the segment between x_real and "
                          "x_fake. Build it as x̂ = ε·x_real + (1 − ε)·x_fake, with one ε ~ U[0, 1] per sample "
                          "(shape (N, 1, 1, 1))")
        where = {1: "channels", 2: "rows", 3: "columns"}
        dims = " and ".join(where.get(d, f"dim {d}") for d in varies)
        if len(varies) == t.dim() - 1 and t.dim() > 2:
            what = "ε has the shape of x (one per pixel and channel, e.g. torch.rand_like(x_real))"
        else:
            what = f"ε varies across the {dims} of each sample"
        return None, (f"x̂ᵢ is not on the segment from x_fake,ᵢ to x_real,ᵢ with one coefficient per sample: {what}. "
                      "The penalty samples points along straight lines between pairs, so draw one ε per sample: "
                      "shape (N, 1, 1, 1), broadcast over C, H and W")
    eps = t.flatten(1).mean(1)
    lo, hi = eps.min().item(), eps.max().item()
    if hi - lo < 1e-6:
        if abs(lo - 1) < 1e-4:
            return None, ("x̂ = x_real: there is no interpolation. The penalty is taken at random points "
                          "x̂ = ε·x_real + (1 − ε)·x_fake between the two, ε ~ U[0, 1] per sample")
        if abs(lo) < 1e-4:
            return None, ("x̂ = x_fake: there is no interpolation. The penalty is taken at random points "
                          "x̂ = ε·x_real + (1 − ε)·x_fake between the two, ε ~ U[0, 1] per sample")
        if abs(lo - 0.5) < 1e-4:
            return None, ("ε is fixed at 0.5: only the midpoints are penalised. Draw ε ~ U[0, 1] afresh for "
                          "each sample (torch.rand), so the whole segment between real and fake is covered")
        return None, (f"one ε ({lo:.3f}) for the whole batch: every sample is mixed in the same proportion. "
                      "Draw one ε per sample: torch.rand(x_real.shape[0], 1, 1, 1)")
    if lo < -1e-4 or hi > 1 + 1e-4:
        normal = " — that looks like N(0, 1) (torch.randn); use torch.rand for U[0, 1]" if lo < -1 and hi > 1 else ""
        return None, (f"ε runs from {lo:.2f} to {hi:.2f}, so some x̂ lie outside the segment between the real and "
                      f"the fake sample; ε ~ U[0, 1]{normal}")
    values = torch.unique((eps * 1e4).round())
    if len(values) <= 5:
        shown = ", ".join(f"{v / 1e4:g}" for v in values.tolist())
        return None, (f"ε only takes the values {shown}; it should be uniform on [0, 1] (torch.rand), so x̂ can "
                      "fall anywhere between the real and the fake sample")
    # Kolmogorov–Smirnov distance to U[0, 1]; 0.055 at n = 2048 is exceeded by chance with p ≈ 1e-5
    s = eps.sort().values
    n = len(s)
    cdf = torch.arange(1, n + 1, dtype=s.dtype) / n
    ks = torch.maximum((cdf - s).abs(), (s - (cdf - 1 / n)).abs()).max().item()
    if ks > 0.055:
        return None, (f"ε is within [0, 1] but not uniform there: mean {eps.mean():.2f} and std {eps.std():.2f} "
                      "(U[0, 1] has 0.50 and 0.29). Draw it with torch.rand")
    return eps, None


def gradient_penalty(fn: Callable[[Callable, torch.Tensor, torch.Tensor], torch.Tensor]) -> Check:
    """Exercise: ``fn(critic, x_real, x_fake)`` → E_x̂[(‖∇_x̂ D(x̂)‖₂ − 1)²] (Gulrajani et al. 2017, eq. 3),

    x̂ = ε·x_real + (1 − ε)·x_fake, one ε ~ U[0, 1] per sample (ε ↔ 1 − ε is the same law, so
    x_fake + ε·(x_real − x_fake) is right too); the norm is over each flattened sample; the mean
    is over the batch; λ is applied by the caller; the result must back-propagate into the critic.

    The critic handed to ``fn`` is quadratic (its gradient depends on x̂) and records the x̂ it is
    called on, so ε is read off directly: one coefficient per sample, spread uniformly over [0, 1],
    fresh on each call. The value is then compared with the penalty recomputed at those x̂, and its
    gradient for the critic's weights with the reference's.
    """
    name = "gradient penalty"
    eps_seen = []
    for seed in (0, 1):  # two calls, each with the global RNG seeded differently inside the sandbox
        critic, x_real, x_fake = _gp_problem(seed)
        out, err = _call(fn, critic, x_real.clone(), x_fake.clone(), seed=1000 + seed)
        if err is not None:
            return Check(False, _raised(err) + _gp_error_hint(err), name)
        bad = _scalar(name, out)
        if bad is not None:
            if out is not None and isinstance(out, torch.Tensor) and out.dim() == 1 and out.numel() == _GP_N:
                return Check(False, "you returned one penalty per sample; return their mean over the batch", name)
            return bad
        if not critic.seen:
            return Check(False, "the critic was never called: evaluate critic(x_hat) and differentiate it "
                                "with respect to x_hat", name)
        x_hat = critic.seen[-1]
        eps, why = _eps_diagnosis(x_hat, x_real, x_fake)
        if why is not None:
            return Check(False, why, name)
        eps_seen.append(eps)
        grad, ref = _gp_reference(critic, x_hat)
        got = out.detach().double().cpu()
        if not _close(got, ref.detach(), rtol=1e-3, atol=1e-6):
            return Check(False, _value_diagnosis(got, grad, ref.detach(), eps), name)
        if not out.requires_grad:
            return Check(False, "the value is right but the penalty has no gradient for the critic's weights, so it "
                                "cannot train the critic: pass create_graph=True to torch.autograd.grad (a double "
                                "backward), and don't .detach() the gradient", name)
        params = [critic.a, critic.b]
        got_grads = torch.autograd.grad(out, params, allow_unused=True, retain_graph=False)
        if all(gr is None or not gr.abs().sum() > 0 for gr in got_grads):
            return Check(False, "the penalty does not reach the critic's weights: create_graph=True in "
                                "torch.autograd.grad", name)
        ref_grads = torch.autograd.grad(ref, params)
        if not all(gr is not None and _close(gr, rg, rtol=1e-3, atol=1e-6) for gr, rg in zip(got_grads, ref_grads)):
            return Check(False, "the value is right, but its gradient for the critic's weights is not the penalty's: "
                                "is part of the computation detached?", name)
    if torch.allclose(eps_seen[0], eps_seen[1], rtol=0, atol=1e-4):
        return Check(False, "ε came out the same on two calls: draw it afresh on every call (torch.rand inside the "
                            "function, without reseeding), or the critic is penalised at the same points each step",
                     name)
    return Check(True, "right — one ε ~ U[0, 1] per sample, per-sample norms of the flattened gradient at x̂, "
                       "averaged, and differentiable for the critic's weights (λ is applied by the caller)", name)


def _value_diagnosis(got: torch.Tensor, grad: torch.Tensor, ref: torch.Tensor, eps: torch.Tensor) -> str:
    """Name the slip whose value the learner's penalty matches (gradients at their own x̂, float64)."""
    n = grad.shape[0]
    norms = grad.norm(dim=1)
    grad4 = grad.view(n, *_GP_SHAPE)
    candidates = [
        (10 * ref, "you multiplied by λ = 10: return the bare penalty E[(‖∇‖₂ − 1)²]; the caller applies λ "
                   "(gl.losses.GradientPenalty(lambda_gp) does), so it is not applied twice"),
        (n * ref, "you summed over the batch; take the mean over samples"),
        (((grad4.norm(dim=1) - 1) ** 2).mean(),
         "the norm is over dim=1 of a 4-D gradient (the channels, at each pixel) — take it over each flattened "
         "sample: grad.flatten(1).norm(dim=1)"),
        ((grad.norm() - 1) ** 2, "one norm over the whole batch: the penalty is per sample, (‖∇‖ − 1)² averaged"),
        ((norms - 1).mean(), "the square is missing: penalise (‖∇‖₂ − 1)², the squared distance of each norm from 1"),
        ((norms - 1).abs().mean(), "the square is missing: penalise (‖∇‖₂ − 1)², not |‖∇‖₂ − 1|"),
        ((norms.mean() - 1) ** 2, "you averaged the norms, then subtracted 1 and squared: square each sample's "
                                  "(‖∇‖₂ − 1) first, then take the mean (E[(‖∇‖ − 1)²] ≠ (E‖∇‖ − 1)²)"),
        (((norms ** 2 - 1) ** 2).mean(), "that uses the squared norm ‖∇‖²: penalise (‖∇‖₂ − 1)², with the norm itself "
                                         "(the square root of the sum of squares)"),
        ((norms ** 2).mean(), "that is the mean squared norm: penalise (‖∇‖₂ − 1)², the distance of the norm from 1"),
        (((norms - 1) ** 2).sum() / n ** 2, "you averaged twice (or summed then divided by N²)"),
        (((norms / n - 1) ** 2).mean(), "the gradient is N times too small: you differentiated D(x̂).mean(); "
                                        "differentiate D(x̂).sum() (or pass grad_outputs=torch.ones_like(d_hat)), so "
                                        "each sample's gradient is its own ∇D(x̂ᵢ)"),
        ((F.relu(norms - 1) ** 2).mean(), "that is the one-sided penalty max(0, ‖∇‖ − 1)² (exercise 3); the "
                                          "paper's penalty is two-sided, (‖∇‖₂ − 1)²"),
        (((eps * norms - 1) ** 2).mean(), "you took the gradient with respect to x_real (the chain rule multiplies "
                                          "it by ε): take the gradient at x̂ itself"),
        ((((1 - eps) * norms - 1) ** 2).mean(), "you took the gradient with respect to x_fake (the chain rule "
                                                "multiplies it by 1 − ε): take the gradient at x̂ itself"),
    ]
    for value, why in candidates:
        if _close(got, value, rtol=1e-3, atol=1e-6):
            return why
    ratio = (got / ref).item() if ref.item() > 1e-9 else float("nan")
    if 2 <= round(ratio) <= 1000 and abs(ratio - round(ratio)) < 1e-3 * ratio:
        return (f"your value is {round(ratio)} × the penalty: did you multiply by λ? Return the bare penalty "
                "E[(‖∇‖₂ − 1)²]; the caller applies λ")
    return (f"got {got.item():.4f}, expected {ref.item():.4f}: the mean over samples of (‖∇D(x̂ᵢ)‖₂ − 1)², at the "
            "x̂ your function passed to the critic")
