import gzip
import struct

import pytest
import torch

import ganlessons as gl
from ganlessons.data import DatasetError, OfflineFallbackWarning


def test_mnist_offline_falls_back_to_5k_with_warning(tmp_path, offline_torchvision):
    with pytest.warns(OfflineFallbackWarning, match="offline subset 'mnist-5k'"):
        data = gl.data.load("mnist", root=tmp_path, device="cpu")
    assert len(data) == 5000
    assert data.name == "mnist-5k" and "fallback" in data.source
    x = data.images()
    assert x.shape == (5000, 1, 28, 28) and x.dtype == torch.float32
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    assert torch.bincount(data.y).tolist() == [500] * 10  # labelled, 500 per digit


def test_fallback_warns_every_time(tmp_path, offline_torchvision):
    for _ in range(2):
        with pytest.warns(OfflineFallbackWarning):
            gl.data.load("mnist", root=tmp_path, device="cpu", n=10)


def test_mnist5k_is_real_digits_shuffled_and_stable(mnist5k):
    assert mnist5k.x.dtype == torch.uint8 and mnist5k.image_shape == (1, 28, 28)
    # Every class in any prefix (the file itself is sorted by label).
    assert torch.bincount(mnist5k.y[:200], minlength=10).min() > 5
    again = gl.data.load("mnist-5k", device="cpu")
    assert torch.equal(again.x, mnist5k.x) and torch.equal(again.y, mnist5k.y)
    # Digits, not noise: most pixels are background, a few are ink.
    ink = (mnist5k.x > 128).float().mean().item()
    assert 0.05 < ink < 0.25


def test_unknown_name_lists_known_ones():
    with pytest.raises(ValueError) as err:
        gl.data.load("cifar10")
    for name in gl.data.DATASETS:
        assert name in str(err.value)
    assert "cifar10" in str(err.value)


@pytest.mark.parametrize("kwargs, match", [
    ({"size": 64}, "size=64"),
    ({"n": 0}, "n must be > 0"),
    ({"device": "cuda:7"} if not torch.cuda.is_available() else {"device": "tpu"}, "device"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        gl.data.load("mnist-5k", **kwargs)


def test_size_32_pads_with_background(mnist5k):
    d32 = gl.data.load("mnist-5k", size=32, n=50, device="cpu")
    assert d32.image_shape == (1, 32, 32) and len(d32) == 50
    x = d32.images()
    assert torch.all(x[:, :, :2, :] == -1) and torch.all(x[:, :, :, -2:] == -1)
    assert torch.equal(d32.x[:, :, 2:30, 2:30], mnist5k.x[:50])


def test_batching_by_index_on_the_data_device(mnist5k):
    x, y = mnist5k.batch(torch.tensor([0, 3, 7]))
    assert x.shape == (3, 1, 28, 28) and torch.equal(y, mnist5k.y[[0, 3, 7]])
    torch.testing.assert_close(x, mnist5k.x[[0, 3, 7]].float() / 127.5 - 1)
    xs, ys = mnist5k.sample(32)
    assert xs.device == mnist5k.device and xs.shape == (32, 1, 28, 28) and ys.shape == (32,)


@pytest.mark.parametrize("name, modes, radius", [("ring-8", 8, 2.0), ("grid-25", 25, None)])
def test_mixtures(name, modes, radius):
    d = gl.data.load(name, device="cpu", n=4000)
    assert d.x.shape == (4000, 2) and d.centers.shape == (modes, 2)
    assert set(d.y.unique().tolist()) == set(range(modes))
    dist = (d.x - d.centers[d.y]).norm(dim=1)
    assert dist.max().item() < 6 * d.std  # every point is near its own center
    if radius:
        torch.testing.assert_close(d.centers.norm(dim=1), torch.full((modes,), radius))
    else:
        assert sorted(set(d.centers[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def _write_idx(path, array: torch.Tensor, truncate: int = 0):
    header = struct.pack(">BBBB", 0, 0, 8, array.dim()) + struct.pack(f">{array.dim()}i", *array.shape)
    raw = header + bytes(array.flatten().tolist())
    with gzip.open(path, "wb") as fh:
        fh.write(raw[:len(raw) - truncate] if truncate else raw)


def test_read_idx_roundtrip_and_truncation(tmp_path):
    arr = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    _write_idx(tmp_path / "ok.gz", arr)
    assert torch.equal(gl.data.read_idx(tmp_path / "ok.gz"), arr)
    _write_idx(tmp_path / "short.gz", arr, truncate=100)
    with pytest.raises(DatasetError, match="truncated"):
        gl.data.read_idx(tmp_path / "short.gz")
    (tmp_path / "junk.gz").write_bytes(gzip.compress(b"hello world"))
    with pytest.raises(DatasetError, match="magic"):
        gl.data.read_idx(tmp_path / "junk.gz")
    (tmp_path / "cut.gz").write_bytes((tmp_path / "ok.gz").read_bytes()[:-20])
    with pytest.raises(DatasetError, match="corrupt or truncated"):
        gl.data.read_idx(tmp_path / "cut.gz")


def test_fashion_mnist_from_debian_layout(tmp_path, monkeypatch):
    x = torch.randint(0, 256, (30, 28, 28), dtype=torch.uint8)
    y = torch.arange(30, dtype=torch.uint8) % 10
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", x)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y)
    monkeypatch.setenv("GANLESSONS_FASHION_MNIST_DIR", str(tmp_path))
    d = gl.data.load("fashion-mnist", device="cpu")
    assert len(d) == 30 and d.classes[9] == "Ankle boot"
    assert torch.equal(d.x[:, 0], x) and torch.equal(d.y, y.long())
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y[:20])
    with pytest.raises(DatasetError, match="matching"):
        gl.data.load("fashion-mnist", device="cpu")


def test_fashion_mnist_offline_without_files_is_a_clear_error(tmp_path, monkeypatch, offline_torchvision):
    monkeypatch.setenv("GANLESSONS_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match="dataset-fashion-mnist"):
        gl.data.load("fashion-mnist", root=tmp_path, device="cpu")


def test_corrupt_torchvision_files_are_an_error_not_a_fallback(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / stem).write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 20)  # header claims nothing sensible
    with pytest.raises(DatasetError, match="delete"):
        gl.data.load("mnist", root=tmp_path, device="cpu")
