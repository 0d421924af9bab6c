import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def mnist5k():
    import ganlessons as gl

    return gl.data.load("mnist-5k", device="cpu")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def offline_torchvision(monkeypatch):
    """Make every torchvision download fail as it does on a machine without network."""
    import urllib.error

    import torchvision.datasets.utils as U

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(U, "download_url", refuse)
    monkeypatch.setattr(U, "download_and_extract_archive", refuse)
    import torchvision.datasets.mnist as M

    monkeypatch.setattr(M, "download_and_extract_archive", refuse)
    return refuse


def tiny_images(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g) * 2 - 1


_SESSION_START = {}


def pytest_sessionstart(session):
    import time

    _SESSION_START["t"] = time.time()


def pytest_terminal_summary(terminalreporter):
    """Where the browser tests left their screenshots, and what each lesson's test did."""
    import json
    from pathlib import Path

    folder = Path(os.environ.get("GANLESSONS_ARTEFACTS") or Path(__file__).resolve().parents[1] / "test-artefacts") / "browser"
    fresh = sorted(p for p in folder.glob("*/summary.json") if p.stat().st_mtime >= _SESSION_START.get("t", 0))
    if not fresh:
        return
    terminalreporter.section("browser tests")
    total = {"test_seconds": 0.0, "controls_moved": 0}
    for p in fresh:
        s = json.loads(p.read_text())
        again = f" (Run All clicked {s['run_all_clicks']} times)" if s.get("run_all_clicks", 1) > 1 else ""
        terminalreporter.write_line(f"{s['lesson']}: Run All {s['run_all_seconds']} s{again}, whole test {s.get('test_seconds')} s, "
                                    f"{s['explorers']} explorers, {s['controls_moved']} controls moved")
        total = {k: total[k] + (s.get(k) or 0) for k in total}
    terminalreporter.write_line(f"{len(fresh)} lessons: {total['test_seconds']:.0f} s in the browser tests, "
                                f"{total['controls_moved']} controls moved")
    terminalreporter.write_line(f"screenshots (before and after each control is moved): {folder}")
