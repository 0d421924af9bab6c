"""Exercise checkers: call a learner's function on fresh inputs and say whether it is right.

A checker never raises on a wrong answer (a notebook with an unfinished exercise still runs
top to bottom); it returns a :class:`Check` that prints as ✅ or ❌ with the reason, and is
truthy only when the answer is right. The diagnoses name the usual slips: a flipped sign,
swapped labels, a sum instead of a mean, logits treated as probabilities, a missing detach.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import losses as L

__all__ = ["Check", "d_loss", "g_loss", "optimal_discriminator", "d_step_detach", "conditional_input",
           "mismatch_prediction"]


@dataclass
class Check:
    """The verdict on one exercise: ``ok`` and a message for the learner."""

    ok: bool
    message: str
    exercise: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        mark = "✅" if self.ok else "❌"
        head = f"{self.exercise}: " if self.exercise else ""
        return f"{mark} {head}{self.message}"

    def _repr_markdown_(self) -> str:
        return repr(self)


def _close(a, b, rtol=1e-4, atol=1e-5) -> bool:
    try:
        return bool(torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64),
                                   rtol=rtol, atol=atol))
    except (RuntimeError, TypeError, ValueError):
        return False


def _call(fn: Callable, *args):
    """Run the learner's function; on an exception return it so the checker can explain."""
    try:
        return fn(*args), None
    except Exception as err:  # the learner's code: report, don't crash the notebook
        return None, err


def _raised(err: Exception) -> str:
    if isinstance(err, NotImplementedError):
        return "not written yet: replace `raise NotImplementedError` with your code"
    return f"your function raised {type(err).__name__}: {err}"


def _scalar(exercise: str, out) -> Check | None:
    if not isinstance(out, torch.Tensor):
        return Check(False, f"return a torch tensor (so autograd can differentiate it), got {type(out).__name__}",
                     exercise)
    if out.dim() != 0:
        return Check(False, f"return one number, the mean over the batch: got a tensor of shape {tuple(out.shape)} "
                            "(add .mean())", exercise)
    if not torch.isfinite(out):
        return Check(False, f"got {out.item()} — are you taking log of a logit? D returns logits here: use "
                            "F.binary_cross_entropy_with_logits or F.softplus, not log(d)", exercise)
    return None


def _inputs(seed: int, n: int = 32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=g) * 2 + 1).requires_grad_(), (torch.randn(n, generator=g) * 2 - 1).requires_grad_()


def _check_loss(name: str, fn: Callable, args_for: Callable, reference: Callable, diagnoses: Callable,
                formula: str, praise: str) -> Check:
    """Call ``fn`` on two fresh input sets; compare with ``reference``; name the slip if it matches one.

    ``diagnoses(*args, ref)`` lists (wrong value, explanation) pairs for the usual mistakes.
    """
    for seed in (0, 1):
        args = args_for(*_inputs(seed))
        out, err = _call(fn, *args)
        if err is not None:
            return Check(False, _raised(err), name)
        bad = _scalar(name, out)
        if bad is not None:
            return bad
        ref = reference(*args)
        if _close(out, ref):
            continue
        for value, why in diagnoses(*args, ref):
            if _close(out, value):
                return Check(False, why, name)
        return Check(False, f"got {out.item():.4f}, expected {ref.item():.4f} for the same inputs; {formula}", name)
    return Check(True, praise, name)


def d_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Check:
    """Exercise: ``fn(d_real, d_fake)`` → L_D = −E[log σ(d_real)] − E[log(1 − σ(d_fake))] (logits in)."""

    def diagnoses(d_real, d_fake, ref):
        return [
            (-ref, "the sign is flipped: you return V(D, G), which D maximises; the optimiser minimises, so return −V"),
            (L.d_loss_bce(d_fake, d_real), "real and fake are swapped: real samples take label 1, fakes label 0"),
            (d_real.shape[0] * ref, "you summed over the batch; take the mean so the step size does not depend on "
                                    "the batch size"),
            (ref / 2, "you averaged the two terms; the objective adds them: L_D = L_real + L_fake"),
            (F.softplus(-d_real).mean(), "only the real term: D must also push D(G(z)) towards 0"),
            (F.softplus(d_fake).mean(), "only the fake term: D must also push D(x) towards 1"),
        ]

    return _check_loss("discriminator loss", fn, lambda r, f: (r, f), L.d_loss_bce, diagnoses,
                       "L_D = BCE(d_real, 1) + BCE(d_fake, 0), with the logits given",
                       "right — and computed from logits, so it stays finite when D is very sure")


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
    if _close(out, ref, rtol=1e-6, atol=1e-9):
        if not _half_at_equilibrium(fn):
            return Check(False, "with p_g = p_data your D* should be ½ everywhere", name)
        return Check(True, "right — and where p_g = p_data it is ½ everywhere: D can do no better than a coin", name)
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


def _half_at_equilibrium(fn) -> bool:
    """D* = ½ everywhere when p_g = p_data (the paper's global optimum)."""
    p = torch.exp(-0.5 * torch.linspace(-3, 3, 11, dtype=torch.float64) ** 2)
    out, err = _call(fn, p.clone(), p.clone())
    return err is None and _close(out, torch.full_like(p, 0.5))


def d_step_detach(fn: Callable[[nn.Module, nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]) -> Check:
    """Exercise: ``fn(G, D, x_real, z)`` → D's loss for one step, computed without touching G."""
    name = "discriminator step"
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
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
    out.backward()
    if any(p.grad is not None and p.grad.abs().sum() > 0 for p in G.parameters()):
        return Check(False, "your D step back-propagated into G: detach the fakes (G(z).detach()) so D's "
                            "update neither computes nor accumulates gradients in G", name)
    if all(p.grad is None for p in D.parameters()):
        return Check(False, "D's parameters got no gradient", name)
    return Check(True, "right — the fakes are detached, so only D learns from this loss", name)


# ----------------------------------------------------------------------------- lesson 02: conditioning


def conditional_input(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> Check:
    """Exercise: ``fn(z, y, n_classes)`` → [z, one_hot(y)], the generator's input in a cGAN."""
    name = "conditional input"
    for seed, n_classes, top in ((0, 10, 10), (1, 10, 6)):  # the second batch lacks the high labels
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(12, 5, generator=g)
        y = torch.randint(top, (12,), generator=g)
        out, err = _call(fn, z.clone(), y.clone(), n_classes)
        if err is not None:
            hint = (" — F.one_hot needs integer labels (torch.long) and returns integers: add .float() "
                    "before torch.cat") if "dtype" in str(err).lower() or "type" in str(err).lower() else ""
            return Check(False, _raised(err) + hint, name)
        if not isinstance(out, torch.Tensor):
            return Check(False, f"return a torch tensor, got {type(out).__name__}", name)
        ref = torch.cat([z, F.one_hot(y, n_classes).float()], dim=1)
        if out.shape == ref.shape and _close(out, ref):
            continue
        if out.shape == z.shape:
            return Check(False, "that is z alone: concatenate the label code, [z, one_hot(y)]", name)
        if out.dim() == 2 and out.shape[0] == 2 * z.shape[0] or out.shape[0] != z.shape[0]:
            return Check(False, f"got shape {tuple(out.shape)}, expected {tuple(ref.shape)}: concatenate along "
                                "the feature dimension (dim=1), one row per sample", name)
        if out.shape == (12, 5 + 1):
            return Check(False, "a raw class number as one input says '7 is more than 3'; classes have no order: "
                                "use a one-hot code (F.one_hot(y, n_classes))", name)
        if out.shape[1] != ref.shape[1]:
            return Check(False, f"got {out.shape[1]} features, expected {ref.shape[1]} = latent_dim + n_classes; "
                                "pass num_classes=n_classes to F.one_hot so the width does not depend on which "
                                "labels this batch happens to hold", name)
        if _close(out, torch.cat([F.one_hot(y, n_classes).float(), z], dim=1)):
            return Check(False, "the label code comes first: the models of this course expect [z, e(y)], "
                                "z first", name)
        return Check(False, "the shape is right but the values are not [z, one_hot(y)]", name)
    return Check(True, "right — G's first layer now sees which class to draw", name)


def mismatch_prediction(answer: str, D: nn.Module | None = None, data=None, n: int = 500) -> Check:
    """Exercise: real images with *wrong* labels — is D's loss on them, −log D(x | y′), higher,
    lower or the same as with the right labels? With a trained ``D`` and ``data`` it is measured too."""
    name = "mismatched pairs"
    options = ("higher", "lower", "same")
    if not isinstance(answer, str) or answer.strip().lower() not in options:
        return Check(False, f"answer with one of {options}, got {answer!r}", name)
    measured = ""
    if D is not None and data is not None:
        dev = next(D.parameters()).device
        gen = torch.Generator(device=data.device).manual_seed(0)
        x, y = data.sample(n, generator=gen)
        y_wrong = (y + torch.randint(1, D.n_classes, y.shape, generator=gen, device=y.device)) % D.n_classes
        was = D.training
        D.eval()
        with torch.no_grad():
            right = F.softplus(-D(x.to(dev), y.to(dev))).mean().item()
            wrong = F.softplus(-D(x.to(dev), y_wrong.to(dev))).mean().item()
        D.train(was)
        measured = f" Measured on this D: −log D(x | y) = {right:.3f} with the right labels, {wrong:.3f} with wrong ones."
        if wrong <= right:
            measured += " (This D has not learned to check the label yet: train longer.)"
    if answer.strip().lower() == "higher":
        return Check(True, "right — D models the joint p(x, y); a real '3' labelled '7' almost never occurs in the "
                           "data, so D*(x, y′) = p_data(x, y′)/(p_data(x, y′) + p_g(x, y′)) ≈ 0 there, and "
                           "−log D is large. That is how G is punished for drawing the wrong class." + measured, name)
    return Check(False, "think of D*(x, y) = p_data(x, y) / (p_data(x, y) + p_g(x, y)): how often does the data "
                        "hold this image with that wrong label?" + measured, name)
