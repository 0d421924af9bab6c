"""Differentiable augmentation for training a GAN on little data (DiffAugment).

Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training" (arXiv:2006.10738),
reference code ``mit-han-lab/data-efficient-gans``, ``DiffAugment_pytorch.py``. D sees T(x) for real
*and* generated images, in D's update and in G's update alike:

    L_D = f(D(T(x))) + h(D(T(G(z))))        L_G = g(D(T(G(z))))

T is random but differentiable in its input, so G's gradient flows through it. Augmenting only
the real images would teach G to draw augmented images; augmenting only in D's step would let
D and G see different distributions. Wrapping D (:class:`DiffAugment`) does all four at once, and
the training loop stays as it is.

Deviations from the reference code: translation fills the uncovered border, and cutout its square,
with −1 (our digits' background), not with 0, which is mid-grey in [-1, 1] and would mark every
augmented image.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from .utils import check_in

__all__ = ["translation", "cutout", "DiffAugment", "POLICIES"]


def translation(x: torch.Tensor, ratio: float = 0.125, fill: float = -1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by its own whole number of pixels, up to ±round(ratio · size) each way.

    Pixels shifted in from outside take the value ``fill``. Built from indexing, so it is
    differentiable in ``x`` (each output pixel is one input pixel or the constant).
    """
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dev = x.device
    ty = torch.randint(-sh, sh + 1, (n, 1, 1), device=dev, generator=generator)
    tx = torch.randint(-sw, sw + 1, (n, 1, 1), device=dev, generator=generator)
    # output (i, j) reads input (i − ty, j − tx); indices outside the image read the 1-px border of fill
    gy = (torch.arange(h, device=dev)[None, :, None] - ty).clamp(-1, h) + 1
    gx = (torch.arange(w, device=dev)[None, None, :] - tx).clamp(-1, w) + 1
    padded = nn.functional.pad(x, (1, 1, 1, 1), value=fill)
    b = torch.arange(n, device=dev)[:, None, None]
    return padded.permute(0, 2, 3, 1)[b, gy, gx].permute(0, 3, 1, 2)  # NHWC in memory: what oneDNN uses


def cutout(x: torch.Tensor, ratio: float = 0.5, fill: float = -1.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Set a square of side round(ratio · size), at a random place in each image, to ``fill``."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dev = x.device
    oy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=dev, generator=generator)
    ox = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=dev, generator=generator)
    ys = torch.arange(h, device=dev)[None, :, None]
    xs = torch.arange(w, device=dev)[None, None, :]
    inside = ((ys - oy + ch // 2) >= 0) & (ys - oy + ch // 2 < ch) & \
             ((xs - ox + cw // 2) >= 0) & (xs - ox + cw // 2 < cw)
    keep = (~inside).to(x.dtype)[:, None]
    return x * keep + fill * (1 - keep)


POLICIES = {"translation": translation, "cutout": cutout}


class DiffAugment(nn.Module):
    """D ∘ T: the wrapped discriminator sees augmented images, real and generated, in every update.

    ``policy`` lists the augmentations applied in order (``"translation"``, ``"cutout"``). In eval
    mode the wrapper passes images through unchanged (to inspect D itself — on images without the
    augmentation it was trained on). ``features`` (feature matching) goes through T as well.
    """

    def __init__(self, D: nn.Module, policy: Sequence[str] = ("translation",)):
        super().__init__()
        if isinstance(policy, str):
            policy = [p.strip() for p in policy.split(",") if p.strip()]
        if not policy:
            raise ValueError("policy is empty: name at least one of " + ", ".join(POLICIES))
        for p in policy:
            check_in("policy", p, set(POLICIES))
        self.D, self.policy = D, list(policy)
        self.n_classes = getattr(D, "n_classes", None)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        for p in self.policy:
            x = POLICIES[p](x)
        return x

    def forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return self.D(self.augment(x) if self.training else x, *args, **kwargs)

    def features(self, x: torch.Tensor, *args) -> torch.Tensor:
        return self.D.features(self.augment(x) if self.training else x, *args)

    def extra_repr(self) -> str:
        return f"policy={self.policy}"
