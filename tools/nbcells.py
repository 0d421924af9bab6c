"""The three cell makers the lesson sources in ``tools/lessons`` are written with."""

import nbformat as nbf


def md(src: str):
    """A markdown cell."""
    return nbf.v4.new_markdown_cell(src)


def code(src: str, hidden: bool = False):
    """A code cell; ``hidden`` collapses its source in JupyterLab (a worked solution)."""
    cell = nbf.v4.new_code_cell(src)
    if hidden:
        cell.metadata["jupyter"] = {"source_hidden": True}
        cell.metadata["tags"] = ["solution"]
    return cell


def params(src: str):
    """The one code cell tagged ``parameters`` (papermill)."""
    cell = nbf.v4.new_code_cell(src)
    cell.metadata["tags"] = ["parameters"]
    return cell
