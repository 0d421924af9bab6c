"""Small shared helpers: device choice, seeding, atomic checkpoint writes, argument checks."""

from __future__ import annotations

import contextlib
import io
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["pick_device", "seed_everything", "atomic_save", "safe_load", "check_in", "check_positive"]


def pick_device(device: str | torch.device = "auto") -> torch.device:
    """Resolve ``"auto"`` to cuda → mps → cpu; pass anything else through ``torch.device``.

    An explicit device that is not there (``"cuda"`` on a laptop) is an error that says so,
    rather than a failure deep inside the first ``.to()``.
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a str such as 'auto', 'cpu' or 'cuda', got {type(device).__name__}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"device={device!r} is not a device; use 'auto', 'cpu', 'cuda' or 'mps'") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for, but this machine has no CUDA GPU; use 'auto' or 'cpu'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} was asked for, but MPS is not available here; use 'auto' or 'cpu'")
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU) from one integer."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
    torch.manual_seed(int(seed))


@contextlib.contextmanager
def own_rng(seed: int):
    """Run a block with torch's RNG seeded to ``seed``, and give the caller's RNG state back after.

    For sampling that draws random numbers inside the model (StyleGAN's noise inputs): a snapshot
    or a metric must neither move the training's random stream (else the run would depend on how
    often it is watched) nor differ from call to call. ``torch.manual_seed`` reseeds the CPU and
    every GPU generator, so every one of them is saved and restored (``fork_rng``'s default: the
    CPU and all devices of the accelerator, CUDA or MPS).
    """
    with torch.random.fork_rng():
        torch.manual_seed(int(seed))
        yield


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A crash or Ctrl-C halfway through leaves the old file intact, never half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; these are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it over ``path`` (see
    :func:`atomic_write_bytes`): a checkpoint is either the old one or the new one, never half."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return atomic_write_bytes(buf.getvalue(), path)


def safe_load(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load(..., weights_only=True)`` with an error that names the file when it is unreadable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # truncated zip, pickle with code in it, not a torch file …
        raise ValueError(
            f"checkpoint {str(path)!r} could not be read as a weights-only torch file "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
            "it may be truncated, from another program, or contain pickled code"
        ) from err


def check_in(name: str, value: Any, allowed) -> None:
    """Raise ``ValueError`` naming ``name`` when ``value`` is not one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not allowed; choose one of {sorted(allowed)}")


def check_positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> None:
    """Raise a ``TypeError``/``ValueError`` naming ``name`` unless ``value`` is a positive number."""
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "an int" if integer else "a number"
        raise TypeError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    if value < 0 or (value == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
