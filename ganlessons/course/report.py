"""HTML pages: executed notebooks rendered with nbconvert, a sweep's index, a course run's report."""

from __future__ import annotations

import html
import itertools
import math
import re
from pathlib import Path

__all__ = ["render_notebook", "flatten_numbers", "sweep_figures", "sweep_index", "final_image", "run_report"]


def flatten_numbers(value, prefix: str) -> dict:
    """Numeric leaves of nested dicts: {"a": {"b": 1.5}} → {"metrics.a.b": 1.5} (lists are left out)."""
    if isinstance(value, dict):
        return {k: v for key, x in value.items() for k, v in flatten_numbers(x, f"{prefix}.{key}").items()}
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return {}
    return {prefix: value}


def render_notebook(executed: Path, target: Path) -> Path:
    """Render an executed notebook to one self-contained HTML page (outputs' images inline)."""
    import nbformat
    from nbconvert import HTMLExporter

    from ..utils import atomic_write_bytes

    nb = nbformat.read(str(executed), as_version=4)
    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nb)
    return atomic_write_bytes(body.encode("utf-8"), target)


_STYLE = """<style>
body { font-family: system-ui, sans-serif; margin: 2em; max-width: 80em; }
table { border-collapse: collapse; font-size: 0.85em; } td, th { border: 1px solid #ccc; padding: 0.2em 0.5em; }
th { background: #f4f4f4; } tr.failed td { background: #fde8e8; } td.num { text-align: right; }
img.figure { max-width: 32em; margin: 0.5em; border: 1px solid #eee; } img.grid { max-width: 24em; }
</style>"""


def _cell(value) -> str:
    if value is None:
        return "<td></td>"
    if isinstance(value, float):
        return f'<td class="num">{value:.5g}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f"<td>{html.escape(str(value))}</td>"


def _page(title: str, body: str) -> bytes:
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>{_STYLE}"
            f"</head><body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n").encode("utf-8")


def sweep_figures(rows: list[dict], grid: dict, folder: Path) -> list[Path]:
    """One PNG per numeric metric: the metric against the first swept parameter, one line per value
    of the others, mean ± standard deviation over seeds (each seed's value as a faint dot)."""
    import numpy as np
    from matplotlib.figure import Figure  # not pyplot: files only, and a notebook's backend stays as it is

    ok = [r for r in rows if r["status"] == "ok"]
    metrics = sorted({k for r in ok for k in r if k.startswith("metrics.")})
    swept = [k for k in grid if k != "seed"] or ["seed"]
    x_name, others = swept[0], swept[1:]
    xs = list(grid.get(x_name, sorted({r.get(x_name) for r in ok})))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    pos = {v: (v if numeric else i) for i, v in enumerate(xs)}
    present = {tuple(r[k] for k in others) for r in ok}
    groups = [g for g in itertools.product(*(grid[k] for k in others)) if g in present]  # the command's order
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):  # a metric of an earlier sweep into this folder must not linger
        old.unlink()
    out = []
    for m in metrics:
        fig = Figure(figsize=(6, 4))
        ax = fig.subplots()
        for g in groups:
            mine = [r for r in ok if tuple(r[k] for k in others) == g and m in r]
            at = [x for x in xs if any(r[x_name] == x for r in mine)]
            vals = [[r[m] for r in mine if r[x_name] == x] for x in at]
            mean = [float(np.mean(v)) for v in vals]
            spread = [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in vals]
            label = ", ".join(f"{k}={v}" for k, v in zip(others, g)) or None
            line = ax.errorbar([pos[x] for x in at], mean, yerr=spread, marker="o", capsize=4, label=label)
            for x, v in zip(at, vals):
                ax.plot([pos[x]] * len(v), v, ".", color=line[0].get_color(), alpha=0.35)
        if not numeric:
            ax.set_xticks(range(len(xs)), [str(x) for x in xs])
        elif min(xs) > 0 and max(xs) / min(xs) >= 100:  # learning rates and the like: a log axis
            ax.set_xscale("log")
        n_seeds = len(grid.get("seed", [None]))
        ax.set(xlabel=x_name, ylabel=m[len("metrics."):],
               title=f"{m[len('metrics.'):]}: mean ± std over {n_seeds} seed(s)")
        if others:
            ax.legend(fontsize=8)
        fig.tight_layout()
        path = folder / (re.sub(r"[^A-Za-z0-9._-]", "_", m[len("metrics."):]) + ".png")
        fig.savefig(path, dpi=90)
        out.append(path)
    return out


def sweep_index(rows: list[dict], cols: list[str], figures: list[Path], out: Path, title: str,
                command: str, notebook_name: str) -> Path:
    """index.html: the command, the table (each key linking to its executed notebook), the figures."""
    n_ok = sum(r["status"] == "ok" for r in rows)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body_rows = []
    for r in rows:
        run = f"runs/{r['key']}/"
        page = Path(notebook_name).with_suffix(".html").name
        link = (f'<a href="{html.escape(run + page)}">{html.escape(r["key"])}</a>'
                if (out / run / page).is_file() else html.escape(r["key"]))
        if (out / run / notebook_name).is_file():
            link += f' (<a href="{html.escape(run + notebook_name)}">ipynb</a>)'
        cells = "".join(_cell(r.get(c)) for c in cols[1:])
        cls = ' class="failed"' if r["status"] != "ok" else ""
        body_rows.append(f"<tr{cls}><td>{link}</td>{cells}</tr>")
    figs = "\n".join(f'<img class="figure" src="{html.escape(p.relative_to(out).as_posix())}" alt="{p.stem}">'
                     for p in figures)
    body = (f"<p><code>{html.escape(command)}</code></p>\n<p>{n_ok} of {len(rows)} runs ok. "
            f'The same table as CSV: <a href="table.csv">table.csv</a>.</p>\n'
            f"<table><tr>{head}</tr>\n" + "\n".join(body_rows) + "</table>\n<h2>Metrics</h2>\n" + figs)
    from ..utils import atomic_write_bytes

    return atomic_write_bytes(_page(title, body), out / "index.html")


def _png_aspect(b64: str) -> float:
    """Width / height of a base64 PNG, read from its header (the IHDR chunk at bytes 16-24)."""
    import base64
    import struct

    head = base64.b64decode(b64.replace("\n", "")[:44])
    width, height = struct.unpack(">II", head[16:24])
    return width / max(height, 1)


def final_image(executed: Path) -> str | None:
    """The lesson's final sample grid as base64 PNG, else its last image.

    The lessons draw it with ``gl.viz.show_grid(..., title=f"... after {trainer.step} steps")``; that
    cell may draw more (a class histogram, curves), all wider than the square grid, so the
    squarest image of the last such cell is taken; then of the last cell that calls show_grid.
    """
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    after, grid, last = [], [], None
    for c in nb.cells:
        if c.cell_type != "code":
            continue
        images = [o["data"]["image/png"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        if not images:
            continue
        last = images[-1]
        lines = [ln for ln in c.source.splitlines() if "show_grid(" in ln]
        if any("after" in ln for ln in lines):
            after = images
        if lines:
            grid = images
    for images in (after, grid):
        if images:
            return min(images, key=lambda b: abs(_png_aspect(b) - 1)).replace("\n", "")
    return last.replace("\n", "") if last else None


def run_report(records: list[dict], out: Path, title: str = "ganlessons run") -> Path:
    """report.html for ``ganlessons run``: per lesson its status, wall time, final sample grid and
    metrics, linking the executed notebook rendered to HTML beside it."""
    from ..utils import atomic_write_bytes

    parts = []
    for r in records:
        executed = Path(r.get("notebook", ""))
        page, img = None, None
        if executed.is_file():
            try:
                page = render_notebook(executed, executed.with_suffix(".html")).name
                img = final_image(executed)
            except Exception as err:  # noqa: BLE001 (a broken page must not lose the report)
                r = {**r, "error": (r.get("error") or "") + f" (rendering failed: {err})"}
        status = "ok" if r.get("ok") else f"FAILED at cell {r.get('cell')}: {r.get('error')}"
        link = f' — <a href="{html.escape(page)}">the executed notebook</a>' if page else ""
        parts.append(f"<h2>{html.escape(r['lesson'])}</h2>\n<p>{html.escape(status)}; "
                     f"wall time {r.get('seconds', 0):.1f} s{link}</p>")
        if img:
            parts.append(f'<img class="grid" alt="final samples of {html.escape(r["lesson"])}" '
                         f'src="data:image/png;base64,{img}">')
        flat = {k[len("metrics."):]: v for k, v in flatten_numbers(r.get("metrics", {}), "metrics").items()}
        if flat:
            parts.append("<table><tr><th>metric</th><th>value</th></tr>" +
                         "".join(f"<tr><td>{html.escape(k)}</td>{_cell(v)}</tr>" for k, v in flat.items()) +
                         "</table>")
    n_ok = sum(bool(r.get("ok")) for r in records)
    body = f"<p>{n_ok} of {len(records)} lesson(s) ok.</p>\n" + "\n".join(parts)
    return atomic_write_bytes(_page(title, body), out / "report.html")
