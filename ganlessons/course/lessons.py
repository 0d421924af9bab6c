"""A lesson's parameters as its ``parameters`` cell declares them, and values checked against them.

papermill's ``inspect_notebook`` reads the cell: each name's ``inferred_type_name`` (from the
annotation, ``int``/``float``/``bool``/``str``), its ``default`` (source text) and ``help`` (the
comment). Values from a command line are parsed to that type here, before anything runs, so a
typo fails in a second with the valid names and types instead of an hour into a sweep.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Parameter", "declared", "lesson_title", "parse_as", "check_values", "InvalidInput"]

TRUE, FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


class InvalidInput(ValueError):
    """Input refused before anything ran; the message says what is allowed."""


@dataclass
class Parameter:
    """One entry of a lesson's parameters cell."""

    name: str
    type: str      # int, float, bool, str, or what the annotation said ("list", "None" when none)
    default: str   # as written in the cell
    help: str

    @property
    def value(self):
        """The default as a Python value (its source text when it is not a literal)."""
        try:
            return ast.literal_eval(self.default)
        except (ValueError, SyntaxError):
            return self.default


def declared(notebook: Path) -> dict[str, Parameter]:
    """The parameters of ``notebook``'s parameters cell, in the cell's order."""
    import papermill as pm

    try:
        raw = pm.inspect_notebook(str(notebook))
    except ValueError as err:
        if "kernel name" not in str(err):
            raise
        # A notebook saved without kernelspec metadata: the executor runs it on python3, so read
        # it as python (papermill's public call has no argument for the kernel name).
        from papermill.inspection import _infer_parameters
        from papermill.iorw import load_notebook_node

        nb = load_notebook_node(str(notebook))  # as papermill reads it (every cell given its tags list)
        raw = {p.name: p._asdict() for p in _infer_parameters(nb, name="python3", language="python")}
    out = {}
    for name, p in raw.items():
        kind = p.get("inferred_type_name") or "None"
        param = Parameter(name, kind, p.get("default") or "", p.get("help") or "")
        if kind == "None":  # no annotation: the default's literal type is the best guess
            v = param.value
            param.type = type(v).__name__ if isinstance(v, (bool, int, float, str)) else "None"
        out[name] = param
    return out


def lesson_title(notebook: Path) -> str:
    """The notebook's H1 title ("" if it has none)."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8")).get("cells", [])
    for c in cells:
        if c.get("cell_type") == "markdown":
            for line in "".join(c.get("source", "")).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return ""


def parse_as(text: str, param: Parameter, argument: str):
    """``text`` as a value of ``param``'s type; InvalidInput naming ``argument``, the value and the type."""
    kind = param.type
    low = text.strip().lower()
    try:
        if kind == "bool":
            if low in TRUE or low in FALSE:
                return low in TRUE
            raise ValueError
        if kind == "int":
            if "." in low or "e" in low:  # int("1e3") fails anyway; float-looking ints are refused plainly
                raise ValueError
            return int(low)
        if kind == "float":
            return float(low)
        if kind == "str":
            return text
    except ValueError:
        allowed = {"bool": "true or false", "int": "a whole number such as 200", "float": "a number such as 1e-4"}[kind]
        raise InvalidInput(f"{argument}: {text!r} is not a valid {param.name} ({kind}): expected {allowed}") from None
    from ..cli import parse_value  # another annotation (list, Optional …): JSON or a plain string

    return parse_value(text)


def describe(params: dict[str, Parameter]) -> str:
    """'name (type), …': the list an error message shows."""
    return ", ".join(f"{p.name} ({p.type})" for p in params.values())


def check_values(params: dict[str, Parameter], given: dict[str, list[str]], argument: str,
                 reserved: tuple[str, ...] = ("out_json",)) -> dict[str, list]:
    """Parse every ``name → [text, …]`` against ``params``; refuse unknown or reserved names."""
    out = {}
    for name, texts in given.items():
        if name in reserved:
            raise InvalidInput(f"{argument}: {name} is set by the tool for each run; leave it out")
        if name not in params:
            raise InvalidInput(f"{argument}: this lesson has no parameter {name!r}; "
                               f"its parameters are: {describe(params)}")
        out[name] = [parse_as(t, params[name], f"{argument} {name}") for t in texts]
    return out
