import json
from pathlib import Path

import nbformat
import pytest

from ganlessons import cli


def _notebook(path: Path, body: str):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('n_steps: int = 3\nseed: int = 0\nout_json: str = ""')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# test lesson"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))


GOOD = ('import json\nif out_json:\n    json.dump({"lesson": "x", "params": {"n_steps": n_steps, "seed": seed}, '
        '"seconds": 0.0, "metrics": {"twice": 2 * n_steps}}, open(out_json, "w"))')


def test_parse_value():
    assert cli.parse_value("3") == 3 and cli.parse_value("0.5") == 0.5
    assert cli.parse_value("true") is True and cli.parse_value("None") is None
    assert cli.parse_value("mnist-5k") == "mnist-5k" and cli.parse_value("[1, 2]") == [1, 2]


def test_find_lessons(tmp_path):
    for name in ("01_gan", "02_cgan", "10_extra"):
        _notebook(tmp_path / f"{name}.ipynb", "pass")
    names = lambda ps: [p.stem for p in ps]
    assert names(cli.find_lessons(tmp_path, [])) == ["01_gan", "02_cgan", "10_extra"]
    assert names(cli.find_lessons(tmp_path, ["cgan", "01"])) == ["01_gan", "02_cgan"]
    with pytest.raises(ValueError, match="LESSON: no lesson matches 'wgan'"):
        cli.find_lessons(tmp_path, ["wgan"])
    assert cli.main(["run", "wgan", "--notebooks", str(tmp_path)]) == 2  # a user's mistake: exit 2, no traceback


def test_run_reports_a_failing_lesson_and_runs_the_rest(tmp_path, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "01_ok.ipynb", GOOD)
    _notebook(nbs / "02_broken.ipynb", 'raise ValueError("n_steps must be > 0, got " + str(n_steps))')
    _notebook(nbs / "03_ok.ipynb", GOOD)
    code = cli.main(["run", "--notebooks", str(nbs), "--out", str(tmp_path / "runs"), "--quiet",
                     "-p", "n_steps", "7", "-p", "nonsense", "1"])
    out = capsys.readouterr()
    assert code == 1
    run_dir = next((tmp_path / "runs").iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [r["ok"] for r in summary] == [True, False, True]
    assert "ValueError: n_steps must be > 0, got 7" in summary[1]["error"] and summary[1]["cell"] == 3
    assert "FAILED at cell In [3]" in out.out and "ValueError" in out.out
    assert json.loads((run_dir / "03_ok.json").read_text())["metrics"] == {"twice": 14}
    assert (run_dir / "01_ok.ipynb").is_file() and str(run_dir.resolve()) in out.out
    assert "nonsense" in out.err


ROOT = Path(__file__).resolve().parents[1]


def _ganlessons_command() -> list[str]:
    """The installed console script, as the README's main command calls it."""
    import shutil
    import sys

    script = Path(sys.executable).parent / "ganlessons"
    if script.is_file():
        return [str(script)]
    found = shutil.which("ganlessons")
    return [found] if found else [sys.executable, "-m", "ganlessons.cli"]


def test_readme_main_command_from_the_repository_root():
    """As a newcomer runs it: from the repository root, default (relative) ``--out runs``, a
    subprocess, one lesson on a small budget. It once failed in every lesson's last cell because
    papermill runs a notebook inside notebooks/, where the relative run folder did not exist."""
    import subprocess

    before = set((ROOT / "runs").glob("*")) if (ROOT / "runs").is_dir() else set()
    proc = subprocess.run(_ganlessons_command() + ["run", "00", "-p", "n_steps", "40", "-p", "n_eval", "500",
                                                   "-p", "dataset", "mnist-5k"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    made = sorted(set((ROOT / "runs").glob("*")) - before)
    try:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert len(made) == 1, made
        run_dir = made[0]
        summary = json.loads((run_dir / "summary.json").read_text())
        assert [r["lesson"] for r in summary] == ["00_tour"] and summary[0]["ok"]
        metrics = json.loads((run_dir / "00_tour.json").read_text())
        assert metrics["params"]["n_steps"] == 40 and "domain_fid" in metrics["metrics"]
        assert (run_dir / "00_tour.ipynb").is_file()
        # what it prints: one line per lesson and per cell, the tally, where the files are; no kernel chatter
        assert "00_tour cell  1/" in proc.stdout and "1 of 1 lesson(s) ok" in proc.stdout
        assert str(run_dir) in proc.stdout
        assert "without encryption" not in proc.stdout + proc.stderr
        # the report: the lesson's final sample grid (the cell drawing trainer.sample), metrics, wall time
        report = (run_dir / "report.html").read_text()
        assert f"Report (final samples, metrics, wall times): {run_dir / 'report.html'}" in proc.stdout
        assert 'alt="final samples of 00_tour" src="data:image/png;base64,' in report
        assert "domain_fid" in report and "wall time" in report and 'href="00_tour.html"' in report
        assert (run_dir / "00_tour.html").is_file()
    finally:
        import shutil

        for d in made:
            shutil.rmtree(d, ignore_errors=True)


def test_run_with_a_relative_out_from_another_folder(tmp_path):
    """``--out`` relative to the folder the command was started in, whatever papermill's cwd."""
    import os

    nbs = tmp_path / "course" / "nbs"
    nbs.mkdir(parents=True)
    _notebook(nbs / "01_ok.ipynb", GOOD)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cwd = os.getcwd()
    try:
        os.chdir(elsewhere)
        code = cli.main(["run", "--notebooks", "../course/nbs", "--out", "my-runs", "--quiet"])
    finally:
        os.chdir(cwd)
    assert code == 0
    (run_dir,) = (elsewhere / "my-runs").iterdir()
    assert json.loads((run_dir / "01_ok.json").read_text())["metrics"] == {"twice": 6}
    assert json.loads((run_dir / "summary.json").read_text())[0]["ok"]
    assert not (nbs / "my-runs").exists()


def test_a_lesson_that_writes_no_metrics_is_not_ok(tmp_path, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "01_silent.ipynb", "pass")
    assert cli.main(["run", "--notebooks", str(nbs), "--out", str(tmp_path / "r"), "--quiet"]) == 1
    assert "wrote no metrics" in capsys.readouterr().out


def test_run_ends_with_an_html_report(tmp_path, capsys):
    """Per lesson: status, wall time, the last image it drew, its metrics, a link to the rendered notebook."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    _notebook(nbs / "01_ok.ipynb", GOOD + "\nfrom IPython.display import Image\n"
              f"Image(data=__import__('base64').b64decode('{png}'))")
    _notebook(nbs / "02_broken.ipynb", 'raise ValueError("broken")')
    assert cli.main(["run", "--notebooks", str(nbs), "--out", str(tmp_path / "runs"), "--quiet"]) == 1
    run_dir = next((tmp_path / "runs").iterdir())
    report = (run_dir / "report.html").read_text()
    assert str(run_dir / "report.html") in capsys.readouterr().out
    assert "1 of 2 lesson(s) ok" in report and "<h2>01_ok</h2>" in report and "<h2>02_broken</h2>" in report
    assert f'src="data:image/png;base64,{png}"' in report and "<td>twice</td><td class=\"num\">6</td>" in report
    assert "FAILED at cell 3: ValueError: broken" in report and 'href="02_broken.html"' in report
    assert (run_dir / "01_ok.html").is_file()


@pytest.mark.parametrize("command", ["lessons", "homework", "handout", "grade"])
def test_the_course_commands_are_there(command, capsys):
    with pytest.raises(SystemExit) as done:
        cli.main([command, "--help"])
    assert done.value.code == 0 and f"usage: ganlessons {command}" in capsys.readouterr().out


def test_the_report_shows_the_sample_grid_not_what_is_drawn_beside_it(tmp_path):
    """The lessons draw the grid with show_grid(..., title=f"... after {step} steps"), often beside a
    wider figure (a class histogram) in the same cell, and more figures after it."""
    import base64
    import io

    import matplotlib.pyplot as plt

    from ganlessons.course.report import final_image

    def png(w, h):
        fig = plt.figure(figsize=(w, h))
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=20)
        plt.close(fig)
        return base64.b64encode(buf.getvalue()).decode()

    def cell(source, *images):
        c = nbformat.v4.new_code_cell(source)
        c.outputs = [nbformat.v4.new_output("display_data", data={"image/png": i}) for i in images]
        return c

    grid, histogram, later = png(4, 4), png(5, 2), png(6, 3)
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell("gl.viz.show_grid(x_real)", png(3, 3)),
                cell('gl.viz.show_grid(trainer.sample()[:64], title=f"G(z) after {trainer.step} steps")\nhist()',
                     histogram, grid),
                cell("walk()", later)]
    nbformat.write(nb, str(tmp_path / "x.ipynb"))
    assert final_image(tmp_path / "x.ipynb") == grid
    nb.cells = [nb.cells[2]]
    nbformat.write(nb, str(tmp_path / "y.ipynb"))
    assert final_image(tmp_path / "y.ipynb") == later  # no grid drawn: the last image
