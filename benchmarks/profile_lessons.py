"""Where a lesson's time goes: every lesson at its defaults, cell by cell, as a table.

Each lesson runs as ``ganlessons run`` runs it (papermill, a fresh kernel, its default parameters,
progress bars off); papermill records each cell's wall time in the executed notebook. The table
lists, per lesson, the total, the share of its slowest cells and what each of them does (the
cell's first line), so time that does not teach stands out.

    python benchmarks/profile_lessons.py [LESSON ...] [--top 6] [--json out.json] [--notebooks DIR] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def first_line(source: str) -> str:
    for line in source.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line[:70]
    return source.strip().splitlines()[0][:70] if source.strip() else "(empty)"


def profile(nb_path: Path, params: dict, keep: Path | None = None) -> dict:
    import papermill as pm

    with tempfile.TemporaryDirectory() as tmp:
        out = (keep or Path(tmp)) / nb_path.name
        t0 = time.perf_counter()
        nb = pm.execute_notebook(str(nb_path), str(out), parameters=params, cwd=str(nb_path.parent),
                                 progress_bar=False, kernel_name="python3",
                                 extra_arguments=["--IPKernelApp.log_level=ERROR"])
        wall = time.perf_counter() - t0
    cells = []
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        dur = (cell.metadata.get("papermill") or {}).get("duration") or 0.0
        cells.append({"cell": i, "seconds": round(float(dur), 2), "what": first_line(cell.source)})
    return {"lesson": nb_path.stem, "wall_seconds": round(wall, 1),
            "cells_seconds": round(sum(c["seconds"] for c in cells), 1), "cells": cells}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("lessons", nargs="*", help="e.g. 01 03 (default: all)")
    ap.add_argument("--top", type=int, default=6, help="slowest cells to list per lesson")
    ap.add_argument("--json", help="also write the full per-cell table here")
    ap.add_argument("--notebooks", default=str(ROOT / "notebooks"))
    ap.add_argument("--keep", help="keep the executed notebooks in this folder (to read their outputs)")
    args = ap.parse_args(argv)
    from ganlessons.cli import find_lessons

    lessons = find_lessons(Path(args.notebooks).resolve(), args.lessons)
    results = []
    for nb in lessons:
        keep = Path(args.keep).resolve() if args.keep else None
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
        r = profile(nb, {"progress": False}, keep)
        results.append(r)
        print(f"\n{r['lesson']}: {r['wall_seconds']:.1f} s wall ({r['cells_seconds']:.1f} s in cells, "
              f"the rest is the kernel's start)", flush=True)
        print(f"  {'cell':>4} {'s':>7} {'share':>6}  first line")
        for c in sorted(r["cells"], key=lambda c: -c["seconds"])[:args.top]:
            print(f"  {c['cell']:>4} {c['seconds']:>7.1f} {c['seconds'] / max(r['cells_seconds'], 1e-9):>6.0%}  {c['what']}")
    print(f"\n{'lesson':<14} {'wall s':>8}")
    for r in results:
        print(f"{r['lesson']:<14} {r['wall_seconds']:>8.1f}")
    print(f"{'total':<14} {sum(r['wall_seconds'] for r in results):>8.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
