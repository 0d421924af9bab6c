"""GAN objectives, as losses the trainer minimises, and the critic's Lipschitz controls.

Every discriminator here returns *logits* (no sigmoid); the probability is D(x) = σ(d) with
d the raw output. Working with logits lets ``softplus`` / ``binary_cross_entropy_with_logits``
compute log σ(d) stably where ``log(sigmoid(d))`` underflows to −inf.

- GAN (Goodfellow et al. 2014, arXiv:1406.2661):
  max_D E[log D(x)] + E[log(1 − D(G(z)))];  G minimises log(1 − D(G(z))) ("minimax") or, in
  practice, maximises log D(G(z)) ("non-saturating"), which has strong gradients early on.
- WGAN (Arjovsky et al. 2017, arXiv:1701.07875): the critic maximises E[f(x)] − E[f(G(z))]
  over 1-Lipschitz f; G minimises −E[f(G(z))]. Lipschitz by weight clipping …
- … or by the gradient penalty of WGAN-GP (Gulrajani et al. 2017, arXiv:1704.00028):
  λ·E_x̂[(‖∇_x̂ f(x̂)‖₂ − 1)²] with x̂ = εx + (1 − ε)G(z), ε ~ U[0, 1] per sample.
- Hinge (Lim & Ye 2017; Miyato et al. 2018): E[relu(1 − d_real)] + E[relu(1 + d_fake)].
- Least squares (Mao et al. 2017, arXiv:1611.04076).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .utils import check_positive

__all__ = [
    "d_loss_bce", "g_loss_nonsaturating", "g_loss_minimax", "one_sided_label_smoothing",
    "d_loss_wgan", "g_loss_wgan", "d_loss_hinge", "g_loss_hinge", "d_loss_lsgan", "g_loss_lsgan",
    "LOSSES", "resolve", "gradient_penalty", "interpolate_gradient_norms", "GradientPenalty", "DriftPenalty", "clip_weights",
    "WeightClip", "CriticBatch", "MismatchPenalty", "mismatched_labels", "GeneratorBatch", "FeatureMatching", "R1Penalty",
]


def _flat(d: torch.Tensor) -> torch.Tensor:
    return d.reshape(d.shape[0], -1).mean(dim=1) if d.dim() > 1 else d


# ----------------------------------------------------------------------------- the 2014 GAN


def d_loss_bce(d_real: torch.Tensor, d_fake: torch.Tensor, real_label: float = 1.0) -> torch.Tensor:
    """L_D = −E[log σ(d_real)] − E[log(1 − σ(d_fake))]  (targets ``real_label`` and 0)."""
    d_real, d_fake = _flat(d_real), _flat(d_fake)
    real = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_label))
    fake = F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    return real + fake


def g_loss_nonsaturating(d_fake: torch.Tensor) -> torch.Tensor:
    """L_G = −E[log σ(d_fake)] = E[softplus(−d_fake)]: G maximises log D(G(z))."""
    return F.softplus(-_flat(d_fake)).mean()


def g_loss_minimax(d_fake: torch.Tensor) -> torch.Tensor:
    """L_G = E[log(1 − σ(d_fake))] = −E[softplus(d_fake)]: the original, saturating game."""
    return -F.softplus(_flat(d_fake)).mean()


def one_sided_label_smoothing(real_label: float = 0.9) -> Callable:
    """A BCE discriminator loss whose real target is ``real_label`` (< 1) and fake target stays 0.

    Salimans et al. 2016 (arXiv:1606.03498): smoothing only the real side; smoothing the fake
    side too would reward G for samples where p_data is zero.
    """
    if not 0.0 < real_label <= 1.0:
        raise ValueError(f"real_label must be in (0, 1], got {real_label!r}")

    def d_loss_smoothed(d_real, d_fake):
        return d_loss_bce(d_real, d_fake, real_label=real_label)

    d_loss_smoothed.__name__ = f"d_loss_bce(real_label={real_label})"
    return d_loss_smoothed


# ----------------------------------------------------------------------------- WGAN, hinge, LSGAN


def d_loss_wgan(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """L_critic = E[f(G(z))] − E[f(x)]: the negative of the Wasserstein-1 estimate."""
    return _flat(d_fake).mean() - _flat(d_real).mean()


def g_loss_wgan(d_fake: torch.Tensor) -> torch.Tensor:
    """L_G = −E[f(G(z))]."""
    return -_flat(d_fake).mean()


def d_loss_hinge(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """L_D = E[relu(1 − d_real)] + E[relu(1 + d_fake)]."""
    return F.relu(1.0 - _flat(d_real)).mean() + F.relu(1.0 + _flat(d_fake)).mean()


def g_loss_hinge(d_fake: torch.Tensor) -> torch.Tensor:
    """L_G = −E[d_fake]."""
    return -_flat(d_fake).mean()


def d_loss_lsgan(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """L_D = ½E[(d_real − 1)²] + ½E[d_fake²]."""
    return 0.5 * ((_flat(d_real) - 1.0) ** 2).mean() + 0.5 * (_flat(d_fake) ** 2).mean()


def g_loss_lsgan(d_fake: torch.Tensor) -> torch.Tensor:
    """L_G = ½E[(d_fake − 1)²]."""
    return 0.5 * ((_flat(d_fake) - 1.0) ** 2).mean()


LOSSES: dict[str, tuple[Callable, Callable]] = {
    "gan": (d_loss_bce, g_loss_nonsaturating),
    "minimax": (d_loss_bce, g_loss_minimax),
    "wgan": (d_loss_wgan, g_loss_wgan),
    "hinge": (d_loss_hinge, g_loss_hinge),
    "lsgan": (d_loss_lsgan, g_loss_lsgan),
}


def resolve(loss: str) -> tuple[Callable, Callable]:
    """The (d_loss, g_loss) pair for a name in :data:`LOSSES`."""
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is unknown; choose one of {list(LOSSES)} "
                         "or pass d_loss= and g_loss= functions")
    return LOSSES[loss]


# ----------------------------------------------------------------------------- regularisers


@dataclass
class CriticBatch:
    """What a critic regulariser may look at in one D step.

    ``critic`` is D with the labels of this batch bound (a plain x ↦ D(x) for unconditional
    models), so a penalty can evaluate D at new points such as the interpolates x̂. For a
    conditional D, ``D`` itself and the labels ``y_real``/``y_fake`` let a penalty score other
    (image, label) pairs (the mismatched pairs of :class:`MismatchPenalty`).
    """

    critic: Callable[[torch.Tensor], torch.Tensor]
    x_real: torch.Tensor
    x_fake: torch.Tensor
    d_real: torch.Tensor
    d_fake: torch.Tensor
    step: int
    D: Callable | None = None
    y_real: torch.Tensor | None = None
    y_fake: torch.Tensor | None = None


def interpolate_gradient_norms(critic: Callable[[torch.Tensor], torch.Tensor], x_real: torch.Tensor,
                               x_fake: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """‖∇_x̂ D(x̂)‖₂ per sample, x̂ = εx_real + (1 − ε)x_fake with ε ~ U[0, 1] drawn per sample.

    The norm is over each *flattened* sample (all of C×H×W), not over ``dim=1`` of a 4-D tensor.
    ``create_graph=True`` keeps the graph so a penalty on these norms can train D (double backward).
    """
    if x_real.shape != x_fake.shape:
        raise ValueError(f"x_real and x_fake must have the same shape, got {tuple(x_real.shape)} "
                         f"and {tuple(x_fake.shape)}")
    eps = torch.rand((x_real.shape[0],) + (1,) * (x_real.dim() - 1), device=x_real.device, dtype=x_real.dtype)
    x_hat = (eps * x_real.detach() + (1.0 - eps) * x_fake.detach()).requires_grad_(True)
    d_hat = critic(x_hat)
    (grad,) = torch.autograd.grad(d_hat.float().sum(), x_hat, create_graph=create_graph)
    with torch.autocast(x_hat.device.type, enabled=False):  # the norm in fp32, also under bf16 autocast
        return grad.float().reshape(grad.shape[0], -1).norm(2, dim=1)


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], x_real: torch.Tensor,
                     x_fake: torch.Tensor) -> torch.Tensor:
    """E_x̂[(‖∇_x̂ D(x̂)‖₂ − 1)²], x̂ = εx_real + (1 − ε)x_fake, ε ~ U[0, 1] per sample.

    Gulrajani et al. 2017 (arXiv:1704.00028), eq. 3. The norms come from
    :func:`interpolate_gradient_norms` with the graph kept, so the penalty itself can be
    back-propagated into D's weights. λ is applied by the caller.
    """
    norms = interpolate_gradient_norms(critic, x_real, x_fake, create_graph=True)
    return ((norms - 1.0) ** 2).mean()


class GradientPenalty:
    """The WGAN-GP term λ·E[(‖∇_x̂ D(x̂)‖₂ − 1)²] as a trainer regulariser (λ = ``lambda_gp``)."""

    name = "gp"

    def __init__(self, lambda_gp: float = 10.0):
        check_positive("lambda_gp", lambda_gp, allow_zero=True)
        self.lambda_gp = float(lambda_gp)

    def __call__(self, batch: CriticBatch) -> torch.Tensor:
        return self.lambda_gp * gradient_penalty(batch.critic, batch.x_real, batch.x_fake)

    def __repr__(self) -> str:
        return f"GradientPenalty(lambda_gp={self.lambda_gp})"


class DriftPenalty:
    """PGGAN's ε_drift·E[D(x)²] (Karras et al. 2018, ε = 0.001): keeps the critic near zero."""

    name = "drift"

    def __init__(self, eps_drift: float = 1e-3):
        check_positive("eps_drift", eps_drift, allow_zero=True)
        self.eps_drift = float(eps_drift)

    def __call__(self, batch: CriticBatch) -> torch.Tensor:
        return self.eps_drift * (_flat(batch.d_real) ** 2).mean()

    def __repr__(self) -> str:
        return f"DriftPenalty(eps_drift={self.eps_drift})"


class R1Penalty:
    """R1 = (γ/2)·E_x[‖∇_x D(x)‖²] on real images only (Mescheder, Geiger & Nowozin 2018, arXiv:1801.04406).

    StyleGAN's ``D_logistic_simplegp`` (``training/loss.py``): the zero-centred penalty with the
    non-saturating loss; γ = 10 at FFHQ's scale. The gradient is of the sum of D's outputs with
    respect to each real image, per sample, squared and summed over its pixels.
    """

    name = "r1"

    def __init__(self, gamma: float = 10.0):
        check_positive("gamma", gamma)
        self.gamma = float(gamma)

    def __call__(self, batch: CriticBatch) -> torch.Tensor:
        x = batch.x_real.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(batch.critic(x).float().sum(), x, create_graph=True)
        with torch.autocast(x.device.type, enabled=False):  # the squared norm in fp32, also under bf16
            return 0.5 * self.gamma * grad.float().pow(2).flatten(1).sum(dim=1).mean()

    def __repr__(self) -> str:
        return f"R1Penalty(gamma={self.gamma:g})"


def mismatched_labels(y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """y′ ≠ y for every sample: y′ = (y + s) mod K with s uniform in 1..K−1."""
    shift = torch.randint(1, n_classes, y.shape, device=y.device)
    return (y + shift) % n_classes


class MismatchPenalty:
    """Matching-aware D (Reed et al. 2016, arXiv:1605.05396): real images with wrong labels are fakes.

    Adds λ · E[−log(1 − D(x_real | y′))], y′ ≠ y, to D's loss. A plain cGAN punishes a
    mismatched pair only through G's mistakes; this shows D such pairs directly, so D learns to
    check the label sooner and G is pushed to draw the asked-for class sooner.
    """

    name = "mismatch"

    def __init__(self, weight: float = 1.0, n_classes: int | None = None):
        check_positive("weight", weight)
        self.weight, self.n_classes = float(weight), n_classes

    def __call__(self, batch: CriticBatch) -> torch.Tensor:
        if batch.y_real is None or batch.D is None:
            raise ValueError("MismatchPenalty needs a conditional D (labels y): use it with a conditional GAN")
        n_classes = self.n_classes or int(getattr(batch.D, "n_classes", 0) or 0)
        if n_classes < 2:
            raise ValueError(f"MismatchPenalty needs at least 2 classes, got n_classes={n_classes}")
        d_wrong = batch.D(batch.x_real, mismatched_labels(batch.y_real, n_classes))
        return self.weight * F.softplus(_flat(d_wrong)).mean()

    def __repr__(self) -> str:
        return f"MismatchPenalty(weight={self.weight})"


# ----------------------------------------------------------------------------- weight clipping


@torch.no_grad()
def clip_weights(model: nn.Module, clip_value: float) -> None:
    """WGAN's constraint: every parameter w ← clamp(w, −c, c) after each critic update."""
    check_positive("clip_value", clip_value)
    for p in model.parameters():
        p.clamp_(-clip_value, clip_value)


class WeightClip:
    """:func:`clip_weights` as the trainer's ``constraint`` hook (c = ``clip_value``)."""

    def __init__(self, clip_value: float = 0.01):
        check_positive("clip_value", clip_value)
        self.clip_value = float(clip_value)

    def __call__(self, model: nn.Module) -> None:
        clip_weights(model, self.clip_value)

    def __repr__(self) -> str:
        return f"WeightClip(clip_value={self.clip_value})"


# ----------------------------------------------------------------------------- generator objectives


@dataclass
class GeneratorBatch:
    """What a generator objective that needs more than D(G(z)) sees in one G step.

    The trainer passes one of these (instead of ``d_fake``) to a ``g_loss`` whose attribute
    ``needs_real`` is true. D's weights are frozen during the G step; gradients flow through
    ``x_fake`` into G.
    """

    D: Callable
    x_real: torch.Tensor
    x_fake: torch.Tensor
    y_real: torch.Tensor | None = None
    y_fake: torch.Tensor | None = None


class FeatureMatching:
    """Feature matching (Salimans et al. 2016, arXiv:1606.03498, §3.1) as G's loss:

        L_G = ‖E_x f(x) − E_z f(G(z))‖²  /  (number of features),

    f the activations of an intermediate layer of D (``D.features(x)``, its last hidden layer).
    G no longer chases D's current verdict; it matches the statistics D finds useful. Divided by
    the number of features as the authors' code does (``T.mean(T.square(mean_real − mean_fake))``
    in ``openai/improved-gan``, ``mnist_svhn_cifar10/train_mnist_feature_matching.py``).
    """

    needs_real = True

    def __call__(self, batch: GeneratorBatch) -> torch.Tensor:
        features = getattr(batch.D, "features", None)
        if not callable(features):
            raise TypeError(f"FeatureMatching needs a discriminator with a features(x) method (its last hidden "
                            f"layer); {type(batch.D).__name__} has none")
        if batch.y_real is not None:
            f_real, f_fake = features(batch.x_real, batch.y_real), features(batch.x_fake, batch.y_fake)
        else:
            f_real, f_fake = features(batch.x_real), features(batch.x_fake)
        # E_x f(x) is a target, not something G can move: no graph through the real side
        return ((f_real.detach().flatten(1).mean(0) - f_fake.flatten(1).mean(0)) ** 2).mean()

    def __repr__(self) -> str:
        return "FeatureMatching()"
