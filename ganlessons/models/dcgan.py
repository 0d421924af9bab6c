"""DCGAN (Radford, Metz & Chintala 2015, arXiv:1511.06434) for 28×28 images.

Guidelines of the paper: strided (transposed) convolutions instead of pooling, BatchNorm in
G and D except G's output and D's input layer, ReLU in G with a Tanh output, LeakyReLU(0.2)
in D, no fully connected hidden layers. Spatial sizes follow o = (n − 1)s − 2p + k + op:

    G: z (latent_dim×1×1) → 4×4 (k4 s1 p0) → 7×7 (k3 s2 p1) → 14×14 (k4 s2 p1) → 28×28 (k4 s2 p1)
    D: 28 → 14 (k4 s2 p1) → 7 (k4 s2 p1) → 4 (k3 s2 p1) → 1 (k4 s1 p0): one logit.

The channel plan (nf·4, nf·2, nf) with nf = 32 and z = 100 is the MNIST DCGAN of seed 003;
unlike it, D ends in a logit (no Sigmoid: the loss is BCE-with-logits).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..utils import check_positive


class DCGANGenerator28(nn.Module):
    """x = G(z): transposed convolutions 1 → 4 → 7 → 14 → 28 px, BatchNorm + ReLU, Tanh out."""

    def __init__(self, latent_dim: int = 100, nf: int = 32, channels: int = 1):
        super().__init__()
        check_positive("latent_dim", latent_dim, integer=True)
        check_positive("nf", nf, integer=True)
        self.latent_dim, self.nf, self.channels = int(latent_dim), int(nf), int(channels)

        def up(c_in, c_out, k, s, p):
            return [nn.ConvTranspose2d(c_in, c_out, k, s, p, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]

        self.net = nn.Sequential(
            *up(latent_dim, nf * 4, 4, 1, 0),   # 1 → 4
            *up(nf * 4, nf * 2, 3, 2, 1),       # 4 → 7
            *up(nf * 2, nf, 4, 2, 1),           # 7 → 14
            nn.ConvTranspose2d(nf, channels, 4, 2, 1, bias=False),  # 14 → 28
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z[:, :, None, None])


class DCGANDiscriminator28(nn.Module):
    """d = D(x): strided convolutions 28 → 14 → 7 → 4 → 1, LeakyReLU(0.2); one logit per image."""

    def __init__(self, nf: int = 32, channels: int = 1, batchnorm: bool = True, spectral_norm: bool = False):
        super().__init__()
        check_positive("nf", nf, integer=True)
        self.nf, self.channels = int(nf), int(channels)
        # WGAN-GP's critic must not use BatchNorm (the penalty is per sample): batchnorm=False.
        norm = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
        self.net = nn.Sequential(
            nn.Conv2d(channels, nf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),            # 28 → 14
            nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False), norm(nf * 2), nn.LeakyReLU(0.2, True),   # 14 → 7
            nn.Conv2d(nf * 2, nf * 4, 3, 2, 1, bias=False), norm(nf * 4), nn.LeakyReLU(0.2, True),  # 7 → 4
            nn.Conv2d(nf * 4, 1, 4, 1, 0, bias=False),                                        # 4 → 1
        )
        if spectral_norm:  # Miyato et al. 2018: W / σ(W) per layer, σ by one power iteration a step
            for i, m in enumerate(self.net):
                if isinstance(m, nn.Conv2d):
                    self.net[i] = nn.utils.parametrizations.spectral_norm(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.channels, 28, 28):
            raise ValueError(f"x must have shape (batch, {self.channels}, 28, 28), got {tuple(x.shape)}")
        return self.net(x).flatten()


class DCGANGenerator64(nn.Module):
    """The paper's 64×64 LSUN generator (Radford et al. 2015, Fig. 1): z → 4×4×8nf → … → 64×64×3.

    Four transposed convolutions k4 s2 p1 double the side each time (4 → 8 → 16 → 32 → 64);
    with nf = 128 the channels are 1024, 512, 256, 128, 3 as in the figure.
    """

    def __init__(self, latent_dim: int = 100, nf: int = 128, channels: int = 3):
        super().__init__()
        check_positive("latent_dim", latent_dim, integer=True)
        check_positive("nf", nf, integer=True)
        self.latent_dim = int(latent_dim)
        widths = [nf * 8, nf * 4, nf * 2, nf]
        layers = [nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z[:, :, None, None])
