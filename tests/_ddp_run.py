"""Run by tests/test_distributed.py under ``torchrun`` (gloo, CPU processes); process 0 writes a JSON file.

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/_ddp_run.py OUT.json

Three runs on every process, then single-process references on process 0 alone:

- ``exact``: fixed global batches (and z), each process taking its share, the MLP pair without
  BatchNorm, WGAN loss + R1 + drift, 2 critic steps; the reference is the plain trainer on the
  whole batches. DDP's averaged gradients make the two the same up to float rounding.
- ``dcgan``: lesson 03's DCGAN (BatchNorm in G and D) with the non-saturating loss on the recipe's
  streams (a z stream per process), global batch 32; the reference is one process, batch 32.
- ``pggan``: PGGAN through three level changes (unused layers, Adam resets, faded reals, GP, drift).
"""

import json
import os
import sys
import time

import torch

import ganlessons as gl
from ganlessons import distributed as dist

STEPS_EXACT, STEPS_DCGAN, STEPS_PGGAN = 6, 40, 30


class FixedBatches:
    """Global batches drawn once; each process takes its share of each, in turn (``sample``)."""

    def __init__(self, x: torch.Tensor, rank: int, world: int):
        self.x, self.rank, self.world, self.calls = x, rank, world, 0

    device = torch.device("cpu")

    def sample(self, batch_size, generator=None):
        batch = self.x[self.calls % len(self.x)]
        self.calls += 1
        part = batch[self.rank * batch_size:(self.rank + 1) * batch_size]
        assert part.shape[0] == batch_size
        return part, torch.zeros(batch_size, dtype=torch.long)

    def to(self, device):
        return self


def fixed_z(trainer, z: torch.Tensor, rank: int):
    """Replace the trainer's draws of z by the fixed global ones (the process's share of each)."""
    calls = [0]

    def draw():
        batch = z[calls[0] % len(z)]
        calls[0] += 1
        b = trainer.batch_size
        return batch[rank * b:(rank + 1) * b]

    trainer._z = draw


def spread(model) -> float:
    """The largest difference between the processes' copies of ``model``'s weights (0: all the same)."""
    if not dist.is_distributed():
        return 0.0
    mine = torch.cat([p.detach().flatten() for p in model.parameters()])
    most, least = mine.clone(), mine.clone()
    torch.distributed.all_reduce(most, op=torch.distributed.ReduceOp.MAX)
    torch.distributed.all_reduce(least, op=torch.distributed.ReduceOp.MIN)
    return float((most - least).abs().max())


def exact_run(trainer_cls, rank, world, **kw):
    gen = torch.Generator().manual_seed(123)
    x = torch.rand(64, 16, 1, 28, 28, generator=gen) * 2 - 1
    z = torch.randn(64, 16, 16, generator=gen)
    gl.seed_everything(7)
    G = gl.models.MLPGenerator(16, hidden=(32, 64), batchnorm=False)
    D = gl.models.MLPDiscriminator(hidden=(64, 32))
    tr = trainer_cls(G, D, FixedBatches(x, rank, world), batch_size=16, loss="wgan", n_critic=2,
                     d_regularizers=[gl.losses.R1Penalty(1.0), gl.losses.DriftPenalty()], lr=1e-3, betas=(0.5, 0.99),
                     progress=False, device="cpu", seed=7, **kw)
    fixed_z(tr, z, rank)
    tr.fit(n_steps=STEPS_EXACT)
    return {"history": tr.history, "G": [p.detach().flatten().tolist() for p in G.parameters()],
            "D": [p.detach().flatten().tolist() for p in D.parameters()], "images_seen": tr.images_seen,
            "copies_differ_by": max(spread(G), spread(D))}


def dcgan_run(trainer_cls, **kw):
    data = gl.data.load("mnist-5k", device="cpu")
    gl.seed_everything(0)
    G, D = gl.models.DCGANGenerator28(32, 16), gl.models.DCGANDiscriminator28(16)
    t0 = time.perf_counter()
    tr = trainer_cls(G, D, data, batch_size=32, progress=False, device="cpu", seed=0, **kw)
    tr.fit(n_steps=STEPS_DCGAN)
    out = {"history": tr.history, "seconds": time.perf_counter() - t0, "images_seen": tr.images_seen,
           "share": tr.batch_size, "copies_differ_by": max(spread(G), spread(D))}
    tr.fit(seconds=1.0)                    # a time budget: every process must stop at the same step
    out["steps_after_budget"] = tr.step
    tr._seed_streams()                     # the first z each process draws in a run of this seed
    out["first_z"] = tr._z()[0, :4].tolist()
    return out


def pggan_run(trainer_cls, **kw):
    data = gl.progressive.FadedReals(gl.data.load("mnist-5k", size=32, device="cpu"))
    gl.seed_everything(0)
    G = gl.models.ProgressiveGenerator(max_resolution=32, fmap_base=64, fmap_max=16)
    D = gl.models.ProgressiveDiscriminator(max_resolution=32, fmap_base=64, fmap_max=16)
    schedule = gl.progressive.ProgressiveSchedule(64, max_resolution=32)
    adam = lambda p: torch.optim.Adam(p, 1e-3, (0.0, 0.99))
    tr = trainer_cls(G, D, data, batch_size=16, loss="wgan", progress=False, device="cpu", seed=0, opt_d=adam,
                     opt_g=adam, d_regularizers=[gl.losses.GradientPenalty(), gl.losses.DriftPenalty()],
                     callbacks=[schedule])
    tr.fit(n_steps=STEPS_PGGAN)
    return {"history": tr.history, "lod": G.lod, "resets": len(schedule.resets), "images_seen": tr.images_seen,
            "copies_differ_by": max(spread(G), spread(D))}


def refused_graphs() -> str:
    """DistributedTrainer with CUDA graphs asked for: the message."""
    try:
        dist.DistributedTrainer(gl.models.MLPGenerator(8), gl.models.MLPDiscriminator(),
                                gl.data.load("mnist-5k", n=64, device="cpu"), batch_size=8, device="cpu",
                                fast=gl.fast.FastPath())
    except ValueError as err:
        return str(err)
    return ""


def main():
    out = sys.argv[1]
    torch.set_num_threads(1)
    rank, world = dist.init(device="cpu")
    result = {"world": world, "backend": torch.distributed.get_backend(), "refused_graphs": refused_graphs()}
    result["exact"] = exact_run(dist.DistributedTrainer, rank, world)
    result["dcgan"] = dcgan_run(dist.DistributedTrainer)
    result["pggan"] = pggan_run(dist.DistributedTrainer)
    for name, key in (("first_z", "first_z_per_process"), ("steps_after_budget", "steps_per_process")):
        gathered = [None] * world
        torch.distributed.all_gather_object(gathered, result["dcgan"][name])
        result["dcgan"][key] = gathered
    dist.shutdown()
    if rank == 0:  # references: one process, the whole batch (the plain trainer)
        result["exact_reference"] = exact_run(gl.train.Trainer, 0, 1)
        result["dcgan_reference"] = dcgan_run(gl.train.Trainer)
        tmp = out + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(result, fh)
        os.replace(tmp, out)


if __name__ == "__main__":
    main()
