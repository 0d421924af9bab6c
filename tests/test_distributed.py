"""ganlessons.distributed: DDP on torchrun, tested on CPU processes with the gloo backend.

``tests/_ddp_run.py`` runs once under ``torchrun --nproc-per-node 2`` and once as a plain process (a
group of one); process 0 writes what it measured and trained, beside single-process references.
"""

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import ganlessons as gl
from ganlessons import distributed as dist

SCRIPT = Path(__file__).with_name("_ddp_run.py")


def _run(tmp_path_factory, nproc: int | None) -> dict:
    folder = tmp_path_factory.mktemp(f"ddp{nproc}")
    out = folder / "result.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(folder)}  # torchrun's log folders go there
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID"):
        env.pop(var, None)
    launcher = [] if nproc is None else ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    done = subprocess.run([sys.executable, *launcher, str(SCRIPT), str(out)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    return _run(tmp_path_factory, 2)


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    return _run(tmp_path_factory, None)  # not under torchrun: init() makes a group of one


def _max_diff(a, b):
    return max(abs(x - y) for u, v in zip(a, b) for x, y in zip(u if isinstance(u, list) else [u],
                                                                  v if isinstance(v, list) else [v]))


def test_two_processes_take_the_single_process_step_on_the_same_global_batch(two):
    """Fixed global batches split over 2 processes: DDP's averaged gradients give the plain trainer's run.

    WGAN loss, R1 and drift (the penalty's double backward inside one backward), 2 critic steps,
    6 generator steps; the logged losses are the mean over both processes, that is the whole batch's.
    """
    e, ref = two["exact"], two["exact_reference"]
    assert two["world"] == 2 and two["backend"] == "gloo"
    for name in ("d_loss", "g_loss", "r1", "drift", "d_real", "d_fake"):
        assert len(e["history"][name]) == 6
        assert _max_diff(e["history"][name], ref["history"][name]) < 1e-5, name
    assert _max_diff(e["G"], ref["G"]) < 1e-5 and _max_diff(e["D"], ref["D"]) < 1e-5
    assert e["copies_differ_by"] == 0.0             # every process's copy of G and D holds the same weights
    assert e["images_seen"] == ref["images_seen"] == 6 * 2 * 16


def test_two_processes_match_one_process_losses_within_tolerance(two):
    """Lesson 03's DCGAN (BatchNorm in G and D: broadcast_buffers off), 40 steps at a global batch of 32:
    2 processes of 16 and 1 process of 32 draw different z, so the losses differ step by step, but
    their means over stretches of the run agree (measured: within 0.04; allowed: 0.12)."""
    d, ref = two["dcgan"], two["dcgan_reference"]
    d, ref = ({**run, "history": {k: v[:40] for k, v in run["history"].items()}} for run in (d, ref))
    assert d["share"] == 16 and ref["share"] == 32 and d["images_seen"] == ref["images_seen"] == 40 * 32
    assert d["copies_differ_by"] == 0.0  # the gradients were averaged: both copies took the same steps
    for name in ("d_loss", "g_loss"):
        a, b = d["history"][name], ref["history"][name]
        assert a != b                                # other streams of z: not the same numbers
        for part in (slice(0, 10), slice(10, 20), slice(20, 40)):
            assert abs(statistics.mean(a[part]) - statistics.mean(b[part])) < 0.12, (name, part)


def test_each_process_draws_its_own_z(two, one):
    """Process r seeds its stream with seed·world + r: the two draw different z; one process draws the plain seed's."""
    firsts = two["dcgan"]["first_z_per_process"]
    assert len(firsts) == 2 and firsts[0] != firsts[1]
    gl.seed_everything(0)
    assert one["dcgan"]["first_z"] == torch.randn(32, 32)[0, :4].tolist()  # one process: the plain seed


def test_pggan_grows_through_its_levels_on_two_processes(two):
    """Unused layers at the lower levels (find_unused_parameters), Adam resets, faded reals, GP and drift."""
    p = two["pggan"]
    assert p["lod"] == 0.0 and p["resets"] == 6 and p["images_seen"] == 30 * 16
    assert p["copies_differ_by"] == 0.0
    assert all(v == v and abs(v) < 1e6 for v in p["history"]["d_loss"])


def test_a_time_budget_stops_every_process_at_the_same_step(two):
    """``fit(seconds=1)``: each process has its own clock; they agree on the step to stop at (else DDP hangs)."""
    steps = two["dcgan"]["steps_per_process"]
    assert len(set(steps)) == 1 and steps[0] > 40


def test_cuda_graphs_are_refused_with_ddp(two):
    assert "CUDA graphs are not used with DistributedDataParallel here" in two["refused_graphs"]
    assert "fast=None, True, False or FastPath(graphs=False)" in two["refused_graphs"]


def test_the_backend_follows_the_device():
    assert dist.backend_for("cpu") == "gloo"
    assert dist.backend_for("auto") == ("nccl" if torch.cuda.is_available() else "gloo")


def test_one_process_is_exactly_the_plain_trainer(one):
    """Outside torchrun a group of one: the DDP-wrapped run is the plain trainer's, number for number."""
    assert one["world"] == 1
    first_40 = lambda run: {k: v[:40] for k, v in run["history"].items()}  # (then each trained on for a second)
    assert first_40(one["dcgan"]) == first_40(one["dcgan_reference"])
    assert one["exact"]["history"] == one["exact_reference"]["history"]


def test_share_of_the_global_batch():
    D = gl.models.ProgressiveDiscriminator(max_resolution=32, fmap_base=64, fmap_max=16)  # minibatch stddev, groups of 4
    assert dist.share_of(64, 4) == 16 and dist.share_of(16, 2, D) == 8 and dist.share_of(8, 4, D) == 2
    with pytest.raises(ValueError, match=r"batch_size=30 \(the global batch\) must be divisible by the 4 processes"):
        dist.share_of(30, 4)
    with pytest.raises(ValueError, match="6 images, which do not divide into minibatch-stddev groups of 4"):
        dist.share_of(24, 4, D)
    with pytest.raises(ValueError, match="n_processes"):
        dist.share_of(8, 0)


def test_distributed_trainer_needs_a_process_group():
    G, D = gl.models.MLPGenerator(8), gl.models.MLPDiscriminator()
    with pytest.raises(RuntimeError, match="start the script with torchrun"):
        dist.DistributedTrainer(G, D, gl.data.load("ring-8", device="cpu"))
    assert not dist.is_distributed() and dist.rank() == 0 and dist.world_size() == 1 and dist.is_main()
    with pytest.raises(ValueError, match="backend must be 'nccl', 'gloo' or None"):
        dist.init("mpi")


def test_pretrain_refuses_bad_process_counts(capsys):
    from ganlessons.cli import main

    assert main(["pretrain", "gan", "--nproc", "0"]) == 2
    assert "--nproc must be a positive number of processes, got 0" in capsys.readouterr().err
    assert main(["pretrain", "gan", "--nproc", "2", "--measure-only"]) == 2
    assert "--measure-only measures in one process" in capsys.readouterr().err


def test_pretrain_on_two_processes_writes_a_loadable_generator(tmp_path):
    """``ganlessons pretrain gan --nproc 2``: torchrun, two gloo processes, process 0 measures and writes."""
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # torchrun's log folders go there, not into /tmp
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID"):
        env.pop(var, None)
    done = subprocess.run([sys.executable, "-m", "ganlessons.cli", "pretrain", "gan", "--nproc", "2", "--steps", "8",
                           "--device", "cpu", "--out", str(tmp_path), "--quiet"], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert "× 2 processes" in done.stdout and done.stdout.count("gan: 8 steps") == 1  # one writer
    card = json.loads((tmp_path / "gan.json").read_text())
    assert card["training"]["processes"] == 2 and card["training"]["images_seen"] == 8 * 64
    G = gl.pretrained.load("gan", device="cpu", folder=tmp_path)
    assert G(torch.randn(3, 100)).shape == (3, 1, 28, 28)
