"""What every lesson does at its start and its end, in one place.

A lesson's setup cell calls ``lesson = gl.lesson.start("05_wgan_gp")``: it starts the lesson's
clock and, in a Jupyter kernel, remembers the values of the ``parameters`` cell (and of the cell
papermill injects after it with a homework's values). The last cell calls
``lesson.finish(metrics, out_json)``, which writes the homework record of DESIGN.md,

    {"lesson": "05_wgan_gp", "params": {...every parameter...}, "seconds": <wall time>,
     "metrics": {...}}

to ``out_json`` when it is set (atomically: a half-written file is never collected), and prints
the metrics either way.
"""

from __future__ import annotations

import ast
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from . import live as _live
from .utils import atomic_write_bytes

__all__ = ["Lesson", "start", "to_json"]

# The first line of the parameters cell (ours, "# Parameters (papermill: …") and of the one
# papermill injects ("# Parameters", then the homework's values).
_PARAMETERS_HEADER = "# Parameters"
_PAPERMILL_HEADER = "# Parameters\n"


def to_json(value: Any) -> Any:
    """``value`` made JSON-safe: tensors and numpy numbers to Python numbers or lists, tuples to
    lists, keys to strings, NaN/inf to None (JSON has no NaN; a collector must not choke)."""
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu()
        value = value.item() if value.numel() == 1 else value.tolist()
    elif hasattr(value, "tolist") and not isinstance(value, (str, bytes)):  # numpy array or scalar
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _assigned_names(source: str) -> list[str]:
    """Names a parameters cell assigns (``x: int = 3`` and ``x = 3``), in order."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in tree.body:
        targets = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


class Lesson:
    """A lesson's clock and parameters; :meth:`finish` writes its homework record."""

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be the lesson's name such as '05_wgan_gp', got {name!r}")
        self.name = name
        self.t_start = time.perf_counter()
        self.params: dict[str, Any] = {}
        self._shell = None
        try:
            from IPython import get_ipython

            self._shell = get_ipython()
        except ImportError:  # plain Python: give params= to finish()
            pass
        if self._shell is not None:
            self._shell.events.register("post_run_cell", self._after_cell)

    @property
    def seconds(self) -> float:
        """Wall time since :func:`start`."""
        return time.perf_counter() - self.t_start

    def _after_cell(self, result) -> None:
        source = getattr(getattr(result, "info", None), "raw_cell", "") or ""
        if not source.startswith(_PARAMETERS_HEADER):
            return
        if source.startswith(_PAPERMILL_HEADER):
            _live.HEADLESS["papermill"] = True  # run by papermill: no live frames, the progress bar only
        ns = self._shell.user_ns
        for name in _assigned_names(source):
            if name in ns:
                self.params[name] = ns[name]

    def finish(self, metrics: dict, out_json: str = "", *, params: dict | None = None, **extra: Any) -> dict:
        """Write ``{"lesson", "params", "seconds", "metrics"}`` to ``out_json`` (when set); return it.

        ``params`` adds to (or, outside Jupyter, gives) the parameters; ``extra`` keyword
        arguments are recorded beside them (``data_used="mnist-5k"``: what a parameter resolved to).
        """
        if not isinstance(metrics, dict):
            raise TypeError(f"metrics must be a dict of name → value, got {type(metrics).__name__}")
        if self._shell is not None:
            try:
                self._shell.events.unregister("post_run_cell", self._after_cell)
            except ValueError:
                pass
        all_params = {**self.params, **(params or {}), **extra}
        if out_json:
            all_params.setdefault("out_json", out_json)
        record = {"lesson": self.name, "params": to_json(all_params), "seconds": round(self.seconds, 2),
                  "metrics": to_json(metrics)}
        scalars = {k: v for k, v in record["metrics"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        print(f"{self.name}: {record['seconds']:.0f} s; " + ", ".join(f"{k} = {v:.4g}" for k, v in scalars.items()))
        if out_json:
            _atomic_write_json(record, out_json)
            print("wrote", out_json)
        return record


def _atomic_write_json(record: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    if path.parent and not path.parent.is_dir():
        raise ValueError(f"out_json={str(path)!r}: the folder {str(path.parent)!r} does not exist")
    return atomic_write_bytes(json.dumps(record, indent=2).encode(), path)


_current: list[Lesson] = []


def start(name: str) -> Lesson:
    """Start lesson ``name``'s clock and remember its parameters (call it in the setup cell).

    Running the setup cell again replaces the previous lesson object: its hook is removed, so
    re-runs do not pile up one parameters hook per run.
    """
    while _current:
        old = _current.pop()
        if old._shell is not None:
            try:
                old._shell.events.unregister("post_run_cell", old._after_cell)
            except ValueError:  # already finished
                pass
    lesson = Lesson(name)
    _current.append(lesson)
    return lesson
