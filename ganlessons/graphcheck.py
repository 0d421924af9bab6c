"""Checking, without a GPU, that a training step can be replayed as a CUDA graph (``FastPath(graphs="check")``).

A CUDA graph (``torch.cuda.CUDAGraph``) replays the kernels it recorded, with the arguments they had,
on the memory they used. A step that is fine eagerly can then go silently wrong: a Python number
that changes between steps (a fade-in α passed as a float) stays at its captured value; a tensor
re-created between steps instead of filled in place is read at its old address; a value read back to
the host (``.item()``, ``bool(tensor)``, ``.cpu()``) cannot happen inside a graph at all.

:class:`CheckCapture` stands in for a graph on any device, the CPU included: it runs the step
eagerly under a ``TorchDispatchMode`` that records every ATen operation — its name, the Python
numbers it was given, the shapes, strides and dtypes of its tensors and, for the tensors made before
the step (weights, buffers, data), exactly where they live — and checks that each later run of the
step issues the same operations on the same tensors. A difference, or a read back to the host, is a
:class:`GraphUnsafe` error naming the line of the course's (or the learner's) code that issued it.
On a GPU the fast path records its last two warm-up steps the same way (:func:`record`) and, where
they differ, runs the steps eagerly instead of capturing them.
The optimiser's own step is not recorded: its capturable form is PyTorch's.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["CheckCapture", "GraphUnsafe", "record", "first_difference"]


class GraphUnsafe(RuntimeError):
    """A training step does something a CUDA graph would not replay faithfully."""


# Operations that read a device value back to the host (a graph cannot wait for one) or whose
# output size depends on the data (a graph's memory is fixed).
_HOST_SYNC = {"_local_scalar_dense", "item", "nonzero", "masked_select", "unique", "_unique", "_unique2",
              "unique_consecutive", "unique_dim", "equal", "is_nonzero", "repeat_interleave", "argwhere",
              "lift_fresh", "lift_fresh_copy"}
# Tensor methods that copy to the host without an ATen operation on a CPU (on a GPU they wait for it)
_HOST_READS = ("cpu", "tolist", "numpy", "__array__")


def _caller() -> str:
    """Where in the course's (or the learner's) code the current operation comes from: file:line in function."""
    frame = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if f"{os.sep}torch{os.sep}" not in name and not name.endswith(
                (f"ganlessons{os.sep}fast.py", f"ganlessons{os.sep}graphcheck.py")):
            return f"{os.path.basename(name)}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
    return "?"


class _Recorder(TorchDispatchMode):
    """Records each ATen operation of a step: its name, the Python numbers it was given, the shapes,
    strides and dtypes of its tensors and, for tensors made before the step (weights, buffers, data),
    exactly where they live (storage and offset)."""

    def __init__(self, strict: bool = True):
        super().__init__()
        self.ops: list[tuple] = []
        self.sites: list[str] = []    # where each operation was issued (for the message)
        self.paused = 0
        self.strict = strict          # raise at a host read; else note the first one in `host_read`
        self.host_read = ""
        self._made: set[int] = set()  # storages allocated during this step

    def _describe(self, x):
        if isinstance(x, torch.Tensor):
            storage = x.untyped_storage().data_ptr() if x.device.type != "meta" else 0
            where = "step" if storage in self._made else (storage, x.data_ptr())
            return ("T", tuple(x.shape), tuple(x.stride()), str(x.dtype), str(x.device), where)
        if isinstance(x, (list, tuple)):
            return tuple(self._describe(v) for v in x)
        if isinstance(x, (bool, int, float, complex, str)) or x is None:
            return x
        if isinstance(x, torch.Generator):
            return "generator"
        return str(x)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not self.paused:
            name = func.overloadpacket.__name__
            if name in _HOST_SYNC:
                message = (f"{func} at {_caller()} reads a value back to the host or makes a tensor from Python "
                           "data inside the step (.item(), bool(tensor), nonzero, torch.tensor(...)): a CUDA graph "
                           "cannot replay it; draw and decide on the device (torch.where) instead")
                if self.strict:
                    raise GraphUnsafe(message)
                self.host_read = self.host_read or message
            entry = (str(func), self._describe(args), self._describe(sorted(kwargs.items())))
        out = func(*args, **kwargs)
        if not self.paused:
            before = {d[-1][0] for d in _tensors_in(entry[1]) if isinstance(d[-1], tuple)}
            for t in _flat_tensors(out):
                storage = t.untyped_storage().data_ptr()
                if storage not in before:
                    self._made.add(storage)
            self.ops.append(entry)
            self.sites.append(_caller())
        return out


def _flat_tensors(x):
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _flat_tensors(v)


def _tensors_in(desc):
    if isinstance(desc, tuple) and desc and desc[0] == "T":
        yield desc
    elif isinstance(desc, tuple):
        for d in desc:
            yield from _tensors_in(d)


@contextlib.contextmanager
def _no_host_reads():
    """While a step is checked, ``.cpu()``, ``.tolist()``, ``.numpy()`` raise :class:`GraphUnsafe` (on a GPU
    each would wait for the device; on a CPU they issue no operation the recorder could see)."""
    saved = {name: getattr(torch.Tensor, name) for name in _HOST_READS}

    def refuse(name):
        def method(self, *args, **kwargs):
            raise GraphUnsafe(f"Tensor.{name}() at {_caller()} copies to the host inside the step: a CUDA graph "
                              "cannot wait for it; keep the value on the device (or read it after the step)")
        return method

    try:
        for name in _HOST_READS:
            setattr(torch.Tensor, name, refuse(name))
        yield
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)


def record(step: Callable[[], Any], trainer, strict: bool = True):
    """Run ``step()`` once, eagerly, recording its ATen operations (the optimisers' own steps left out).

    Returns ``(ops, sites, out, host_read)``: the record (compare two with ``==``), where each operation
    came from, what the step returned, and — when not ``strict`` — the first host read it made ("" if
    none). ``strict`` raises :class:`GraphUnsafe` at a host read instead, and also refuses ``.cpu()``,
    ``.tolist()``, ``.numpy()`` (on a CPU they issue no operation to see)."""
    rec = _Recorder(strict)
    hooks = []
    for opt in (trainer.opt_d, trainer.opt_g):  # the optimiser's own capture is PyTorch's (capturable=True)
        hooks.append(opt.register_step_pre_hook(lambda *_: setattr(rec, "paused", rec.paused + 1)))
        hooks.append(opt.register_step_post_hook(lambda *_: setattr(rec, "paused", rec.paused - 1)))
    try:
        with rec, (_no_host_reads() if strict else contextlib.nullcontext()):
            out = step()
    finally:
        for h in hooks:
            h.remove()
    return rec.ops, rec.sites, out, rec.host_read


def first_difference(name: str, captured: list, now: list, sites: list, step: int) -> str:
    """Where two records of a step part: the message of :class:`GraphUnsafe`."""
    for i, (a, b) in enumerate(zip(captured, now)):
        if a != b:
            what = "a Python number or a shape" if a[0] == b[0] else "another operation"
            if a[0] == b[0] and _where(a) != _where(b):
                what = ("a tensor that is no longer the one captured (re-created, or another part of it, instead "
                        "of updated in place)")
            return (f"{name} at step {step}: operation {i} ({sites[i]}) differs from the captured one ({what}); a "
                    f"CUDA graph would replay the captured {a[0]} with {a[1:]!r:.300} instead of {b[1:]!r:.300}")
    return (f"{name} at step {step}: {len(now)} operations, the captured step had {len(captured)}; a CUDA graph "
            "would replay the captured ones")


def _where(entry):
    return [d[-1] for d in _tensors_in(entry[1:])]


class CheckCapture:
    """The CPU's stand-in for a graph: runs the step eagerly, recording its operations, and checks that
    every later run issues the same ones with the same numbers on the same tensors.

    ``step()`` is a training step of ``trainer`` (its ``_d_step`` or ``_g_step``); ``out`` is what the
    capturing run returned, ``replay()`` runs it again and returns what it returns."""

    def __init__(self, step: Callable[[], Any], trainer):
        self.step, self.trainer = step, trainer
        self.name = getattr(step, "__name__", "step")
        self.ops, self.sites, self.out = self._run()

    def _run(self):
        ops, sites, out, _ = record(self.step, self.trainer)
        return ops, sites, out

    def replay(self):
        ops, sites, out = self._run()
        if ops != self.ops:
            raise GraphUnsafe(first_difference(self.name, self.ops, ops, sites, self.trainer.step))
        return out
