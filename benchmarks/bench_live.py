"""What the live training view costs: a lesson's training cell with and without it, in one run.

Runs in a real Jupyter kernel (the view only draws there): lesson 00's training (the 28×28 DCGAN,
z = 100, nf = 32, batch 64 on mnist-5k, seed 0) once with ``live=False`` and once with
``live=True``, alternating, best of ``--rounds`` each, and checks that both runs trained
identically. Prints the training seconds, the frames drawn, frames per minute, the time spent
drawing, and the overhead as a ratio.

    .venv/bin/python benchmarks/bench_live.py [--steps 1200] [--every 3] [--rounds 2]
"""

import argparse
import json

import nbformat
from nbclient import NotebookClient

CELL = """
import json, time, torch, ganlessons as gl
data = gl.data.load("mnist-5k", device="cpu")
def run(live):
    gl.seed_everything(0)
    G, D = gl.models.DCGANGenerator28(100, nf=32), gl.models.DCGANDiscriminator28(nf=32)
    t = gl.train.fit(G, D, data, n_steps={steps}, batch_size=64, lr=2e-4, seed=0, device="cpu",
                     progress=True, live=live, live_every={every})
    return t
results = {{"off": [], "on": []}}
histories = {{}}
for r in range({rounds}):
    for mode in ("off", "on"):
        t = run(mode == "on")
        v = t.live_view
        results[mode].append({{"seconds": t.seconds, "frames": v.frames if v else 0,
                               "draw_seconds": v.draw_seconds if v else 0.0}})
        histories[mode] = t.history
same = histories["on"] == histories["off"]
print("RESULT", json.dumps({{"results": results, "same_training": same, "threads": torch.get_num_threads()}}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--every", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL.format(steps=args.steps, every=args.every, rounds=args.rounds))]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=3600, startup_timeout=300, kernel_name="python3",
                   extra_arguments=["--IPKernelApp.log_level=ERROR"]).execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    out = json.loads(text.split("RESULT", 1)[1].strip().splitlines()[0])
    best = {m: min(rs, key=lambda r: r["seconds"]) for m, rs in out["results"].items()}
    off, on = best["off"], best["on"]
    print(f"lesson 00's training: {args.steps} steps, batch 64, CPU, {out['threads']} torch threads, "
          f"a frame every {args.every:g} s, best of {args.rounds}")
    print(f"  live off: {off['seconds']:7.1f} s")
    print(f"  live on : {on['seconds']:7.1f} s   {on['frames']} frames = {60 * on['frames'] / on['seconds']:.1f} a minute, "
          f"{on['draw_seconds']:.2f} s drawing ({1e3 * on['draw_seconds'] / max(on['frames'], 1):.0f} ms a frame)")
    print(f"  overhead: {on['seconds'] / off['seconds']:.3f}x  ({100 * (on['seconds'] / off['seconds'] - 1):+.1f} %); "
          f"drawing alone {100 * on['draw_seconds'] / off['seconds']:.1f} % of the training time")
    print(f"  same losses with and without the view: {out['same_training']}")
    print("  all rounds:", json.dumps(out["results"]))


if __name__ == "__main__":
    main()
