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
    with pytest.raises(SystemExit, match="no lesson matches 'wgan'"):
        cli.find_lessons(tmp_path, ["wgan"])


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
