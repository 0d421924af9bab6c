"""Execute many notebooks with papermill, each as one Dask task.

The scheduling is Dask distributed's: an embedded ``LocalCluster`` (one process per worker, one
thread each) by default, or any running scheduler (``tcp://host:8786``, a scheduler file, a
dask-jobqueue cluster's address) when a course outgrows one machine. A task starts one kernel
process for its notebook, in the job's own working directory, on Unix sockets in a private folder
(papermill #511: kernels started together over TCP can be handed the same ports). A failed
notebook never raises out of :func:`run_jobs`; it comes back as an :class:`Outcome` with the error
and the cell.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .lessons import InvalidInput

__all__ = ["Job", "Outcome", "run_job", "run_jobs", "IPCKernelManager", "KERNEL_ARGS", "KernelStartError",
           "SchedulerUnreachable"]

# The kernel's start-up warning ("running over TCP without encryption") says nothing to a learner:
# kernels started here talk to their own worker only.
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]
# How long to try a --scheduler before saying it is not there (Dask's default is 30 s).
CONNECT_SECONDS = 10


class SchedulerUnreachable(InvalidInput, ConnectionError):
    """``--scheduler`` names no running scheduler: the user's input, refused before anything runs."""


@dataclass
class Job:
    """One notebook to execute: ``workdir / notebook.name`` receives the executed copy."""

    key: str                      # unique, filesystem-safe; e.g. "lr=0.001,seed=1"
    notebook: Path                # the input .ipynb
    workdir: Path                 # the kernel's cwd
    parameters: dict = field(default_factory=dict)   # papermill parameters ({} = run as is, no injection)
    timeout: float | None = None  # wall-clock limit for the whole notebook in seconds
    env: dict[str, str] = field(default_factory=dict)  # extra environment for the kernel
    html: bool = False            # also render the executed notebook to workdir / (stem + ".html")


@dataclass
class Outcome:
    """What became of a :class:`Job`. ``cell`` indexes the cells of the *executed* notebook
    (papermill's injected-parameters cell included; with no parameters it is the input's index)."""

    key: str
    ok: bool
    seconds: float
    executed: Path | None         # the executed notebook (also written when a cell failed)
    error: str | None = None      # "ValueError: …", "timed out after 60 s", "kernel died", …
    cell: int | None = None       # the cell that failed or was running at the timeout


class KernelStartError(RuntimeError):
    """The kernel did not come up (no cell ran): worth another try, unlike a learner's error."""


try:
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        """A kernel on Unix sockets in a folder of its own, so it needs no TCP ports.

        Two kernels starting at once over TCP can be given the same free ports (papermill #511);
        it happened in this course's test suite, each time a cell's reply never came and the run
        stalled. Sockets in a private folder cannot collide.
        """

        @default("transport")
        def _default_transport(self):
            return "ipc"

        @default("ip")
        def _default_ip(self):
            return os.path.join(tempfile.mkdtemp(prefix="ganlessons-kernel-"), "kernel")

    KERNEL_MANAGER = {} if os.name == "nt" else {"kernel_manager_class": IPCKernelManager}  # no Unix sockets there
except ImportError:  # an older jupyter_client: TCP as before
    IPCKernelManager = None
    KERNEL_MANAGER = {}


def _manager_class(sockets: str, env: dict[str, str], started: list):
    """A kernel manager class for one job: its sockets folder, its extra environment, and a handle
    on the manager (``started``) so a watchdog can kill the kernel at the job's timeout."""
    base = KERNEL_MANAGER.get("kernel_manager_class")
    if base is None:
        from jupyter_client.manager import AsyncKernelManager as base

    class JobKernelManager(base):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if KERNEL_MANAGER:
                self.ip = os.path.join(sockets, "kernel")
            started.append(self)

        async def start_kernel(self, **kw):
            kw["env"] = {**os.environ, **kw.get("env", {}), **env}
            return await super().start_kernel(**kw)

    return JobKernelManager


def _kill(manager) -> None:
    """Kill a kernel and its children (a kernel starts in a session of its own on POSIX)."""
    proc = getattr(getattr(manager, "provisioner", None), "process", None)
    if proc is None or proc.poll() is not None:
        return
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        proc.kill()


def run_job(job: Job, threads: int = 1) -> Outcome:
    """Execute one job in this process's thread; return its Outcome (raise only KernelStartError)."""
    import papermill as pm

    workdir = Path(job.workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    executed = workdir / Path(job.notebook).name
    # One torch thread per run unless told otherwise: runs side by side on a laptop must not
    # each start one thread per core and fight over them.
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), **job.env}
    sockets = tempfile.mkdtemp(prefix="ganlessons-k-")  # short: a Unix socket path must fit in ~100 bytes
    started, current = [], {"cell": None}
    timed_out = threading.Event()

    def on_start(cell=None, cell_index=None, **_):
        current["cell"] = cell_index

    def on_timeout():
        timed_out.set()
        for m in started:
            _kill(m)

    # The watchdog ends the whole notebook at the limit; the per-cell limit papermill also gets
    # (30 s later) is only a backstop should killing the kernel not end the wait for its reply.
    watchdog = threading.Timer(job.timeout, on_timeout) if job.timeout else None
    t0 = time.perf_counter()
    try:
        if watchdog:
            watchdog.daemon = True
            watchdog.start()
        pm.execute_notebook(str(Path(job.notebook).resolve()), str(executed), parameters=job.parameters or None,
                            cwd=str(workdir), kernel_name="python3", progress_bar=False, log_output=False,
                            execution_timeout=job.timeout and job.timeout + 30, extra_arguments=KERNEL_ARGS,
                            kernel_manager_class=_manager_class(sockets, env, started), on_cell_start=on_start)
        outcome = Outcome(job.key, True, 0.0, executed)
    except pm.PapermillExecutionError as err:
        outcome = Outcome(job.key, False, 0.0, executed, f"{err.ename}: {err.evalue}", err.cell_index)
    except Exception as err:  # noqa: BLE001 (a kernel that died, a notebook that cannot be read …)
        if timed_out.is_set():
            outcome = Outcome(job.key, False, 0.0, executed, f"timed out after {job.timeout:g} s", current["cell"])
        elif started and current["cell"] is None:  # the kernel was asked for and no cell ever ran
            raise KernelStartError(f"the kernel did not start: {type(err).__name__}: {err}") from err
        else:
            died = "kernel died" if "DeadKernel" in type(err).__name__ else f"{type(err).__name__}: {err}"
            outcome = Outcome(job.key, False, 0.0, executed, died, current["cell"])
    finally:
        if watchdog:
            watchdog.cancel()
        for m in started:  # papermill shuts its kernel down; this is for the paths that skip that
            _kill(m)
        shutil.rmtree(sockets, ignore_errors=True)
    outcome.seconds = round(time.perf_counter() - t0, 2)
    if not executed.is_file():
        outcome.executed = None
    elif job.html:
        from .report import render_notebook

        try:
            render_notebook(executed, executed.with_suffix(".html"))
        except Exception as err:  # noqa: BLE001 (the run stands; only its page is missing)
            outcome.error = outcome.error or f"rendering to HTML failed: {type(err).__name__}: {err}"
    return outcome


def _client(workers: int | None, scheduler: str | None, n_jobs: int):
    """A Dask client: on ``scheduler`` (an address or a scheduler file) or on a new LocalCluster."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            if Path(scheduler).is_file():  # dask-jobqueue / dask-mpi / `dask scheduler --scheduler-file`
                return Client(scheduler_file=scheduler, timeout=CONNECT_SECONDS), None
            return Client(scheduler, timeout=CONNECT_SECONDS), None
        except (OSError, ValueError) as err:  # refused, timed out, not an address
            raise SchedulerUnreachable(f"--scheduler: no Dask scheduler reachable at {scheduler!r} ({err}); start one with "
                                  "`dask scheduler` and workers with `dask worker ADDRESS`, or leave out "
                                  "the scheduler for a local cluster") from err
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    # never more workers than jobs: each one is a Python that starts (and imports torch) for nothing
    n = max(1, min(n_jobs, workers or os.cpu_count() or 1))
    # processes=True: one Python per worker, so runs share no interpreter state. On 127.0.0.1
    # only, no dashboard, and the scheduler's HTTP routes on a free port: the default 8787 may be
    # taken by another cluster (a second sweep, a test), which costs a warning for nothing.
    cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
                           silence_logs=logging.CRITICAL)  # a failed run is an Outcome, not a worker's traceback
    return Client(cluster), cluster


def run_jobs(jobs: list[Job], *, workers: int | None = None, scheduler: str | None = None,
             threads: int = 1, progress: bool = True, retries: int = 2,
             on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run every job as a Dask task; return their Outcomes in the order of ``jobs``.

    ``scheduler``: a Dask scheduler address ("tcp://127.0.0.1:8786") or scheduler file; None starts
    an embedded LocalCluster with ``workers`` processes of one thread (default one per core, never
    more than there are jobs), closed again before this returns. ``threads``: torch threads
    per kernel. ``retries``: further tries of a job whose kernel did not start (never of a
    notebook that failed). ``on_outcome`` is called here, in the calling process, as each job
    finishes (a resumable caller marks it done at once, not only when all are).
    """
    from distributed import as_completed
    from tqdm.auto import tqdm

    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        dup = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"job keys must be unique; repeated: {dup}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    if not jobs:
        return []
    client, cluster = _client(workers, scheduler, len(jobs))
    results: dict[str, Outcome] = {}
    try:
        futures = {client.submit(run_job, job, threads, key=f"notebook-{job.key}-{uuid.uuid4().hex[:8]}",
                                 retries=retries, pure=False): job for job in jobs}
        bar = tqdm(as_completed(futures), total=len(futures), disable=not progress, desc="notebooks", unit="run")
        for fut in bar:
            job = futures[fut]
            try:
                outcome = fut.result()
            except Exception as err:  # noqa: BLE001 (kernel never started, worker lost …)
                executed = Path(job.workdir) / Path(job.notebook).name
                error = (f"{err} (tried {retries + 1} times)" if isinstance(err, KernelStartError)
                         else f"{type(err).__name__}: {err}")
                outcome = Outcome(job.key, False, 0.0, executed if executed.is_file() else None, error)
            results[job.key] = outcome
            if not outcome.ok:
                bar.write(f"failed: {job.key}: {outcome.error}")
            if on_outcome is not None:
                on_outcome(outcome)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return [results[k] for k in keys]
