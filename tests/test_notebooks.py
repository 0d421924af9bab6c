"""The homework path: every lesson runs under papermill with non-default parameters and writes
``out_json`` per the contract in DESIGN.md. (nbval runs them at their defaults: see pyproject.)"""

import json
import re
from pathlib import Path

import nbformat
import papermill as pm
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REQUIRED = {"dataset", "n_steps", "batch_size", "seed", "device", "progress", "out_json"}


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_parameters_cell_has_the_contract(nb):
    declared = pm.inspect_notebook(str(nb))
    assert REQUIRED <= set(declared), REQUIRED - set(declared)
    cells = json.loads(nb.read_text())["cells"]
    assert sum("parameters" in c.get("metadata", {}).get("tags", []) for c in cells) == 1
    assert not any(c.get("outputs") for c in cells if c["cell_type"] == "code"), "commit without outputs"


SMALL = {"seed": 3, "dataset": "mnist-5k", "n_steps": 40, "batch_size": 32, "progress": False}
# the lessons' own budgets, cut down like n_steps
SMALL_BUDGETS = {"n_eval": 500, "ring_steps": 200, "n_per_class": 20, "n_compare": 20, "clip_steps": 10,
                 "toy_steps": 10, "images_per_phase": 128, "ablation_steps": 10, "n_experiment": 300, "n_seeds": 2}
_runs: dict[str, dict] = {}


# papermill kernels on Unix sockets in a private folder: nbval starts kernels in the other xdist
# worker, and two kernels starting at once over TCP can be given the same ports (papermill #511).
from ganlessons.course.execute import KERNEL_MANAGER  # noqa: E402

# Without a timeout, lesson 01's frame_explorer cell once waited forever for a message from an idle
# kernel under pytest-xdist (it never does when run alone); with one, the wait ends after this many
# seconds and the run completes. The longest cell of these small runs takes under 30 s.
CELL_TIMEOUT = 120


def _run_small(nb: Path, tmp_path: Path) -> tuple[dict, dict]:
    """Run ``nb`` under papermill with SMALL parameters; returns (parameters, out_json)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    out_json = tmp_path / f"{nb.stem}.json"
    params = dict(SMALL, out_json=str(out_json))
    declared = pm.inspect_notebook(str(nb))
    params.update({name: small for name, small in SMALL_BUDGETS.items() if name in declared})
    pm.execute_notebook(str(nb), str(tmp_path / nb.name), parameters=params, cwd=str(nb.parent),
                        kernel_name="python3", progress_bar=False, execution_timeout=CELL_TIMEOUT,
                        **KERNEL_MANAGER)
    result = json.loads(out_json.read_text())
    _runs[nb.stem] = result
    return params, result


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_papermill_with_other_parameters_writes_out_json(nb, tmp_path):
    params, result = _run_small(nb, tmp_path)
    assert result["lesson"] == nb.stem
    assert {k: result["params"][k] for k in params} == params
    assert result["seconds"] > 0 and "domain_fid" in result["metrics"]
    assert result["metrics"]["steps"] == 40


def _without_times(metrics: dict) -> dict:
    """Everything but wall-clock times, at any depth."""
    def strip(v):
        return {k: strip(x) for k, x in v.items() if "seconds" not in k} if isinstance(v, dict) else v
    return strip(metrics)


def _flatten(value, prefix: str = "") -> dict:
    """{"a": {"b": [1, 2]}} → {"a.b.0": 1, "a.b.1": 2}: numbers pytest.approx can compare."""
    if isinstance(value, dict):
        return {k: v for key, x in value.items() for k, v in _flatten(x, f"{prefix}{key}.").items()}
    if isinstance(value, (list, tuple)):
        return {k: v for i, x in enumerate(value) for k, v in _flatten(x, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): value}


PRETRAINED_LESSONS = [p for p in NOTEBOOKS if "use_pretrained" in pm.inspect_notebook(str(p))]


def test_lessons_01_to_07_have_use_pretrained():
    assert [p.stem[:2] for p in PRETRAINED_LESSONS][:7] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("nb", PRETRAINED_LESSONS, ids=[p.stem for p in PRETRAINED_LESSONS])
def test_use_pretrained_explores_the_shipped_generator_and_keeps_the_runs_metrics(nb, tmp_path):
    """With use_pretrained the explore cells use the shipped G; out_json still reports this run's G."""
    own = _runs.get(nb.stem) or _run_small(nb, tmp_path / "own")[1]
    out_json = tmp_path / "pretrained.json"
    params = dict(SMALL, out_json=str(out_json), use_pretrained=True)
    declared = pm.inspect_notebook(str(nb))
    params.update({name: small for name, small in SMALL_BUDGETS.items() if name in declared})
    executed = pm.execute_notebook(str(nb), str(tmp_path / nb.name), parameters=params, cwd=str(nb.parent),
                                   kernel_name="python3", progress_bar=False, execution_timeout=CELL_TIMEOUT,
                                   **KERNEL_MANAGER)
    result = json.loads(out_json.read_text())
    assert result["params"]["use_pretrained"] is True
    # The same run: equal up to float rounding (the extra cells change memory alignment, and MKL's
    # sums can round differently on differently aligned buffers: 2438.8496 against 2438.8481 seen).
    got, want = _flatten(_without_times(result["metrics"])), _flatten(_without_times(own["metrics"]))
    assert got == pytest.approx(want, rel=1e-4)
    text = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "card: " in text and "exploring this run's G instead" not in text


def test_same_seed_same_metrics_in_a_new_kernel(tmp_path):
    """Homework is graded on out_json: one seed must give one result, in any fresh kernel.

    01 has the most runs in it (two ring runs, the MNIST run and its twin). The first result comes
    from the papermill test above when it ran in this session.
    """
    nb = next(p for p in NOTEBOOKS if p.stem == "01_gan")
    first = _runs.get(nb.stem) or _run_small(nb, tmp_path / "first")[1]
    again = _run_small(nb, tmp_path / "again")[1]
    assert _without_times(again["metrics"]) == _without_times(first["metrics"])
    assert len(_without_times(first["metrics"])) >= 6


BUILDS_A_NETWORK = re.compile(r"gl\.models\.[A-Z]\w*\(|gl\.toy\.(?:toy_gan|deep_critic)\(")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_network_is_built_after_seeding(nb):
    """torch seeds itself differently in every process, so a network built before
    ``gl.seed_everything`` starts from new weights in every kernel, and "same seed, same run" fails
    (it did: the ring's stable run covered 7 modes in one kernel and 8 in the next)."""
    for i, cell in enumerate(nbformat.read(str(nb), as_version=4).cells):
        if cell.cell_type != "code":
            continue
        for m in BUILDS_A_NETWORK.finditer(cell.source):
            start = cell.source.rfind("\n", 0, m.start()) + 1
            statement = re.split(r"\n(?=\S)", cell.source[start:], maxsplit=1)[0]  # its continuation lines too
            line = statement.split("\n", 1)[0]
            if ".load(" in statement or "from_checkpoint(" in statement:  # the weights come from a checkpoint
                continue
            assert "seed_everything(" in cell.source[:m.start()], \
                f"{nb.stem} cell {i}: {line.strip()!r} builds a network before gl.seed_everything(seed)"
