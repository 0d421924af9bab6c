"""Wall time of a homework sweep of lesson 05 (WGAN-GP) with 1 and then 2 Dask workers, one run.

The sweep is ``ganlessons homework 05 --grid lr=1e-4,2e-4 --grid lambda_gp=1,10 --seeds 0,1`` at
the notebook tests' small budget (40 generator steps of batch 32 on mnist-5k, 500 images per side
for domain_fid, 10-step toy runs; tests/test_notebooks.py's SMALL and SMALL_BUDGETS), each run one
torch thread. Each side starts from an empty folder, so nothing is skipped, and its wall time
includes starting the LocalCluster, what a user waits for. Also printed: the sum of the runs' own
times (papermill start to end), whose ratio to the wall time is the parallelism achieved.

    python benchmarks/homework_sweep.py [--size 2] [--workers 1,2] [--json FILE]

``--size 1`` runs a 1×1×1 sweep (one run per side): a check that the script works, in a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # this process only collects; the kernels get 1 thread each anyway

ROOT = Path(__file__).resolve().parents[1]
GRID = {"lr": ["1e-4", "2e-4"], "lambda_gp": ["1", "10"]}
SEEDS = ["0", "1"]
SMALL = {"dataset": "mnist-5k", "n_steps": "40", "batch_size": "32", "n_eval": "500", "toy_steps": "10"}


def sweep_once(workers: int, size: int, folder: Path) -> dict:
    """Run the sweep into ``folder`` with ``workers`` local workers; its wall time and run times."""
    from ganlessons.course import homework as H

    grid = [f"{k}={','.join(v[:size])}" for k, v in GRID.items()]
    sweep = H.plan(ROOT / "notebooks" / "05_wgan_gp.ipynb", grid, ",".join(SEEDS[:size]), list(SMALL.items()),
                   folder)
    t0 = time.perf_counter()
    counts = H.run_sweep(sweep, workers=workers, progress=True)
    wall = time.perf_counter() - t0
    rows = H.collect(sweep)
    bad = [r for r in rows if r["status"] != "ok"]
    if bad or counts["skipped"]:
        raise SystemExit(f"the sweep did not run cleanly: {counts}, failed: {[(r['key'], r['error']) for r in bad]}")
    return {"workers": workers, "runs": len(rows), "wall_seconds": round(wall, 1),
            "sum_of_run_seconds": round(sum(r["seconds"] for r in rows), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=2, choices=[1, 2], help="values per axis: 2 = the 2×2×2 sweep")
    ap.add_argument("--workers", default="1,2", help="worker counts to compare, in this order")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    results = []
    base = Path(tempfile.mkdtemp(prefix="ganlessons-sweep-bench-"))
    try:
        for w in [int(x) for x in args.workers.split(",")]:
            r = sweep_once(w, args.size, base / f"workers-{w}")
            results.append(r)
            print(f"{w} worker(s): {r['runs']} runs in {r['wall_seconds']} s wall "
                  f"(runs' own times sum to {r['sum_of_run_seconds']} s)", flush=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if len(results) >= 2:
        ratio = results[0]["wall_seconds"] / results[-1]["wall_seconds"]
        print(f"speed-up {results[0]['workers']} → {results[-1]['workers']} workers: {ratio:.2f}x "
              f"on {os.cpu_count()} CPU core(s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu_count": os.cpu_count(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
