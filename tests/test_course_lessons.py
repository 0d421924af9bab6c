"""Parameters read from a lesson's parameters cell, and command-line values checked against them
before anything runs: ``ganlessons lessons`` and the refusals of ``ganlessons homework``."""

import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from ganlessons import cli
from ganlessons.course.homework import plan, run_key
from ganlessons.course.lessons import InvalidInput, declared, lesson_title

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ('dataset: str = "mnist"  # which digits\nn_steps: int = 250  # generator updates\n'
          'lr: float = 1e-4  # Adam\nprogress: bool = True\nseed: int = 0\nplain = 3\nout_json: str = ""')


@pytest.fixture
def lesson(tmp_path) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# 01 · A lesson: its title\ntext"), params,
                nbformat.v4.new_code_cell("raise RuntimeError('no lesson may run in these tests')")]
    nbformat.write(nb, str(tmp_path / "01_lesson.ipynb"))
    return tmp_path / "01_lesson.ipynb"


def test_declared_types_defaults_and_help(lesson):
    p = declared(lesson)
    assert list(p) == ["dataset", "n_steps", "lr", "progress", "seed", "plain", "out_json"]
    assert [p[k].type for k in p] == ["str", "int", "float", "bool", "int", "int", "str"]  # plain: from its default
    assert p["lr"].value == 1e-4 and p["dataset"].value == "mnist" and p["n_steps"].help == "generator updates"
    assert lesson_title(lesson) == "01 · A lesson: its title"


def test_plan_parses_values_to_the_declared_types(lesson, tmp_path):
    s = plan(lesson, ["lr=1e-4,2e-4", "progress=true,false", "dataset=mnist-5k"], "2,0",
             [("n_steps", "40")], tmp_path / "out")
    assert s.grid == {"lr": [1e-4, 2e-4], "progress": [True, False], "dataset": ["mnist-5k"], "seed": [2, 0]}
    assert s.fixed == {"n_steps": 40}  # progress is swept, so not switched off
    assert len(s.points()) == 8 and s.points()[0] == {"lr": 1e-4, "progress": True, "dataset": "mnist-5k", "seed": 2}
    assert run_key(s.points()[1]) == "lr=0.0001,progress=true,dataset=mnist-5k,seed=0"
    assert run_key({"dataset": "a/b c"}) == "dataset=a_b_c" and run_key({}) == "default"
    s = plan(lesson, ["n_steps=1,2"], None, [], tmp_path)
    assert s.fixed == {"progress": False} and s.seed_default == 0 and "seed" not in s.grid


@pytest.mark.parametrize("grid, seeds, fixed, message", [
    (["nope=1,2"], None, [], "no parameter 'nope'; its parameters are: dataset (str), n_steps (int), lr (float)"),
    (["n_steps=10,2.5"], None, [], "--grid n_steps: '2.5' is not a valid n_steps (int)"),
    (["lr=fast"], None, [], "--grid lr: 'fast' is not a valid lr (float): expected a number"),
    (["progress=maybe"], None, [], "'maybe' is not a valid progress (bool): expected true or false"),
    (["lr"], None, [], "'lr' is not NAME=V1,V2,..."),
    (["lr=1,,2"], None, [], "'lr=1,,2' is not NAME=V1,V2,..."),
    (["lr=1", "lr=2"], None, [], "lr is given twice"),
    (["lr=1,1"], None, [], "a value is repeated"),
    (["lr=1e-4,0.0001"], None, [], "--grid lr: [0.0001, 0.0001] repeats a value"),
    (["seed=1,2"], "0,1", [], "--seeds and --grid seed=... both set the seeds"),
    ([], "0,x", [], "--seeds: 'x' is not a valid seed (int)"),
    ([], "0", [("seed", "1")], "-p and --grid/--seeds both set seed"),
    (["lr=1,2"], None, [("lr", "3")], "-p and --grid/--seeds both set lr"),
    ([], None, [("out_json", "x.json")], "out_json is set by the tool"),
    ([], None, [("n_steps", "many")], "-p n_steps: 'many' is not a valid n_steps (int)"),
])
def test_plan_refuses_bad_input_naming_it(lesson, grid, seeds, fixed, message):
    with pytest.raises(InvalidInput) as err:
        plan(lesson, grid, seeds, fixed)
    assert message in str(err.value)


def test_plan_refuses_an_out_it_cannot_write_and_runs_that_would_share_a_folder(lesson, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(InvalidInput, match="--out: cannot write into"):
        plan(lesson, ["lr=1,2"], None, [], blocker / "sweep")
    with pytest.raises(InvalidInput, match="same run folder 'dataset=a_b'"):
        plan(lesson, ["dataset=a/b,a_b"], None, [], tmp_path / "sweep")
    assert plan(lesson, ["dataset=a/b,c"], None, [], tmp_path / "sweep").points()[0] == {"dataset": "a/b"}


def test_an_unreachable_scheduler_is_refused_by_homework_and_grade(lesson, tmp_path, capsys):
    for argv in (["homework", "01", "--notebooks", str(lesson.parent), "--grid", "lr=1", "--out", str(tmp_path / "s")],
                 ["grade", str(lesson)]):
        assert cli.main(argv + ["--scheduler", "tcp://127.0.0.1:9", "--quiet"]) == 2
        err = capsys.readouterr().err
        assert "--scheduler: no Dask scheduler reachable at 'tcp://127.0.0.1:9'" in err and "Traceback" not in err


def test_seeds_need_a_seed_parameter(tmp_path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("n: int = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params]
    nbformat.write(nb, str(tmp_path / "01_x.ipynb"))
    with pytest.raises(InvalidInput, match="--seeds: this lesson has no seed parameter; its parameters are: n"):
        plan(tmp_path / "01_x.ipynb", [], "0,1")


def test_a_bad_grid_is_refused_within_seconds_with_nothing_run(lesson, tmp_path):
    """The installed command, as a user types it: exit code 2, the reason on stderr, no traceback, no folder."""
    out = tmp_path / "out"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ganlessons.cli", "homework", "01", "--notebooks", str(lesson.parent),
                           "--grid", "lr=1e-4,2e-4", "--grid", "n_step=10,20", "--seeds", "0,1", "--out", str(out)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    took = time.perf_counter() - t0
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "this lesson has no parameter 'n_step'; its parameters are: dataset (str), n_steps (int)" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert not out.exists() and took < 20  # python and torch start in ~3 s here; nothing else happens


def test_unknown_lesson_lists_the_lessons(lesson, capsys):
    assert cli.main(["homework", "wgan", "--notebooks", str(lesson.parent), "--grid", "lr=1"]) == 2
    assert "LESSON: no lesson matches 'wgan'; the lessons are: 01_lesson" in capsys.readouterr().err


def test_workers_and_scheduler_exclude_each_other(lesson, capsys):
    with pytest.raises(SystemExit):
        cli.main(["homework", "01", "--notebooks", str(lesson.parent), "--workers", "2", "--scheduler", "tcp://x:1"])
    assert "give one of them" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["homework", "01", "--notebooks", str(lesson.parent), "--workers", "0"])
    assert "--workers: '0' must be > 0" in capsys.readouterr().err


def test_lessons_command_shows_every_parameter_of_the_course(capsys):
    assert cli.main(["lessons", "05", "--notebooks", str(ROOT / "notebooks")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("05_wgan_gp — ") and "WGAN-GP" in out.splitlines()[0]
    assert "lambda_gp: float" in out and "= 10.0" in out and "# penalty weight" in out
    assert "n_steps: int" in out and "out_json: str" in out
