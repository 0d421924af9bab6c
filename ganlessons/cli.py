"""The ``ganlessons`` console command.

    ganlessons run [LESSON ...] [-p NAME VALUE ...] [--out DIR]
        Execute lessons in order with papermill into a timestamped run folder. Each lesson
        writes its metrics to ``<lesson>.json`` there (its ``out_json`` parameter). A failing
        lesson is reported with its cell and error; the others still run.
    ganlessons lessons [LESSON ...]
        Each lesson's title and parameters: type, default and help text (``list``: one line each).
    ganlessons homework LESSON --grid NAME=V1,V2 [--grid ...] [--seeds 0,1,2] [-p NAME VALUE ...]
                       [--workers N | --scheduler ADDRESS] [--threads 1] [--timeout S] [--out DIR]
        Run every combination as a Dask task (an embedded LocalCluster, or a running scheduler),
        then write table.csv, one figure per metric and index.html into DIR (default
        runs/homework/<lesson>). Re-running the command skips the runs already complete.
    ganlessons handout LESSON ... / ganlessons grade NOTEBOOK|FOLDER ...
        Learners' copies of lessons; grading of their work (``ganlessons.course.handout``, ``.grade``).
    ganlessons train-classifier DOMAIN
        Retrain the shipped domain classifier used by ``domain_fid`` (mnist or fashion-mnist).
    ganlessons pretrain NAME [--device auto] [--steps N] [--out DIR] [--nproc N]
        Retrain a shipped generator (gan, cgan, dcgan, wgan, wgan-gp, pggan, stylegan) from its
        card's recipe, measure it and write its weights and card (into the package unless --out is
        given); with --nproc N on N processes (GPUs or CPU processes) through torchrun and DDP
        (``ganlessons.pretrain``).
    ganlessons pretrained
        List the shipped generators with their cards' figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path

__all__ = ["main", "find_lessons", "parse_value", "run_lessons"]


def notebooks_dir(explicit: str | None = None) -> Path:
    """``--notebooks``, else ``./notebooks``, else the checkout this package was installed from."""
    candidates = [Path(explicit)] if explicit else [Path.cwd() / "notebooks",
                                                    Path(__file__).resolve().parents[1] / "notebooks"]
    for c in candidates:
        if c.is_dir() and any(c.glob("[0-9][0-9]_*.ipynb")):
            return c
    where = ", ".join(str(c) for c in candidates)
    raise SystemExit(f"ganlessons: no lessons (NN_name.ipynb) found in {where}; "
                     "run from the course folder or pass --notebooks DIR")


def find_lessons(folder: Path, wanted: list[str]) -> list[Path]:
    """Lessons in course order; ``wanted`` entries match '01', '01_gan', 'gan' or a file name."""
    all_ = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not wanted:
        return all_
    chosen = []
    for w in wanted:
        key = Path(w).stem.lower()
        hits = [p for p in all_ if key in (p.stem.lower(), p.stem[:2], p.stem[3:].lower())]
        if not hits:
            from .course.lessons import InvalidInput

            names = ", ".join(p.stem for p in all_)
            raise InvalidInput(f"LESSON: no lesson matches {w!r}; the lessons are: {names}")
        chosen += [h for h in hits if h not in chosen]
    return sorted(chosen)


def parse_value(text: str):
    """'3' → 3, '0.5' → 0.5, 'true' → True, '[1, 2]' → [1, 2], anything else stays a string."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _declared(nb: Path) -> dict:
    import papermill as pm

    return pm.inspect_notebook(str(nb))


# the kernels' quiet start, and kernels on Unix sockets (no TCP port race with another kernel that
# starts at the same moment, papermill #511: it stalled the README's test beside other kernels)
from .course.execute import KERNEL_ARGS, KERNEL_MANAGER  # noqa: E402


class _CellProgress:
    """One line a code cell while a lesson runs: its number, its first line, and its time if long."""

    def __init__(self, lesson: str, n_code: int, quiet: bool):
        self.lesson, self.n_code, self.quiet = lesson, n_code, quiet
        self.k, self.t0 = 0, time.perf_counter()

    def start(self, cell, cell_index, **_):
        if cell.cell_type != "code":
            return
        self.k += 1
        self.t0 = time.perf_counter()
        if not self.quiet:
            first = next((ln.strip() for ln in cell.source.splitlines() if ln.strip() and not ln.startswith("#")),
                         cell.source.strip().splitlines()[0] if cell.source.strip() else "")
            print(f"    {self.lesson} cell {self.k:>2}/{self.n_code}  {first[:70]}", flush=True)

    def complete(self, cell, cell_index, **_):
        took = time.perf_counter() - self.t0
        if cell.cell_type == "code" and not self.quiet and took >= 5:
            print(f"    {self.lesson} cell {self.k:>2}/{self.n_code}  done in {took:.1f} s", flush=True)


def run_lessons(lessons: list[Path], params: dict, out_dir: Path, progress: bool = True) -> list[dict]:
    """Execute each lesson; return one record per lesson (name, ok, seconds, error, metrics).

    Every path is made absolute before papermill runs a lesson: papermill executes a notebook
    with the notebooks folder as its working directory, so a relative ``out_json`` would be
    written (or not found) there.
    """
    import nbformat
    import papermill as pm

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    unused = set(params)
    records = []
    for i, nb in enumerate(lessons, 1):
        nb = Path(nb).resolve()
        declared = _declared(nb)
        mine = {k: v for k, v in params.items() if k in declared}
        unused -= set(mine)
        out_json = out_dir / f"{nb.stem}.json"
        mine["out_json"] = str(out_json)
        if "progress" in declared and "progress" not in params:
            mine["progress"] = False  # the per-cell lines below are the progress in a terminal
        shown = {k: v for k, v in mine.items() if k not in ("out_json", "progress")}
        print(f"[{i}/{len(lessons)}] {nb.stem}" + (f"  {json.dumps(shown)}" if shown else ""), flush=True)
        n_code = sum(c.cell_type == "code" for c in nbformat.read(str(nb), as_version=4).cells)
        cells = _CellProgress(nb.stem, n_code + 1, quiet=not progress)  # + papermill's parameters cell
        t0 = time.perf_counter()
        record = {"lesson": nb.stem, "notebook": str(out_dir / nb.name), "out_json": str(out_json)}
        try:
            pm.execute_notebook(str(nb), str(out_dir / nb.name), parameters=mine, progress_bar=False,
                                cwd=str(nb.parent), kernel_name="python3", extra_arguments=KERNEL_ARGS,
                                **KERNEL_MANAGER,
                                on_cell_start=cells.start, on_cell_complete=cells.complete)
            record["ok"] = True
        except pm.PapermillExecutionError as err:
            record.update(ok=False, cell=err.exec_count, error=f"{err.ename}: {err.evalue}")
        except Exception as err:  # kernel died, notebook unreadable …
            record.update(ok=False, cell=None, error=f"{type(err).__name__}: {err}")
        record["seconds"] = round(time.perf_counter() - t0, 1)
        if out_json.is_file():
            try:
                record["metrics"] = json.loads(out_json.read_text()).get("metrics", {})
            except ValueError:
                record["metrics"] = {}
        elif record["ok"]:  # ran, but its out_json cell wrote nothing: say so, never report a phantom file
            record.update(ok=False, cell=None, error=f"the lesson ran but wrote no metrics to {out_json}")
        if record["ok"]:
            print(f"    ok in {record['seconds']} s  metrics: {_brief(record.get('metrics', {}))}", flush=True)
        else:
            where = (f"at cell In [{record['cell']}] of the executed notebook" if record.get("cell") is not None
                     else "")
            print(f"    FAILED {where} after {record['seconds']} s: {record['error']}", flush=True)
        records.append(record)
    for k in sorted(unused):
        print(f"warning: no lesson run has a parameter named {k!r}; it was ignored", file=sys.stderr)
    return records


def _brief(metrics: dict) -> str:
    """The scalar metrics of a lesson, rounded: one readable line."""
    out = []
    for k, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        out.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return ", ".join(out[:8]) or "(none)"


def _cmd_run(args) -> int:
    folder = notebooks_dir(args.notebooks)
    lessons = find_lessons(folder, args.lessons)
    params = {name: parse_value(value) for name, value in (args.param or [])}
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out_dir = (Path(args.out) / stamp).resolve()  # relative to where the command was started
    print(f"ganlessons: running {len(lessons)} lesson(s) from {folder} into {out_dir}", flush=True)
    t0 = time.perf_counter()
    records = run_lessons(lessons, params, out_dir, progress=not args.quiet)
    summary = out_dir / "summary.json"
    summary.write_text(json.dumps(records, indent=2))
    failed = [r for r in records if not r["ok"]]
    print()
    print(f"{len(records) - len(failed)} of {len(records)} lesson(s) ok, {len(failed)} failed, "
          f"in {time.perf_counter() - t0:.0f} s")
    for r in records:
        status = "ok    " if r["ok"] else "FAILED"
        print(f"  {status} {r['lesson']:<16} {r['seconds']:>7.1f} s")
    print(f"Executed notebooks and each lesson's metrics (<lesson>.json): {out_dir}")
    print(f"Summary: {summary}")
    from .course.report import run_report

    print(f"Report (final samples, metrics, wall times): {run_report(records, out_dir)}")
    return 1 if failed else 0


def _cmd_list(args) -> int:
    folder = notebooks_dir(args.notebooks)
    for nb in find_lessons(folder, []):
        params = _declared(nb)
        print(f"{nb.stem}: " + ", ".join(f"{k}={v['default']}" for k, v in params.items()))
    return 0


def _cmd_lessons(args) -> int:
    from .course.lessons import declared, lesson_title

    folder = notebooks_dir(args.notebooks)
    for nb in find_lessons(folder, args.lessons):
        title = lesson_title(nb)
        print(f"{nb.stem}" + (f" — {title}" if title else ""))
        params = declared(nb).values()
        width = max((len(p.name) + len(p.type) for p in params), default=0) + 2
        for p in params:
            head = f"{p.name}: {p.type}".ljust(width + 1)
            print(f"    {head} = {p.default:<10}" + (f"  # {p.help}" if p.help else ""))
        print()
    return 0


def _cmd_train_classifier(args) -> int:
    from . import data as D
    from . import metrics as M

    if args.domain == "mnist":
        train, held_out = D.load("mnist-5k", device="cpu").split(4000)
    else:
        train = D.load("fashion-mnist", device="cpu")
        held_out = D.load("fashion-mnist", device="cpu", train=False)
    net = M.train_domain_classifier(train, epochs=args.epochs, progress=True)
    acc = M.classifier_accuracy(net, held_out)
    path = M.save_classifier(net, args.domain, {"train": len(train), "held_out": len(held_out),
                                                "held_out_accuracy": acc, "epochs": args.epochs})
    print(f"{args.domain}: held-out accuracy {acc:.4f} on {len(held_out)} images; saved {path}")
    return 0


def _cmd_pretrained(args) -> int:
    from . import pretrained as P

    cards = P.available()
    if not cards:
        print("no pretrained generators are installed")
    for name, c in cards.items():
        f = c["figures"]
        extra = f", class_accuracy {f['class_accuracy']}" if "class_accuracy" in f else ""
        print(f"{name:<8} lesson {c['lesson']}: domain_fid {f['domain_fid']} = {f['fid_over_floor']}x floor "
              f"{f['floor']}; classes {f['histogram_min']:.1%}-{f['histogram_max']:.1%}; nearest-training ratio "
              f"{f['memorisation']['feature']['ratio']} (features), {f['memorisation']['pixel']['ratio']} (pixels)"
              f"{extra}; {c['training']['generator_steps']} steps, {c['training']['wall_seconds']:.0f} s on "
              f"{c['training']['device']}; {c['size_bytes'] / 1e6:.2f} MB")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ganlessons", description="Run and maintain the GAN course.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute lessons with papermill into a timestamped run folder")
    run.add_argument("lessons", nargs="*", metavar="LESSON", help="e.g. 01 or 01_gan or gan (default: all)")
    run.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"),
                     help="set a lesson parameter, e.g. -p n_steps 200 -p dataset mnist-5k")
    run.add_argument("--out", default="runs", help="parent folder of the run folders (default: runs)")
    run.add_argument("--notebooks", help="folder of the lesson notebooks (default: ./notebooks)")
    run.add_argument("--quiet", action="store_true", help="no per-cell progress bars")
    run.set_defaults(fn=_cmd_run)
    ls = sub.add_parser("list", help="list the lessons and their parameters, one line each")
    ls.add_argument("--notebooks")
    ls.set_defaults(fn=_cmd_list)
    les = sub.add_parser("lessons", help="each lesson's parameters: type, default, help text")
    les.add_argument("lessons", nargs="*", metavar="LESSON", help="e.g. 05 (default: all)")
    les.add_argument("--notebooks", help="folder of the lesson notebooks (default: ./notebooks)")
    les.set_defaults(fn=_cmd_lessons)
    from .course import homework as H

    hw = sub.add_parser("homework", help="sweep one lesson over a grid of parameters and seeds (Dask)")
    H.add_arguments(hw)
    hw.set_defaults(fn=H.run)
    # hand-outs and grading live in their own modules, each with its options and its command
    from .course import grade, handout

    for name, module, text in (("handout", handout, "write learners' copies of lessons (exercises without solutions)"),
                               ("grade", grade, "run learners' copies on Dask and score their exercises")):
        cmd = sub.add_parser(name, help=text, description=(module.__doc__ or "").split("\n\n")[0])
        module.add_arguments(cmd)
        cmd.set_defaults(fn=module.run)
    tc = sub.add_parser("train-classifier", help="retrain a shipped domain classifier")
    tc.add_argument("domain", choices=["mnist", "fashion-mnist"])
    tc.add_argument("--epochs", type=int, default=30)
    tc.set_defaults(fn=_cmd_train_classifier)
    from . import pretrain

    pt = sub.add_parser("pretrain", help="retrain a shipped generator from its card's recipe (--nproc N: DDP)",
                        description=pretrain.__doc__.split("\n\n")[0])
    pretrain.add_arguments(pt)
    pt.set_defaults(fn=pretrain.run)
    ls2 = sub.add_parser("pretrained", help="list the shipped generators and their figures")
    ls2.set_defaults(fn=_cmd_pretrained)
    args = parser.parse_args(argv)
    args.argv = argv
    if getattr(args, "workers", None) and getattr(args, "scheduler", None):
        parser.error("--workers starts a local cluster and --scheduler uses a running one; give one of them")
    if getattr(args, "names", None):
        from .pretrained import _check_name
        try:
            args.names = [_check_name(n) for n in args.names]
        except ValueError as err:
            parser.error(str(err))
    from .course.lessons import InvalidInput

    try:
        return args.fn(args)
    except InvalidInput as err:  # refused before anything ran: the message, not a traceback
        print(f"ganlessons {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
