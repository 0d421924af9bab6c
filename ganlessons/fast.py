"""The trainer's fast path on a GPU: the same two updates, replayed as CUDA graphs.

:class:`ganlessons.train.Trainer` runs every lesson's loop; on a CUDA device it hands its update
(``n_critic`` D steps, then one G step) to a :class:`FastPath`, which changes how the steps run and
never what they compute:

- **data on the device** (already the trainer's way): a batch is ``randint`` + an index into one uint8
  tensor on the GPU, so nothing crosses the PCIe bus per step;
- **bf16 autocast** for the forward passes (the trainer's ``precision="bf16"``): convolutions and
  matrix products in bfloat16 on the tensor cores; weights, gradients, Adam's moments, the losses,
  the gradient penalty's norm and every metric stay in float32;
- **channels_last** (NHWC) weights and activations, the layout cuDNN's tensor-core kernels use;
- **fused, capturable Adam** (one kernel for all parameters; ``capturable=True`` keeps its step
  count on the GPU so the update can be captured);
- **CUDA graphs** (``torch.cuda.CUDAGraph``, NVIDIA's "CUDA Graphs" and PyTorch's "whole-network
  capture"): the D step and the G step — batch drawing, forward, the penalty's double backward,
  backward, the optimiser and a weight constraint — are each captured once and replayed, so a step
  costs two graph launches instead of hundreds of kernel launches from Python. At batch 64 an MNIST
  DCGAN is launch-bound: this, not the arithmetic, sets its speed.

A graph replays fixed kernels on fixed memory, so whatever a step reads must be a tensor that stays
in place, never a Python number baked in at capture. The course's models are written that way: PGGAN's
fade-in α is a buffer filled in place (``set_lod``), StyleGAN's mixing crossover is drawn on the
device, the learning rates that :class:`ganlessons.pretrained.LinearDecay` moves are copied into
tensors before each replay (:meth:`FastPath.update`). What changes the *structure* of a step — the
resolution PGGAN works at, whether a level is fading in, a reset or reloaded optimiser, another
loss — is part of the graph's key (:meth:`FastPath.key`): a new key runs a few eager steps and
captures anew, so a progressive run holds one graph per phase.

Where a graph cannot be made — not a CUDA device, Python hooks on a model, a weight or an optimiser
(they would run only once, at capture), an optimiser without a capturable form (its learning rate
would be baked in), a step that synchronises with the host, a step whose operations differ between
the last two warm-up steps (a learner's loss with a number that changes in Python), a key that
changes at every update, or a capture that fails — the steps run eagerly with the other settings and
``trainer.fast.reason`` says why (a failed capture also warns once).

``FastPath(graphs="check")`` runs on any device, the CPU included: every step runs eagerly while a
``TorchDispatchMode`` records the operations it issues, and each step is compared with the first one
of its key (:mod:`ganlessons.graphcheck`) — a Python number that changed between steps, a tensor
read from a new place, or a host synchronisation (``.item()``, ``nonzero``, ``.cpu()``) is reported
as :class:`GraphUnsafe`, with the line that issued it. That is how the course's tests check, without
a GPU, that each lesson's configuration may be captured. (The optimiser's own step is not recorded:
its capturable form is PyTorch's, and the learning rate reaches it through a tensor.)
"""

from __future__ import annotations

import contextlib
import os
import warnings
from typing import Any, Callable

import torch

from .graphcheck import CheckCapture, GraphUnsafe, first_difference, record
from .utils import check_in, check_positive

__all__ = ["FastPath", "GraphUnsafe", "resolve", "capturable_optimizer"]


def resolve(fast, device: torch.device) -> "FastPath | None":
    """The trainer's ``fast=`` argument → a :class:`FastPath`, or None for the plain eager steps.

    ``None``: on for a CUDA device. ``True``: on where it can be (a CUDA device); elsewhere the plain
    steps, which are what the fast path falls back to there. ``False``: off. A :class:`FastPath` is
    used as given, on any device (``FastPath(graphs="check")`` is the CPU's test mode).
    """
    if isinstance(fast, FastPath):
        return fast
    if fast is None or fast is True:
        return FastPath() if device.type == "cuda" else None
    if fast is False:
        return None
    raise TypeError(f"fast must be None (on for CUDA), True, False or a gl.fast.FastPath(...), got {fast!r}")


# Updates in a row with a new key after which the steps stay eager (nothing would ever be captured)
CHURN = 20

# Optimiser options that change how step() runs, not what it computes: each device keeps its own.
IMPLEMENTATION_FLAGS = ("capturable", "fused", "foreach")


def implementation(opt: torch.optim.Optimizer) -> list[dict]:
    """Each param group's implementation flags (``capturable``, ``fused``, ``foreach``)."""
    return [{k: g[k] for k in IMPLEMENTATION_FLAGS if k in g} for g in opt.param_groups]


def restore_implementation(opt: torch.optim.Optimizer, flags: list[dict]) -> None:
    """Put back :func:`implementation`'s flags (after ``load_state_dict`` took the saver's) and keep
    each step count where that implementation wants it: on the parameters' device when capturable
    or fused, else on the host."""
    for group, own in zip(opt.param_groups, flags):
        group.update(own)
        on_device = bool(group.get("capturable") or group.get("fused"))
        for p in group["params"]:
            state = opt.state.get(p, {})
            for name, value in state.items():
                if name == "step" and torch.is_tensor(value):
                    state[name] = value.to(p.device if on_device else "cpu", torch.float32)
                elif torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    # a moment saved beside weights of another memory layout (channels-last or not): laid
                    # out like its weight again, as fused Adam assumes (CUDA's refuses the mix, the
                    # CPU's silently miscomputes it)
                    state[name] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def capturable_optimizer(opt: torch.optim.Optimizer, capturable: bool = True) -> torch.optim.Optimizer:
    """Switch ``opt`` in place to its fast GPU form: fused for Adam/AdamW, ``capturable`` for CUDA graphs.

    The step count moves to the parameters' device (a capturable step never reads it back to the
    host). An optimiser without a ``capturable`` option is left as it is: capturing it may still
    work (plain SGD) or fail, and then the step runs eagerly.
    """
    fused = isinstance(opt, (torch.optim.Adam, torch.optim.AdamW))
    for group in opt.param_groups:
        if "capturable" not in group:
            continue
        group["capturable"] = bool(capturable)
        if fused and not group.get("differentiable", False):
            group["fused"], group["foreach"] = True, False  # one kernel for every parameter
    restore_implementation(opt, implementation(opt))  # step counts to where the new flags want them
    # its warm-up steps run uncaptured on purpose: not a warning a lecture should see
    opt._warned_capturable_if_run_uncaptured = True
    return opt


def _hooks(trainer) -> str:
    """Which models, weights or optimisers run Python hooks at each step (in a graph they would run
    once, at capture); "" if none.

    Parametrizations (``nn.utils.parametrizations.spectral_norm``) are modules, not hooks: they are fine.
    """
    from torch.nn.modules import module as M
    from torch.optim import optimizer as O

    if any(getattr(M, name, None) for name in ("_global_forward_hooks", "_global_forward_pre_hooks",
                                                "_global_backward_hooks", "_global_backward_pre_hooks")):
        return "global module hooks (register_module_forward_hook …)"
    if getattr(O, "_global_optimizer_pre_hooks", None) or getattr(O, "_global_optimizer_post_hooks", None):
        return "global optimiser hooks (register_optimizer_step_pre_hook …)"
    hooked = [name for name, model in (("G", trainer.G), ("D", trainer.D))
              if any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or
                     getattr(m, "_backward_pre_hooks", None) for m in model.modules())
              or any(p._backward_hooks or getattr(p, "_post_accumulate_grad_hooks", None)
                     for p in model.parameters())]
    hooked += [name for name in ("opt_d", "opt_g")
               if getattr(trainer, name)._optimizer_step_pre_hooks or getattr(trainer, name)._optimizer_step_post_hooks]
    return " and ".join(hooked)


def _not_capturable(trainer) -> str:
    """An optimiser without a capturable form would have its learning rate baked into a graph."""
    for name in ("opt_d", "opt_g"):
        opt = getattr(trainer, name)
        if any("capturable" not in group for group in opt.param_groups):
            return f"{name} ({type(opt).__name__}) has no capturable form: a graph would keep its first learning rate"
    return ""


def _settings(obj) -> tuple:
    """The numbers and flags an object (a loss, a regulariser, a constraint) keeps: baked into a graph."""
    return tuple((k, v) for k, v in sorted(getattr(obj, "__dict__", {}).items())
                 if isinstance(v, (bool, int, float, str)))


class FastPath:
    """The update of :class:`ganlessons.train.Trainer` on a GPU: bf16, channels-last, fused Adam, CUDA graphs.

    Args:
        graphs: ``True`` — capture the D and the G step as CUDA graphs where the device is a CUDA GPU
            (elsewhere, or where a graph would not replay the step faithfully, the steps run eagerly
            and ``reason`` says why);
            ``False`` — eager steps with the other settings; ``"check"`` — eager steps on any device,
            each checked against what a graph would replay (see the module doc).
        precision: the trainer's default precision on this path: ``"bf16"`` on a CUDA device and
            ``"fp32"`` elsewhere when ``None``.
        warmup: eager steps at each new key before capturing (cuDNN picks its kernels, Adam makes
            its state, the allocator settles; PyTorch's capture recipe runs a few on a side stream).
    """

    def __init__(self, graphs: bool | str = True, precision: str | None = None, warmup: int = 3):
        if graphs not in (True, False, "check"):
            raise ValueError(f"graphs must be True, False or 'check', got {graphs!r}")
        if precision is not None:
            check_in("precision", precision, {"fp32", "bf16"})
        check_positive("warmup", warmup, integer=True)
        self.graphs, self._precision, self.warmup = graphs, precision, int(warmup)
        self.trainer = None
        self.mode = "eager"            # "cuda", "check" or "eager": how update() runs now
        self.reason = ""               # why it is eager, when it is
        self.captures = 0              # how many times a pair of steps was captured (one per phase)
        self.replays = 0               # updates served from a capture
        self._key = None               # the key of the graphs in hand
        self._seen, self._held = None, 0
        self._d = self._g = None       # the captured D step and G step
        self._lr: dict[int, list] = {}
        self._alive: list = []         # what the key's ids point at, kept alive so no id is reused
        self._stream = None            # the side stream of warm-up and capture (CUDA)
        self._record = None            # the operations of the last warm-up step but one (CUDA)
        self._new_keys = 0             # how many updates in a row came with a key not seen before

    def default_precision(self, device: torch.device) -> str:
        """The trainer's precision when it gives none: this path's, else bf16 on a CUDA device, fp32 elsewhere."""
        if self._precision is not None:
            return self._precision
        return "bf16" if device.type == "cuda" else "fp32"

    def __repr__(self) -> str:
        why = f", {self.reason}" if self.reason else ""
        return (f"FastPath(graphs={self.graphs!r}, mode={self.mode!r}, captures={self.captures}, "
                f"replays={self.replays}{why})")

    # ------------------------------------------------------------------ set-up

    def attach(self, trainer) -> None:
        """Called once by the trainer after it has built its models, data and optimisers."""
        if self.trainer is not None and self.trainer is not trainer:
            raise ValueError("this FastPath already serves another trainer; give each trainer its own FastPath()")
        self.trainer = trainer
        cuda = trainer.device.type == "cuda"
        if cuda:
            # fixed shapes: cuDNN times its kernels once and keeps the fastest (a process-wide setting:
            # GPU runs were not bit-reproducible before it either, cuDNN's backward kernels add atomically)
            torch.backends.cudnn.benchmark = True
            self._stream = torch.cuda.Stream(device=trainer.device)
        if self.graphs is False:
            self.mode, self.reason = "eager", "graphs=False"
        elif self.graphs == "check":
            self.mode = "check"
        elif not cuda:
            self.mode, self.reason = "eager", f"CUDA graphs need a CUDA device, this trainer is on {trainer.device}"
        else:
            self.mode = "cuda"
        self._refuse(trainer)
        if cuda:
            for opt in (trainer.opt_d, trainer.opt_g):
                capturable_optimizer(opt, capturable=self.mode == "cuda")

    def _refuse(self, trainer) -> bool:
        """Go eager, saying why, where a graph would replay something else than the step (True if so)."""
        if self.mode == "eager":
            return True
        hooked = _hooks(trainer)
        why = (f"{hooked} carr{'y' if ' and ' in hooked else 'ies'} Python hooks, which a graph would run only "
               "at capture") if hooked else _not_capturable(trainer)
        if why:  # e.g. lesson 06's ActivationRMS: measured runs stay eager, and correct
            self._go_eager(trainer, why)
        return bool(why)

    def _go_eager(self, trainer, why: str) -> None:
        """From now on the eager steps (with the other settings), because of ``why``."""
        self._drop()
        self.mode, self.reason = "eager", why
        if trainer.device.type == "cuda":
            for opt in (trainer.opt_d, trainer.opt_g):
                capturable_optimizer(opt, capturable=False)

    # ------------------------------------------------------------------ the update

    def key(self, trainer) -> tuple:
        """What fixes the kernels and memory of a step: a new key means a new capture.

        The models' and data's own ``graph_key`` (PGGAN: the level and whether it fades in; StyleGAN:
        the mixing probability), which data set, the loss, regularisers and constraint with their
        numbers (λ, γ, c), the batch size, train/eval mode, where each weight lives and whether it
        learns, the optimisers' hyperparameters other than the learning rate (which is copied into a
        tensor instead), the identity of their state (cleared at a PGGAN level change, replaced by
        ``load``) and the trainer's ``generation`` (bumped by ``load``).
        """
        parts: list[Any] = [trainer.generation, trainer.batch_size, trainer.conditional, trainer.precision,
                            trainer.G.training, trainer.D.training, id(trainer.data)]
        for obj in (trainer.d_loss, trainer.g_loss, trainer.constraint, *trainer.d_regularizers):
            parts.append((id(obj), _settings(obj)))
        for obj in (trainer.G, trainer.D, trainer.data):
            parts.append(getattr(obj, "graph_key", None))
        parts.append(_hooks(trainer))  # a hook added later makes the steps eager (see _refuse)
        for model in (trainer.G, trainer.D):
            parts.append(tuple((t.data_ptr(), t.requires_grad) for t in model.parameters()))
            parts.append(tuple(t.data_ptr() for t in model.buffers()))
        for opt in (trainer.opt_d, trainer.opt_g):
            for group in opt.param_groups:
                parts.append(tuple((k, v) for k, v in group.items() if k not in ("params", "lr")))
                parts.append(id(opt.state.get(group["params"][0])) if group["params"] else None)
            parts.append(len(opt.state))
        return tuple(parts)

    def update(self, trainer) -> dict[str, torch.Tensor]:
        """``n_critic`` D steps and one G step, as :meth:`Trainer._update`, from graphs where it can."""
        if self.mode == "eager":
            return self._eager(trainer)
        key = self.key(trainer)
        if key != self._key:
            self._drop()
            self._held = self._held + 1 if key == self._seen else 1
            self._new_keys = self._new_keys + 1 if self._held == 1 else 0
            self._seen = key
            if self._refuse(trainer):  # hooks (or an optimiser) added since the trainer was built
                return self._eager(trainer)
            if self._new_keys >= CHURN:
                self._go_eager(trainer, f"what a graph holds fixed changed at each of the last {CHURN} updates "
                                        "(an optimiser setting other than the learning rate, such as Adam's betas; "
                                        "a loss's number; a model's graph_key): every update would be a new capture")
                return self._eager(trainer)
            if self._held <= self.warmup:  # warm up: eager steps until the key has held `warmup` steps
                if self.mode != "cuda":
                    return self._eager(trainer)
                return self._warm(trainer)
            try:
                ran = self._capture(trainer)
            except GraphUnsafe:
                raise
            except Exception as err:  # noqa: BLE001 — any failure to capture: say why, go on eagerly
                self._failed(trainer, err)
                return self._eager(trainer)
            self._key = key
            if ran is not None:  # check mode: capturing ran one whole update already
                return ran
        return self._replay(trainer)

    def _eager(self, trainer, side_stream: bool = False) -> dict[str, torch.Tensor]:
        if not side_stream:
            logs = trainer._d_steps()
            logs["g_loss"] = trainer._g_step()
            return logs
        # PyTorch's capture recipe: warm-up iterations on a side stream before the capture
        current = torch.cuda.current_stream(trainer.device)
        self._stream.wait_stream(current)
        with torch.cuda.stream(self._stream):
            logs = trainer._d_steps()
            logs["g_loss"] = trainer._g_step()
        current.wait_stream(self._stream)
        return logs

    def _warm(self, trainer) -> dict[str, torch.Tensor]:
        """A warm-up step, on the side stream (PyTorch's capture recipe), watched for what a capture
        would get wrong without an error.

        The last two are recorded as in check mode (:func:`ganlessons.graphcheck.record`) and compared:
        a Python number that changed between them (a learner's annealed loss, a draw of ``random``), a
        tensor made anew, or a read back to the host in either; the last also runs under
        ``torch.cuda.set_sync_debug_mode("warn")``. Any of these, and the steps run eagerly from now
        on, with ``reason`` saying why: slower, and right. (A number that changes less often than every
        step is not seen; ``FastPath(graphs="check")`` checks every step.)
        """
        cuda = trainer.device.type == "cuda"
        if self._held < self.warmup - 1:
            return self._eager(trainer, side_stream=cuda)
        last = self._held == self.warmup
        watch = last and cuda
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            if watch:
                debug_mode = torch.cuda.get_sync_debug_mode()
                torch.cuda.set_sync_debug_mode("warn")
            try:
                ops, sites, logs, host_read = record(lambda: self._eager(trainer, side_stream=cuda), trainer,
                                                     strict=False)
            finally:
                if watch:
                    torch.cuda.set_sync_debug_mode(debug_mode)  # the user's own setting, e.g. "error"
        syncs = [w for w in seen if "synchroniz" in str(w.message)]
        for w in seen:  # hand the other warnings on
            if w not in syncs:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        why = host_read
        if not why and syncs:
            why = (f"the step synchronises with the host ({syncs[0].message}; "
                   f"{os.path.basename(syncs[0].filename)}:{syncs[0].lineno})")
        if not why and last and self._record is not None and ops != self._record:
            why = first_difference("the update", self._record, ops, sites, trainer.step)
        self._record = None if last else ops
        if why:
            self._go_eager(trainer, why)
        return logs

    def _failed(self, trainer, err: Exception) -> None:
        """After a failed capture: back on the trainer's stream, no graph memory in use, eager from now on."""
        if trainer.device.type == "cuda":
            torch.cuda.synchronize(trainer.device)
        for opt in (trainer.opt_d, trainer.opt_g):
            opt.zero_grad(set_to_none=True)
        cause = err.__context__ or err  # capture_end's error hides the one that invalidated the capture
        self._go_eager(trainer, f"capture failed: {type(cause).__name__}: {cause}")
        warnings.warn(f"gl.fast: the steps run eagerly ({self.reason})", stacklevel=4)

    def _drop(self) -> None:
        self._d = self._g = None
        self._key = None
        self._alive = []
        self._lr = {}

    def _capture(self, trainer):
        """Capture one D step and one G step; returns the update's logs when capturing ran it (check mode)."""
        self._alive = [trainer.data, trainer.d_loss, trainer.g_loss, trainer.constraint, *trainer.d_regularizers]
        self._alive += [opt.state.get(g["params"][0]) for opt in (trainer.opt_d, trainer.opt_g)
                        for g in opt.param_groups if g["params"]]
        check = self.mode == "check"
        with self._tensor_lr(trainer):
            for opt in (trainer.opt_d, trainer.opt_g):
                opt.zero_grad(set_to_none=True)  # grads are then made in the graph's own memory
            if check:  # checking runs the step it captures: the update's other critic steps come before G's
                self._d = CheckCapture(trainer._d_step, trainer)
                d_logs = self._d.out
                for _ in range(trainer.n_critic - 1):
                    d_logs = self._d.replay()
                self._g = CheckCapture(trainer._g_step, trainer)
            else:  # G's graph shares D's memory pool: they replay in a fixed order, one at a time
                self._d = _CudaCapture(trainer._d_step, trainer, self._stream)
                self._g = _CudaCapture(trainer._g_step, trainer, self._stream, pool=self._d.graph.pool())
        self.captures += 1
        if check:
            return {**d_logs, "g_loss": self._g.out}
        return None

    def _replay(self, trainer) -> dict[str, torch.Tensor]:
        self._copy_lr(trainer)
        if self.mode == "check":
            with self._tensor_lr(trainer):
                for _ in range(trainer.n_critic):
                    d_logs = self._d.replay()
                g_loss = self._g.replay()
            self.replays += 1
            return {**d_logs, "g_loss": g_loss}
        for _ in range(trainer.n_critic):
            d_logs = self._d.replay()
        g_loss = self._g.replay()
        self.replays += 1
        # a graph writes its outputs to the same memory at every replay: keep this update's copy
        names = list(d_logs)
        row = torch.stack([d_logs[n].float() for n in names] + [g_loss.float()])
        return {**{n: row[i] for i, n in enumerate(names)}, "g_loss": row[-1]}

    # ------------------------------------------------------------------ learning rates as tensors

    def _groups(self, trainer):
        for opt in (trainer.opt_d, trainer.opt_g):
            for group in opt.param_groups:
                if group["params"] and group.get("capturable"):
                    yield group

    def _copy_lr(self, trainer) -> None:
        """Before a replay: the rate a callback set as ``group["lr"]`` (a float) into the captured tensor.

        Only a changed rate costs a kernel (a fill of one number)."""
        for group in self._groups(trainer):
            lr = float(group["lr"])
            held = self._lr.get(id(group))
            if held is None:
                self._lr[id(group)] = [torch.tensor(lr, device=group["params"][0].device), lr]
            elif held[1] != lr:
                held[0].fill_(lr)
                held[1] = lr

    @contextlib.contextmanager
    def _tensor_lr(self, trainer):
        """While capturing, the optimisers read their rates from tensors, so no rate is baked into a graph;
        callbacks go on seeing (and setting) plain floats."""
        self._copy_lr(trainer)
        saved = []
        for group in self._groups(trainer):
            saved.append((group, group["lr"]))
            group["lr"] = self._lr[id(group)][0]
        try:
            yield
        finally:
            for group, lr in saved:
                group["lr"] = lr


# ---------------------------------------------------------------------- capture back-ends


class _CudaCapture:
    """One step captured as a ``torch.cuda.CUDAGraph``; ``replay()`` returns its outputs (the same tensors each time)."""

    def __init__(self, step: Callable[[], Any], trainer, stream, pool=None):
        self.graph = torch.cuda.CUDAGraph()
        current = torch.cuda.current_stream(trainer.device)
        try:
            with torch.cuda.device(trainer.device), torch.cuda.graph(self.graph, pool=pool, stream=stream):
                self.out = step()
        finally:  # a failed capture_end skips the stream's exit: come back to the trainer's stream
            torch.cuda.set_stream(current)

    def replay(self):
        self.graph.replay()
        return self.out
