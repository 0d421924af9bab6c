"""``ganlessons pretrain NAME``: retrain a shipped generator, in one process or in several with DDP.

    ganlessons pretrain dcgan                        # one process, on the best device
    ganlessons pretrain dcgan --nproc 4              # four processes (four GPUs, or CPU processes)
    torchrun --standalone --nproc-per-node 4 -m ganlessons.pretrain dcgan     # the same, by hand

``--nproc N`` starts ``torchrun`` (``torch.distributed.run``, part of torch) with this module; each
process joins the group (:func:`ganlessons.distributed.init`: NCCL on GPUs, gloo on CPUs) and trains
its share of the recipe's batch (:class:`ganlessons.distributed.DistributedTrainer`); process 0
measures the EMA generator and writes the weights and card (:func:`ganlessons.pretrained.pretrain`).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["add_arguments", "run", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="+", metavar="NAME", help="gan, cgan, dcgan, wgan, wgan-gp, pggan or stylegan")
    parser.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cpu, cuda …")
    parser.add_argument("--steps", type=int, default=None, help="generator steps (default: the card's)")
    parser.add_argument("--out", default=None, help="write here instead of into the installed package")
    parser.add_argument("--eval-every", type=int, default=None, help="print the held-out domain_fid every N steps")
    parser.add_argument("--nproc", type=int, default=1,
                        help="processes to train with (DistributedDataParallel via torchrun): one per GPU, or "
                             "CPU processes; the recipe's batch is shared among them (default 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--measure-only", action="store_true",
                        help="measure the installed weights again and rewrite only the card's figures")


def _child_argv(args) -> list[str]:
    argv = list(args.names) + ["--device", args.device]
    for flag, value in (("--steps", args.steps), ("--out", args.out), ("--eval-every", args.eval_every)):
        if value is not None:
            argv += [flag, str(value)]
    if args.quiet:
        argv.append("--quiet")
    return argv


def _launch(args) -> int:
    """Start ``torchrun`` with this module on ``args.nproc`` processes of this machine; its exit code."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}",
           "-m", "ganlessons.pretrain", *_child_argv(args)]
    print(f"pretrain: {args.nproc} processes: {' '.join(cmd[1:])}", flush=True)
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own default for several processes, without its banner
    return subprocess.run(cmd, env=env).returncode


def run(args) -> int:
    from . import distributed as dist
    from . import pretrained as P

    if args.nproc < 1:
        print(f"ganlessons pretrain: error: --nproc must be a positive number of processes, got {args.nproc}",
              file=sys.stderr)
        return 2
    if args.steps is not None and args.steps < 1:
        print(f"ganlessons pretrain: error: --steps must be a positive number of generator steps, got {args.steps}",
              file=sys.stderr)
        return 2
    under_torchrun = "TORCHELASTIC_RUN_ID" in os.environ or ("WORLD_SIZE" in os.environ and "LOCAL_RANK" in os.environ)
    if args.nproc > 1 and not under_torchrun:
        if args.measure_only:
            print("ganlessons pretrain: error: --measure-only measures in one process; leave out --nproc",
                  file=sys.stderr)
            return 2
        return _launch(args)
    folder = Path(args.out).resolve() if args.out else None
    if under_torchrun:  # NCCL when the processes train on GPUs, gloo on CPUs (--device cpu on a GPU machine too)
        try:
            dist.init(device=args.device)
            dist.local_device(args.device)  # one GPU a process: a clear error where there are too few
        except ValueError as err:
            print(f"ganlessons pretrain: error: {err}", file=sys.stderr)
            return 2
    try:
        for name in args.names:
            if args.measure_only:
                f = P.remeasure(name, folder)["figures"]
                print(f"{name}: domain_fid {f['domain_fid']} (floor {f['floor']}, {f['fid_over_floor']}x); "
                      f"card rewritten: {P.card_path(name, folder)}", flush=True)
                continue
            if dist.is_main():
                n = dist.world_size()
                print(f"pretrain {name}: training on {args.device}" + (f", {n} processes" if n > 1 else "") + " …",
                      flush=True)
            info = P.pretrain(name, device=args.device, n_steps=args.steps, folder=folder,
                              progress=not args.quiet, eval_every=args.eval_every)
            dist.barrier()  # the others wait while process 0 measures, before the next name's DDP starts
            if not info:  # not process 0
                continue
            f, t = info["figures"], info["training"]
            print(f"{name}: {t['generator_steps']} steps in {t['wall_seconds']} s on {t['device']}"
                  + (f" × {t['processes']} processes" if t.get("processes", 1) > 1 else "")
                  + f"; domain_fid {f['domain_fid']} (floor {f['floor']}, {f['fid_over_floor']}x); "
                  f"saved {P.weights_path(name, folder)}", flush=True)
    finally:
        dist.shutdown()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ganlessons.pretrain", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    from .pretrained import _check_name
    try:
        args.names = [_check_name(n) for n in args.names]
    except ValueError as err:
        parser.error(str(err))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
