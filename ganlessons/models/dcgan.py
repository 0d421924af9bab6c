"""DCGAN (Radford, Metz & Chintala 2015, arXiv:1511.06434) for 28×28 images.

Guidelines of the paper: strided (transposed) convolutions instead of pooling, BatchNorm in
G and D except G's output and D's input layer, ReLU in G with a Tanh output, LeakyReLU(0.2)
in D, no fully connected hidden layers, all weights initialised from N(0, 0.02) (§4; here
:func:`dcgan_init_`, ``init="dcgan"``). The default ``init="torch"`` keeps PyTorch's layer
initialisation: a deliberate deviation — at the course's lecture budgets (a few hundred steps on
MNIST) the paper's init trained measurably slower (lesson 03, § 3), and it makes a spectrally
normalised D learn much faster than intended (SN divides by σ(W̄), so small initial weights turn
Adam's fixed-size steps into large steps of W/σ(W̄)). Spatial sizes follow o = (n − 1)s − 2p + k + op:

    G: z (latent_dim×1×1) → 4×4 (k4 s1 p0) → 7×7 (k3 s2 p1) → 14×14 (k4 s2 p1) → 28×28 (k4 s2 p1)
    D: 28 → 14 (k4 s2 p1) → 7 (k4 s2 p1) → 4 (k3 s2 p1) → 1 (k4 s1 p0): one logit.

Kernels: the authors' code (github.com/Newmu/dcgan_code, Theano, e.g. faces/train_uncond_dcgan.py)
projects z with a dense layer to 4×4 and then uses 5×5 kernels at stride 2 (padding 2) in G and
D — an uneven overlap, 5 not being a multiple of 2. The k = 4, s = 2, p = 1 layers used here come
from the Torch port (soumith/dcgan.torch) and the PyTorch one (pytorch/examples, dcgan/main.py);
a k4 s1 p0 transposed convolution of a 1×1 map *is* a dense projection to 4×4.

The channel plan (nf·4, nf·2, nf) with nf = 32 and z = 100 is a common MNIST size (it is, for
example, the one of the Jupyter-Book chapter "24. Generative Adversarial Network", section
"Improving the quality of synthesized images using DCGAN"); unlike that chapter's D, ours ends in
a logit (no Sigmoid: the loss is BCE-with-logits).
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..utils import check_in, check_positive

INITS = ("dcgan", "torch")


@torch.no_grad()
def dcgan_init_(module: nn.Module) -> nn.Module:
    """The paper's initialisation, in place: conv/convT/linear weights ~ N(0, 0.02²), biases 0;
    BatchNorm γ ~ N(1, 0.02²), β = 0 (as Newmu/dcgan_code and pytorch/examples' ``weights_init``).

    Apply it before wrapping layers in spectral_norm (it writes ``weight`` itself). Returns ``module``.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


def _init(module: nn.Module, init: str) -> None:
    check_in("init", init, INITS)
    if init == "dcgan":
        dcgan_init_(module)   # "torch" keeps PyTorch's defaults (Kaiming-uniform, a = √5; BN γ = 1, β = 0)


class DCGANGenerator28(nn.Module):
    """x = G(z): transposed convolutions 1 → 4 → 7 → 14 → 28 px, BatchNorm + ReLU, Tanh out.

    ``init``: "torch" (PyTorch's layer defaults, our default) or "dcgan" (weights N(0, 0.02), the paper's).
    """

    def __init__(self, latent_dim: int = 100, nf: int = 32, channels: int = 1, init: str = "torch"):
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
        _init(self, init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z[:, :, None, None])


class DCGANDiscriminator28(nn.Module):
    """d = D(x): strided convolutions 28 → 14 → 7 → 4 → 1, LeakyReLU(slope); one logit per image.

    ``batchnorm``: None (the default) means BatchNorm unless ``spectral_norm``; True with
    ``spectral_norm=True`` is refused (SN-GAN's D has no BatchNorm, and BatchNorm's γ/σ_batch would
    undo the bound SN puts on each layer). ``slope``: LeakyReLU's negative slope (DCGAN 0.2,
    Miyato et al.'s standard CNN 0.1). ``init``: "torch" (default) or "dcgan" (N(0, 0.02)).
    """

    def __init__(self, nf: int = 32, channels: int = 1, batchnorm: bool | None = None, spectral_norm: bool = False,
                 slope: float = 0.2, init: str = "torch"):
        super().__init__()
        check_positive("nf", nf, integer=True)
        check_positive("slope", slope, allow_zero=True)
        if batchnorm and spectral_norm:
            raise ValueError("batchnorm=True with spectral_norm=True: a spectrally normalised D has no BatchNorm "
                             "(its per-channel rescaling by γ/σ_batch is not bounded by SN); "
                             "leave batchnorm=None or set it to False")
        if batchnorm is None:
            batchnorm = not spectral_norm
        self.nf, self.channels = int(nf), int(channels)
        self.batchnorm, self.spectral_norm = bool(batchnorm), bool(spectral_norm)
        # WGAN-GP's critic must not use BatchNorm (the penalty is per sample): batchnorm=False.
        norm = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
        act = lambda: nn.LeakyReLU(slope, True)  # noqa: E731
        self.net = nn.Sequential(
            nn.Conv2d(channels, nf, 4, 2, 1, bias=False), act(),                       # 28 → 14 (no BN at the input)
            nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False), norm(nf * 2), act(),           # 14 → 7
            nn.Conv2d(nf * 2, nf * 4, 3, 2, 1, bias=False), norm(nf * 4), act(),       # 7 → 4
            nn.Conv2d(nf * 4, 1, 4, 1, 0, bias=False),                                 # 4 → 1
        )
        _init(self, init)
        if spectral_norm:
            # Miyato et al. 2018: W / σ(W̄), W̄ the kernel reshaped to c_out × c_in·k·k, σ by one power-
            # iteration step per update. That bounds W̄, not the convolution: ‖conv‖₂ ≤ ⌈k/s⌉·σ(W̄)
            # (measure it with gl.lipschitz.layer_operator_norms).
            for i, m in enumerate(self.net):
                if isinstance(m, nn.Conv2d):
                    self.net[i] = nn.utils.parametrizations.spectral_norm(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.channels, 28, 28):
            raise ValueError(f"x must have shape (batch, {self.channels}, 28, 28), got {tuple(x.shape)}")
        return self.net(x).flatten()


class DCGANGenerator64(nn.Module):
    """The paper's 64×64 LSUN generator (Radford et al. 2015, Fig. 1) as the PyTorch port builds it.

    z → 4×4×8nf → … → 64×64×3; with nf = 128 the channels are 1024, 512, 256, 128, 3 as in the
    figure. Kernels follow pytorch/examples (dcgan/main.py) and soumith/dcgan.torch, not the
    authors' Theano code: see the module docstring.
    """

    def __init__(self, latent_dim: int = 100, nf: int = 128, channels: int = 3, init: str = "torch"):
        super().__init__()
        check_positive("latent_dim", latent_dim, integer=True)
        check_positive("nf", nf, integer=True)
        self.latent_dim = int(latent_dim)
        widths = [nf * 8, nf * 4, nf * 2, nf]
        # The projection: a k4 s1 p0 transposed convolution of the 1×1 map z is exactly the paper's
        # dense layer z → 4×4×8nf (Newmu/dcgan_code does T.dot then reshape).
        layers = [nn.ConvTranspose2d(latent_dim, widths[0], 4, 1, 0, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        # Then k4 s2 p1 doubles the side with an even overlap (4 a multiple of 2): the Torch and
        # PyTorch ports' choice. The authors' Theano code uses k5 s2 p2 (+1 output padding) here,
        # whose overlap is uneven (3 and 2 stamps per axis).
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _init(self, init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have shape (batch, {self.latent_dim}), got {tuple(z.shape)}")
        return self.net(z[:, :, None, None])
