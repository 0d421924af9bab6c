"""Homework sweeps: one lesson over every combination of a grid of parameters and seeds.

Every run is one papermill execution, a Dask task (``execute.run_jobs``), in a folder of its own,
``OUT/runs/<key>/``: the executed notebook, its HTML rendering, ``out.json`` (the lesson's
metrics) and, written atomically and only after the run succeeded, ``done.json``. Resuming rests
on that marker alone: a folder without it (a run interrupted halfway, or one that failed and left
``failed.json``) is cleared and run again; a run whose marker records other parameters (the same
``--out`` with other ``-p`` values) is run again too. Failed runs are re-tried on a re-run because
the usual reason to re-run is that something was fixed; a deterministic error costs one notebook.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .report import flatten_numbers
from .lessons import InvalidInput, check_values, declared, describe, parse_as

__all__ = ["Sweep", "plan", "run_sweep", "collect", "write_table", "InvalidInput"]

RUN_OUT = "out.json"
DONE, FAILED = "done.json", "failed.json"


@dataclass
class Sweep:
    """A checked sweep: the lesson, the swept values in command-line order (seed last), fixed values."""

    notebook: Path
    grid: dict[str, list]
    fixed: dict = field(default_factory=dict)
    out: Path = Path("runs") / "homework"
    seed_default: object = None   # the seed every run uses when seeds are not swept

    def points(self) -> list[dict]:
        """Every combination of the grid, the last name varying fastest."""
        names = list(self.grid)
        return [dict(zip(names, combo)) for combo in itertools.product(*self.grid.values())]


def _fmt(v) -> str:
    return repr(v) if isinstance(v, float) else str(v).lower() if isinstance(v, bool) else str(v)


def run_key(point: dict) -> str:
    """'lr=0.001,seed=1': the run's folder name (characters a file system may refuse become '_')."""
    if not point:
        return "default"
    return re.sub(r"[^A-Za-z0-9._=,+-]", "_", ",".join(f"{k}={_fmt(v)}" for k, v in point.items()))


def _split_assignment(text: str, argument: str) -> tuple[str, list[str]]:
    name, eq, values = text.partition("=")
    items = [v.strip() for v in values.split(",")]
    if not eq or not name.strip() or not values.strip() or any(v == "" for v in items):
        raise InvalidInput(f"{argument}: {text!r} is not NAME=V1,V2,... (e.g. lr=1e-4,2e-4)")
    return name.strip(), items


def plan(notebook: Path, grid: list[str], seeds: str | None = None, fixed: list[tuple[str, str]] = (),
         out: Path = Path("runs") / "homework") -> Sweep:
    """Check a sweep against the lesson's parameters cell; InvalidInput says what is wrong, before anything runs."""
    params = declared(notebook)
    swept: dict[str, list[str]] = {}
    for text in grid or []:
        name, items = _split_assignment(text, "--grid")
        if name in swept:
            raise InvalidInput(f"--grid: {name} is given twice; put all its values in one --grid {name}=V1,V2")
        if len(set(items)) != len(items):
            raise InvalidInput(f"--grid {name}: a value is repeated in {text!r}")
        swept[name] = items
    if seeds is not None:
        if "seed" not in params:
            raise InvalidInput(f"--seeds: this lesson has no seed parameter; its parameters are: {describe(params)}")
        if "seed" in swept:
            raise InvalidInput("--seeds and --grid seed=... both set the seeds; give one of them")
        _, items = _split_assignment(f"seed={seeds}", "--seeds")
        if len(set(items)) != len(items):
            raise InvalidInput(f"--seeds: a seed is repeated in {seeds!r}")
    given_fixed = {name: [value] for name, value in fixed}
    both = sorted(set(given_fixed) & (set(swept) | ({"seed"} if seeds is not None else set())))
    if both:
        raise InvalidInput(f"-p and --grid/--seeds both set {', '.join(both)}; give each parameter once")
    grid_values = check_values(params, swept, "--grid")
    if seeds is not None:
        grid_values["seed"] = [parse_as(t, params["seed"], "--seeds") for t in items]
    for name, values in grid_values.items():  # 1e-4 and 0.0001 are one value: the same run twice
        if len({json.dumps(v) for v in values}) != len(values):
            raise InvalidInput(f"--grid {name}: {values} repeats a value")
    if "seed" in grid_values:  # seed varies fastest, then it is the spread of each point of a figure
        grid_values["seed"] = grid_values.pop("seed")
    fixed_values = {k: v[0] for k, v in check_values(params, given_fixed, "-p").items()}
    if "progress" in params and "progress" not in fixed_values and "progress" not in grid_values:
        fixed_values["progress"] = False  # the sweep's bar is the progress; no bars inside the kernels
    seed_default = fixed_values.get("seed", params["seed"].value if "seed" in params else None)
    sweep = Sweep(Path(notebook).resolve(), grid_values, fixed_values, Path(out).resolve(), seed_default)
    keys = [run_key(p) for p in sweep.points()]
    clash = sorted({k for k in keys if keys.count(k) > 1})
    if clash:  # 'a/b' and 'a_b' share a folder name
        raise InvalidInput(f"--grid: values that differ only in characters a folder name cannot hold give the "
                           f"same run folder {clash[0]!r}; change one of them")
    if any(len(k.encode()) > 200 for k in keys):
        raise InvalidInput("--grid: a run's folder name would be over 200 bytes; use shorter values")
    try:  # before any cluster starts: a run folder that cannot be made would fail every run
        (sweep.out / "runs").mkdir(parents=True, exist_ok=True)
        probe = sweep.out / "runs" / ".writable"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise InvalidInput(f"--out: cannot write into {str(out)!r} ({err.strerror or err})") from None
    return sweep


def _is_done(run_dir: Path, parameters: dict) -> bool:
    """A complete run: its marker exists, records these parameters, and its metrics are there."""
    try:
        marker = json.loads((run_dir / DONE).read_text())
        json.loads((run_dir / RUN_OUT).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("parameters") == json.loads(json.dumps(parameters))


def run_sweep(sweep: Sweep, *, workers: int | None = None, scheduler: str | None = None, threads: int = 1,
              timeout: float | None = None, progress: bool = True) -> dict:
    """Run every run of ``sweep`` not already complete; return {"ran": n, "skipped": n, "failed": n}."""
    from ..utils import atomic_write_bytes
    from .execute import Job, run_jobs

    runs = sweep.out / "runs"
    jobs, skipped = [], 0
    for point in sweep.points():
        key = run_key(point)
        run_dir = runs / key
        parameters = {**sweep.fixed, **point, "out_json": str(run_dir / RUN_OUT)}
        if _is_done(run_dir, parameters):
            skipped += 1
            continue
        shutil.rmtree(run_dir, ignore_errors=True)  # half a run (interrupted, failed) never counts
        jobs.append(Job(key, sweep.notebook, run_dir, parameters, timeout=timeout, html=True))
    by_key = {j.key: j for j in jobs}

    def mark(outcome):
        job = by_key[outcome.key]
        record = {"key": outcome.key, "parameters": job.parameters, "seconds": outcome.seconds}
        if outcome.ok and not (job.workdir / RUN_OUT).is_file():
            outcome.ok, outcome.error = False, f"the lesson ran but wrote no metrics to {job.workdir / RUN_OUT}"
        if outcome.ok:
            atomic_write_bytes(json.dumps(record, indent=1).encode(), job.workdir / DONE)
        else:
            record.update(error=outcome.error, cell=outcome.cell)
            atomic_write_bytes(json.dumps(record, indent=1).encode(), job.workdir / FAILED)

    if jobs:
        outcomes = run_jobs(jobs, workers=workers, scheduler=scheduler, threads=threads, progress=progress,
                            on_outcome=mark)
    else:
        outcomes = []
    return {"ran": len(jobs), "skipped": skipped, "failed": sum(not o.ok for o in outcomes)}


def collect(sweep: Sweep) -> list[dict]:
    """One row per run, in grid order: key, swept values, seed, status, seconds, metrics…, error, cell."""
    rows = []
    for point in sweep.points():
        key = run_key(point)
        run_dir = sweep.out / "runs" / key
        row = {"key": key, **point}
        if "seed" not in point and sweep.seed_default is not None:
            row["seed"] = sweep.seed_default
        row.update(status="not run", seconds=None, error=None, cell=None)
        try:
            if (run_dir / DONE).is_file():
                marker = json.loads((run_dir / DONE).read_text())
                metrics = json.loads((run_dir / RUN_OUT).read_text()).get("metrics", {})
                row.update(status="ok", seconds=marker["seconds"], **flatten_numbers(metrics, "metrics"))
            elif (run_dir / FAILED).is_file():
                failed = json.loads((run_dir / FAILED).read_text())
                row.update(status="failed", seconds=failed["seconds"], error=failed["error"], cell=failed["cell"])
        except (OSError, ValueError, KeyError) as err:
            row.update(status="failed", error=f"unreadable record: {err}")
        rows.append(row)
    return rows


def columns(rows: list[dict], sweep: Sweep) -> list[str]:
    """The table's columns: key, swept parameters, seed, status, seconds, metrics (sorted), error, cell."""
    swept = [k for k in sweep.grid if k != "seed"]
    metric_cols = sorted({k for r in rows for k in r if k.startswith("metrics.")})
    seed = ["seed"] if any("seed" in r for r in rows) else []
    return ["key", *swept, *seed, "status", "seconds", *metric_cols, "error", "cell"]


def write_table(rows: list[dict], sweep: Sweep, path: Path) -> Path:
    """The sweep's table as CSV, one row per run."""
    import io

    from ..utils import atomic_write_bytes

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns(rows, sweep), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write_bytes(buf.getvalue().encode("utf-8"), path)


def _positive(kind):
    """An argparse type: a number of ``kind`` greater than 0, else an error naming the value."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
        return value
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ganlessons homework`` options."""
    parser.add_argument("lesson", metavar="LESSON", help="e.g. 05 or 05_wgan_gp or wgan_gp")
    parser.add_argument("--grid", action="append", metavar="NAME=V1,V2,...",
                        help="a swept parameter and its values; repeat for more (every combination runs)")
    parser.add_argument("--seeds", metavar="S1,S2,...", help="seeds each combination runs with, e.g. 0,1,2")
    parser.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        help="a parameter fixed for every run, e.g. -p n_steps 200")
    parser.add_argument("--workers", type=_positive(int), help="local worker processes (default: one per core)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="a running Dask scheduler (tcp://host:8786) or its scheduler file, "
                             "instead of a local cluster")
    parser.add_argument("--threads", type=_positive(int), default=1, help="torch threads per run (default: 1)")
    parser.add_argument("--timeout", type=_positive(float), help="seconds a run may take before it is stopped")
    parser.add_argument("--out", help="the sweep's folder (default: runs/homework/<lesson>); re-use it to resume")
    parser.add_argument("--notebooks", help="folder of the lesson notebooks (default: ./notebooks)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Carry out ``ganlessons homework``: 0 when every run is ok, 1 when some failed, 2 on bad input."""
    from ..cli import find_lessons, notebooks_dir
    from . import report as R

    folder = notebooks_dir(args.notebooks)
    lesson = find_lessons(folder, [args.lesson])
    if len(lesson) != 1:
        print(f"ganlessons homework: error: LESSON: {args.lesson!r} matches {len(lesson)} lessons "
              f"({', '.join(p.stem for p in lesson)}); name one", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("runs") / "homework" / lesson[0].stem
    try:
        sweep = plan(lesson[0], args.grid, args.seeds, [tuple(p) for p in args.param or []], out)
    except InvalidInput as err:  # refused before anything ran: the message, not a traceback
        print(f"ganlessons homework: error: {err}", file=sys.stderr)
        return 2
    n = len(sweep.points())
    print(f"ganlessons homework: {lesson[0].stem}, {n} run(s) into {sweep.out}", flush=True)
    t0 = time.perf_counter()
    try:
        counts = run_sweep(sweep, workers=args.workers, scheduler=args.scheduler, threads=args.threads,
                           timeout=args.timeout, progress=not args.quiet)
    except ConnectionError as err:
        print(f"ganlessons homework: error: --scheduler: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        done = len(list((sweep.out / "runs").glob(f"*/{DONE}")))
        print(f"\ninterrupted: {done} run(s) complete are kept in {sweep.out}; "
              "the same command again runs the rest", file=sys.stderr)
        return 130
    rows = collect(sweep)
    table = write_table(rows, sweep, sweep.out / "table.csv")
    figures = R.sweep_figures(rows, sweep.grid, sweep.out / "figures")
    command = "ganlessons " + " ".join(sys.argv[1:] if getattr(args, "argv", None) is None else args.argv)
    index = R.sweep_index(rows, columns(rows, sweep), figures, sweep.out, f"Homework sweep: {lesson[0].stem}",
                          command, lesson[0].name)
    failed = [r for r in rows if r["status"] != "ok"]
    print(f"{counts['ran']} run(s) executed, {counts['skipped']} already complete (skipped); "
          f"{n - len(failed)} of {n} ok, in {time.perf_counter() - t0:.0f} s")
    for r in failed:
        where = f" at cell {r['cell']}" if r.get("cell") is not None else ""
        print(f"  FAILED {r['key']}{where}: {r['error']}")
    print(f"Table: {table}\nFigures: {sweep.out / 'figures'} ({len(figures)})\nIndex: {index}")
    return 1 if failed else 0
