"""``ganlessons grade``: run learners' copies of the lessons and report what each checker said.

Each copy runs as it is (or with ``parameters``, to make a real lesson cheap), on Dask like
``homework`` (:func:`ganlessons.course.execute.run_jobs`), in a folder of its own, under a time
limit and the write guard of :mod:`ganlessons.course.sandbox`. While grading, every ``gl.checks``
call publishes its verdict into the calling cell's outputs (:mod:`ganlessons.checks._record`),
whatever the learner wrote around it; the grader reads the verdicts back from the executed copy.

Which exercises a copy is expected to have comes from the original lesson (its cells tagged
``exercise`` and their checker calls), found by the lesson name the handout recorded in the
notebook's metadata, or else by the file's name; failing both, from the handout's own record or
the copy's exercise cells. Only verdicts from the copy's exercise cells count (tag ``exercise``,
or nbgrader's grade/solution cells); a lesson's worked ``solution`` cells never do. Per exercise:

- ``pass`` / ``fail`` with the checker's message (the hint), from the last call in the copy;
- ``not attempted``: the checker ran on the untouched stub (``raise NotImplementedError``, an
  empty answer);
- ``not called``: no exercise cell called the checker (deleted, or never reached).

Only ``pass`` scores. Per copy, besides: ``crashed`` (the error and the cell), ``timed out``
(a loop, or just too slow), ``wrote outside its folder`` (what it tried), ``could not run``
(unreadable file, kernel never started). One copy's trouble never stops the batch.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

from ..checks._record import GRADING_ENV
from ..utils import atomic_write_bytes
from .sandbox import guard_cell, read_guard_log
from .scoring import (ExerciseResult, GradeReport, NotebookGrade, collect_verdicts, expected_exercises,
                      grade_notebook, learner_cells, lesson_folders, lesson_name, score)

__all__ = ["grade", "grade_notebook", "ExerciseResult", "NotebookGrade", "GradeReport", "collect_verdicts", "score",
           "add_arguments", "run", "main", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = 900.0  # seconds per copy: a lesson at its defaults takes 1–3 minutes on a laptop CPU


# -- running the copies ------------------------------------------------------------------------------


def _notebooks(paths: list[Path], skip: Path | None = None) -> list[Path]:
    """The notebooks named or found (recursively) in the folders named; never JupyterLab's
    checkpoints, nor the executed copies of an earlier grading kept under ``skip``."""
    found = []
    skip = skip.resolve() if skip is not None else None
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts
                            and not (skip is not None and q.resolve().is_relative_to(skip)))
        elif p.suffix == ".ipynb" and p.is_file():
            found.append(p)
        else:
            raise ValueError(f"paths: {str(p)!r} is neither a notebook (.ipynb) nor a folder of notebooks")
    if not found:
        raise ValueError(f"paths: no notebooks (.ipynb) in {', '.join(map(str, paths)) or 'nothing'}")
    return found


def _key(path: Path, taken: set) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", path.stem)[:60] or "notebook"
    key, n = base, 1
    while key in taken:
        n += 1
        key = f"{base}-{n}"
    taken.add(key)
    return key


def _learner_cell(nb, index: int | None) -> int | None:
    """The learner's own cell number (0-based, as in their notebook) of the cell that failed.

    The cell holding an error output is the one; else ``index``, the executor's count, which
    papermill takes before it adds its two error notes to the copy (so they are skipped here).
    """
    if nb is None:
        return None
    failed = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                   and (any(o.get("output_type") == "error" for o in c.get("outputs", []))
                        or c.get("metadata", {}).get("papermill", {}).get("exception") is True)), None)
    if failed is None and index is not None:
        unmarked = [i for i, c in enumerate(nb.cells) if "papermill-error-cell-tag" not in c.metadata.get("tags", [])]
        failed = unmarked[index] if 0 <= index < len(unmarked) else None
    cells = learner_cells(nb)
    return cells.index(failed) if failed in cells else None


def _reports_for(out: Path | None) -> dict[str, Path]:
    if out is None:
        return {}
    out = Path(out)
    if out.suffix.lower() not in (".json", ".csv"):
        raise ValueError(f"out must be a .json or .csv file (the other and a .txt summary go beside it), "
                         f"got {str(out)!r}")
    if out.is_dir():
        raise ValueError(f"out must be a file, got the folder {str(out)!r}")
    return {"json": out.with_suffix(".json"), "csv": out.with_suffix(".csv"), "summary": out.with_suffix(".txt"),
            "runs": out.with_name(out.stem + "_runs")}


def grade(paths: list[Path], out: Path | None = None, *, workers: int | None = None, scheduler: str | None = None,
          timeout: float | None = DEFAULT_TIMEOUT, parameters: dict | None = None, notebooks: Path | None = None,
          progress: bool = True) -> GradeReport:
    """Execute and grade learners' copies (``paths``: notebooks and folders of them).

    ``out``: the report file, ``.json`` or ``.csv``; the other format and a ``.txt`` summary are
    written beside it, the executed copies (each with its ``grade.json``) under ``<stem>_runs/``.
    None keeps nothing on disk (the report is returned). ``timeout``: seconds per copy, None for
    no limit. ``parameters``: papermill parameters for every copy (``{"n_steps": 40}``); copies run
    as they are without. ``notebooks``: the folder of the original lessons (default
    ``./notebooks``, then the checkout the package came from). ``workers``/``scheduler``: Dask,
    as for ``homework``.
    """
    import nbformat

    from .execute import Job, run_jobs

    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    if parameters is not None and not isinstance(parameters, dict):
        raise ValueError(f"parameters must be a dict of papermill parameters, got {type(parameters).__name__}")
    files = _reports_for(out)
    copies = _notebooks(paths, skip=files.get("runs"))
    if notebooks is not None and not Path(notebooks).is_dir():
        raise ValueError(f"notebooks must be the folder of the original lessons, got {str(notebooks)!r}")
    folders = lesson_folders(notebooks)
    runs = files.get("runs") or Path(tempfile.mkdtemp(prefix="ganlessons-grade-"))
    runs = runs.resolve()
    (runs / ".inputs").mkdir(parents=True, exist_ok=True)
    grades: dict[str, NotebookGrade] = {}
    jobs, meta, taken = [], {}, set()
    try:
        for path in copies:
            key = _key(path, taken)
            try:
                nb = nbformat.read(str(path), as_version=4)
            except Exception as err:  # noqa: BLE001 (not JSON, not a notebook …)
                grades[key] = NotebookGrade(str(path), None, "could not run",
                                            error=f"not a readable notebook: {type(err).__name__}: {err}")
                continue
            lesson = lesson_name(nb, path, folders)
            expected, source = expected_exercises(nb, lesson, folders)
            workdir = runs / key
            if workdir.exists():
                shutil.rmtree(workdir)
            (workdir / ".tmp").mkdir(parents=True)
            nb.cells.insert(0, guard_cell(workdir))
            staged = runs / ".inputs" / key / path.name
            staged.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(staged))
            meta[key] = (path, lesson, expected, source, workdir)
            jobs.append(Job(key=key, notebook=staged, workdir=workdir, parameters=dict(parameters or {}),
                            timeout=timeout, env=_grading_env(workdir)))
        for outcome in run_jobs(jobs, workers=workers, scheduler=scheduler, progress=progress):
            path, lesson, expected, source, workdir = meta[outcome.key]
            grades[outcome.key] = _judge(outcome, path, lesson, expected, source, workdir)
    finally:
        shutil.rmtree(runs / ".inputs", ignore_errors=True)
        if "runs" not in files:  # nothing kept on disk: no grade may point at a deleted copy
            shutil.rmtree(runs, ignore_errors=True)
            for g in grades.values():
                g.executed = None
    report = GradeReport([grades[k] for k in sorted(grades, key=lambda k: str(grades[k].notebook))])
    if files:
        for g in report.notebooks:
            folder = files["runs"] / Path(g.executed).parent.name if g.executed else None
            if folder is not None and folder.is_dir():
                atomic_write_bytes(json.dumps(g.to_dict(), indent=2, ensure_ascii=False).encode(), folder / "grade.json")
        # atomically: a Ctrl-C at the end of a long batch must not leave half a report
        atomic_write_bytes(report.to_json().encode(), files["json"])
        atomic_write_bytes(report.to_csv().encode(), files["csv"])
        atomic_write_bytes((report.summary() + "\n").encode(), files["summary"])
        report.files = {k: str(v) for k, v in files.items()}
    return report


def _judge(outcome, path: Path, lesson, expected, source, workdir: Path) -> NotebookGrade:
    """One copy's grade from its run's Outcome and its executed notebook."""
    import nbformat

    executed = None
    if outcome.executed is not None and Path(outcome.executed).is_file():
        try:
            executed = nbformat.read(str(outcome.executed), as_version=4)
        except Exception:  # noqa: BLE001 (a copy cut off while being written)
            executed = None
    if executed is not None:
        g = grade_notebook(executed, expected, notebook=str(path), lesson=lesson)
    else:
        g = NotebookGrade(str(path), lesson, "ok", 0, sum(float(e.get("points", 1)) for e in expected),
                          [ExerciseResult(e["grade_id"], e["checker"], "not called",
                                          "the notebook did not run far enough to call it", float(e.get("points", 1)))
                           for e in expected])
    g.seconds = outcome.seconds
    g.executed = str(outcome.executed) if outcome.executed else None
    if not expected:
        g.notes.append(f"no exercises expected (from {source})")
    refused = read_guard_log(workdir)
    err = outcome.error or ""
    if refused:
        tried = "; ".join(f"{r.get('event')} {r.get('path')}" for r in refused[:3])
        g.status, g.error = "wrote outside its folder", f"tried: {tried}" + (" …" if len(refused) > 3 else "")
        g.cell = _learner_cell(executed, outcome.cell) if not outcome.ok else None
    elif not outcome.ok:
        timed = err.startswith("timed out after ")  # the executor's own words (a learner's TimeoutError is a crash)
        started = executed is not None or outcome.cell is not None
        g.status = "timed out" if timed else ("crashed" if started else "could not run")
        g.error = err or "failed"
        g.cell = _learner_cell(executed, outcome.cell)
    for e in g.exercises:
        if e.status == "not called" and g.status != "ok" and e.message.startswith("gl.checks"):
            e.message += f" (the notebook stopped before its end: {g.status})"
    return g


# -- command line ------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ganlessons grade`` options."""
    parser.add_argument("paths", nargs="+", metavar="NOTEBOOK|FOLDER", help="learners' copies, or folders of them")
    parser.add_argument("--out", default=None,
                        help="report file, .json or .csv (the other and a .txt summary go beside it, the executed "
                             "copies under <stem>_runs/); default: print the summary only")
    parser.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                        help="run every copy with this parameter, e.g. -p n_steps 40 (default: as they are)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds per copy before it is stopped (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--workers", type=int, default=None, help="Dask worker processes (default: one per core)")
    parser.add_argument("--scheduler", default=None, help="a Dask scheduler address or scheduler file")
    parser.add_argument("--notebooks", default=None, help="folder of the original lessons (default: ./notebooks)")
    parser.add_argument("--json", action="store_true", help="print the JSON report instead of the summary")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _grading_env(workdir: Path) -> dict[str, str]:
    """The kernel's environment: grading on, and every scratch folder inside the copy's own folder.

    torch's compile cache is set explicitly: ``cache_dir()`` writes the folder it picked
    (``$TMPDIR/torchinductor_<user>``) back into ``os.environ``, so a Dask worker or pytest process
    that touched it once hands ``/tmp/…`` to every kernel it starts, and the write guard then
    refused torch's own ``mkdir`` there (seen in CI).
    """
    tmp = workdir / ".tmp"
    return {GRADING_ENV: "1", "TMPDIR": str(tmp), "TORCHINDUCTOR_CACHE_DIR": str(tmp / "torchinductor"),
            "TRITON_CACHE_DIR": str(tmp / "triton")}


def run(args: argparse.Namespace) -> int:
    """Carry out ``ganlessons grade``: 0 when every copy was graded (whatever the scores), 2 on bad input."""
    from ..cli import parse_value

    try:
        report = grade([Path(p) for p in args.paths], Path(args.out) if args.out else None, workers=args.workers,
                       scheduler=args.scheduler, timeout=args.timeout,
                       parameters={k: parse_value(v) for k, v in (args.param or [])} or None,
                       notebooks=Path(args.notebooks) if args.notebooks else None, progress=not args.quiet)
    except ValueError as err:
        print(f"ganlessons grade: {err}", file=sys.stderr)
        return 2
    print(report.to_json() if args.json else report.summary())
    if report.files:
        print(f"reports: {report.files['json']}, {report.files['csv']}, {report.files['summary']}; "
              f"executed copies: {report.files['runs']}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ganlessons grade",
                                     description="Execute learners' copies and report each exercise's verdict.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
