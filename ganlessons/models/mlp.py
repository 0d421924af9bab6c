"""Fully connected G and D: the 2014 GAN (Goodfellow et al., arXiv:1406.2661) and the
conditional GAN (Mirza & Osindero 2014, arXiv:1411.1784).

G: z ∈ R^latent_dim ↦ x = tanh(MLP(z)) reshaped to ``out_shape``.
D: x ↦ one logit d, with D(x) = σ(d) the probability that x is real (no sigmoid inside: the
losses use BCE-with-logits).
cGAN: G(z | y) = G([z, e(y)]) and D(x | y) = D([vec(x), e(y)]), e a label embedding
(one-hot or learned). Joining y at the input is the common simplification: Mirza & Osindero's
MNIST model joins z and y after separate hidden layers (G: z → 200 and y → 1000 ReLU units, then
a joint 1200-unit layer; D: maxout layers on x and on y, then a joint maxout layer).
``features`` returns D's last hidden layer, for feature matching (Salimans et al. 2016,
arXiv:1606.03498): L_G = ‖E_x f(x) − E_z f(G(z))‖².
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from ..utils import check_in, check_positive


def _shape(out_shape) -> tuple[int, ...]:
    shape = (out_shape,) if isinstance(out_shape, int) else tuple(out_shape)
    if not shape or any((not isinstance(s, int)) or s <= 0 for s in shape):
        raise ValueError(f"shape must be positive ints such as (1, 28, 28) or 2, got {out_shape!r}")
    return shape


def _g_body(n_in: int, hidden, n_out: int, batchnorm: bool) -> nn.Sequential:
    layers, width = [], n_in
    for i, h in enumerate(hidden):
        layers.append(nn.Linear(width, h))
        # No BatchNorm after the first layer, as in eriklindernoren/PyTorch-GAN's
        # implementations/gan/gan.py; its ``nn.BatchNorm1d(out_feat, 0.8)`` sets eps = 0.8,
        # not the momentum — we keep the default eps.
        if batchnorm and i > 0:
            layers.append(nn.BatchNorm1d(h))
        layers.append(nn.LeakyReLU(0.2))
        width = h
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


def _d_body(n_in: int, hidden) -> nn.Sequential:
    layers, width = [], n_in
    for h in hidden:
        layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class MLPGenerator(nn.Module):
    """x = G(z) = tanh(W_L · … LeakyReLU(W_1 z)); ``tanh`` off for 2-D toy data (``image=False``)."""

    def __init__(self, latent_dim: int = 100, out_shape=(1, 28, 28), hidden=(128, 256, 512, 1024),
                 batchnorm: bool = True, image: bool = True):
        super().__init__()
        check_positive("latent_dim", latent_dim, integer=True)
        self.latent_dim, self.out_shape = int(latent_dim), _shape(out_shape)
        self.net = _g_body(self.latent_dim, hidden, math.prod(self.out_shape), batchnorm)
        self.out = nn.Tanh() if image else nn.Identity()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        return self.out(self.net(z)).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """d = D(x) = W_L · … LeakyReLU(W_1 vec(x)): a logit per sample, shape (batch,)."""

    def __init__(self, in_shape=(1, 28, 28), hidden=(512, 256)):
        super().__init__()
        self.in_shape = _shape(in_shape)
        self.net = _d_body(math.prod(self.in_shape), hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"x must have shape (batch, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        return self.net(x.flatten(1)).squeeze(1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """f(x): the activations of D's last hidden layer, shape (batch, hidden[-1]); d = w·f(x) + b.

        The intermediate layer that feature matching (Salimans et al. 2016, §3.1) matches.
        """
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"x must have shape (batch, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        return self.net[:-1](x.flatten(1))

    @property
    def last_linear(self) -> nn.Linear:
        """The output layer: D(x) = last_linear(features(x)) (a logit, before squeezing)."""
        return self.net[-1]


class _LabelCode(nn.Module):
    """e(y): a one-hot vector (fixed) or a learned embedding of size ``dim``."""

    def __init__(self, n_classes: int, embedding: str, dim: int):
        super().__init__()
        check_positive("n_classes", n_classes, integer=True)
        check_in("embedding", embedding, {"onehot", "learned"})
        self.n_classes, self.kind = int(n_classes), embedding
        self.dim = self.n_classes if embedding == "onehot" else int(dim)
        self.table = nn.Embedding(self.n_classes, self.dim) if embedding == "learned" else None
        # the one-hot codes, row y for class y (not saved: they are no weights)
        self.register_buffer("codes", torch.eye(self.n_classes) if self.table is None else None, persistent=False)

    def extra_repr(self) -> str:
        return f"{self.kind}, n_classes={self.n_classes}, dim={self.dim}"

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.dim() != 1 or y.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"y must be integer class labels of shape (batch,), got {y.dtype} {tuple(y.shape)}")
        if self.table is None:
            # = F.one_hot(y, n_classes).float(), as a row lookup: on a CPU one_hot checks the labels' range
            # by reading them back to the host, which a CUDA graph could not replay (an index out of range
            # is still an error here)
            return self.codes[y.long()]
        return self.table(y.long())


class ConditionalMLPGenerator(MLPGenerator):
    """x = G(z | y) = MLP([z, e(y)]): the label code is concatenated with z."""

    def __init__(self, latent_dim: int = 100, n_classes: int = 10, out_shape=(1, 28, 28),
                 hidden=(128, 256, 512, 1024), embedding: str = "learned", embed_dim: int = 10,
                 batchnorm: bool = True):
        super().__init__(latent_dim, out_shape, hidden, batchnorm)
        self.label = _LabelCode(n_classes, embedding, embed_dim)
        self.n_classes = self.label.n_classes
        self.net = _g_body(self.latent_dim + self.label.dim, hidden, math.prod(self.out_shape), batchnorm)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        if y.shape[0] != z.shape[0]:
            raise ValueError(f"z and y must have the same batch size, got {z.shape[0]} and {y.shape[0]}")
        return self.from_embedding(z, self.label(y))

    def from_embedding(self, z: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """G([z, e]) for a label code e given directly: a mix of two classes' codes interpolates."""
        if e.shape != (z.shape[0], self.label.dim):
            raise ValueError(f"e must have shape ({z.shape[0]}, {self.label.dim}), got {tuple(e.shape)}")
        return self.out(self.net(torch.cat([z, e], dim=1))).view(z.shape[0], *self.out_shape)


class ConditionalMLPDiscriminator(MLPDiscriminator):
    """d = D(x | y) = MLP([vec(x), e(y)]): still one real/fake logit, judged for that label."""

    def __init__(self, n_classes: int = 10, in_shape=(1, 28, 28), hidden=(512, 256),
                 embedding: str = "learned", embed_dim: int = 10):
        super().__init__(in_shape, hidden)
        self.label = _LabelCode(n_classes, embedding, embed_dim)
        self.n_classes = self.label.n_classes
        self.net = _d_body(math.prod(self.in_shape) + self.label.dim, hidden)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(self._joined(x, y)).squeeze(1)

    def features(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """f(x, y): the activations of D's last hidden layer for the pair, shape (batch, hidden[-1])."""
        return self.net[:-1](self._joined(x, y))

    def _joined(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"x must have shape (batch, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        if y.shape[0] != x.shape[0]:
            raise ValueError(f"x and y must have the same batch size, got {x.shape[0]} and {y.shape[0]}")
        return torch.cat([x.flatten(1), self.label(y)], dim=1)
