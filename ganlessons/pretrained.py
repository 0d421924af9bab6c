"""Trained generators shipped inside the package: every lesson can show a fully trained model at once.

    G = gl.pretrained.load("dcgan")          # eval mode, on the best device, ready to sample
    gl.pretrained.available()                # name → model card (how it was trained, how good it is)

The generators are the lessons' own architectures (lessons 01–06), trained longer than a lecture
allows on the first 4,000 digits of ``mnist-5k`` — the split the domain classifier was trained on —
and measured on the held-out 1,000 (:func:`evaluate`). The weights are safetensors files (no
pickle, float16) beside a JSON model card in ``ganlessons/assets/pretrained/``; the card holds the
recipe, the sha256 of the weights and the measured figures. ``ganlessons pretrain NAME`` retrains
one from its card's recipe (:func:`train`).

Remedies of the field for long runs on small data go into the recipes (each a lesson of its own):

- an exponential moving average of G's weights (Karras et al. 2018, PGGAN §A.1; Yazıcı et al.
  2019, arXiv:1806.04498): θ_EMA ← β·θ_EMA + (1 − β)·θ after every G step; the EMA generator is
  the one shipped. Its BatchNorm statistics are re-estimated afterwards on its own activations
  (:func:`recalibrate_batchnorm`): the running statistics of the trained G belong to other weights.
- a linear learning-rate decay to zero over the last part of the run, for both players (where a
  recipe's ``decay_from`` is below 1: the MLP GANs measured better without it);
- where a recipe says ``augment``, differentiable augmentation (:mod:`ganlessons.augment`, Zhao et
  al. 2020): D sees randomly shifted images, real and generated, so 4,000 digits last longer.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn as nn

from . import losses as L
from . import models as M
from .utils import atomic_write_bytes, check_positive, own_rng, pick_device, seed_everything

__all__ = ["RECIPES", "available", "load", "card", "train", "evaluate", "save", "pretrain", "weights_path",
           "card_path", "remeasure", "EMA", "LinearDecay", "recalibrate_batchnorm", "PretrainedError", "sampler", "describe",
           "choose", "compare", "show_nearest"]

FORMAT = "ganlessons.pretrained/1"
FOLDER = Path(__file__).parent / "assets" / "pretrained"
TRAIN_SPLIT = 4000  # mnist-5k: first 4,000 for training (and the domain classifier), last 1,000 held out


class PretrainedError(ValueError):
    """A shipped weights file or card is missing, damaged or does not fit its generator."""


# ----------------------------------------------------------------------------- recipes

# Each recipe is the lesson's architecture and objective; only the budget, the learning-rate
# schedule and the EMA are added. ``pretrain NAME`` reads these settings back from the card.
RECIPES: dict[str, dict[str, Any]] = {
    "gan": {
        "lesson": "01_gan", "title": "MLP GAN (Goodfellow et al. 2014), non-saturating loss",
        "generator": ["MLPGenerator", {"latent_dim": 100}],
        "discriminator": ["MLPDiscriminator", {}],
        "loss": "gan", "n_critic": 1, "optimizer": ["adam", {"lr": 2e-4, "betas": [0.5, 0.999]}],
        "regularizers": [], "constraint": None,
        # decay_from 1.0: a constant learning rate. Decaying over the second half of 10,000 steps
        # measured worse (domain_fid 97 against 63), and longer runs got worse after ~12,500 steps.
        "batch_size": 64, "n_steps": 12500, "ema_beta": 0.999, "decay_from": 1.0, "seed": 0,
    },
    "cgan": {
        "lesson": "02_cgan", "title": "conditional MLP GAN (Mirza & Osindero 2014), one-hot labels, matching-aware D",
        "generator": ["ConditionalMLPGenerator", {"latent_dim": 100, "n_classes": 10, "embedding": "onehot"}],
        "discriminator": ["ConditionalMLPDiscriminator", {"n_classes": 10, "embedding": "onehot"}],
        "loss": "gan", "n_critic": 1, "optimizer": ["adam", {"lr": 2e-4, "betas": [0.5, 0.999]}],
        "regularizers": [["MismatchPenalty", {"weight": 1.0}]], "constraint": None,
        # a constant learning rate measured better than decaying it over the second half (33 against 38)
        "batch_size": 64, "n_steps": 10000, "ema_beta": 0.999, "decay_from": 1.0, "seed": 0,
    },
    "dcgan": {
        "lesson": "03_dcgan", "title": "DCGAN (Radford et al. 2016) for 28×28, nf = 32",
        "generator": ["DCGANGenerator28", {"latent_dim": 100, "nf": 32}],
        "discriminator": ["DCGANDiscriminator28", {"nf": 32}],
        "loss": "gan", "n_critic": 1, "optimizer": ["adam", {"lr": 2e-4, "betas": [0.5, 0.999]}],
        "regularizers": [], "constraint": None,
        "batch_size": 64, "n_steps": 18000, "ema_beta": 0.999, "decay_from": 0.5, "seed": 0,
    },
    "wgan": {
        "lesson": "04_wgan", "title": "WGAN (Arjovsky et al. 2017): weight clipping c = 0.01, RMSProp, 5 critic steps",
        "generator": ["DCGANGenerator28", {"latent_dim": 100, "nf": 32}],
        "discriminator": ["DCGANDiscriminator28", {"nf": 32}],
        "loss": "wgan", "n_critic": 5, "optimizer": ["rmsprop", {"lr": 5e-5}],
        "regularizers": [], "constraint": ["WeightClip", {"clip_value": 0.01}],
        "batch_size": 64, "n_steps": 6000, "ema_beta": 0.999, "decay_from": 0.5, "seed": 0,
    },
    "wgan-gp": {
        "lesson": "05_wgan_gp", "title": "WGAN-GP (Gulrajani et al. 2017): λ = 10, Adam(1e-4, 0, 0.9), 5 critic steps",
        "generator": ["DCGANGenerator28", {"latent_dim": 100, "nf": 32}],
        "discriminator": ["DCGANDiscriminator28", {"nf": 32, "batchnorm": False}],
        "loss": "wgan", "n_critic": 5, "optimizer": ["adam", {"lr": 1e-4, "betas": [0.0, 0.9]}],
        "regularizers": [["GradientPenalty", {"lambda_gp": 10.0}]], "constraint": None,
        "batch_size": 64, "n_steps": 5000, "ema_beta": 0.999, "decay_from": 0.5, "seed": 0,
    },
    "pggan": {
        "lesson": "06_pggan", "title": "progressive GAN (Karras et al. 2018), 4→8→16→32, WGAN-GP + drift, "
                                      "PixelNorm, minibatch stddev, equalized LR",
        "generator": ["ProgressiveGenerator", {"max_resolution": 32, "fmap_base": 256, "fmap_max": 64}],
        "discriminator": ["ProgressiveDiscriminator", {"max_resolution": 32, "fmap_base": 256, "fmap_max": 64}],
        "loss": "wgan", "n_critic": 1, "optimizer": ["adam", {"lr": 1e-3, "betas": [0.0, 0.99]}],
        "regularizers": [["GradientPenalty", {"lambda_gp": 10.0}], ["DriftPenalty", {"eps_drift": 1e-3}]],
        "constraint": None,
        # the paper's minibatch of 16 (batch 64 at lr 1e-3 measured unstable at 8×8: the critic lost
        # and G collapsed); 50k images per phase (the code's default: 600k) and 2 more phases at
        # 32×32 at the end: (6 + 2) × 50k images / 16 = 25,000 steps
        "size": 32, "progressive": {"images_per_phase": 50000, "extra_phases": 2},
        "batch_size": 16, "n_steps": 25000, "ema_beta": 0.999, "decay_from": 1.0, "seed": 0,
    },
    "stylegan": {
        "lesson": "07_stylegan", "title": "StyleGAN (Karras et al. 2019) at 32×32: mapping network, AdaIN, noise, "
                                         "style mixing, w tracking; non-saturating loss + R1",
        # mapping depth 2 (NVIDIA's own 32×32 setting, stylegan2-ada cifar; measured at lesson size,
        # 600 steps: depth 2 → domain_fid 526, depth 8 → 542, so the cheaper one); tanh on the output
        "generator": ["StyleGenerator", {"latent_dim": 64, "w_dim": 64, "mapping_layers": 2, "max_resolution": 32,
                                         "fmap_base": 256, "fmap_max": 64}],
        "discriminator": ["ProgressiveDiscriminator", {"max_resolution": 32, "fmap_base": 256, "fmap_max": 64}],
        "loss": "gan", "n_critic": 1, "optimizer": ["adam", {"lr": 0.0025, "betas": [0.0, 0.99]}],
        # R1 γ: at lesson size, 600 steps, 0.01 (NVIDIA's heuristic 0.0002·32²/32 ≈ 0.006) → 526, 0.1 → 395,
        # 1 → 437 (no clear winner); in this recipe, at the same learning rate, γ = 0.1 → 282, 176, 164 at
        # steps 1000, 2000, 3000 (124 at 6000, 91 at 10,000) and γ = 1 → 201, 85, 51: γ = 1
        "regularizers": [["R1Penalty", {"gamma": 1.0}]], "constraint": None, "size": 32,
        # G's moving average with StyleGAN's half-life of 10,000 images: β = 0.5^(32/10,000) per step; the
        # learning rate decays linearly to 0 over the second half, as the DCGAN's and WGAN-GP's
        "batch_size": 32, "n_steps": 9000, "ema_beta": 0.99778, "decay_from": 0.5, "seed": 0,
    },
}

_LOSS_PARTS = {"MismatchPenalty": L.MismatchPenalty, "GradientPenalty": L.GradientPenalty,
               "WeightClip": L.WeightClip, "DriftPenalty": L.DriftPenalty,
               "R1Penalty": L.R1Penalty}


def _check_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, one of {sorted(RECIPES)}, got {name!r}")
    key = name.strip().lower().replace("_", "-")
    key = {"wgangp": "wgan-gp", "mlp": "gan", "conditional": "cgan"}.get(key, key)
    if key not in RECIPES:
        raise ValueError(f"unknown pretrained generator name={name!r}; the shipped ones are: "
                         f"{', '.join(sorted(RECIPES))}")
    return key


def weights_path(name: str, folder: str | os.PathLike | None = None) -> Path:
    return Path(folder or FOLDER) / f"{_check_name(name)}.safetensors"


def card_path(name: str, folder: str | os.PathLike | None = None) -> Path:
    return Path(folder or FOLDER) / f"{_check_name(name)}.json"


def build(spec: list, kind: str) -> nn.Module:
    """A model from a card's ``[class name, kwargs]`` (only classes of :mod:`ganlessons.models`)."""
    cls_name, kwargs = spec
    cls = getattr(M, cls_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise PretrainedError(f"{kind}: {cls_name!r} is not a model of ganlessons.models")
    return cls(**kwargs)


# ----------------------------------------------------------------------------- loading


def card(name: str, folder: str | os.PathLike | None = None) -> dict:
    """The model card of a shipped generator: recipe, training time and device, measured figures."""
    path = card_path(name, folder)
    if not path.is_file():
        raise FileNotFoundError(f"the card {path} of the pretrained {_check_name(name)!r} generator is missing; "
                                f"rebuild it with: ganlessons pretrain {_check_name(name)}")
    try:
        out = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PretrainedError(f"the card {path} is not readable JSON ({err}); reinstall ganlessons or run "
                              f"ganlessons pretrain {_check_name(name)}") from err
    if not isinstance(out, dict) or out.get("format") != FORMAT:
        raise PretrainedError(f"the card {path} is not a {FORMAT} card")
    return out


def available(folder: str | os.PathLike | None = None) -> dict[str, dict]:
    """Every shipped generator's name → its card, in lesson order."""
    return {name: card(name, folder) for name in RECIPES if card_path(name, folder).is_file()}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load(name: str, device: str | torch.device = "auto", folder: str | os.PathLike | None = None) -> nn.Module:
    """The shipped generator ``name`` (see :func:`available`), in eval mode, on ``device``, ready to sample.

    Its parameters do not require gradients (sampling builds no graph); ``G.card`` is its card.
    The weights are checked against the card's sha256 and against the architecture, key by key and
    shape by shape: a damaged or mismatched file raises :class:`PretrainedError` naming the file.
    """
    key = _check_name(name)
    info = card(key, folder)
    path = weights_path(key, folder)
    if not path.is_file():
        raise FileNotFoundError(f"the weights {path} of the pretrained {key!r} generator are missing; "
                                f"rebuild them with: ganlessons pretrain {key}")
    if not info.get("sha256"):
        raise PretrainedError(f"the card {card_path(key, folder)} has no sha256 of its weights file; "
                              f"run ganlessons pretrain {key}")
    if _sha256(path) != info["sha256"]:
        raise PretrainedError(f"the weights file {path} is damaged or was replaced: its sha256 differs from "
                              f"the one in its card {card_path(key, folder)}; reinstall ganlessons or run "
                              f"ganlessons pretrain {key}")
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise PretrainedError(f"the weights file {path} is not a readable safetensors file ({err})") from err
    G = build(info["recipe"]["generator"], "generator")
    expected = G.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    wrong = [f"{k}: file {tuple(tensors[k].shape)}, model {tuple(v.shape)}"
             for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape]
    if missing or extra or wrong:
        details = "; ".join(filter(None, [missing and f"missing {missing[:4]}", extra and f"unexpected {extra[:4]}",
                                          wrong and f"wrong shapes {wrong[:4]}"]))
        raise PretrainedError(f"the weights file {path} does not fit {info['recipe']['generator'][0]}"
                              f"({info['recipe']['generator'][1]}): {details}")
    G.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()})
    G.eval().requires_grad_(False)
    G.card = info
    return G.to(pick_device(device))


# ----------------------------------------------------------------------------- training


class EMA:
    """θ_EMA ← β·θ_EMA + (1 − β)·θ after every generator step; ``ema.G`` is the averaged copy.

    β = 0.999 averages over the last ~1/(1 − β) = 1,000 steps. Buffers (BatchNorm statistics)
    are copied, and re-estimated at the end by :func:`recalibrate_batchnorm`. The average starts
    at G's initial weights and still holds β^T of them after T steps (37 % after 1,000 steps at
    β = 0.999): train for several thousand steps, or lower β for short runs.
    """

    def __init__(self, G: nn.Module, beta: float = 0.999):
        if not 0.0 <= float(beta) < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {beta!r}")
        self.beta = float(beta)
        self.G = copy.deepcopy(G).eval().requires_grad_(False)
        self._src, self._dst = list(G.parameters()), list(self.G.parameters())
        self._src_buffers, self._dst_buffers = list(G.buffers()), list(self.G.buffers())

    @torch.no_grad()
    def after_step(self, trainer) -> None:
        torch._foreach_lerp_(self._dst, self._src, 1.0 - self.beta)  # θ_EMA += (1 − β)(θ − θ_EMA)
        for b_dst, b_src in zip(self._dst_buffers, self._src_buffers):  # BatchNorm statistics
            b_dst.copy_(b_src)


class LinearDecay:
    """Both players' learning rates fall linearly from their start value towards 0 over the last part of the run.

    lr(t) = lr₀ · min(1, (T − t)/(T − t₀)) with t₀ = ``decay_from``·T: lr₀ until t₀, lr₀/(T − t₀) at
    the last step. lr₀ is read at the first call, so use it on a fresh trainer.
    """

    def __init__(self, n_steps: int, decay_from: float = 0.5):
        check_positive("n_steps", n_steps, integer=True)
        if not 0.0 <= float(decay_from) <= 1.0:
            raise ValueError(f"decay_from must be a fraction of the run in [0, 1], got {decay_from!r}")
        self.n_steps, self.start = int(n_steps), int(decay_from * n_steps)
        self._base: list[list[float]] | None = None

    def before_step(self, trainer) -> None:
        opts = (trainer.opt_d, trainer.opt_g)
        if self._base is None:
            self._base = [[g["lr"] for g in o.param_groups] for o in opts]
        span = max(1, self.n_steps - self.start)
        factor = min(1.0, max(0.0, (self.n_steps - trainer.step) / span))
        for o, base in zip(opts, self._base):
            for g, lr in zip(o.param_groups, base):
                g["lr"] = lr * factor


@torch.no_grad()
def recalibrate_batchnorm(G: nn.Module, n_batches: int = 40, batch_size: int = 250,
                          label_p: torch.Tensor | None = None, seed: int = 0) -> nn.Module:
    """Re-estimate every BatchNorm's running mean and variance from G's own activations.

    The statistics become exact averages over ``n_batches`` batches of fresh z (momentum None),
    then G goes back to eval mode. Needed after averaging weights: the EMA's activations differ
    from those of the G whose statistics were tracked. Draws from its own generator.
    """
    bns = [m for m in G.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return G.eval()
    dev = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed + 77)
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    G.train()
    n_classes = int(getattr(G, "n_classes", 0) or 0)
    for _ in range(n_batches):
        z = torch.randn(batch_size, G.latent_dim, generator=gen).to(dev)
        if n_classes:
            p = label_p if label_p is not None else torch.full((n_classes,), 1.0 / n_classes)
            y = torch.multinomial(p.cpu(), batch_size, replacement=True, generator=gen).to(dev)
            G(z, y)
        else:
            G(z)
    for m, mom in zip(bns, saved):
        m.momentum = mom
    return G.eval()


def _optimizer(spec) -> Callable:
    kind, kwargs = spec
    kwargs = dict(kwargs)
    if "betas" in kwargs:
        kwargs["betas"] = tuple(kwargs["betas"])
    cls = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}[kind]
    return lambda params: cls(params, **kwargs)


def _fp16_roundtrip(G: nn.Module) -> None:
    """Round G's floating-point weights to what the float16 file will hold (figures measure that model)."""
    with torch.no_grad():
        for t in list(G.parameters()) + list(G.buffers()):
            if t.is_floating_point():
                t.copy_(t.half().float())


def train(name: str, *, recipe: dict | None = None, device: str | torch.device = "auto", n_steps: int | None = None,
          progress: bool = True, eval_every: int | None = None, log: Callable[[str], None] | None = None):
    """Train the generator ``name`` by its recipe (or ``recipe``); returns ``(G_ema, trainer, trajectory, recipe)``.

    ``eval_every`` logs the EMA generator's held-out ``domain_fid`` along the way (1,000 samples).
    Inside a torchrun process group (:func:`ganlessons.distributed.init`) the recipe's batch is the
    global batch, shared by the processes (:class:`ganlessons.distributed.DistributedTrainer`); the
    EMA and the log live on process 0, and the other processes return ``G_ema = None``.
    """
    from . import data as gdata
    from . import distributed as dist
    from .train import Trainer

    key = _check_name(name)
    log = log or (lambda line: print(line, flush=True))
    r = copy.deepcopy(recipe or RECIPES[key])
    if n_steps is not None:
        check_positive("n_steps", n_steps, integer=True)
        r["n_steps"] = int(n_steps)
    several = dist.is_distributed()
    dev = dist.local_device(device) if several else pick_device(device)
    train_set, held = gdata.load("mnist-5k", device=dev, size=r.get("size", 28)).split(TRAIN_SPLIT)
    schedule = None
    if r.get("progressive"):  # PGGAN: the level of detail follows the images shown, the reals are faded
        from .progressive import FadedReals, ProgressiveSchedule
        spec = dict(r["progressive"])
        extra = spec.pop("extra_phases", 1)
        schedule = ProgressiveSchedule(**spec, max_resolution=r["size"])
        if n_steps is None:
            r["n_steps"] = schedule.steps_for(r["batch_size"], r["n_critic"], extra_phases=extra)
        train_set = FadedReals(train_set)
    seed_everything(r["seed"])
    G, D = build(r["generator"], "generator"), build(r["discriminator"], "discriminator")
    if r.get("augment"):  # DiffAugment: D sees translated images, real and generated, in both updates
        from .augment import DiffAugment
        D = DiffAugment(D, r["augment"])
    sched = LinearDecay(r["n_steps"], r["decay_from"])
    trajectory: list[tuple[int, float]] = []
    x_held = _as_digits(held.images(1000))

    def watch(trainer):
        if eval_every and trainer.step % eval_every == 0:
            G_eval = copy.deepcopy(ema.G)
            recalibrate_batchnorm(G_eval, n_batches=8, label_p=trainer._label_p)
            fid = _fid_of(G_eval, x_held, seed=1)
            trajectory.append((trainer.step, round(fid, 2)))
            log(f"  step {trainer.step:>6}: held-out domain_fid of the EMA generator {fid:7.2f} "
                f"({time.perf_counter() - t0:.0f} s)")

    constraint = None
    if r["constraint"]:
        cname, ckw = r["constraint"]
        constraint = _LOSS_PARTS[cname](**ckw)
    regs = [_LOSS_PARTS[n](**kw) for n, kw in r["regularizers"]]
    trainer = (dist.DistributedTrainer if several else Trainer)(
        G, D, train_set, loss=r["loss"], n_critic=r["n_critic"], d_regularizers=regs,
        constraint=constraint, opt_d=_optimizer(r["optimizer"]), opt_g=_optimizer(r["optimizer"]),
        batch_size=r["batch_size"], seed=r["seed"], device=dev, progress=progress, live=False,
        n_samples=16, callbacks=[sched] + ([schedule] if schedule else []), channels_last=r.get("channels_last"))
    r["channels_last"] = trainer.channels_last  # the memory order changes the rounding: part of the recipe
    main = not several or trainer.is_main
    if main:  # the EMA and the held-out log on one process (the others train the same G)
        ema = EMA(trainer.G, r["ema_beta"])  # a copy of G as the trainer holds it: on its device, in its layout
        trainer.callbacks += [ema, watch]
    t0 = time.perf_counter()
    trainer.fit(n_steps=r["n_steps"])
    if not main:
        return None, trainer, trajectory, r
    if schedule is not None:  # a shipped generator samples at full resolution (load() builds it so)
        ema.G.set_lod(0.0)
    G_ema = recalibrate_batchnorm(ema.G, label_p=trainer._label_p)
    return G_ema, trainer, trajectory, r


# ----------------------------------------------------------------------------- measuring


def _as_digits(x: torch.Tensor) -> torch.Tensor:
    """Images as the 28×28 digits the figures compare with: in [-1, 1], the 2-px padding of 32×32 removed.

    PGGAN's G has no tanh (its toRGB is linear, as the authors' code), so its samples are clipped
    to the data range as the official code does when it writes images (StyleGAN's tanh makes the
    clip a no-op).
    """
    x = x.float().clamp(-1.0, 1.0)
    return x[..., 2:30, 2:30] if x.shape[-1] == 32 else x


def _samples(G: nn.Module, n: int, seed: int, batch: int = 500) -> torch.Tensor:
    """n samples from z of a generator of their own, as 28×28 digits in [-1, 1] (:func:`_as_digits`);
    a conditional G gets each class equally often."""
    gen = torch.Generator().manual_seed(seed)
    dev = next(G.parameters()).device
    n_classes = int(getattr(G, "n_classes", 0) or 0)
    out = []
    was = G.training
    G.eval()
    try:
        with torch.no_grad(), own_rng(seed):  # G's own noise (StyleGAN) from the seed, the global RNG untouched
            for i in range(0, n, batch):
                k = min(batch, n - i)
                z = torch.randn(k, G.latent_dim, generator=gen).to(dev)
                if n_classes:
                    out.append(G(z, (torch.arange(i, i + k) % n_classes).to(dev)))
                else:
                    out.append(G(z))
    finally:
        G.train(was)
    return _as_digits(torch.cat(out))


def _fid_of(G, x_held, seed=0):
    from .metrics import domain_fid
    return domain_fid(_samples(G, x_held.shape[0], seed).to(x_held.device), x_held, "mnist")


@torch.no_grad()
def evaluate(G: nn.Module, *, n: int = 1000, draws: int = 5, n_histogram: int = 10_000, seed: int = 0) -> dict:
    """The card's figures for a generator of 28×28 digits, against the mnist-5k split.

    An FID from 1,000 samples is noisy: four draws of z moved the shipped WGAN-GP's between 38.5
    and 49.7. So both sides of the ratio are means, with their ranges:

    - ``floor``: ``domain_fid`` of 1,000 training digits against the 1,000 held-out ones, the mean
      over the 4 disjoint thousands of the training split (the classifier was trained on these:
      its features may set them slightly apart, so this floor can sit a little above one between
      two unseen sets);
    - ``domain_fid``: ``n`` samples against the held-out 1,000 (equal N, so comparable with the
      floor), the mean over ``draws`` draws of z;
    - ``histogram``: the domain classifier's class shares over ``n_histogram`` samples (min and max);
    - ``memorisation``: for each sample and each held-out digit, the distance to its nearest training
      digit, in the classifier's 128-d features and in pixels; a copying G has a median far below
      the held-out median (ratio < 1), which FID would reward;
    - ``class_accuracy`` of ``n_histogram`` samples for a conditional G.
    """
    from . import data as gdata
    from .metrics import class_accuracy, class_histogram, domain_fid, nearest_real

    dev = next(G.parameters()).device
    train_set, held = gdata.load("mnist-5k", device=dev).split(TRAIN_SPLIT)
    x_train, x_held = train_set.images(), held.images()
    if not 2 <= n <= len(x_held):
        raise ValueError(f"n={n}: compare at most the {len(x_held)} held-out digits (and at least 2)")
    check_positive("draws", draws, integer=True)
    fake = _samples(G, n, seed).to(dev)
    fids = [domain_fid(fake if i == 0 else _samples(G, n, seed + 100 + i).to(dev), x_held[:n], "mnist")
            for i in range(draws)]
    floors = [domain_fid(x_train[j:j + n], x_held[:n], "mnist") for j in range(0, len(x_train) - n + 1, n)]
    fid, floor = sum(fids) / len(fids), sum(floors) / len(floors)
    out: dict[str, Any] = {"n": n, "draws": draws,
                           "floor": round(floor, 2), "floor_range": [round(min(floors), 2), round(max(floors), 2)],
                           "domain_fid": round(fid, 2), "domain_fid_range": [round(min(fids), 2), round(max(fids), 2)],
                           "fid_over_floor": round(fid / floor, 2)}
    hist = class_histogram(_samples(G, n_histogram, seed + 1).to(dev), "mnist")
    out["histogram"] = [round(v, 4) for v in hist.tolist()]
    out["histogram_min"], out["histogram_max"] = round(hist.min().item(), 4), round(hist.max().item(), 4)
    memo = {}
    for space in ("feature", "pixel"):
        d_fake = nearest_real(fake, x_train, space=space)[0]
        d_held = nearest_real(x_held[:n], x_train, space=space)[0]
        g_med, h_med = d_fake.median().item(), d_held.median().item()
        memo[space] = {"generated_median": round(g_med, 3), "held_out_median": round(h_med, 3),
                       "ratio": round(g_med / h_med, 3)}
    out["memorisation"] = memo
    if getattr(G, "n_classes", 0):
        out["class_accuracy"] = round(class_accuracy(G, n_per_class=n_histogram // G.n_classes, seed=seed), 4)
    return out


# ----------------------------------------------------------------------------- writing


def save(name: str, G: nn.Module, info: dict, folder: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """Write G's weights (float16 safetensors) and its card (JSON, with the file's sha256), each atomically."""
    from safetensors.torch import save as st_save

    key = _check_name(name)
    tensors = {k: (v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()).contiguous()
               for k, v in G.state_dict().items()}
    blob = st_save(tensors, metadata={"format": FORMAT, "name": key})
    wpath, cpath = weights_path(key, folder), card_path(key, folder)
    atomic_write_bytes(blob, wpath)
    record = {"format": FORMAT, "name": key, **info, "size_bytes": len(blob),
              "sha256": hashlib.sha256(blob).hexdigest()}
    atomic_write_bytes((json.dumps(record, indent=1) + "\n").encode(), cpath)
    return wpath, cpath


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor()


def remeasure(name: str, folder: str | os.PathLike | None = None) -> dict:
    """Measure the shipped weights of ``name`` again with :func:`evaluate` and rewrite the card's figures.

    For when the measurement changes, not the generator: the weights file stays as it is.
    """
    key = _check_name(name)
    info = card(key, folder)
    G = load(key, device="cpu", folder=folder)
    info["figures"] = evaluate(G)
    atomic_write_bytes((json.dumps(info, indent=1) + "\n").encode(), card_path(key, folder))
    return info


def pretrain(name: str, *, device: str | torch.device = "auto", n_steps: int | None = None,
             folder: str | os.PathLike | None = None, progress: bool = True, eval_every: int | None = None,
             log: Callable[[str], None] | None = None) -> dict:
    """Retrain ``name`` from its card's recipe (the built-in one if there is no card), measure, and save.

    Returns the new card. The figures are measured on the float16 weights that are written. Inside a
    torchrun process group every process trains and process 0 measures and writes (the others return {}).
    """
    import platform

    from . import __version__
    from . import distributed as dist

    key = _check_name(name)
    try:
        recipe = card(key, folder)["recipe"]
    except (FileNotFoundError, PretrainedError, KeyError):
        recipe = RECIPES[key]
    dev = pick_device(device)
    t0 = time.perf_counter()
    G, trainer, trajectory, r = train(key, recipe=recipe, device=dev, n_steps=n_steps, progress=progress,
                                      eval_every=eval_every, log=log)
    seconds = time.perf_counter() - t0
    if G is None:  # another process of a distributed run: process 0 measures and writes
        return {}
    _fp16_roundtrip(G)
    figures = evaluate(G)
    dev = trainer.device
    device_name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else \
        f"cpu ({_cpu_model() or platform.machine()}, {torch.get_num_threads()} thread(s))"
    info = {"title": r["title"], "lesson": r["lesson"], "recipe": r,
            "dataset": {"name": "mnist-5k", "split": f"trained on the first {TRAIN_SPLIT} digits, "
                        f"measured on the last {5000 - TRAIN_SPLIT}"},
            "training": {"generator_steps": trainer.step, "images_seen": trainer.images_seen,
                         "wall_seconds": round(seconds, 1), "device": device_name,
                         "processes": dist.world_size(), "precision": trainer.precision,
                         "fast_path": repr(trainer.fast) if trainer.fast is not None else None,
                         "torch": torch.__version__, "ganlessons": __version__},
            "figures": figures, "trajectory": trajectory}
    save(key, G, info, folder)
    return card(key, folder)


# ----------------------------------------------------------------------------- in a lesson


def sampler(G: nn.Module) -> Callable[..., torch.Tensor]:
    """``sample(z, y=None)`` → G(z [, y]) in eval mode, without a graph, on G's device (z may be on the CPU)."""
    dev = next(G.parameters()).device
    conditional = bool(getattr(G, "n_classes", 0))

    @torch.no_grad()
    def sample(z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if conditional and y is None:
            raise ValueError("this generator is conditional: give labels y as well as z")
        was = G.training
        G.eval()
        try:
            with own_rng(0):  # a G with noise inputs (StyleGAN) draws the same noise every time
                return G(z.to(dev), y.to(dev)) if conditional else G(z.to(dev))
        finally:
            G.train(was)

    return sample


def describe(G_or_card) -> str:
    """One line for a figure title: what the shipped generator is and how good its card says it is."""
    c = G_or_card.card if isinstance(G_or_card, nn.Module) else G_or_card
    t, f = c["training"], c["figures"]
    return (f"shipped {c['name']}: {t['generator_steps']:,} steps, domain_fid {f['domain_fid']:.0f} "
            f"({f['fid_over_floor']:.1f}× the real-data floor)")


def choose(G_own: nn.Module, G_shipped: nn.Module, use_pretrained: bool, data=None,
           own: str = "this run's G") -> tuple[nn.Module, str]:
    """The generator a lesson explores, and a label for its figures.

    The shipped one when ``use_pretrained`` is true and the lesson's data are MNIST digits (the
    shipped generators draw MNIST); else the lesson's own, with a note why.
    """
    if not isinstance(use_pretrained, bool):
        raise TypeError(f"use_pretrained must be True or False, got {use_pretrained!r}")
    name = getattr(data, "name", "mnist")
    if use_pretrained and name not in ("mnist", "mnist-5k"):
        print(f"use_pretrained: the shipped generators draw MNIST digits, this lesson trains on {name}; "
              "exploring this run's G instead")
        return G_own, own
    return (G_shipped, describe(G_shipped)) if use_pretrained else (G_own, own)


def compare(G_own: nn.Module, G_shipped: nn.Module, *, n: int = 32, seed: int = 0,
            own: str = "this run's G"):
    """Two grids side by side from the same z (and labels): the lesson's G and the shipped one."""
    import matplotlib.pyplot as plt

    from .viz import show_grid

    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G_shipped.latent_dim, generator=gen)
    same = G_own.latent_dim == G_shipped.latent_dim  # a lesson may shrink z (lesson 06): then each its own z
    z_own = z if same else torch.randn(n, G_own.latent_dim, generator=gen)
    k = int(getattr(G_shipped, "n_classes", 0) or 0)
    y = torch.arange(n) % k if k else None
    fig, axes = plt.subplots(1, 2, figsize=(10, 10 * (n // 8) / 8 / 2 + 0.6))
    for ax, G, zz, title in ((axes[0], G_own, z_own, own), (axes[1], G_shipped, z, describe(G_shipped))):
        show_grid(sampler(G)(zz, y).cpu(), nrow=8, ax=ax, title=title)
    fig.suptitle(("the same z" + (" and labels" if k else "") if same else
                  f"z of {G_own.latent_dim} and {G_shipped.latent_dim} dimensions") + " through both generators")
    fig.tight_layout()
    return fig


def show_nearest(G: nn.Module, *, n: int = 4, k: int = 5, space: str = "feature", seed: int = 0):
    """Each of ``n`` samples beside its ``k`` nearest training digits (the 4,000 it was trained on).

    Copies would sit at distance ≈ 0 from a training digit; the card's memorisation figures are
    the same distance over 1,000 samples, against held-out real digits' distance to the training set.
    """
    import matplotlib.pyplot as plt

    from . import data as gdata
    from .metrics import nearest_real

    train_set, _ = gdata.load("mnist-5k", device="cpu").split(TRAIN_SPLIT)
    x_train = train_set.images()
    x = _samples(G, n, seed).cpu()
    dist, idx = nearest_real(x, x_train, space=space, k=k)
    fig, axes = plt.subplots(n, k + 1, figsize=(1.2 * (k + 1), 1.3 * n), squeeze=False)
    for i in range(n):
        row = [x[i]] + [x_train[j] for j in idx[i].tolist()]
        for c, img in enumerate(row):
            ax = axes[i, c]
            ax.imshow(((img[0] + 1) / 2).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]); ax.set_yticks([])
            ax.set_title("sample" if c == 0 else f"{dist[i, c - 1]:.1f}", fontsize=8)
    fig.suptitle(f"samples and their {k} nearest training digits ({space} distance)", fontsize=10)
    fig.tight_layout()
    return fig
