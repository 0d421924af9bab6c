"""Training on several GPUs (or several CPU processes) with ``torchrun`` and DistributedDataParallel.

    torchrun --standalone --nproc-per-node 4 -m ganlessons.pretrain dcgan     # or:
    ganlessons pretrain dcgan --nproc 4

Each process holds a copy of G and D and trains on its own share of the global batch; after each
backward pass DDP (Li et al. 2020, "PyTorch Distributed", arXiv:2006.15704) averages the gradients
over the processes, so every copy takes the same optimiser step as one process would on the whole
batch: the mean over the batch of a loss is the mean of the processes' means when their shares are
equal. What a GAN needs on top (``../shared/REFERENCES.md``, "Training on several GPUs"):

- **G and D are wrapped separately**, each in its own DDP: one wrapper around both would see D's
  parameters unused in the G step and need ``find_unused_parameters``;
- **the G step runs D itself, not its wrapper**, with D's parameters frozen: no gradient of D is
  made, so none is synchronised; the D step makes G's images under ``no_grad`` through G itself;
- **``broadcast_buffers=False``**: DDP would otherwise overwrite each process's BatchNorm statistics
  with process 0's at every forward, in place, between the two forwards of D (real, fake) that one
  backward needs — an error on recent PyTorch. Each process keeps its own statistics (they are
  computed on its share of the batch); the EMA generator's are re-estimated at the end anyway;
- **the gradient penalty and R1** are ``autograd.grad(..., create_graph=True)`` inside the D step
  and one ``backward`` of the whole loss (:mod:`ganlessons.losses`), never ``backward(create_graph=True)``
  on a wrapper's output;
- **minibatch-stddev groups** form within each process's share: the share must divide into groups;
- **a z stream per process**: process r seeds torch with ``seed · world_size + r`` (as NVIDIA's
  StyleGAN2-ADA), so the processes draw different z, labels, batches and noise — the same seed on
  every process would train on the same samples N times over. One process is seeded with ``seed``
  and is then exactly the plain :class:`ganlessons.train.Trainer`;
- **one writer**: the logged losses are the mean over the processes (one ``all_reduce`` every
  ``log_every`` steps), and only process 0 shows progress, keeps an EMA of G (the caller's
  callbacks, see :func:`ganlessons.pretrained.train`), writes checkpoints and measures.

The gloo backend runs all of this on CPU processes, which is how the course's tests cover it
without a GPU; on GPUs the backend is NCCL and process r uses the GPU ``LOCAL_RANK``.
"""

from __future__ import annotations

import datetime
import inspect
import os
import warnings

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

from .layers import MinibatchStdDev
from .models.pggan import _Progressive
from .train import Trainer
from .utils import atomic_save, check_positive, pick_device, seed_everything

__all__ = ["DistributedTrainer", "share_of", "init", "is_distributed", "rank", "world_size", "is_main", "local_device",
           "backend_for", "barrier", "shutdown"]


def is_distributed() -> bool:
    """True inside a process group (started by :func:`init`, under torchrun)."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Process 0, the one that logs, keeps the EMA, writes checkpoints and measures."""
    return rank() == 0


def local_device(requested: str | torch.device = "auto") -> torch.device:
    """This process's device: GPU ``LOCAL_RANK`` when training on CUDA, else what ``requested`` resolves to.

    One process a GPU: an explicit ``cuda:i`` must be this process's own, and there must be a GPU
    for every process of the machine."""
    dev = pick_device(requested)
    if dev.type != "cuda":
        return dev
    local = int(os.environ.get("LOCAL_RANK", 0))
    n_local = int(os.environ.get("LOCAL_WORLD_SIZE", 1))
    if local >= torch.cuda.device_count():
        raise ValueError(f"{n_local} processes on this machine need {n_local} GPUs, it has "
                         f"{torch.cuda.device_count()}: give --nproc {torch.cuda.device_count()} (or --device cpu)")
    if dev.index is not None and dev.index != local and world_size() > 1:
        raise ValueError(f"device={requested!r}: each process trains on its own GPU (process {local} on cuda:{local}); "
                         "give device='cuda' or 'auto'")
    return torch.device("cuda", local)


def backend_for(device: str | torch.device = "auto") -> str:
    """NCCL when the processes train on CUDA GPUs, gloo otherwise (CPU processes, a GPU machine told --device cpu)."""
    return "nccl" if pick_device(device).type == "cuda" else "gloo"


_SET_BY_INIT: list[str] = []  # what init() wrote into the environment (a group of one), for shutdown()


def init(backend: str | None = None, timeout_s: float = 600.0, device: str | torch.device = "auto") -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes in the environment; returns (rank, world size).

    ``backend``: ``"nccl"`` or ``"gloo"``; by default :func:`backend_for` the ``device`` the processes
    will train on. Outside torchrun (no ``WORLD_SIZE``) this is a group of one process, so a script runs
    the same either way.
    """
    if is_distributed():
        return rank(), world_size()
    if backend is not None and backend not in ("nccl", "gloo"):
        raise ValueError(f"backend must be 'nccl', 'gloo' or None (nccl on CUDA GPUs, else gloo), got {backend!r}")
    if os.environ.get("WORLD_SIZE") is None:  # a single process, outside torchrun: a local group of one
        for key, value in (("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", str(_free_port())), ("RANK", "0"),
                           ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "1")):
            if key not in os.environ:
                os.environ[key] = value
                _SET_BY_INIT.append(key)
    backend = backend or backend_for(device)
    if backend == "nccl":
        torch.cuda.set_device(local_device(device if pick_device(device).type == "cuda" else "cuda"))
    dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return rank(), world_size()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def shutdown() -> None:
    """Leave the process group (at the end of a torchrun script), and undo what :func:`init` set."""
    if is_distributed():
        dist.destroy_process_group()
    while _SET_BY_INIT:
        os.environ.pop(_SET_BY_INIT.pop(), None)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def share_of(batch_size: int, n_processes: int, D: nn.Module | None = None) -> int:
    """Each process's share of the global ``batch_size``; a clear error where it does not split evenly,
    or where the share does not divide into D's minibatch-stddev groups (they form within a process)."""
    check_positive("batch_size", batch_size, integer=True)
    check_positive("n_processes", n_processes, integer=True)
    if batch_size % n_processes:
        raise ValueError(f"batch_size={batch_size} (the global batch) must be divisible by the {n_processes} "
                         f"processes, so that each takes the same share")
    share = batch_size // n_processes
    for m in (D.modules() if D is not None else ()):
        if isinstance(m, MinibatchStdDev):
            g = min(m.group_size, share)
            if share % g:
                raise ValueError(f"batch_size={batch_size} over {n_processes} processes gives each {share} images, "
                                 f"which do not divide into minibatch-stddev groups of {g} (group_size="
                                 f"{m.group_size}); use a global batch divisible by {n_processes}·{m.group_size}")
    return share


_QUIET = []


def _quiet_stride_warning() -> None:
    """A weight with one input channel has two valid channels-last strides, and autograd may make its
    gradient with the other one than DDP's bucket: a copy, no error, but torch warns at each backward."""
    if not _QUIET:
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        _QUIET.append(True)


class DistributedTrainer(Trainer):
    """:class:`ganlessons.train.Trainer` on several processes: the same loop and steps, G and D in DDP.

    Takes the trainer's arguments; ``batch_size`` is the **global** batch, split evenly over the
    processes (``self.batch_size`` is each one's share, ``self.global_batch_size`` the whole).
    ``find_unused_parameters``: None turns it on for models whose layers change while training
    (PGGAN's levels: a forward uses only some of them), as DDP requires there.
    ``fast``: on GPUs bf16, channels-last and fused Adam (``None`` or ``True``), without CUDA graphs
    (PyTorch's graphs with DDP need NCCL's asynchronous error handling off and more; not done here).
    Every process must make the same calls — ``fit``, ``save``, ``state_dict`` — since they gather
    the logged losses from all. Call :func:`init` first (``ganlessons.pretrain`` does).
    """

    def __init__(self, G: nn.Module, D: nn.Module, data, *, batch_size: int = 64, device: str | torch.device = "auto",
                 progress: bool = True, live: bool | None = False, fast=None,
                 find_unused_parameters: bool | None = None, **kwargs):
        if not is_distributed():
            raise RuntimeError("DistributedTrainer needs a process group: start the script with torchrun and "
                               "call gl.distributed.init() first (ganlessons pretrain NAME --nproc N does both)")
        self.rank, self.world_size = rank(), world_size()
        share = share_of(batch_size, self.world_size, D)
        dev = local_device(device)
        from .fast import FastPath

        if isinstance(fast, FastPath) and fast.graphs is not False:
            raise ValueError(f"fast={fast!r}: CUDA graphs are not used with DistributedDataParallel here; give "
                             "fast=None, True, False or FastPath(graphs=False)")
        if fast is None or fast is True:  # bf16, channels-last, fused Adam on GPUs; the plain steps on CPUs
            fast = FastPath(graphs=False) if dev.type == "cuda" else None
        super().__init__(G, D, data, batch_size=share, device=dev, progress=progress and self.rank == 0,
                         live=live and self.rank == 0, fast=fast, **kwargs)
        self.global_batch_size = int(batch_size)
        ids = [dev.index] if dev.type == "cuda" else None
        # no buffer broadcast at each forward (see the module doc); newer PyTorch names the option
        # forward_sync_buffers (which still copies process 0's buffers at start-up) and deprecates
        # broadcast_buffers=False (which does not: equal here anyway, every process built the models
        # from the same seed)
        sync = ({"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(
            DistributedDataParallel.__init__).parameters else {"broadcast_buffers": False})
        _quiet_stride_warning()
        for role in ("G", "D"):
            model = getattr(self, role)
            unused = (any(isinstance(m, _Progressive) for m in model.modules()) if find_unused_parameters is None
                      else bool(find_unused_parameters))
            # DDP copies process 0's weights and buffers to the others here: every copy starts the same
            setattr(self, f"{role}_update", DistributedDataParallel(model, device_ids=ids,
                                                                    find_unused_parameters=unused, **sync))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def images_seen(self) -> int:
        """Real images the critics of all processes have seen (PGGAN's schedule counts these)."""
        return self.step * self.n_critic * self.global_batch_size

    def _seed_streams(self) -> None:
        seed_everything(self.seed * self.world_size + self.rank)

    def _time_is_up(self, up: bool) -> bool:
        """A ``seconds`` budget ends the run for all processes at the same step (each has its own clock)."""
        flag = torch.tensor([float(up)], device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    def _reduce_logs(self, table: torch.Tensor) -> torch.Tensor:
        """The mean over the processes of each logged loss: the loss on the global batch."""
        table = table.contiguous()
        dist.all_reduce(table, op=dist.ReduceOp.SUM)
        return table / self.world_size

    def save(self, path) -> str:
        """Every process calls it (the logs are gathered from all); only process 0 writes."""
        state = self.state_dict()
        if self.is_main:
            atomic_save(state, path)
        return str(path)

    def load(self, path) -> "DistributedTrainer":
        """Every process loads process 0's checkpoint, then reseeds its own stream (they would all draw alike)."""
        super().load(path)
        seed_everything((self.seed * self.world_size + self.rank) * 1_000_003 + self.step)
        return self
