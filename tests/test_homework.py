"""``ganlessons homework`` end to end on a stand-in lesson that runs in well under a second:
a 2×2 sweep with 2 seeds (table, figures, index), a run that fails beside ones that do not, an
interrupted sweep resumed, the same sweep on a Dask scheduler started as separate processes, and
the executor's timeout. The real lessons run under papermill in test_notebooks.py and test_cli.py."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from ganlessons import cli
from ganlessons.course.execute import Job, run_jobs

ROOT = Path(__file__).resolve().parents[1]
# a 1×1 PNG: the stand-in lesson shows a "sample grid" without importing matplotlib in its kernel
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
PARAMS = ('lr: float = 0.1  # learning rate\nwidth: int = 4  # layer width\nseed: int = 0\n'
          'progress: bool = True\nhold_while: str = ""  # a file: while it is there, one run waits\n'
          'out_json: str = ""  # where the metrics go')
BODY = f'''import json, os, time
from IPython.display import Image, display
if width == 99:
    raise ValueError(f"width={{width}} is too wide")
while hold_while and os.path.exists(hold_while) and lr == 0.2 and seed == 1:
    time.sleep(0.1)
display(Image(data=__import__("base64").b64decode("{PNG}")))
metrics = {{"loss": lr * width + 0.01 * seed, "fit": {{"acc": 1 - lr}}, "curve": [1, 2], "note": "text"}}
if out_json:
    json.dump({{"lesson": "01_toy", "params": {{"lr": lr, "width": width, "seed": seed}}, "seconds": 0.0,
               "metrics": metrics}}, open(out_json, "w"))'''


def toy_lesson(folder: Path, body: str = BODY) -> Path:
    """A course folder with one lesson, 01_toy: a parameters cell and a cell that writes out_json."""
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# Toy lesson\nA stand-in."), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(folder / "01_toy.ipynb"))
    return folder


SWEEP = ["homework", "toy", "--grid", "lr=0.1,0.2", "--grid", "width=2,4", "--seeds", "0,1", "--quiet"]


def _table(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    """The 2×2×2 sweep on the embedded LocalCluster (2 workers); (folder, exit code, seconds)."""
    base = tmp_path_factory.mktemp("sweep")
    nbs = toy_lesson(base / "nbs")
    t0 = time.perf_counter()
    code = cli.main(SWEEP + ["--notebooks", str(nbs), "--workers", "2", "--out", str(base / "out")])
    return base, code, time.perf_counter() - t0


def test_a_2x2_sweep_with_2_seeds_writes_table_figures_and_index(local_sweep):
    base, code, _ = local_sweep
    out = base / "out"
    assert code == 0
    rows = _table(out / "table.csv")
    assert len(rows) == 8 and all(r["status"] == "ok" for r in rows)
    assert list(rows[0])[:6] == ["key", "lr", "width", "seed", "status", "seconds"]
    assert list(rows[0])[-2:] == ["error", "cell"]
    assert {"metrics.loss", "metrics.fit.acc"} <= set(rows[0]) and "metrics.note" not in rows[0]
    for r in rows:
        assert float(r["metrics.loss"]) == pytest.approx(float(r["lr"]) * int(r["width"]) + 0.01 * int(r["seed"]))
        assert r["key"] == f"lr={r['lr']},width={r['width']},seed={r['seed']}"
        run = out / "runs" / r["key"]
        assert json.loads((run / "out.json").read_text())["params"]["seed"] == int(r["seed"])
        assert (run / "done.json").is_file() and (run / "01_toy.ipynb").is_file()
    assert sorted(p.name for p in (out / "figures").glob("*.png")) == ["fit.acc.png", "loss.png"]
    index = (out / "index.html").read_text()
    for r in rows:
        assert f'href="runs/{r["key"]}/01_toy.html"' in index
    assert 'src="figures/loss.png"' in index and "8 of 8 runs ok" in index
    page = (out / "runs" / rows[0]["key"] / "01_toy.html").read_text()
    assert "data:image/png;base64," in page and "Toy lesson" in page  # the output image is in the page


def test_the_same_sweep_again_runs_nothing(local_sweep, capsys):
    base, _, _ = local_sweep
    before = {p: p.stat().st_mtime_ns for p in (base / "out" / "runs").glob("*/done.json")}
    code = cli.main(SWEEP + ["--notebooks", str(base / "nbs"), "--workers", "2", "--out", str(base / "out")])
    assert code == 0 and "0 run(s) executed, 8 already complete" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in before} == before


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster kept for the tests below that need a cluster but not a new one (each start
    costs seconds: two Pythons importing torch); the embedded default is tested by the sweep above."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False}) as c:
        yield c.scheduler_address


def test_a_failed_run_is_recorded_and_the_others_finish(tmp_path, capsys, cluster):
    nbs = toy_lesson(tmp_path / "nbs")
    code = cli.main(["homework", "01", "--notebooks", str(nbs), "--grid", "width=4,99", "--scheduler", cluster,
                     "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 1
    ok, failed = _table(tmp_path / "out" / "table.csv")
    assert ok["status"] == "ok" and ok["seed"] == "0"
    assert failed["status"] == "failed" and failed["error"] == "ValueError: width=99 is too wide"
    assert failed["cell"] == "3"  # 0 markdown, 1 parameters, 2 papermill's injected parameters, 3 the body
    assert "FAILED width=99 at cell 3" in capsys.readouterr().out
    assert (tmp_path / "out" / "runs" / "width=99" / "failed.json").is_file()
    assert 'class="failed"' in (tmp_path / "out" / "index.html").read_text()


def test_an_interrupted_sweep_resumes_without_redoing_finished_runs(tmp_path, capsys):
    """Kill the command (and its workers) while one run still works; the re-run does that one only."""
    nbs = toy_lesson(tmp_path / "nbs")
    hold = tmp_path / "hold"
    hold.touch()
    out = tmp_path / "out"
    args = ["homework", "toy", "--notebooks", str(nbs), "--grid", "lr=0.1,0.2", "--seeds", "0,1",
            "-p", "hold_while", str(hold), "--workers", "2", "--out", str(out), "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "ganlessons.cli", *args], env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while len(list(out.glob("runs/*/done.json"))) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(list(out.glob("runs/*/done.json"))) == 3, proc.stdout.read().decode() if proc.poll() else ""
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the command, its Dask nannies and workers: a power cut
        proc.wait()
    held = out / "runs" / "lr=0.2,seed=1"
    assert held.is_dir() and not (held / "done.json").exists()  # begun, not finished
    finished = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/done.json")}
    time.sleep(1.5)  # the orphaned kernel sees its parent gone and exits (ipykernel polls every second)
    hold.unlink()
    assert cli.main(args) == 0
    assert "1 run(s) executed, 3 already complete (skipped); 4 of 4 ok" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in finished} == finished
    assert [r["status"] for r in _table(out / "table.csv")] == ["ok"] * 4


def _without_seconds(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_the_same_sweep_on_a_separate_dask_scheduler_gives_the_same_table(local_sweep, tmp_path):
    """A cluster of one machine: `dask scheduler` and `dask worker` as processes of their own on 127.0.0.1."""
    base, _, _ = local_sweep
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    address_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard", "--scheduler-file", str(address_file)]
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", *common], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not address_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--host", "127.0.0.1",
                                       "--nthreads", "2", "--nworkers", "1", *common], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        address = json.loads(address_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        code = cli.main(SWEEP + ["--notebooks", str(base / "nbs"), "--scheduler", address,
                                 "--out", str(tmp_path / "out")])
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    assert code == 0
    assert _without_seconds(_table(tmp_path / "out" / "table.csv")) == \
        _without_seconds(_table(base / "out" / "table.csv"))


def test_run_jobs_reports_a_timeout_and_an_error_and_passes_the_environment(tmp_path, cluster):
    """The executor's contract (grading relies on it): no exception out of run_jobs, the cell named,
    the kernel's own environment, retries only for a kernel that did not start."""
    nbs = tmp_path / "nbs"
    toy_lesson(nbs / "ok", 'import os\nprint(os.getcwd(), os.environ["OMP_NUM_THREADS"], os.environ["MARK"])')
    toy_lesson(nbs / "slow", "import time\ntime.sleep(60)")
    toy_lesson(nbs / "bad", "1 / 0")
    jobs = [Job("ok", nbs / "ok" / "01_toy.ipynb", tmp_path / "ok", env={"MARK": "here"}),
            Job("slow", nbs / "slow" / "01_toy.ipynb", tmp_path / "slow", timeout=3),
            Job("bad", nbs / "bad" / "01_toy.ipynb", tmp_path / "bad", parameters={"width": 5}),
            Job("no-kernel", nbs / "ok" / "01_toy.ipynb", tmp_path / "nk", env={"PYTHONHOME": "/nonexistent"})]
    ok, slow, bad, no_kernel = run_jobs(jobs, scheduler=cluster, progress=False, retries=1)
    assert ok.ok and ok.executed == tmp_path / "ok" / "01_toy.ipynb" and ok.error is None
    text = nbformat.read(str(ok.executed), as_version=4).cells[2].outputs[0]["text"]
    assert text.split() == [str(tmp_path / "ok"), "1", "here"]
    assert not slow.ok and slow.error == "timed out after 3 s" and slow.cell == 2 and 3 <= slow.seconds < 30
    assert not bad.ok and bad.error.startswith("ZeroDivisionError") and bad.cell == 3
    assert bad.executed.is_file()  # written although a cell failed
    # a kernel that cannot start (here: Python without its standard library) is tried again, then reported
    assert not no_kernel.ok and no_kernel.cell is None
    assert no_kernel.error.startswith("the kernel did not start: RuntimeError: Kernel died")
    assert no_kernel.error.endswith("(tried 2 times)")
    with pytest.raises(ValueError, match="unique"):
        run_jobs([jobs[0], jobs[0]])
