"""Scaling of DDP training from 1 to N processes, same model, same global batch, one run.

Each row starts ``torchrun --standalone --nproc-per-node N`` with this file; every process trains the
MNIST DCGAN of lesson 03 (or WGAN-GP) through :class:`ganlessons.distributed.DistributedTrainer` at
the same **global** batch (so each takes batch/N), and process 0 reports real images per second over
the timed steps (after a warm-up, between two barriers). On GPUs a process is a GPU (NCCL); on a CPU a
process is one CPU thread (gloo), and a last row gives one process with all threads for comparison.

    python benchmarks/bench_ddp.py [--nproc 1,2,4,8] [--model dcgan] [--batch-size 256] [--steps 40]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import torch

import ganlessons as gl
from ganlessons import distributed as dist


def worker(args) -> None:
    dist.init()
    dev = dist.local_device(args.device)
    data = gl.data.load("mnist-5k", device=dev)
    gl.seed_everything(1)
    wgan = args.model == "wgan-gp"
    G, D = gl.models.DCGANGenerator28(100, 32), gl.models.DCGANDiscriminator28(32, batchnorm=not wgan)
    kw = dict(loss="wgan", n_critic=5, d_regularizers=[gl.losses.GradientPenalty(10.0)], lr=1e-4,
              betas=(0.0, 0.9)) if wgan else {}
    tr = dist.DistributedTrainer(G, D, data, batch_size=args.batch_size, device=dev, progress=False, n_samples=16,
                                 log_every=10, **kw)
    tr.fit(n_steps=args.warmup)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    dist.barrier()
    t0 = time.perf_counter()
    tr.fit(n_steps=args.warmup + args.steps)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    dist.barrier()
    seconds = time.perf_counter() - t0
    if dist.is_main():
        img = args.steps * tr.n_critic * args.batch_size
        with open(args.out, "w") as fh:
            json.dump({"processes": dist.world_size(), "img_s": img / seconds, "seconds": seconds,
                       "device": str(dev), "threads": torch.get_num_threads()}, fh)
    dist.shutdown()


def launch(n: int, args, threads: int | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "row.json")
        env = {**os.environ, "OMP_NUM_THREADS": str(threads or 1)}
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}", __file__,
               "--worker", "--out", out, "--model", args.model, "--batch-size", str(args.batch_size),
               "--steps", str(args.steps), "--warmup", str(args.warmup), "--device", args.device]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"{n} processes failed:\n{done.stderr[-3000:]}")
        with open(out) as fh:
            return json.load(fh)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nproc", default=None, help="comma-separated process counts (default: 1 to the GPUs, or 1,2)")
    ap.add_argument("--model", default="dcgan", choices=["dcgan", "wgan-gp"])
    ap.add_argument("--batch-size", type=int, default=256, help="the global batch")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args)
    gpus = torch.cuda.device_count() if gl.pick_device(args.device).type == "cuda" else 0
    counts = [int(c) for c in args.nproc.split(",")] if args.nproc else \
        ([n for n in (1, 2, 4, 8) if n <= gpus] if gpus else [1, 2])
    kind = f"{gpus} × {torch.cuda.get_device_name()}" if gpus else f"CPU, {os.cpu_count()} cores, gloo"
    print(f"{args.model}, global batch {args.batch_size}, {args.steps} timed steps; {kind}; torch {torch.__version__}")
    rows = [launch(n, args) for n in counts]
    if not gpus:  # the fair single-process row on a CPU: all the cores as threads
        rows.append({**launch(1, args, threads=os.cpu_count()), "note": f"1 process, {os.cpu_count()} threads"})
    base = rows[0]["img_s"]
    print(f"{'processes':<24} {'img/s':>9} {'speed-up':>9} {'efficiency':>11}")
    for r in rows:
        label = r.get("note", str(r["processes"]))
        print(f"{label:<24} {r['img_s']:9.0f} {r['img_s'] / base:8.2f}x {r['img_s'] / base / r['processes']:10.0%}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
