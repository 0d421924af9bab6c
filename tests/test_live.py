"""The live training view: frames in a real kernel, the last one left as a static figure, the
same training with and without it, and the papermill fallback."""

import nbformat
import pytest
from nbclient import NotebookClient

import ganlessons as gl
from ganlessons import lesson as lesson_mod
from ganlessons import live


def _run(cells: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=600, startup_timeout=300, kernel_name="python3", extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
    return nb


TRAIN = """
import time, torch, ganlessons as gl
data = gl.data.load("{data}", device="cpu")
def run(live):
    gl.seed_everything(0)
    G, D = {models}
    return gl.train.fit(G, D, data, n_steps={steps}, batch_size=32, progress=True, live=live, live_every=0.1,
                        seed=0, device="cpu")
on, off = run(True), run(False)
assert on.history == off.history, "the live view changed the training"
print("frames", on.live_view.frames, off.live_view)
"""


@pytest.mark.parametrize("data,models,steps", [
    ("mnist-5k", "gl.models.DCGANGenerator28(16, nf=8), gl.models.DCGANDiscriminator28(nf=8)", 40),
    ("ring-8", "gl.toy.toy_gan(latent_dim=2, width=16)", 600),
], ids=["images", "points"])
def test_live_frames_in_a_kernel_and_the_last_one_stays(data, models, steps):
    nb = _run([TRAIN.format(data=data, models=models, steps=steps)])
    outputs = nb.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "frames" in text and "None" in text  # live=False made no view
    frames = int(text.split("frames")[1].split()[0])
    assert frames >= 2  # several frames a frame every 0.1 s, and the closing one
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) == 1, "one figure, redrawn in place, stays in the output"


def test_papermill_injected_parameters_turn_the_live_view_off():
    nb = _run(["import ganlessons as gl\nlesson = gl.lesson.start('xx')",
               "# Parameters (papermill: -p NAME VALUE)\nn_steps: int = 3",
               "print('live here:', gl.live.available())",
               "# Parameters\nn_steps = 5\n",
               "print('live after papermill:', gl.live.available(), lesson.params)"])
    text = lambda i: "".join(o.get("text", "") for o in nb.cells[i].outputs)
    assert "live here: True" in text(2)
    assert "live after papermill: False {'n_steps': 5}" in text(4)


def test_available_is_false_outside_a_kernel(monkeypatch):
    assert live.available() is False
    monkeypatch.setenv("GANLESSONS_LIVE", "1")
    assert live.available() is False  # no kernel, no display: a terminal keeps the progress bar


def test_live_every_must_be_positive():
    G, D = gl.toy.toy_gan(latent_dim=2, width=8)
    with pytest.raises(ValueError, match="live_every"):
        gl.train.Trainer(G, D, gl.data.load("ring-8", device="cpu"), live_every=0, device="cpu")


def test_lesson_finish_writes_the_contract(tmp_path):
    import json

    import torch

    lesson = lesson_mod.start("99_test")
    out = tmp_path / "r.json"
    record = lesson.finish({"domain_fid": torch.tensor(12.5), "curve": [(1, 2.0)], "bad": float("nan")},
                           str(out), params={"n_steps": 3}, data_used="mnist-5k")
    on_disk = json.loads(out.read_text())
    assert on_disk == record
    assert on_disk["lesson"] == "99_test" and on_disk["seconds"] >= 0
    assert on_disk["params"] == {"n_steps": 3, "data_used": "mnist-5k", "out_json": str(out)}
    assert on_disk["metrics"] == {"domain_fid": 12.5, "curve": [[1, 2.0]], "bad": None}
    assert not list(tmp_path.glob(".*tmp"))  # written atomically: no temp file left
    with pytest.raises(ValueError, match="out_json="):
        lesson.finish({}, str(tmp_path / "no" / "such" / "r.json"))
    with pytest.raises(TypeError, match="metrics"):
        lesson.finish([1, 2])
