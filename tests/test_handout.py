"""``ganlessons handout``: the learners' copies keep every cell but the worked solutions, keep the
exercise cells' stubs and checker calls as they are, and carry nbgrader's cell metadata; the
nbgrader source form gives the same student copy once its solution regions are cleared."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from ganlessons.course.handout import BEGIN, END, checker_calls, make_handout, make_handouts
from ganlessons.course.handout import main as handout_main

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WITH_EXERCISES = [p for p in LESSONS if any("exercise" in c.metadata.get("tags", [])
                                            for c in nbformat.read(str(p), as_version=4).cells)]


def _tags(cell):
    return cell.metadata.get("tags", [])


@pytest.mark.parametrize("lesson", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_handout_drops_the_solutions_and_keeps_stubs_checkers_and_nbgrader_metadata(lesson):
    original = nbformat.read(str(lesson), as_version=4)
    handout = make_handout(original, lesson.stem)
    nbformat.validate(handout)
    kept = [c for c in original.cells if "solution" not in _tags(c)]
    assert [c.cell_type for c in handout.cells] == [c.cell_type for c in kept]
    for mine, theirs in zip(handout.cells, kept):
        if mine.cell_type == "code":
            assert mine.source == theirs.source
        else:  # the text, less any pointer to the worked solutions it no longer has
            assert "collapsed cell after each exercise" not in mine.source
            assert mine.source == theirs.source or "collapsed cell after each exercise" in theirs.source
    assert not any("solution" in _tags(c) for c in handout.cells)
    assert not any("solution_" in c.source for c in handout.cells if c.cell_type == "code"), "a solution leaked"
    assert sum("parameters" in _tags(c) for c in handout.cells) == 1  # papermill still finds its cell
    exercises = [c for c in handout.cells if "exercise" in _tags(c)]
    ids = []
    for cell in exercises:
        assert "raise NotImplementedError" in cell.source or '= ""' in cell.source  # the stub
        (name, _), = checker_calls(cell.source)                                      # and its checker
        nbg = cell.metadata["nbgrader"]
        assert nbg == {"grade": True, "grade_id": f"{lesson.stem}-{name}", "locked": False, "points": 1,
                       "schema_version": 3, "solution": True, "task": False}
        ids.append(nbg["grade_id"])
    assert len(set(ids)) == len(ids) and ids
    assert handout.metadata["ganlessons"]["lesson"] == lesson.stem
    assert [e["grade_id"] for e in handout.metadata["ganlessons"]["exercises"]] == ids
    assert "jupytext" not in handout.metadata
    assert all(not c.get("outputs") for c in handout.cells if c.cell_type == "code")
    assert not any("nbgrader" in c.metadata for c in handout.cells if "exercise" not in _tags(c))
    assert "nbgrader" not in str(original.cells[0].metadata), "the lesson itself is left unchanged"


def _clear_solutions(source: str) -> str:
    """What ``nbgrader generate_assignment`` does to a region with
    ``c.ClearSolutions.code_stub = {"python": "raise NotImplementedError"}``."""
    pattern = re.compile(rf"^([ \t]*){re.escape(BEGIN)}\n.*?^[ \t]*{re.escape(END)}$", re.S | re.M)
    return pattern.sub(lambda m: m.group(1) + "raise NotImplementedError", source)


@pytest.mark.parametrize("lesson", WITH_EXERCISES, ids=[p.stem for p in WITH_EXERCISES])
def test_nbgrader_source_form_clears_to_the_same_student_copy(lesson):
    original = nbformat.read(str(lesson), as_version=4)
    handout = make_handout(original, lesson.stem)
    source = make_handout(original, lesson.stem, source_form=True)
    skipped = source.metadata["ganlessons"].get("no_solution_region", [])
    assert skipped in ([], [f"{lesson.stem}-mismatch_prediction"])  # a string answer has no function body
    regions = [c for c in source.cells if BEGIN in c.source]
    assert len(regions) == len(handout.metadata["ganlessons"]["exercises"]) - len(skipped)
    assert ([_clear_solutions(c.source) for c in source.cells if c.cell_type == "code"]
            == [c.source for c in handout.cells if c.cell_type == "code"])
    for cell in regions:  # the region holds code that compiles in place
        compile(cell.source, "cell", "exec")


def test_make_handouts_writes_files_and_refuses_bad_input(tmp_path):
    lesson = ROOT / "notebooks" / "06_pggan.ipynb"
    (written,) = make_handouts([lesson], tmp_path / "out")
    assert written == tmp_path / "out" / "06_pggan.ipynb"
    nb = nbformat.read(str(written), as_version=4)
    assert len(nb.metadata["ganlessons"]["exercises"]) == 3
    with pytest.raises(ValueError, match="lessons"):
        make_handouts([tmp_path / "missing.ipynb"], tmp_path / "out")
    with pytest.raises(ValueError, match="lessons must name at least one"):
        make_handouts([], tmp_path / "out")
    with pytest.raises(ValueError, match="lessons' own folder"):
        make_handouts([lesson], lesson.parent)
    with pytest.raises(ValueError, match="exists"):
        make_handouts([lesson], tmp_path / "out", overwrite=False)
    with pytest.raises(ValueError, match="points must be a positive number"):
        make_handouts([lesson], tmp_path / "out", points=0)


def test_handout_command(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert handout_main(["06", "--out", str(tmp_path)]) == 0
    assert "06_pggan.ipynb: 3 exercise(s)" in capsys.readouterr().out
    assert handout_main(["06", "--out", str(tmp_path / "new"), "--points", "-1"]) == 2
    assert "points must be a positive number, got -1" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # refused before anything was made
    # a second handout into the same folder would replace a learner's work: only with --force
    assert handout_main(["06", "--out", str(tmp_path)]) == 2
    assert "exists (a learner's copy?); --force replaces it" in capsys.readouterr().err
    assert handout_main(["06", "--out", str(tmp_path), "--force"]) == 0
