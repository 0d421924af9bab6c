"""What every checker shares: the :class:`Check` verdict and safe calls into a learner's code."""

from __future__ import annotations

import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

# What a checker says about a stub; the grader reads it as "not attempted" (checks/_record.py).
NOT_WRITTEN = "not written yet"


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

    def _repr_mimebundle_(self, include=None, exclude=None):
        """The ✅/❌ line as before, with the verdict in the output's metadata (invisible) when a
        recorded checker made this Check, so ``ganlessons grade`` can read it back."""
        text = repr(self)
        record = getattr(self, "_verdict", None)
        return {"text/markdown": text, "text/plain": text}, ({"ganlessons": {"verdict": record}} if record else {})


def _close(a, b, rtol=1e-4, atol=1e-5) -> bool:
    try:
        return bool(torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64),
                                   rtol=rtol, atol=atol))
    except (RuntimeError, TypeError, ValueError):
        return False


@contextmanager
def _rng_sandbox(seed: int | None = 0) -> Iterator[None]:
    """Run a block with the global RNGs (torch CPU/CUDA/MPS, numpy, ``random``) saved and restored.

    Running or skipping an exercise must not change the learner's later random draws, yet a
    learner's function draws ε with ``torch.rand`` and building a module draws its initial weights,
    both from the global generator. So every call into learner code (and every module a checker
    builds) happens inside this window. With ``seed`` the window is also seeded, so a verdict is
    the same on every run. Only the CPU generator is seeded, with ``default_generator.manual_seed``:
    ``torch.manual_seed`` would also queue a seed for a CUDA not yet initialised, which would
    change the learner's first CUDA draws later.
    """
    cpu = torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    mps = None
    try:
        if torch.backends.mps.is_available():
            mps = torch.mps.get_rng_state()
    except (AttributeError, RuntimeError):  # older torch, or no MPS device after all
        mps = None
    py, np_state = random.getstate(), np.random.get_state()
    try:
        if seed is not None:
            torch.default_generator.manual_seed(seed)
            random.seed(seed)
            np.random.seed(seed)
        yield
    finally:
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        elif torch.cuda.is_initialized():
            # the learner's code started CUDA inside the window: put each generator back at the
            # seed it started from, as if those draws had not happened
            for gen in torch.cuda.default_generators:
                gen.manual_seed(gen.initial_seed())
        if mps is not None:
            torch.mps.set_rng_state(mps)
        random.setstate(py)
        np.random.set_state(np_state)


def _call(fn: Callable, *args, seed: int | None = 0):
    """Run the learner's function inside :func:`_rng_sandbox`; on an exception return it so the
    checker can explain."""
    try:
        with _rng_sandbox(seed):
            return fn(*args), None
    except Exception as err:  # the learner's code: report, don't crash the notebook
        return None, err


def _raised(err: Exception) -> str:
    if isinstance(err, NotImplementedError):
        return f"{NOT_WRITTEN}: replace `raise NotImplementedError` with your code"
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


def _tensor_answer(name: str, out, shape) -> "Check | None":
    """A failing Check when ``out`` is not a finite tensor of ``shape``; None when it is."""
    if not isinstance(out, torch.Tensor):
        return Check(False, f"return a torch tensor, got {type(out).__name__}", name)
    if tuple(out.shape) != tuple(shape):
        return Check(False, f"expected a result of shape {tuple(shape)}, got {tuple(out.shape)}", name)
    if not torch.isfinite(out).all():
        return Check(False, "your result has NaN or inf in it", name)
    return None
