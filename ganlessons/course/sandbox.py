"""The guard a graded copy runs under: it may write only inside its own folder.

``ganlessons grade`` runs each learner's copy in a folder of its own and puts :func:`guard_cell`
first in the copy. That cell installs an audit hook (PEP 578, ``sys.addaudithook``) in the kernel
which refuses, with a ``PermissionError`` that says why, every attempt to

- open a file for writing, or create, remove, rename, truncate or re-permission a path, outside
  the copy's folder (and a few places programs are meant to write: ``/dev/null``, the user's cache
  folder, where matplotlib and the datasets keep their caches);
- run a shell command (``!cmd``, ``%%bash``, ``os.system``, ``subprocess`` with a shell, ``rm``,
  ``cp`` and the like), which could write anywhere. Other programs stay allowed: libraries probe
  the system with them (``ctypes.util.find_library`` runs ``ldconfig`` and ``gcc``).

Each refusal is also written, as one JSON line, to :data:`GUARD_LOG` in the copy's folder, through
a file opened when the hook is installed: the grader reports the attempt even when the learner's
code caught the error and carried on.

This is a guard against accidents and curious code, not a security boundary: audit hooks cannot
be removed from Python, but C extensions (``ctypes``) do not go through them. Run untrusted
submissions in a container or a throw-away account as well.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["GUARD_TAG", "GUARD_LOG", "guard_cell", "guard_source", "read_guard_log"]

GUARD_TAG = "ganlessons-grader"
GUARD_LOG = ".ganlessons-guard.jsonl"

# Runs inside the learner's kernel; self-contained (nothing from ganlessons), one function so the
# kernel's namespace gains a single name that starts with an underscore.
_TEMPLATE = '''\
# Added by `ganlessons grade`: this copy may write only inside its own folder.
def _ganlessons_guard(root, log_name, extra):
    import json, os, sys
    root = os.path.realpath(root)
    allowed = [root] + [os.path.realpath(os.path.expanduser(p)) for p in extra]
    log = open(os.path.join(root, log_name), "a", buffering=1)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    paths = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1), "os.truncate": (0,),
             "os.chmod": (0,), "os.chown": (0,), "os.symlink": (1,), "os.link": (1,), "os.utime": (0,),
             "shutil.rmtree": (0,), "shutil.copyfile": (1,), "shutil.copytree": (1,), "os.setxattr": (0,),
             "os.removexattr": (0,)}
    programs = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn")
    shells = {"sh", "bash", "dash", "zsh", "ksh", "csh", "fish", "rm", "mv", "cp", "dd", "tee", "touch", "mkdir",
              "rmdir", "ln", "chmod", "chown", "truncate", "rsync", "install", "python", "python3", "perl"}
    busy = []

    def inside(path):
        try:
            p = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return True  # a file descriptor: it was opened (and checked) before
        return any(p == a or p.startswith(a.rstrip(os.sep) + os.sep) for a in allowed) or p == os.devnull

    def refuse(event, what, why):
        log.write(json.dumps({"event": event, "path": what}) + "\\n")
        raise PermissionError(f"ganlessons grade: {why} ({event}: {what}); a graded notebook may write only "
                              f"inside its own folder {root}")

    def hook(event, args):
        if busy:
            return
        busy.append(1)
        try:
            if event == "open" and args[0] is not None and not isinstance(args[0], int):
                if (args[2] or 0) & write_flags and not inside(args[0]):
                    refuse(event, os.fsdecode(args[0]), "writing outside the notebook's folder")
            elif event in paths:
                for k in paths[event]:
                    if k < len(args) and args[k] is not None and not isinstance(args[k], int) and not inside(args[k]):
                        refuse(event, os.fsdecode(args[k]), "changing a file outside the notebook's folder")
            elif event.startswith(programs):
                refuse(event, str(args[0])[:200], "running a shell command")
            elif event == "subprocess.Popen" and os.path.basename(os.fsdecode(args[0] or "")) in shells:
                refuse(event, " ".join(map(os.fsdecode, args[1]))[:200] if isinstance(args[1], (list, tuple))
                       else str(args[1])[:200], "running a shell or a file-changing command")
        finally:
            busy.clear()

    sys.addaudithook(hook)


_ganlessons_guard(ROOT, LOG, EXTRA)
del _ganlessons_guard
'''

# Where programs are expected to write: the null device, the user's cache folder (matplotlib's
# font cache, the course's dataset downloads) and matplotlib's config folder (it creates it on
# import, and would warn about a temporary one if refused). Relative to nothing; ~ is the kernel user's home.
EXTRA_WRITABLE = ("~/.cache", "~/.config/matplotlib", "/dev/null")


def guard_source(root: Path, extra: tuple[str, ...] = EXTRA_WRITABLE) -> str:
    """The guard cell's code for a copy executed in ``root``."""
    return (_TEMPLATE.replace("ROOT, LOG, EXTRA", f"{str(Path(root).resolve())!r}, {GUARD_LOG!r}, {list(extra)!r}"))


def guard_cell(root: Path, extra: tuple[str, ...] = EXTRA_WRITABLE):
    """The guard as a code cell (tagged :data:`GUARD_TAG`, collapsed) to put first in a graded copy."""
    import nbformat

    cell = nbformat.v4.new_code_cell(guard_source(root, extra))
    cell.metadata.update({"tags": [GUARD_TAG], "jupyter": {"source_hidden": True}})
    return cell


def read_guard_log(root: Path) -> list[dict]:
    """The refusals the guard logged in ``root`` (empty when none, or when the log is unreadable)."""
    path = Path(root) / GUARD_LOG
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
