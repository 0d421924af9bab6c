"""``ganlessons grade``: a batch of learners' copies, each a small cut of lesson 01's handout (its
setup and parameters cells and its four exercise cells: a few seconds each), run once on Dask;
the tests read the one report. The copies: solved, one slip, untouched, a checker call deleted,
a crash, an endless loop and a write outside the copy's folder."""

from __future__ import annotations

import csv as csvlib
import io
import json
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from ganlessons.checks._record import VERDICT_MIME
from ganlessons.course.grade import collect_verdicts, grade, score
from ganlessons.course.grade import main as grade_main
from ganlessons.course.handout import BEGIN, END, EXERCISE_TAG, make_handout

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "notebooks" / "01_gan.ipynb"
CHECKERS = ["d_loss", "g_loss", "optimal_discriminator", "d_step_detach"]


def _mini(source_form: bool = False):
    """Lesson 01's handout cut down to its setup, parameters and exercise cells."""
    nb = make_handout(nbformat.read(str(LESSON), as_version=4), "01_gan", source_form=source_form)
    code = [c for c in nb.cells if c.cell_type == "code"]
    nb.cells = code[:2] + [c for c in code if EXERCISE_TAG in c.metadata.get("tags", [])]
    return nb


def _solved():
    """The solved copy: nbgrader's source form with its BEGIN/END lines taken out, each exercise
    called a different way (shown, assigned, asserted)."""
    nb = _mini(source_form=True)
    for c in nb.cells:
        c.source = "\n".join(ln for ln in c.source.splitlines() if ln.strip() not in (BEGIN, END))
    ex = _exercises(nb)
    ex[1].source = ex[1].source.replace("gl.checks.g_loss(", "ok = gl.checks.g_loss(")
    ex[2].source = ex[2].source.replace("gl.checks.optimal_discriminator(", "assert gl.checks.optimal_discriminator(")
    return nb


def _exercises(nb):
    return [c for c in nb.cells if EXERCISE_TAG in c.metadata.get("tags", [])]


def _copies() -> dict[str, nbformat.NotebookNode]:
    copies = {"solved": _solved(), "untouched": _mini()}
    slip = _solved()  # the sign flipped in G's loss: the checker names that slip
    _exercises(slip)[1].source = _exercises(slip)[1].source.replace("return F.binary", "return -F.binary")
    copies["slip"] = slip
    deleted = _solved()
    ex0 = _exercises(deleted)[0]
    ex0.source = re.sub(r"\n.*gl\.checks\.d_loss\(.*", "\nprint('done')", ex0.source)
    copies["deleted"] = deleted
    crash = _solved()
    crash.cells.insert(crash.cells.index(_exercises(crash)[1]) + 1, nbformat.v4.new_code_cell("1 / 0"))
    copies["crash"] = crash
    loop = _solved()
    loop.cells.insert(loop.cells.index(_exercises(loop)[0]) + 1, nbformat.v4.new_code_cell("while True:\n    pass"))
    copies["loop"] = loop
    escape = _solved()  # one attempt caught by the learner's own code, so the notebook runs on
    escape.cells.insert(3, nbformat.v4.new_code_cell(
        "try:\n    open('../escaped.txt', 'w').write('x')\nexcept PermissionError as err:\n    print(err)"))
    copies["escape"] = escape
    cache = _solved()  # torch's compile cache, asked for while the graders' environment points it at /tmp
    cache.cells.insert(3, nbformat.v4.new_code_cell(
        "from torch._inductor.runtime.cache_dir_utils import cache_dir\nprint(cache_dir())"))
    copies["cache"] = cache
    return copies


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    for name, nb in _copies().items():
        nbformat.write(nb, str(folder / f"01_gan_{name}.ipynb"))
    out = tmp_path_factory.mktemp("grades") / "grades.csv"
    t0 = time.perf_counter()
    # as in a process that once asked torch for its compile cache: cache_dir() writes it into os.environ
    before = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(tmp_path_factory.mktemp("outside") / "torchinductor_x")
    try:
        report = grade([folder], out, workers=2, timeout=30, progress=False)
    finally:
        if before is None:
            del os.environ["TORCHINDUCTOR_CACHE_DIR"]
        else:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = before
    report.wall = time.perf_counter() - t0
    return {Path(g.notebook).stem.replace("01_gan_", ""): g for g in report.notebooks}, report, folder


def _results(g) -> dict[str, str]:
    return {e.checker: e.status for e in g.exercises}


def test_solved_copy_passes_every_exercise_however_the_checker_is_called(graded):
    g = graded[0]["solved"]
    assert g.status == "ok" and g.lesson == "01_gan", g
    assert _results(g) == dict.fromkeys(CHECKERS, "pass")
    assert (g.score, g.max_score) == (4, 4)
    assert [e.grade_id for e in g.exercises] == [f"01_gan-{c}" for c in CHECKERS]


def test_a_slip_fails_with_the_checkers_hint(graded):
    g = graded[0]["slip"]
    assert _results(g) == {**dict.fromkeys(CHECKERS, "pass"), "g_loss": "fail"}
    assert "sign is flipped" in g.exercises[1].message and g.score == 3


def test_an_untouched_handout_scores_zero_as_not_attempted(graded):
    g = graded[0]["untouched"]
    assert g.status == "ok"
    assert _results(g) == dict.fromkeys(CHECKERS, "not attempted") and g.score == 0
    assert "NotImplementedError" in g.exercises[0].message


def test_a_deleted_checker_call_scores_zero_for_that_exercise(graded):
    g = graded[0]["deleted"]
    assert _results(g) == {**dict.fromkeys(CHECKERS, "pass"), "d_loss": "not called"} and g.score == 3


def test_a_crash_is_reported_with_its_cell_and_earlier_verdicts_survive(graded):
    g = graded[0]["crash"]
    assert g.status == "crashed" and "ZeroDivisionError" in g.error
    assert g.cell == 4  # setup, parameters, exercise 1, exercise 2, then the crash
    assert _results(g) == {"d_loss": "pass", "g_loss": "pass", "optimal_discriminator": "not called",
                           "d_step_detach": "not called"}


def test_an_endless_loop_times_out_and_the_batch_goes_on(graded):
    grades, report, _ = graded
    g = grades["loop"]
    assert g.status == "timed out" and g.cell == 3, g
    assert _results(g)["d_loss"] == "pass" and g.score == 1
    assert len(report.notebooks) == 8
    print(f"batch of 8 copies graded in {report.wall:.1f} s")


def test_torchs_compile_cache_stays_in_the_copys_folder(graded):
    g = graded[0]["cache"]
    assert g.status == "ok" and g.score == 4, (g.status, g.error)


def test_writing_outside_its_folder_is_refused_and_reported(graded):
    g = graded[0]["escape"]
    _, _, folder = graded
    assert g.status == "wrote outside its folder" and "escaped.txt" in g.error
    assert not (folder.parent / "escaped.txt").exists()
    assert g.score == 4  # the learner caught the refusal; the exercises still count


def test_reports_are_written_as_json_csv_and_a_summary(graded):
    _, report, _ = graded
    rows = json.loads(Path(report.files["json"]).read_text())
    assert {Path(r["notebook"]).stem for r in rows} == {f"01_gan_{k}" for k in graded[0]}
    csv = Path(report.files["csv"]).read_text().splitlines()
    assert csv[0].startswith("notebook,lesson,notebook_status") and len(csv) == 1 + 8 * 4
    rows = list(csvlib.DictReader(io.StringIO("\n".join(csv))))
    (slip,) = [r for r in rows if r["result"] == "fail"]
    assert (slip["checker"], slip["points_scored"], slip["points_possible"]) == ("g_loss", "0", "1.0")
    assert slip["message"].startswith("the sign is flipped")
    text = Path(report.files["summary"]).read_text()
    assert "01_gan_slip.ipynb (01_gan): 3/4" in text and "timed out" in text
    per_copy = list(Path(report.files["runs"]).glob("*/grade.json"))
    assert len(per_copy) == 8


def test_only_exercise_cells_count_and_solution_cells_never_do():
    """A verdict from the lesson's own solution cell or an untagged cell does not score."""
    nb = nbformat.v4.new_notebook()
    verdict = {"checker": "g_loss", "exercise": "x", "ok": True, "message": "right", "attempted": True}
    out = nbformat.v4.new_output("display_data", data={VERDICT_MIME: verdict, "text/plain": "✅"})
    for tags in (["solution"], []):
        cell = nbformat.v4.new_code_cell("assert gl.checks.g_loss(f)", metadata={"tags": tags})
        cell.outputs = [out]
        nb.cells.append(cell)
    assert [v["counts"] for v in collect_verdicts(nb)] == [False, False]
    results, notes = score(nb, [{"grade_id": "01_gan-g_loss", "checker": "g_loss", "points": 1}])
    assert results[0].status == "not called" and len(notes) == 1


def test_bad_arguments_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="paths"):
        grade([tmp_path / "nothing.txt"])
    nb = tmp_path / "a.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(nb))
    with pytest.raises(ValueError, match="out must be a .json or .csv"):
        grade([nb], tmp_path / "report.xlsx")
    with pytest.raises(ValueError, match="timeout"):
        grade([nb], timeout=-1)
    assert grade_main(["--out", str(tmp_path / "r.txt"), str(nb)]) == 2


def test_a_learner_sees_only_the_check_and_grading_records_every_call_form(tmp_path, monkeypatch):
    """Outside grading a checker publishes nothing of its own: the shown Check (✅/❌, with its
    verdict in the output's metadata) is all there is, and ``ok = …`` / ``assert …`` show nothing.
    While grading, each call also leaves one carrier, which a front end shows as one plain line."""
    from nbclient import NotebookClient

    from ganlessons.course.execute import IPCKernelManager

    monkeypatch.delenv("GANLESSONS_GRADING", raising=False)
    right = "lambda old, new, alpha: (1 - alpha) * old + alpha * new"
    forms = [f"gl.checks.fade_in({right})", f"ok = gl.checks.fade_in({right})", f"assert gl.checks.fade_in({right})"]
    nb = nbformat.v4.new_notebook()
    nb.cells = ([nbformat.v4.new_code_cell("import os\nimport ganlessons as gl")]
                + [nbformat.v4.new_code_cell(s) for s in forms]
                + [nbformat.v4.new_code_cell("os.environ['GANLESSONS_GRADING'] = '1'")]
                + [nbformat.v4.new_code_cell(s) for s in forms])
    extra = {"kernel_manager_class": IPCKernelManager} if IPCKernelManager is not None else {}
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}},
                   **extra).execute()
    shown, assigned, asserted = (nb.cells[i].outputs for i in (1, 2, 3))
    assert [o.output_type for o in shown] == ["execute_result"]
    assert shown[0].data["text/markdown"].startswith("✅ fade-in") and set(shown[0].data) == {"text/markdown",
                                                                                              "text/plain"}
    assert shown[0].metadata["ganlessons"]["verdict"]["checker"] == "fade_in"
    assert assigned == [] and asserted == []
    for i in (5, 6, 7):
        carriers = [o for o in nb.cells[i].outputs if VERDICT_MIME in o.get("data", {})]
        assert len(carriers) == 1 and carriers[0].data[VERDICT_MIME]["ok"] is True
        assert carriers[0].data["text/plain"] == "[recorded for grading] ✅ fade_in"
    assert [v["checker"] for v in collect_verdicts(nb)] == ["fade_in"] * 4  # 1 shown + 3 carried


def test_a_real_lesson_handout_solved_at_tiny_parameters(tmp_path):
    """Lesson 02's whole handout, solved, run as a learner's copy with a tiny budget."""
    nb = make_handout(nbformat.read(str(ROOT / "notebooks" / "02_cgan.ipynb"), as_version=4), "02_cgan",
                      source_form=True)
    for c in nb.cells:
        c.source = "\n".join(ln for ln in c.source.splitlines() if ln.strip() not in (BEGIN, END))
        c.source = c.source.replace('my_prediction = ""', 'my_prediction = "Higher."')
    nbformat.write(nb, str(tmp_path / "02_cgan_ada.ipynb"))
    t0 = time.perf_counter()
    report = grade([tmp_path / "02_cgan_ada.ipynb"], None, workers=1, timeout=300, progress=False,
                   parameters={"n_steps": 40, "n_eval": 200, "n_per_class": 10, "dataset": "mnist-5k"})
    (g,) = report.notebooks
    assert g.status == "ok", report.summary()
    assert _results(g) == {"conditional_input": "pass", "mismatch_prediction": "pass"}
    print(f"lesson 02 handout graded in {time.perf_counter() - t0:.1f} s")


def test_regrading_a_folder_skips_the_executed_copies_kept_in_it(tmp_path):
    from ganlessons.course.grade import _notebooks

    for rel in ("a.ipynb", "sub/b.ipynb", "grades_runs/a/a.ipynb", ".ipynb_checkpoints/a-checkpoint.ipynb"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nbformat.v4.new_notebook(), str(tmp_path / rel))
    found = _notebooks([tmp_path], skip=tmp_path / "grades_runs")
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.ipynb", "sub/b.ipynb"]


def test_the_failing_cell_is_numbered_as_in_the_learners_notebook():
    """papermill adds its parameters cell and two error notes, the grader its guard: none counts."""
    from ganlessons.course.grade import _learner_cell

    def cell(tags=(), error=False, kind="code"):
        c = nbformat.v4.new_code_cell("x") if kind == "code" else nbformat.v4.new_markdown_cell("note")
        c.metadata["tags"] = list(tags)
        if error:
            c.outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="bad", traceback=[])]
        return c

    nb = nbformat.v4.new_notebook()
    nb.cells = [cell(["papermill-error-cell-tag"], kind="markdown"), cell(["ganlessons-grader"]), cell(),
                cell(["parameters"]), cell(["injected-parameters"]), cell(["exercise"]),
                cell(["papermill-error-cell-tag"], kind="markdown"), cell(error=True), cell()]
    assert _learner_cell(nb, 6) == 3  # setup, parameters, exercise, then the failing cell
    nb.cells = [c for c in nb.cells if "papermill-error-cell-tag" not in c.metadata["tags"]]
    nb.cells[5].outputs = []          # a time-out: no error output, the executor's index counts
    assert _learner_cell(nb, 6) == 4


def test_expected_exercises_come_from_the_lesson_with_the_handouts_points():
    from ganlessons.course.scoring import expected_exercises

    nb = make_handout(nbformat.read(str(LESSON), as_version=4), "01_gan", points=2.5)
    found, source = expected_exercises(nb, "01_gan", [ROOT / "notebooks"])
    assert [e["checker"] for e in found] == CHECKERS and {e["points"] for e in found} == {2.5}
    assert source.startswith("the lesson")
    found, source = expected_exercises(nb, "01_gan", [])  # no lessons folder: the handout's record
    assert [e["checker"] for e in found] == CHECKERS and source == "the handout's record"
