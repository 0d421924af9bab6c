"""The one training loop of the course: alternating critic and generator updates.

Goodfellow et al. 2014 (arXiv:1406.2661), Algorithm 1: for each generator step, take ``n_critic``
(their k) discriminator steps on

    L_D = d_loss(D(x), D(G(z)))  + Σ regularisers        then  constraint(D)

then one generator step on ``L_G = g_loss(D(G(z)))``. What differs between GAN, WGAN and
WGAN-GP is passed in — a loss pair, ``n_critic``, a weight constraint, a regulariser, the
optimisers — never a copy of this loop.

Where later lessons plug in (no fork of the loop needed):

- progressive growing (PGGAN): a ``before_step`` callback sets the models' resolution and the
  fade-in ``alpha`` from ``trainer.images_seen``; the models read it in ``forward``.
- PGGAN's drift term and WGAN-GP's penalty: ``d_regularizers=[DriftPenalty(), GradientPenalty()]``
  (see :class:`ganlessons.losses.CriticBatch` for what a regulariser sees; the penalty's double
  backward runs inside the ordinary ``backward``).
- StyleGAN's mixing regularisation: inside the generator's ``forward`` (it draws a second z);
  the trainer only calls ``G(z)``.
- the fast path on a GPU (:mod:`ganlessons.fast`): :meth:`Trainer._d_step` and :meth:`Trainer._g_step`
  are pure tensor functions of the models and their inputs (no ``.item()``, losses kept as device
  tensors and read every ``log_every`` steps), so it replays them as whole-step CUDA graphs.
- several GPUs (:mod:`ganlessons.distributed`): a subclass runs the same two steps through
  DistributedDataParallel wrappers (``G_update``, ``D_update``) on a stream of z of its own per process.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any, Callable, Iterable

import torch
import torch.nn as nn

from . import live as _live
from . import losses as L
from .utils import atomic_save, check_in, check_positive, own_rng, pick_device, safe_load, seed_everything

__all__ = ["Trainer", "fit", "every", "TrainingDiverged"]

CHECKPOINT_FORMAT = "ganlessons.trainer/1"


class TrainingDiverged(FloatingPointError):
    """A loss became NaN or infinite."""


def every(n: int, fn: Callable[["Trainer"], dict | None]) -> Callable[["Trainer"], None]:
    """A callback that runs ``fn(trainer)`` every ``n`` generator steps and logs what it returns.

    ``fn`` may return a dict of numbers (e.g. ``{"domain_fid": 12.3}``); each goes into
    ``trainer.evals[name]`` as ``(step, value)``.
    """
    check_positive("n", n, integer=True)

    def callback(trainer: "Trainer") -> None:
        if trainer.step % n == 0:
            out = fn(trainer)
            for k, v in (out or {}).items():
                trainer.record(k, v)

    callback.__name__ = f"every({n}, {getattr(fn, '__name__', 'fn')})"
    return callback


def _make_optimizer(spec, model: nn.Module, lr: float, betas, name: str) -> torch.optim.Optimizer:
    if spec is None:
        return torch.optim.Adam(model.parameters(), lr=lr, betas=betas)
    if isinstance(spec, torch.optim.Optimizer):
        return spec
    if callable(spec):
        opt = spec(model.parameters())
        if not isinstance(opt, torch.optim.Optimizer):
            raise TypeError(f"{name} factory must return a torch.optim.Optimizer, got {type(opt).__name__}")
        return opt
    raise TypeError(f"{name} must be None, a torch.optim.Optimizer or a function params → optimizer, "
                    f"got {type(spec).__name__}")


class Trainer:
    """Holds G, D, their optimisers, the history and the fixed-z snapshots; :meth:`fit` trains.

    Args:
        G, D: the generator (z ↦ x, or (z, y) ↦ x) and discriminator/critic (x ↦ logit or score).
        data: a :mod:`ganlessons.data` dataset (anything with ``sample(batch_size)`` → (x, y)).
        loss: a name in :data:`ganlessons.losses.LOSSES` (``"gan"``, ``"wgan"`` …), or give
            ``d_loss(d_real, d_fake)`` and ``g_loss(d_fake)`` yourself.
        n_critic: discriminator steps per generator step (k in Goodfellow et al.).
        d_regularizers: callables ``reg(CriticBatch) → scalar`` added to the D loss (the GP).
        constraint: ``constraint(D)`` after every D update (WGAN's weight clipping).
        opt_d, opt_g: optimisers, or functions ``params → optimiser``; default Adam(lr, betas).
        latent_dim: size of z (default ``G.latent_dim``).
        conditional: pass labels to G and D (default: when ``G.n_classes`` is set).
        batch_size, seed, device: as named; ``device="auto"`` picks cuda → mps → cpu.
        progress: show a tqdm progress bar.
        live: redraw the fixed-z samples and the curves in the cell's output while training
            (:mod:`ganlessons.live`); default: on in a notebook when ``progress`` is on.
        live_every: seconds of wall time between live frames.
        n_samples: how many fixed z to keep for snapshots (a grid of 8×8 by default).
        log_every: read losses from the device every so many steps (1 on the CPU).
        checkpoint, checkpoint_every: save to this path every so many steps and at the end.
        channels_last: keep convolution weights (and so activations) in NHWC memory order, the
            layout oneDNN's CPU kernels and cuDNN's tensor cores compute in without reordering;
            default: when G or D has convolutions, on the CPU and on the fast path (about 1.2×
            faster for lesson 03's DCGAN on a CPU, see ``benchmarks/bench_loop.py``). The values are
            the same up to float rounding, which a GAN's chaotic training then amplifies: a run is
            reproducible only with the same setting.
        fast: the GPU fast path of :mod:`ganlessons.fast` (bf16, channels-last, fused Adam, the
            whole D and G steps replayed as CUDA graphs): ``None`` (default) turns it on when the
            device is a CUDA GPU, ``False`` keeps the plain eager steps, ``True`` asks for it
            anywhere (on a CPU it is the plain steps), or pass a ``gl.fast.FastPath(...)``.
        precision: ``None`` (default): ``"bf16"`` on the fast path, else ``"fp32"``; or ``"fp32"`` or
            ``"bf16"``: the forward passes of both updates under
            ``torch.autocast`` to bfloat16 (convolutions and matrix products in bf16; the weights,
            their gradients, the optimiser and the losses — computed from D's outputs cast back
            to fp32 — stay fp32; backward and the optimiser step run outside autocast, so each
            critic step sees the weights the previous one left). About 1.7× faster on CPUs with
            AMX or AVX512-BF16 and on recent GPUs; slower on most laptop CPUs; other numerics,
            so other results for the same seed.
        callbacks: ``cb(trainer)`` after each generator step; objects with a ``before_step``
            method are also called before it (a fade-in schedule), and once more before the first
            snapshot, so ``before_step`` must give the same state when called twice at one step.
    """

    def __init__(self, G: nn.Module, D: nn.Module, data, *, loss: str = "gan",
                 d_loss: Callable | None = None, g_loss: Callable | None = None, n_critic: int = 1,
                 d_regularizers: Iterable[Callable] = (), constraint: Callable | None = None,
                 opt_d=None, opt_g=None, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                 latent_dim: int | None = None, conditional: bool | None = None, batch_size: int = 64,
                 seed: int = 0, device: str | torch.device = "auto", progress: bool = True,
                 live: bool | None = None, live_every: float = 3.0,
                 n_samples: int = 64, log_every: int | None = None, checkpoint: str | None = None,
                 checkpoint_every: int | None = None, callbacks: Iterable[Callable] = (),
                 channels_last: bool | None = None, precision: str | None = None, fast=None):
        for name, m in (("G", G), ("D", D)):
            if not isinstance(m, nn.Module):
                raise TypeError(f"{name} must be a torch.nn.Module, got {type(m).__name__}")
        if not hasattr(data, "sample"):
            raise TypeError(f"data must be a ganlessons dataset (from gl.data.load), got {type(data).__name__}")
        check_positive("n_critic", n_critic, integer=True)
        check_positive("batch_size", batch_size, integer=True)
        check_positive("n_samples", n_samples, integer=True)
        check_positive("lr", lr)
        if log_every is not None:
            check_positive("log_every", log_every, integer=True)
        if checkpoint_every is not None:
            check_positive("checkpoint_every", checkpoint_every, integer=True)
        if (d_loss is None) != (g_loss is None):
            raise ValueError("give both d_loss and g_loss, or neither (then loss= picks the pair)")
        if d_loss is None:
            d_loss, g_loss = L.resolve(loss)
            self.loss_name = loss
        else:
            self.loss_name = f"{getattr(d_loss, '__name__', 'd_loss')}/{getattr(g_loss, '__name__', 'g_loss')}"
        if constraint is not None and not callable(constraint):
            raise TypeError(f"constraint must be a function of the critic, got {constraint!r}")

        self.device = pick_device(device)
        self.G, self.D = G.to(self.device), D.to(self.device)
        from . import fast as _fast  # the GPU fast path plugs in here; this loop stays the one to read

        self.fast = _fast.resolve(fast, self.device)
        if channels_last is None:
            channels_last = (self.device.type == "cpu" or self.fast is not None) and any(
                p.dim() == 4 for m in (G, D) for p in m.parameters())
        self.channels_last = bool(channels_last)
        if precision is None:
            precision = self.fast.default_precision(self.device) if self.fast is not None else "fp32"
        check_in("precision", precision, {"fp32", "bf16"})
        self.precision = precision
        if self.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.data = data if data.device == self.device else data.to(self.device)
        self.d_loss, self.g_loss = d_loss, g_loss
        self.n_critic, self.batch_size, self.seed = int(n_critic), int(batch_size), int(seed)
        self.d_regularizers = list(d_regularizers)
        self.constraint = constraint
        self.latent_dim = int(latent_dim if latent_dim is not None else getattr(G, "latent_dim", 0))
        if self.latent_dim <= 0:
            raise ValueError("latent_dim is unknown: give latent_dim= or set G.latent_dim")
        n_classes = int(getattr(G, "n_classes", 0) or 0)
        self.conditional = bool(n_classes) if conditional is None else bool(conditional)
        if self.conditional and not n_classes:
            raise ValueError("conditional=True needs G.n_classes (the number of labels G is conditioned on)")
        self.n_classes = n_classes
        self._label_p = _label_frequencies(self.data, n_classes) if self.conditional else None
        self.opt_d = _make_optimizer(opt_d, self.D, lr, betas, "opt_d")
        self.opt_g = _make_optimizer(opt_g, self.G, lr, betas, "opt_g")
        # What each update runs its player through: the models themselves here; their
        # DistributedDataParallel wrappers in ganlessons.distributed, which average the gradients.
        self.G_update, self.D_update = self.G, self.D
        self.progress = bool(progress)
        check_positive("live_every", live_every)
        self.live, self.live_every = live, float(live_every)
        self.live_view = None  # the last fit()'s LiveView (frames drawn, time spent drawing)
        self.log_every = int(log_every or (1 if self.device.type == "cpu" else 50))
        self.checkpoint, self.checkpoint_every = checkpoint, checkpoint_every
        self.callbacks = list(callbacks)

        # Fixed z (and labels) for snapshots come from their own generator, so they are the
        # same for every run with this seed whatever else draws random numbers.
        gen = torch.Generator().manual_seed(self.seed + 1_000_003)
        self.fixed_z = torch.randn(n_samples, self.latent_dim, generator=gen).to(self.device)
        self.fixed_y = (torch.arange(n_samples) % n_classes).to(self.device) if self.conditional else None

        self.step = 0                 # generator updates done
        self.seconds = 0.0            # wall time spent in fit()
        self.interrupted = False
        self.history: dict[str, list[float]] = {"step": [], "d_loss": [], "g_loss": [], "d_real": [], "d_fake": []}
        for reg in self.d_regularizers:
            self.history[getattr(reg, "name", type(reg).__name__)] = []
        self.evals: dict[str, list[tuple[int, float]]] = {}
        self.snapshots: list[tuple[int, torch.Tensor]] = []
        self._pending: list[tuple[int, dict[str, torch.Tensor]]] = []
        self._seeded = False
        self.generation = 0  # bumped when load() replaces the weights and optimiser state
        if self.fast is not None:
            self.fast.attach(self)

    # ------------------------------------------------------------------ public API

    @property
    def images_seen(self) -> int:
        """Real images the critic has seen so far (PGGAN's schedules count these)."""
        return self.step * self.n_critic * self.batch_size

    def record(self, name: str, value: float) -> None:
        """Log a sparse value (a metric evaluated now and then) at the current step."""
        self.evals.setdefault(name, []).append((self.step, float(value)))

    @torch.no_grad()
    def sample(self, z: torch.Tensor | None = None, y: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) in eval mode (BatchNorm uses running statistics); the fixed z by default.

        Randomness inside G (StyleGAN's noise) is drawn from the trainer's seed, the same at every
        call, and the global RNG is left as it was: watching a run does not change it."""
        z = self.fixed_z if z is None else z.to(self.device)
        if y is None and z is self.fixed_z:
            y = self.fixed_y
        elif y is not None:
            y = y.to(self.device)  # labels made on the CPU, as a learner writes them, for a G on the GPU
        was_training = self.G.training
        self.G.eval()
        try:
            with own_rng(self.seed):  # noise inside G (StyleGAN) is fixed and leaves training's RNG be
                return self._G(z, y)
        finally:
            self.G.train(was_training)

    def fit(self, n_steps: int | None = None, seconds: float | None = None) -> "Trainer":
        """Train until ``step == n_steps`` (a total, so a resumed run continues) or ``seconds`` pass.

        Ctrl-C / "interrupt kernel" stops cleanly: the models, history and snapshots so far stay
        usable and ``interrupted`` is set. A NaN or inf loss raises :class:`TrainingDiverged`.
        """
        if n_steps is None and seconds is None:
            raise ValueError("give a budget: n_steps (generator updates) and/or seconds")
        if n_steps is not None:
            check_positive("n_steps", n_steps, integer=True, allow_zero=True)
        if seconds is not None:
            check_positive("seconds", seconds)
        target = int(n_steps) if n_steps is not None else sys.maxsize
        if not self._seeded and self.step == 0:
            self._seed_streams()
            self._seeded = True
        self.interrupted = False
        snap_every = max(1, (target - self.step) // 10) if n_steps is not None else 100
        before = [cb for cb in self.callbacks if hasattr(cb, "before_step")]
        after = [cb.after_step if hasattr(cb, "after_step") else cb for cb in self.callbacks
                 if callable(cb) or hasattr(cb, "after_step")]
        if not self.snapshots:
            for cb in before:  # the first snapshot shows G as step 0 trains it (PGGAN: at 4×4)
                cb.before_step(self)
            self._snapshot()

        bar = None
        if self.progress:
            from tqdm.auto import tqdm
            # redrawn at most once a second: in a notebook each redraw is a few widget messages, and
            # a client that reads them only after the cell (nbval) loses the newest past ~2,000 —
            # the kernel's "idle" among them, which then looks like a hung cell
            bar = tqdm(total=None if n_steps is None else target, initial=self.step, unit="step",
                       desc=f"{type(self.G).__name__} vs {type(self.D).__name__}", leave=True, mininterval=1.0)
        watch = None
        if self.live or (self.live is None and self.progress and _live.available()):
            watch = self.live_view = _live.LiveView(self, self.live_every, None if n_steps is None else target)
        start = time.perf_counter()
        self.G.train()
        self.D.train()
        try:
            while self.step < target:
                if seconds is not None and self._time_is_up(time.perf_counter() - start >= seconds):
                    break
                for cb in before:
                    cb.before_step(self)
                logs = self._update()
                self.step += 1
                self._pending.append((self.step, logs))
                if len(self._pending) >= self.log_every:
                    self._flush(bar)
                if self.step % snap_every == 0:
                    self._snapshot()
                if self.checkpoint and self.checkpoint_every and self.step % self.checkpoint_every == 0:
                    self.save(self.checkpoint)
                for cb in after:
                    cb(self)
                if bar is not None:
                    bar.update(1)
                if watch is not None:
                    watch.maybe_update()
        except KeyboardInterrupt:
            self.interrupted = True
            print(f"Interrupted at step {self.step}: the models, history and snapshots so far are kept "
                  "(call fit() again to go on).", file=sys.stderr)
        finally:
            self.seconds += time.perf_counter() - start
            self.opt_d.zero_grad(set_to_none=True)
            self.opt_g.zero_grad(set_to_none=True)
            if bar is not None:
                bar.close()
        self._flush(None)
        if watch is not None:
            watch.close()  # the last frame stays as a static figure
        if not self.snapshots or self.snapshots[-1][0] != self.step:
            self._snapshot()
        if self.checkpoint:
            self.save(self.checkpoint)
        return self

    # ------------------------------------------------------------------ the two updates

    def _update(self) -> dict[str, torch.Tensor]:
        """``n_critic`` D steps, then one G step; their losses as device tensors.

        The fast path (:mod:`ganlessons.fast`) replays these same two steps as CUDA graphs."""
        if self.fast is not None:
            return self.fast.update(self)
        logs = self._d_steps()
        logs["g_loss"] = self._g_step()
        return logs

    def _seed_streams(self) -> None:
        """Seed the random streams of training (z, batches, noise); one per process when distributed."""
        seed_everything(self.seed)

    def _time_is_up(self, up: bool) -> bool:
        """Whether a ``seconds`` budget ends the run now (distributed: when it does for any process)."""
        return up

    def _G(self, z, y, G=None):
        G = self.G if G is None else G
        return G(z, y) if self.conditional else G(z)

    def _D(self, x, y, D=None):
        D = self.D if D is None else D
        return D(x, y) if self.conditional else D(x)

    def _z(self) -> torch.Tensor:
        return torch.randn(self.batch_size, self.latent_dim, device=self.device)

    def _y_fake(self) -> torch.Tensor | None:
        """Labels for G's step, drawn with the training labels' frequencies.

        The conditional optimum D*(x | y) = p(x | y) / (p(x | y) + p_g(x | y)) compares the two
        joint distributions p(y)p(x | y), so G's labels must follow the data's p(y) (full MNIST is
        not uniform: from 9.0 % fives to 11.2 % ones). Uniform data keep ``randint``.
        """
        if not self.conditional:
            return None
        if self._label_p is None:
            return torch.randint(self.n_classes, (self.batch_size,), device=self.device)
        return torch.multinomial(self._label_p, self.batch_size, replacement=True)

    def _d_steps(self) -> dict[str, torch.Tensor]:
        for _ in range(self.n_critic):
            logs = self._d_step()
        return logs

    def _autocast(self):
        """bf16 autocast for a forward pass and its loss when ``precision="bf16"``, else nothing."""
        if self.precision != "bf16":
            return contextlib.nullcontext()  # fp32: nothing to set up on every step
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    def _d_step(self) -> dict[str, torch.Tensor]:
        with self._autocast():
            loss, logs = self._d_loss()
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        if self.constraint is not None:
            self.constraint(self.D)
        return logs

    def _d_loss(self) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        x_real, y_real = self.data.sample(self.batch_size)
        y_real = y_real if self.conditional else None
        # A conditional D step makes its fakes with the real batch's labels: they follow the data's
        # label frequencies, and an interpolate x̂ = εx + (1 − ε)G(z, y) joins two images of the
        # same class y, so a penalty scores it under that one label.
        y_fake = y_real
        with torch.no_grad():  # D's update needs no graph through G
            x_fake = self._G(self._z(), y_fake)
        d_real = self._D(x_real, y_real, self.D_update).float()  # fp32 from here on, also under bf16 autocast
        d_fake = self._D(x_fake, y_fake, self.D_update).float()
        loss = self.d_loss(d_real, d_fake)
        logs = {"d_loss": loss.detach(), "d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean()}
        if self.d_regularizers:
            batch = L.CriticBatch(self._critic_for(y_real, y_fake), x_real, x_fake, d_real, d_fake, self.step,
                                  self.D, y_real, y_fake)
            for reg in self.d_regularizers:
                term = reg(batch)
                logs[getattr(reg, "name", type(reg).__name__)] = term.detach()
                loss = loss + term.float()
        return loss, logs

    def _critic_for(self, y_real, y_fake):
        if not self.conditional:
            return self.D_update
        # x_fake was made with y_real (see _d_step): interpolates lie between two images of one class
        return lambda x: self.D_update(x, y_real)

    def _g_step(self) -> torch.Tensor:
        learning = [p for p in self.D.parameters() if p.requires_grad]
        try:
            for p in learning:  # G's update needs ∂D/∂x, not ∂D/∂θ_D: skip that work
                p.requires_grad_(False)
            with self._autocast():
                y_fake = self._y_fake()
                x_fake = self._G(self._z(), y_fake, self.G_update)
                if getattr(self.g_loss, "needs_real", False):  # e.g. feature matching: statistics of real data
                    x_real, y_real = self.data.sample(self.batch_size)
                    loss = self.g_loss(L.GeneratorBatch(self.D, x_real, x_fake,
                                                        y_real if self.conditional else None, y_fake))
                else:
                    loss = self.g_loss(self._D(x_fake, y_fake).float())
                loss = loss.float()
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
        finally:
            for p in learning:  # (weights someone froze stay frozen)
                p.requires_grad_(True)
        return loss.detach()

    # ------------------------------------------------------------------ bookkeeping

    def _flush(self, bar) -> None:
        """Move pending losses to ``history`` (one device sync) and stop on NaN/inf."""
        if not self._pending:
            return
        names = list(self._pending[0][1])
        table = self._reduce_logs(torch.stack([torch.stack([logs[n].float() for n in names])
                                               for _, logs in self._pending])).cpu()
        steps = [s for s, _ in self._pending]
        self._pending = []
        bad = ~torch.isfinite(table)
        if bad.any():
            row, col = [int(i) for i in bad.nonzero()[0]]
            value = table[row, col].item()
            raise TrainingDiverged(
                f"{names[col]} became {value} at step {steps[row]} (loss={self.loss_name!r}, "
                f"n_critic={self.n_critic}). The weights are no longer usable; rebuild the models and "
                "try a lower learning rate, a critic without a sigmoid for WGAN losses, or "
                "BCE-with-logits instead of log(sigmoid(·)).")
        for i, n in enumerate(names):
            self.history.setdefault(n, []).extend(table[:, i].tolist())
        self.history["step"].extend(steps)
        if bar is not None:
            bar.set_postfix({n: f"{table[-1, i].item():.3f}" for i, n in enumerate(names[:3])}, refresh=False)

    def _reduce_logs(self, table: torch.Tensor) -> torch.Tensor:
        """The logged losses of all processes (distributed: their mean); here, this process's own."""
        return table

    def _snapshot(self) -> None:
        x = self.sample().float()
        if x.dim() == 4:  # images: keep 1 byte a pixel on the host (a long run keeps many)
            x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        self.snapshots.append((self.step, x.cpu()))

    # ------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict[str, Any]:
        self._flush(None)
        cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
        return {
            "format": CHECKPOINT_FORMAT,
            "G_class": type(self.G).__name__, "D_class": type(self.D).__name__,
            "G": self.G.state_dict(), "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "step": self.step, "seconds": self.seconds,
            "history": self.history, "evals": {k: [list(p) for p in v] for k, v in self.evals.items()},
            "snapshot_steps": [s for s, _ in self.snapshots],
            "snapshot_images": [x for _, x in self.snapshots],
            "fixed_z": self.fixed_z.cpu(),
            "rng_cpu": torch.get_rng_state(), "rng_cuda": cuda_rng,
            "config": {"n_critic": self.n_critic, "batch_size": self.batch_size, "seed": self.seed,
                       "latent_dim": self.latent_dim, "loss": self.loss_name, "conditional": self.conditional},
        }

    def save(self, path) -> str:
        """Write a checkpoint atomically (temp file + rename); load it with :meth:`load`."""
        return str(atomic_save(self.state_dict(), path))

    def load(self, path) -> "Trainer":
        """Restore models, optimisers, history, snapshots and RNG state from :meth:`save`'s file.

        Loaded with ``weights_only=True``. A checkpoint of another model, or made with another
        latent size, is a ``ValueError`` that says what differs.
        """
        ckpt = safe_load(path, map_location="cpu")
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path!s} is not a ganlessons trainer checkpoint (format {CHECKPOINT_FORMAT!r})")
        for role, model in (("G", self.G), ("D", self.D)):
            if ckpt[f"{role}_class"] != type(model).__name__:
                raise ValueError(f"checkpoint {path!s} holds a {role} of class {ckpt[f'{role}_class']}, "
                                 f"but this trainer's {role} is a {type(model).__name__}")
            _check_shapes(role, model.state_dict(), ckpt[role], path)
        if ckpt["config"]["latent_dim"] != self.latent_dim:
            raise ValueError(f"checkpoint {path!s} was made with latent_dim={ckpt['config']['latent_dim']}, "
                             f"this trainer has latent_dim={self.latent_dim}")
        self.G.load_state_dict(ckpt["G"])
        self.D.load_state_dict(ckpt["D"])
        from .fast import implementation, restore_implementation

        for opt, name in ((self.opt_g, "opt_g"), (self.opt_d, "opt_d")):
            # how this trainer's optimisers run (fused, capturable on the GPU fast path) is this
            # device's choice, not the saver's: keep it, take the hyperparameters and moments
            own = implementation(opt)
            opt.load_state_dict(ckpt[name])
            restore_implementation(opt, own)
        self.step, self.seconds = int(ckpt["step"]), float(ckpt["seconds"])
        self.history = {k: list(v) for k, v in ckpt["history"].items()}
        self.evals = {k: [tuple(p) for p in v] for k, v in ckpt["evals"].items()}
        self.snapshots = list(zip(ckpt["snapshot_steps"], ckpt["snapshot_images"]))
        self.fixed_z = ckpt["fixed_z"].to(self.device)
        torch.set_rng_state(ckpt["rng_cpu"])
        if ckpt["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["rng_cuda"])
        self._seeded = True  # the RNG state above *is* the seed's continuation
        self.generation += 1  # new weights and optimiser state: the fast path captures its graphs anew
        return self


def _label_frequencies(data, n_classes: int) -> torch.Tensor | None:
    """p(y) of the training labels, or None when they are uniform (then ``randint`` is exact)."""
    y = getattr(data, "y", None)
    if y is None or y.numel() == 0:
        return None
    counts = torch.bincount(y.long().flatten(), minlength=n_classes)[:n_classes].float()
    if counts.sum() == 0 or bool((counts == counts[0]).all()):
        return None
    return (counts / counts.sum()).to(y.device)


def _check_shapes(role: str, mine: dict, theirs: dict, path) -> None:
    missing = sorted(set(mine) - set(theirs))
    extra = sorted(set(theirs) - set(mine))
    if missing or extra:
        raise ValueError(f"checkpoint {path!s}: {role}'s layers differ (missing {missing[:3]}, "
                         f"unexpected {extra[:3]}); was it saved from another architecture?")
    for k, v in mine.items():
        if tuple(theirs[k].shape) != tuple(v.shape):
            raise ValueError(f"checkpoint {path!s}: {role}.{k} has shape {tuple(theirs[k].shape)} there, "
                             f"{tuple(v.shape)} here; was it saved with other sizes (latent_dim, nf …)?")


def fit(G: nn.Module, D: nn.Module, data, *, n_steps: int | None = None, seconds: float | None = None,
        resume: str | None = None, **kwargs) -> Trainer:
    """Build a :class:`Trainer` (same keyword arguments), optionally resume from a checkpoint, train.

    ``n_steps`` counts generator updates in total; ``seconds`` is a wall-clock budget for this call.
    """
    trainer = Trainer(G, D, data, **kwargs)
    if resume:
        trainer.load(resume)
    return trainer.fit(n_steps=n_steps, seconds=seconds)
