"""Build the lesson notebooks from their cell lists in ``tools/lessons/NN_name.py``.

Each lesson file defines ``CELLS``, a list made with the three cell makers of ``tools/nbcells.py``
(``md``, ``code``, ``params``). Notebooks are written without outputs and
with exactly one ``parameters`` cell (papermill). A test rebuilds every notebook in memory and
compares it with the committed one, so edit the lesson file, then run:

    python tools/make_notebook.py            # all lessons
    python tools/make_notebook.py 01_gan     # one
"""

import runpy
import sys
from pathlib import Path

import nbformat as nbf

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tools/: nbcells

ROOT = Path(__file__).resolve().parents[1]
LESSONS = ROOT / "tools" / "lessons"


def build(name: str) -> nbf.NotebookNode:
    """The notebook for lesson ``name`` (e.g. ``"01_gan"``), cell ids stable across builds."""
    cells = runpy.run_path(str(LESSONS / f"{name}.py"))
    nb = nbf.v4.new_notebook()
    nb.cells = cells["CELLS"]
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name}-{i:02d}"  # stable ids: rebuilding an unchanged lesson gives the same file
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbf.validate(nb)
    return nb


def lessons() -> list[str]:
    return sorted(p.stem for p in LESSONS.glob("[0-9][0-9]_*.py"))


def main(names: list[str]) -> None:
    for name in names or lessons():
        out = ROOT / "notebooks" / f"{name}.ipynb"
        nbf.write(build(name), str(out))
        print("wrote", out.relative_to(ROOT))


if __name__ == "__main__":
    main(sys.argv[1:])
