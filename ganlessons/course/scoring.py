"""Scoring an executed copy: the recorded verdicts matched to the exercises a lesson expects.

:mod:`ganlessons.course.grade` runs the copies; this module reads them. A verdict is recorded by
a checker (:mod:`ganlessons.checks._record`) as a ``display_data`` output of its cell while
grading, or in the metadata of a shown Check's output. Only exercise cells count (tag
``exercise``, or nbgrader's grade/solution cells), never a lesson's worked ``solution`` cells.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..checks._record import VERDICT_MIME
from .handout import EXERCISE_TAG, SOLUTION_TAG, _tags, lesson_exercises
from .sandbox import GUARD_TAG

__all__ = ["ExerciseResult", "NotebookGrade", "GradeReport", "collect_verdicts", "score", "grade_notebook",
           "expected_exercises", "lesson_folders", "lesson_name", "learner_cells"]

@dataclass
class ExerciseResult:
    """One expected exercise of one copy."""

    grade_id: str
    checker: str
    status: str                   # "pass", "fail", "not attempted", "not called"
    message: str
    points: float = 1
    score: float = 0
    cell: int | None = None       # the learner's cell (0-based, as in their notebook) that called it


@dataclass
class NotebookGrade:
    """The grade of one copy."""

    notebook: str
    lesson: str | None
    status: str                   # "ok", "crashed", "timed out", "wrote outside its folder", "could not run"
    score: float = 0
    max_score: float = 0
    exercises: list[ExerciseResult] = field(default_factory=list)
    error: str | None = None
    cell: int | None = None       # where it crashed or was stopped (the learner's cell number, 0-based)
    seconds: float = 0
    executed: str | None = None   # the executed copy, when kept
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GradeReport:
    """Every copy's grade; :meth:`summary` reads well, :meth:`to_csv` goes into a spreadsheet."""

    notebooks: list[NotebookGrade]
    files: dict[str, str] = field(default_factory=dict)   # "json", "csv", "summary", "runs" → where written

    def to_json(self) -> str:
        return json.dumps([g.to_dict() for g in self.notebooks], indent=2, ensure_ascii=False)

    def rows(self) -> list[dict]:
        """One row per copy and expected exercise (one row for a copy with none)."""
        out = []
        for g in self.notebooks:
            head = {"notebook": g.notebook, "lesson": g.lesson or "", "notebook_status": g.status,
                    "error": g.error or "", "score": g.score, "max_score": g.max_score}
            for e in g.exercises or [None]:
                out.append({**head, "grade_id": e.grade_id if e else "", "checker": e.checker if e else "",
                            "result": e.status if e else "", "points_scored": e.score if e else 0,
                            "points_possible": e.points if e else 0, "message": e.message if e else ""})
        return out

    def to_csv(self) -> str:
        buf = io.StringIO()
        cols = ["notebook", "lesson", "notebook_status", "error", "score", "max_score", "grade_id", "checker",
                "result", "points_scored", "points_possible", "message"]
        w = csv.DictWriter(buf, fieldnames=cols)
        w.writeheader()
        w.writerows(self.rows())
        return buf.getvalue()

    def summary(self) -> str:
        marks = {"pass": "✓", "fail": "✗", "not attempted": "–", "not called": "–"}
        lines = []
        for g in self.notebooks:
            state = "" if g.status == "ok" else f"  [{g.status}" + (f" at cell {g.cell}" if g.cell is not None else "") \
                + (f": {g.error}" if g.error else "") + "]"
            lines.append(f"{g.notebook} ({g.lesson or 'lesson unknown'}): {g.score:g}/{g.max_score:g}{state}")
            for e in g.exercises:
                msg = e.message if len(e.message) <= 160 else e.message[:157] + "…"
                lines.append(f"  {marks[e.status]} {e.checker:<22} {e.status:<13} {msg}")
            lines += [f"  note: {n}" for n in g.notes]
        ok = sum(g.status == "ok" for g in self.notebooks)
        lines.append(f"{len(self.notebooks)} notebook(s) graded, {ok} ran to the end; "
                     f"total {sum(g.score for g in self.notebooks):g}/{sum(g.max_score for g in self.notebooks):g}")
        return "\n".join(lines)


def _counts(cell) -> bool:
    """Does a verdict from this cell count for the learner? Exercise cells do; solutions never."""
    tags = _tags(cell)
    if SOLUTION_TAG in tags or GUARD_TAG in tags:
        return False
    nbg = cell.get("metadata", {}).get("nbgrader", {})
    return EXERCISE_TAG in tags or bool(nbg.get("grade") or nbg.get("solution"))


# Cells that are not the learner's: the grader's guard, papermill's injected parameters and the
# two notes papermill adds to a copy that failed (one at the top, one before the failing cell).
_NOT_THEIRS = (GUARD_TAG, "injected-parameters", "papermill-error-cell-tag")


def learner_cells(nb) -> list[int]:
    """Indices in the executed copy of the learner's own cells, in order."""
    return [i for i, c in enumerate(nb.cells) if not set(_tags(c)) & set(_NOT_THEIRS)]


def collect_verdicts(nb) -> list[dict]:
    """Every recorded verdict in an executed notebook, in order, each with ``cell`` (index in ``nb``)
    and ``counts`` (whether its cell is an exercise cell).

    A cell's ``display_data`` carriers (published while grading) are read first; a cell without any
    falls back to the verdict in a displayed Check's output metadata (a notebook saved by a learner).
    """
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        carried = [o["data"][VERDICT_MIME] for o in cell.get("outputs", [])
                   if o.get("output_type") == "display_data" and VERDICT_MIME in o.get("data", {})]
        if not carried:
            carried = [o["metadata"]["ganlessons"]["verdict"] for o in cell.get("outputs", [])
                       if o.get("output_type") in ("display_data", "execute_result")
                       and isinstance(o.get("metadata", {}).get("ganlessons", {}).get("verdict"), dict)]
        found += [{**dict(v), "cell": i, "counts": _counts(cell)} for v in carried]
    return found


def lesson_folders(notebooks: Path | None) -> list[Path]:
    """Where the original lessons may be: ``notebooks``, ./notebooks, the package's checkout."""
    return [Path(f) for f in ([notebooks] if notebooks else []) + [Path.cwd() / "notebooks",
                                                                   Path(__file__).resolve().parents[2] / "notebooks"]
            if Path(f).is_dir()]


def lesson_name(nb, path: Path, folders: list[Path]) -> str | None:
    """The lesson a copy is of: the handout's record, else the longest lesson name its file name
    starts with (``01_gan_alice.ipynb`` → ``01_gan``)."""
    name = nb.metadata.get("ganlessons", {}).get("lesson")
    if name:
        return name
    known = sorted({p.stem for f in folders for p in f.glob("[0-9][0-9]_*.ipynb")}, key=len, reverse=True)
    return next((k for k in known if path.stem == k or path.stem.startswith(k + "_") or path.stem.startswith(k + "-")),
                None)


def expected_exercises(nb, lesson: str | None, folders: list[Path]) -> tuple[list[dict], str]:
    """The exercises to expect, and where they came from.

    The original lesson says which; the points are the handout's (``handout --points``) where it
    recorded them, else 1 each.
    """
    import nbformat

    recorded = nb.metadata.get("ganlessons", {}).get("exercises") or []
    points = {e.get("grade_id"): e.get("points", 1) for e in recorded if isinstance(e, dict)}
    if lesson:
        for folder in folders:
            original = folder / f"{lesson}.ipynb"
            if original.is_file():
                found = lesson_exercises(nbformat.read(str(original), as_version=4), lesson)
                for e in found:
                    e["points"] = points.get(e["grade_id"], 1)
                return found, f"the lesson {original}"
    if recorded:
        return [dict(e) for e in recorded], "the handout's record"
    return lesson_exercises(nb, lesson or "notebook"), "the notebook's own exercise cells"


def score(nb, expected: list[dict]) -> tuple[list[ExerciseResult], list[str]]:
    """Match the recorded verdicts of an executed copy to the expected exercises."""
    learner = {idx: k for k, idx in enumerate(learner_cells(nb))}
    verdicts = collect_verdicts(nb)
    notes = sorted({f"a {v['checker']} verdict from cell {learner.get(v['cell'], v['cell'])} did not count: "
                    "that cell is not an exercise cell" for v in verdicts if not v["counts"]
                    and SOLUTION_TAG not in _tags(nb.cells[v["cell"]])})
    counted = [v for v in verdicts if v["counts"]]
    results = []
    for k, ex in enumerate(expected):
        name = ex["checker"]
        nth = sum(e["checker"] == name for e in expected[:k])  # the same checker expected twice: i-th cell
        cells = []
        for v in counted:
            if v["checker"] == name and v["cell"] not in cells:
                cells.append(v["cell"])
        pts = float(ex.get("points", 1))
        if nth >= len(cells):
            results.append(ExerciseResult(ex["grade_id"], name, "not called",
                                          f"gl.checks.{name} was never called in an exercise cell", pts))
            continue
        if len(cells) > 1 and sum(e["checker"] == name for e in expected) == 1:
            nth = len(cells) - 1  # called in several cells: the last one is the answer
        v = [v for v in counted if v["checker"] == name and v["cell"] == cells[nth]][-1]
        status = "pass" if v["ok"] else ("fail" if v.get("attempted", True) else "not attempted")
        results.append(ExerciseResult(ex["grade_id"], name, status, v["message"], pts, pts if v["ok"] else 0,
                                      learner.get(v["cell"])))
    return results, notes


def grade_notebook(executed, expected: list[dict], *, notebook: str, lesson: str | None) -> NotebookGrade:
    """Score one executed copy (an ``nbformat`` notebook) that ran to its end."""
    results, notes = score(executed, expected)
    return NotebookGrade(notebook, lesson, "ok", sum(r.score for r in results), sum(r.points for r in results),
                         results, notes=notes)
