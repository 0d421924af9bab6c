"""The homework path: every lesson runs under papermill with non-default parameters and writes
``out_json`` per the contract in DESIGN.md. (nbval runs them at their defaults: see pyproject.)"""

import json
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


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_papermill_with_other_parameters_writes_out_json(nb, tmp_path):
    out_json = tmp_path / "metrics.json"
    params = {"seed": 3, "dataset": "mnist-5k", "n_steps": 40, "batch_size": 32, "progress": False,
              "out_json": str(out_json)}
    declared = pm.inspect_notebook(str(nb))
    for name, small in (("n_eval", 500), ("ring_steps", 200), ("n_per_class", 20), ("n_compare", 20),
                        ("clip_steps", 10), ("toy_steps", 10)):
        if name in declared:  # the lesson's own budgets, cut down like n_steps
            params[name] = small
    pm.execute_notebook(str(nb), str(tmp_path / nb.name), parameters=params, cwd=str(nb.parent),
                        kernel_name="python3", progress_bar=False)
    result = json.loads(out_json.read_text())
    assert result["lesson"] == nb.stem
    assert {k: result["params"][k] for k in params} == params
    assert result["seconds"] > 0 and "domain_fid" in result["metrics"]
    assert result["metrics"]["steps"] == 40


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_matches_its_source_in_tools_lessons(nb):
    """Lessons are edited in tools/lessons/NN_name.py; the committed notebook must be its build."""
    import runpy

    builder = runpy.run_path(str(nb.parents[1] / "tools" / "make_notebook.py"))
    built = builder["build"](nb.stem)
    committed = nbformat.read(str(nb), as_version=4)
    assert [(c.cell_type, c.source, c.metadata) for c in committed.cells] == \
        [(c.cell_type, c.source, c.metadata) for c in built.cells], \
        f"run: python tools/make_notebook.py {nb.stem}"
