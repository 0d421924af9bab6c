"""HTML pages: executed notebooks rendered with nbconvert, a sweep's index, a course run's report."""

from __future__ import annotations

import html
from pathlib import Path

__all__ = ["render_notebook"]


def render_notebook(executed: Path, target: Path) -> Path:
    """Render an executed notebook to one self-contained HTML page (outputs' images inline)."""
    import nbformat
    from nbconvert import HTMLExporter

    from ..utils import atomic_write_bytes

    nb = nbformat.read(str(executed), as_version=4)
    body, _ = HTMLExporter(embed_images=True).from_notebook_node(nb)
    return atomic_write_bytes(body.encode("utf-8"), target)
