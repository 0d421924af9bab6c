"""``ganlessons handout``: the learners' copies of lessons, with the worked solutions taken out.

The committed lessons keep each exercise as two cells: the exercise (tag ``exercise``: a stub
that raises ``NotImplementedError`` and the ``gl.checks`` call) and, right after it, the worked
solution (tag ``solution``, collapsed). A handout keeps the exercise cell exactly as it is, drops
the solution cells, clears outputs and marks the exercise cells with nbgrader's cell metadata
(schema 3), so a course that releases assignments with nbgrader can take the handouts as they are:

    "nbgrader": {"grade": true, "solution": true, "locked": false, "points": 1,
                 "grade_id": "01_gan-d_loss", "schema_version": 3, "task": false}

(nbgrader's "manually graded answer": the learner's code and its checker's ✅/❌ sit in one cell, so
nbgrader's formgrader shows the verdict and ``ganlessons grade`` scores it automatically.)

``source_form=True`` writes nbgrader's *source* notebook instead: each exercise cell holds its
solution between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` in place of the stub's
``raise NotImplementedError``, so ``nbgrader generate_assignment`` with
``c.ClearSolutions.code_stub = {"python": "raise NotImplementedError"}`` produces the same
student copy as the default form.

Why not depend on nbgrader: releasing a lesson here is "drop the cells tagged solution, add a
metadata block" (about a hundred lines). nbgrader brings a database (SQLAlchemy), Jupyter server
extensions and a course directory layout that a learner with the repository, or a lecturer using
``ganlessons grade``, does not need; and its autograder could not score these cells anyway (a
checker never raises on a wrong answer, so the notebook runs top to bottom). We follow its
conventions so that either tool can be used, and need neither.

The handout's notebook metadata records the lesson and its exercises (``"ganlessons":
{"lesson": ..., "exercises": [...]}``), which is how ``ganlessons grade`` knows what to expect.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import textwrap
from pathlib import Path

from ..utils import atomic_write_bytes

__all__ = ["make_handout", "make_handouts", "lesson_exercises", "checker_calls", "add_arguments", "run", "main",
           "EXERCISE_TAG", "SOLUTION_TAG", "NBGRADER_SCHEMA"]

EXERCISE_TAG = "exercise"
SOLUTION_TAG = "solution"
NBGRADER_SCHEMA = 3
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
# A lesson's text that points to the worked solutions, which a handout no longer has.
_SOLUTION_NOTE = re.compile(r"[ \t]*A worked solution is in the collapsed cell after each exercise\.")


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def checker_calls(source: str) -> list[tuple[str, ast.Call]]:
    """The ``gl.checks.NAME(...)`` (or ``ganlessons.checks.NAME(...)``) calls in a cell, in order.

    IPython magics and shell escapes are blanked first so the cell parses; a cell that still does
    not parse (a learner's syntax error) has no recognisable calls.
    """
    lines = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    calls = []
    for node in ast.walk(tree):
        f = node.func if isinstance(node, ast.Call) else None
        if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Attribute) and f.value.attr == "checks"
                and isinstance(f.value.value, ast.Name) and f.value.value.id in ("gl", "ganlessons")):
            calls.append((f.attr, node))
    return sorted(calls, key=lambda c: (c[1].lineno, c[1].col_offset))


def lesson_exercises(nb, lesson: str) -> list[dict]:
    """The checked exercises of a lesson: one per checker call in a cell tagged ``exercise``.

    Each is ``{"grade_id", "checker", "points", "cell"}``; ``cell`` is the index in ``nb``.
    ``grade_id`` is nbgrader's unique cell name: ``<lesson>-<checker>`` (numbered if a lesson
    calls one checker twice).
    """
    out, seen = [], {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or EXERCISE_TAG not in _tags(cell):
            continue
        for name, _ in checker_calls(cell.source):
            seen[name] = seen.get(name, 0) + 1
            gid = f"{lesson}-{name}" + (f"-{seen[name]}" if seen[name] > 1 else "")
            out.append({"grade_id": gid, "checker": name, "points": 1, "cell": i})
    return out


def _nbgrader(grade_id: str, points: float) -> dict:
    return {"grade": True, "grade_id": grade_id, "locked": False, "points": points,
            "schema_version": NBGRADER_SCHEMA, "solution": True, "task": False}


def _with_solution_region(exercise: str, solution: str) -> str | None:
    """The exercise cell with the solution's body in place of the stub's ``raise NotImplementedError``.

    The stub is the function passed to the checker in the exercise cell; its answer is the function
    passed to the checker in the solution cell (``assert gl.checks.x(solution_fn)``), with the same
    parameters. None when the pair does not have that shape (the region is then left out).
    """
    def passed_def(source: str):
        calls = checker_calls(source)
        if not calls or not calls[0][1].args or not isinstance(calls[0][1].args[0], ast.Name):
            return None
        name = calls[0][1].args[0].id
        return next((n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name), None)

    try:
        stub, answer = passed_def(exercise), passed_def(solution)
    except SyntaxError:
        return None
    if stub is None or answer is None or ast.dump(stub.args) != ast.dump(answer.args):
        return None
    raises = [n for n in stub.body if isinstance(n, ast.Raise) and "NotImplementedError" in ast.unparse(n)]
    if len(raises) != 1:
        return None
    lines = exercise.splitlines()
    indent = " " * raises[0].col_offset
    sol_lines = solution.splitlines()
    body = textwrap.dedent("\n".join(sol_lines[answer.body[0].lineno - 1:answer.end_lineno]))
    region = [indent + BEGIN] + [indent + ln if ln.strip() else "" for ln in body.splitlines()] + [indent + END]
    r = raises[0]
    return "\n".join(lines[:r.lineno - 1] + region + lines[r.end_lineno:])


def make_handout(nb, lesson: str, *, source_form: bool = False, points: float = 1):
    """A handout of one lesson notebook (an ``nbformat.NotebookNode``); ``nb`` is left unchanged.

    ``source_form``: nbgrader's source notebook (solutions inside BEGIN/END SOLUTION regions)
    instead of the student copy. ``points``: nbgrader points per exercise.
    """
    if not isinstance(points, (int, float)) or isinstance(points, bool) or points <= 0:
        raise ValueError(f"points must be a positive number, got {points!r}")
    exercises = lesson_exercises(nb, lesson)
    by_cell: dict[int, list[dict]] = {}
    for ex in exercises:
        ex["points"] = points
        by_cell.setdefault(ex["cell"], []).append(ex)
    out = copy.deepcopy(nb)
    cells, unmerged = [], []
    for i, cell in enumerate(out.cells):
        if SOLUTION_TAG in _tags(cell):
            continue
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown" and not source_form:
            cell.source = _SOLUTION_NOTE.sub("", cell.source)
        if i in by_cell:
            first = by_cell[i][0]
            cell.metadata["nbgrader"] = _nbgrader(first["grade_id"], points * len(by_cell[i]))
            if source_form:
                nxt = out.cells[i + 1] if i + 1 < len(out.cells) else None
                merged = (_with_solution_region(cell.source, nxt.source)
                          if nxt is not None and SOLUTION_TAG in _tags(nxt) else None)
                if merged is None:
                    unmerged.append(first["grade_id"])
                else:
                    cell.source = merged
        cells.append(cell)
    out.cells = cells
    out.metadata.pop("jupytext", None)  # a plain notebook for the learner: no paired .md appears on save
    out.metadata["ganlessons"] = {"lesson": lesson, "form": "nbgrader-source" if source_form else "handout",
                                  "exercises": [{k: ex[k] for k in ("grade_id", "checker", "points")}
                                                for ex in exercises]}
    if unmerged:
        out.metadata["ganlessons"]["no_solution_region"] = unmerged
    return out


def make_handouts(lessons: list[Path], out: Path, *, source_form: bool = False, points: float = 1,
                  overwrite: bool = True) -> list[Path]:
    """Write the handout of each lesson (``NN_name.ipynb``) to ``out / NN_name.ipynb``; return the paths.

    The lesson's name is its file's stem; ``out`` is created. ``overwrite=False`` refuses to
    replace an existing file (a learner's work might be there).
    """
    import nbformat

    paths = [Path(p) for p in lessons]
    if not paths:
        raise ValueError("lessons must name at least one lesson notebook, got none")
    for p in paths:
        if p.suffix != ".ipynb" or not p.is_file():
            raise ValueError(f"lessons: {str(p)!r} is not a notebook file (NN_name.ipynb)")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not points > 0:
        raise ValueError(f"points must be a positive number, got {points!r}")  # before anything is written
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out must be a folder, got the file {str(out)!r}")
    for p in paths:  # all refusals before the first file is written
        target = out / p.name
        if target.resolve() == p.resolve():
            raise ValueError(f"out: {str(out)!r} is the lessons' own folder; the handout would replace {p.name}")
        if target.exists() and not overwrite:
            raise ValueError(f"out: {str(target)!r} exists (a learner's copy?); --force replaces it")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p in paths:
        target = out / p.name
        nb = nbformat.read(str(p), as_version=4)
        handout = make_handout(nb, p.stem, source_form=source_form, points=points)
        nbformat.validate(handout)
        atomic_write_bytes(nbformat.writes(handout).encode(), target)  # never a half-written handout
        written.append(target)
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``ganlessons handout`` options."""
    parser.add_argument("lessons", nargs="+", metavar="LESSON",
                        help="lessons by number or name (01, 01_gan, gan) or notebook paths")
    parser.add_argument("--out", required=True, help="folder for the handouts (created)")
    parser.add_argument("--nbgrader-source", action="store_true",
                        help="write nbgrader source notebooks (solutions in BEGIN/END SOLUTION regions) instead")
    parser.add_argument("--points", type=float, default=1, help="nbgrader points per exercise (default 1)")
    parser.add_argument("--notebooks", help="folder of the lesson notebooks (default: ./notebooks)")
    parser.add_argument("--force", action="store_true", help="replace handouts already in --out (a learner's work?)")


def _resolve(wanted: list[str], notebooks: str | None) -> list[Path]:
    """Notebook paths as given, lesson names looked up in the course's notebooks folder."""
    paths = [Path(w) for w in wanted if w.endswith(".ipynb")]
    names = [w for w in wanted if not w.endswith(".ipynb")]
    if names:
        from ..cli import find_lessons, notebooks_dir

        paths += find_lessons(notebooks_dir(notebooks), names)
    return paths


def run(args: argparse.Namespace) -> int:
    """Carry out ``ganlessons handout``; a bad argument ends with its message, not a traceback."""
    try:
        written = make_handouts(_resolve(args.lessons, args.notebooks), Path(args.out),
                                source_form=args.nbgrader_source, points=args.points, overwrite=args.force)
    except ValueError as err:
        print(f"ganlessons handout: {err}", file=sys.stderr)
        return 2
    import nbformat

    for path in written:
        meta = nbformat.read(str(path), as_version=4).metadata["ganlessons"]
        note = (f"; no solution region for {', '.join(meta['no_solution_region'])}"
                if meta.get("no_solution_region") else "")
        print(f"{path}: {len(meta['exercises'])} exercise(s){note}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ganlessons handout",
                                     description="Learners' copies of lessons without the worked solutions.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
