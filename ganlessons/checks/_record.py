"""Recording a checker's verdict in the notebook, so ``ganlessons grade`` can read it back.

Two carriers, both invisible to a learner in JupyterLab:

- A :class:`Check` shown as a cell's result carries its verdict in the *metadata* of its own
  output (``{"ganlessons": {"verdict": {...}}}``): the ✅/❌ line looks exactly as before, and a
  notebook saved by the learner already holds the verdicts of the checks it showed.
- While a notebook is being graded (``GANLESSONS_GRADING=1`` in the kernel's environment, set by
  the grader), every checker call also publishes a ``display_data`` output of its own, whatever
  the learner wrote around the call (``gl.checks.x(f)``, ``ok = gl.checks.x(f)``,
  ``assert gl.checks.x(f)``). It is written into the calling cell's outputs the moment the checker
  returns, so it survives a crash in a later cell. Its data holds the verdict under
  :data:`VERDICT_MIME` *and* a short ``text/plain`` line: a front end without a renderer for the
  custom type (JupyterLab, nbconvert's HTML) shows that line instead of a "no renderer could be
  found" warning or an empty box. Outside grading nothing is published, so a learner's notebook
  looks exactly as it did.

Nothing here touches a random number generator.
"""

from __future__ import annotations

import functools
import os
from typing import Callable

from ._common import NOT_WRITTEN, Check

VERDICT_MIME = "application/vnd.ganlessons.verdict+json"
GRADING_ENV = "GANLESSONS_GRADING"
# NOT_WRITTEN (from _common): the start of every checker's message for a stub that still raises
# NotImplementedError (see _raised).


def verdict(check: Check, checker: str, attempted: bool = True) -> dict:
    """The JSON record of one checker call: what the grader reads back."""
    return {"checker": checker, "exercise": check.exercise, "ok": bool(check.ok), "message": check.message,
            "attempted": bool(attempted) and not check.message.startswith(NOT_WRITTEN)}


def _kernel():
    """The running IPython kernel's shell, or None in a plain Python process or a terminal IPython."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the package's dependencies
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def _publish(record: dict) -> None:
    if os.environ.get(GRADING_ENV, "") in ("", "0") or _kernel() is None:
        return
    from IPython.display import publish_display_data

    mark = "✅" if record["ok"] else "❌"
    publish_display_data({"text/plain": f"[recorded for grading] {mark} {record['checker']}", VERDICT_MIME: record},
                         metadata={"ganlessons": {"verdict": record}})


def recorded(fn: Callable[..., Check]) -> Callable[..., Check]:
    """Wrap a checker so that each call records its verdict (see the module docstring).

    A checker that itself fails (wrong arguments to the checker, not a wrong answer) is recorded
    as a failed verdict saying so, and the error still reaches the learner.
    """
    name = fn.__name__

    @functools.wraps(fn)
    def checker(*args, **kwargs):
        try:
            check = fn(*args, **kwargs)
        except Exception as err:
            _publish(verdict(Check(False, f"the checker could not run: {type(err).__name__}: {err}"), name))
            raise
        # an empty answer to a question (mismatch_prediction's stub is "") is not an attempt either
        answer = args[0] if args else next(iter(kwargs.values()), None)
        check._verdict = verdict(check, name, attempted=not (isinstance(answer, str) and not answer.strip()))
        _publish(check._verdict)
        return check

    checker.checker_name = name
    return checker
