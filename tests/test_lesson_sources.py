"""Each lesson is a jupytext pair: ``notebooks/NN_name.ipynb`` and its MyST text ``NN_name.md``.

A lecturer edits either one (JupyterLab with jupytext saves both; a text editor changes the .md);
these tests keep the two in step and make sure nothing that matters is lost on the way.
"""

import asyncio
import shutil
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("[0-9][0-9]_*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


def _cells(nb) -> list[tuple]:
    return [(c.cell_type, c.source, dict(c.metadata)) for c in nb.cells]


def _sync_command(nb: Path) -> str:
    """The command that carries the newer of the two files over to the older one."""
    md = nb.with_suffix(".md")
    rel = lambda p: p.relative_to(ROOT)
    if abs(nb.stat().st_mtime - md.stat().st_mtime) < 1.0:
        return (f"both files have the same time, so neither is known to be newer. If you edited the .md: "
                f".venv/bin/jupytext --to ipynb --update {rel(md)}   If you edited the notebook: "
                f".venv/bin/jupytext --to md:myst {rel(nb)}   (git diff shows which one you changed)")
    if md.stat().st_mtime > nb.stat().st_mtime:
        return f"the .md is newer; carry it into the notebook with: .venv/bin/jupytext --to ipynb --update {rel(md)}"
    return f"the notebook is newer; carry it into the text with: .venv/bin/jupytext --to md:myst {rel(nb)}"


def test_every_lesson_has_its_text_source_and_the_pairing_config():
    assert NOTEBOOKS, "no lessons found"
    config = (NB_DIR / "jupytext.toml").read_text()
    assert 'formats = "ipynb,md:myst"' in config
    for nb in NOTEBOOKS:
        assert nb.with_suffix(".md").is_file(), f"{nb.name} has no {nb.stem}.md: run .venv/bin/jupytext --to md:myst {nb}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_notebook_and_its_text_source_hold_the_same_cells(nb):
    committed = nbformat.read(str(nb), as_version=4)
    text = jupytext.read(str(nb.with_suffix(".md")))
    mine, theirs = _cells(committed), _cells(text)
    if mine != theirs:
        first = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
        pytest.fail(f"{nb.name} and {nb.stem}.md differ (first at cell {first}; {len(mine)} vs {len(theirs)} cells): "
                    + _sync_command(nb))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_cell_metadata_that_matters_survives_the_round_trip(nb):
    """The parameters tag (papermill), hidden solutions and the exercise markers, both ways."""
    original = nbformat.read(str(nb), as_version=4)
    # notebook → text → notebook
    back = jupytext.reads(jupytext.writes(original, fmt="md:myst"), fmt="md:myst")
    assert _cells(back) == _cells(original)
    # text → notebook → text: the .md a lecturer edits comes back unchanged
    md = nb.with_suffix(".md").read_text()
    again = jupytext.writes(jupytext.reads(jupytext.writes(jupytext.reads(md, fmt="md:myst"), fmt="ipynb"),
                                           fmt="ipynb"), fmt="md:myst")
    assert again.split("---", 2)[2] == md.split("---", 2)[2]  # the body; the header names jupytext's version
    tags = [t for c in back.cells for t in c.metadata.get("tags", [])]
    assert tags.count("parameters") == 1
    for c in back.cells:
        if "solution" in c.metadata.get("tags", []):
            assert c.metadata.get("jupyter", {}).get("source_hidden") is True, "a solution must stay collapsed"
    if any("gl.checks." in c.source for c in back.cells if c.cell_type == "code"):
        assert "exercise" in tags, f"{nb.stem}: the exercise cells (those calling gl.checks) carry the 'exercise' tag"


def test_an_edit_saved_from_jupyterlab_lands_in_the_text_file(tmp_path):
    """JupyterLab saves through jupytext's contents manager (the server extension installed with
    jupytext): a parameter changed and saved in the notebook appears in the .md, and the pair
    still agrees."""
    from jupytext import AsyncTextFileContentsManager

    nb = NOTEBOOKS[0]
    shutil.copy(NB_DIR / "jupytext.toml", tmp_path)
    for p in (nb, nb.with_suffix(".md")):
        shutil.copy(p, tmp_path)

    async def edit_and_save():
        cm = AsyncTextFileContentsManager(root_dir=str(tmp_path))
        model = await cm.get(nb.name)
        cell = next(c for c in model["content"].cells if "parameters" in c.metadata.get("tags", []))
        cell.source = cell.source.replace("seed: int = 0", "seed: int = 7  # edited in JupyterLab")
        assert "seed: int = 7" in cell.source
        await cm.save(model, nb.name)
        return await cm.get(nb.name)

    reopened = asyncio.run(edit_and_save())
    md = (tmp_path / nb.with_suffix(".md").name).read_text()
    assert "seed: int = 7  # edited in JupyterLab" in md
    assert _cells(jupytext.read(str(tmp_path / nb.with_suffix(".md").name))) == \
        _cells(nbformat.read(str(tmp_path / nb.name), as_version=4))
    assert "seed: int = 7" in next(c.source for c in reopened["content"].cells
                                   if "parameters" in c.metadata.get("tags", []))


def test_an_edit_of_the_text_file_reaches_the_notebook_opened_in_jupyterlab(tmp_path):
    """The other way: a lecturer edits the .md in a text editor; JupyterLab opens the notebook
    with the new text (jupytext reads the newer .md) and keeps its outputs."""
    from jupytext import AsyncTextFileContentsManager

    nb = NOTEBOOKS[0]
    shutil.copy(NB_DIR / "jupytext.toml", tmp_path)
    shutil.copy(nb, tmp_path)
    md = nb.with_suffix(".md").read_text().replace("seed: int = 0", "seed: int = 11")
    (tmp_path / nb.with_suffix(".md").name).write_text(md)

    async def open_it():
        return await AsyncTextFileContentsManager(root_dir=str(tmp_path)).get(nb.name)

    model = asyncio.run(open_it())
    assert "seed: int = 11" in next(c.source for c in model["content"].cells
                                    if "parameters" in c.metadata.get("tags", []))


def test_the_mismatch_message_names_the_newer_side(tmp_path):
    import os

    nb, md = tmp_path / "01_x.ipynb", tmp_path / "01_x.md"
    global ROOT
    saved_root, ROOT = ROOT, tmp_path
    try:
        nb.write_text("{}")
        md.write_text("")
        os.utime(nb, (1000, 1000))
        os.utime(md, (2000, 2000))
        assert "the .md is newer" in _sync_command(nb) and "--to ipynb --update 01_x.md" in _sync_command(nb)
        os.utime(nb, (3000, 3000))
        assert "the notebook is newer" in _sync_command(nb) and "--to md:myst 01_x.ipynb" in _sync_command(nb)
        os.utime(md, (3000, 3000))
        assert "neither is known to be newer" in _sync_command(nb)
    finally:
        ROOT = saved_root
