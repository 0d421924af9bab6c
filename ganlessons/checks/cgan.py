"""Lesson 02 (Mirza & Osindero 2014; Reed et al. 2016): the conditional input, mismatched pairs."""

from __future__ import annotations

import re
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ._common import Check, _close, _call, _raised, _rng_sandbox


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


_SYNONYMS = {
    "higher": {"higher", "high", "larger", "large", "bigger", "big", "greater", "more", "increase", "increases",
               "increased", "increasing", "up", "rises", "grows", "worse"},
    "lower": {"lower", "low", "smaller", "small", "less", "decrease", "decreases", "decreased", "decreasing",
              "down", "falls", "drops", "better"},
    "same": {"same", "equal", "equals", "unchanged", "identical", "similar", "constant"},
}
_SAME_PHRASES = ("no change", "doesn't change", "does not change", "not change", "no difference")


def _normalise_answer(answer) -> str | None:
    """"higher", "lower" or "same" for a free-form answer ("Higher.", " HIGHER! ", "it's larger",
    "the same", "no change"); None when it names none of them, or more than one, or is negated."""
    if not isinstance(answer, str):
        return None
    text = answer.strip().lower().replace("’", "'")
    if any(p in text for p in _SAME_PHRASES):
        return "same"
    if re.search(r"\bnot\b|n't\b", text):
        return None  # "not higher" is not an answer we should guess at
    words = set(re.findall(r"[a-z]+", text))
    found = [k for k, syn in _SYNONYMS.items() if words & syn]
    return found[0] if len(found) == 1 else None


def mismatch_prediction(answer: str, D: nn.Module | None = None, data=None, n: int = 500) -> Check:
    """Exercise: real images with *wrong* labels — is D's loss on them, −log D(x | y′), higher,
    lower or the same as with the right labels? With a trained ``D`` and ``data`` it is measured too.

    The answer is read loosely: case, punctuation and spaces do not matter, and synonyms count
    ("Higher.", "larger", "it goes up", "the same", "no change")."""
    name = "mismatched pairs"
    options = ("higher", "lower", "same")
    choice = _normalise_answer(answer)
    if choice is None:
        return Check(False, f"answer with one of {options}, got {answer!r}", name)
    measured = ""
    if D is not None and data is not None:
        dev = next(D.parameters()).device
        gen = torch.Generator(device=data.device).manual_seed(0)
        x, y = data.sample(n, generator=gen)
        y_wrong = (y + torch.randint(1, D.n_classes, y.shape, generator=gen, device=y.device)) % D.n_classes
        was = D.training
        D.eval()
        with torch.no_grad(), _rng_sandbox(0):  # the learner's D might draw noise: keep the global RNG as it was
            right = F.softplus(-D(x.to(dev), y.to(dev))).mean().item()
            wrong = F.softplus(-D(x.to(dev), y_wrong.to(dev))).mean().item()
        D.train(was)
        measured = f" Measured on this D: −log D(x | y) = {right:.3f} with the right labels, {wrong:.3f} with wrong ones."
        if wrong <= right:
            measured += " (This D has not learned to check the label yet: train longer.)"
    if choice == "higher":
        return Check(True, "right — D models the joint p(x, y); a real '3' labelled '7' almost never occurs in the "
                           "data, so D*(x, y′) = p_data(x, y′)/(p_data(x, y′) + p_g(x, y′)) ≈ 0 there, and "
                           "−log D is large. That is how G is punished for drawing the wrong class." + measured, name)
    return Check(False, "think of D*(x, y) = p_data(x, y) / (p_data(x, y) + p_g(x, y)): how often does the data "
                        "hold this image with that wrong label?" + measured, name)
