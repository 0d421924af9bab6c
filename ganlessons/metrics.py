"""How good are the samples? Numbers measured with a small classifier trained on the domain.

``domain_fid`` is the Fréchet distance of Heusel et al. 2017 (arXiv:1706.08500),

    FID = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2(Σ_r Σ_g)^{1/2}),

between Gaussians fitted to features of real and generated images — here the 128-d penultimate
features of a LeNet trained on the dataset itself (:mod:`ganlessons.models.lenet`), computed by
torchmetrics' ``FrechetInceptionDistance`` given that feature module. The numbers are comparable
within this course, not with Inception-FIDs in papers.

The trained weights ship inside the package (``ganlessons/assets/lenet_<domain>.pt``, 0.5 MB),
so nothing is downloaded or trained when a lesson measures quality.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from .models.lenet import LeNet, LeNetFeatures
from .utils import atomic_save, check_in, check_positive, pick_device, safe_load

__all__ = ["DOMAINS", "domain_classifier", "train_domain_classifier", "classifier_accuracy",
           "domain_fid", "fid_report", "class_histogram", "nearest_real", "class_accuracy", "class_confusion", "modes_covered",
           "asset_path"]

DOMAINS = ("mnist", "fashion-mnist")
ASSETS = Path(__file__).parent / "assets"


def asset_path(domain: str) -> Path:
    check_in("domain", domain, set(DOMAINS))
    return ASSETS / f"lenet_{domain}.pt"


def _domain_of(domain: str) -> str:
    """``mnist-5k`` shares MNIST's classifier."""
    return "mnist" if domain in ("mnist", "mnist-5k") else domain


@lru_cache(maxsize=8)
def _classifier(domain: str, device: str) -> LeNet:
    path = asset_path(domain)
    if not path.is_file():
        raise FileNotFoundError(
            f"the {domain} classifier {path} is missing from the installed package; "
            f"rebuild it with: ganlessons train-classifier {domain}")
    state = safe_load(path)
    net = LeNet(n_classes=state["n_classes"])
    net.load_state_dict(state["weights"])
    net.eval().requires_grad_(False)
    return net.to(device)


def domain_classifier(domain: str = "mnist", device="cpu") -> LeNet:
    """The shipped, trained LeNet for ``domain`` ('mnist' — also for 'mnist-5k' — or 'fashion-mnist')."""
    return _classifier(_domain_of(domain), str(pick_device(device)))


def train_domain_classifier(data, *, epochs: int = 30, batch_size: int = 128, lr: float = 2e-3,
                            seed: int = 0, shift: int = 2, progress: bool = False) -> LeNet:
    """Train a :class:`LeNet` on ``data`` (an ImageData) with Adam and random ±``shift`` px shifts.

    The shifts are the whole augmentation: a 4,000-image training set needs some to generalise.
    """
    check_positive("epochs", epochs, integer=True)
    with torch.random.fork_rng(devices=[]):  # the caller's random draws stay as they were
        return _train_classifier(data, epochs, batch_size, lr, seed, shift, progress)


def _train_classifier(data, epochs, batch_size, lr, seed, shift, progress) -> LeNet:
    g = torch.Generator().manual_seed(seed)
    dev = data.device
    torch.manual_seed(seed)  # initial weights and dropout from `seed`, inside fork_rng (see the caller)
    net = LeNet(n_classes=data.n_classes).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    n = len(data)
    net.train()
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=g).to(dev)
        for i in range(0, n, batch_size):
            x, y = data.batch(perm[i:i + batch_size])
            if x.shape[-1] == 32:
                x = x[:, :, 2:30, 2:30]
            if shift:
                x = _random_shift(x, shift, g)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        if progress:
            print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.4f}")
    return net.eval()


def _random_shift(x: torch.Tensor, shift: int, g: torch.Generator) -> torch.Tensor:
    padded = F.pad(x, (shift,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * shift + 1, (2,), generator=g).tolist()
    return padded[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]


def save_classifier(net: LeNet, domain: str, meta: dict | None = None) -> Path:
    state = {"n_classes": net.n_classes, "weights": {k: v.cpu() for k, v in net.state_dict().items()},
             "meta": meta or {}}
    return atomic_save(state, asset_path(domain))


@torch.no_grad()
def classifier_accuracy(net: LeNet, data, batch_size: int = 1000) -> float:
    """Fraction of ``data`` that ``net`` labels correctly."""
    net.eval()
    dev = next(net.parameters()).device
    correct = 0
    for i in range(0, len(data), batch_size):
        idx = torch.arange(i, min(i + batch_size, len(data)), device=data.device)
        x, y = data.batch(idx)
        correct += (net(x.to(dev)).argmax(1) == y.to(dev)).sum().item()
    return correct / len(data)


def _check_images(name: str, x, min_n: int = 2) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 1 or tuple(x.shape[2:]) not in ((28, 28), (32, 32)):
        raise ValueError(f"{name} must have shape (N, 1, 28, 28) or (N, 1, 32, 32), got {tuple(x.shape)}")
    if x.shape[0] < min_n:
        raise ValueError(f"{name} needs at least {min_n} image(s)" + (" for a covariance" if min_n == 2 else "")
                         + f", got {x.shape[0]}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be float images in [-1, 1], got dtype {x.dtype}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    lo, hi = x.min().item(), x.max().item()
    if lo < -1.01 or hi > 1.01:
        raise ValueError(f"{name} must be in [-1, 1] (the tanh range), got values in [{lo:.3g}, {hi:.3g}]")
    return x


@torch.no_grad()
def domain_fid(x_fake: torch.Tensor, x_real: torch.Tensor, domain: str = "mnist",
               batch_size: int = 1000) -> float:
    """FID between ``x_fake`` and ``x_real`` (N×1×28×28 or ×32×32, in [-1, 1]) in LeNet features.

    Use a few thousand images on each side: with fewer the covariance estimate, and so the
    distance, is biased upwards (compare runs at equal N).
    """
    x_fake, x_real = _check_images("x_fake", x_fake), _check_images("x_real", x_real)
    fid = _fid_with_real(x_real, _domain_of(domain), batch_size)
    fid.reset()  # forgets the fake features only (reset_real_features=False)
    dev = x_real.device
    for i in range(0, x_fake.shape[0], batch_size):
        fid.update(x_fake[i:i + batch_size].to(dev).float(), real=False)
    return float(fid.compute())


_REAL_FID: dict[tuple, object] = {}  # a few metrics that hold the features of a real image set


def _fid_with_real(x_real: torch.Tensor, domain: str, batch_size: int):
    """torchmetrics' FID with ``x_real``'s features in it, computed once per real set.

    A lesson compares many generated sets with the same real images (FID along training, the
    floor); their features are the same every time. The key is a hash of the set's bytes, so a
    tensor with other images never hits the cache (about 1 ms per 1,000 digits).
    """
    import hashlib

    from torchmetrics.image.fid import FrechetInceptionDistance

    digest = hashlib.blake2b(x_real.detach().cpu().contiguous().numpy().tobytes(), digest_size=16).hexdigest()
    key = (domain, str(x_real.device), tuple(x_real.shape), str(x_real.dtype), digest)
    fid = _REAL_FID.pop(key, None)
    if fid is None:
        dev = x_real.device
        # Our images are already in [-1, 1], the range the LeNet was trained on: no rescaling (torchmetrics'
        # ``normalize`` is about [0, 1] images for its Inception network and does nothing for a custom one).
        fid = FrechetInceptionDistance(feature=LeNetFeatures(domain_classifier(domain, dev)),
                                       reset_real_features=False).to(dev)
        for i in range(0, x_real.shape[0], batch_size):
            fid.update(x_real[i:i + batch_size].to(dev).float(), real=True)
        if len(_REAL_FID) >= 8:
            _REAL_FID.pop(next(iter(_REAL_FID)))  # the least recently used
    _REAL_FID[key] = fid  # (re)inserted last: most recently used
    return fid


@torch.no_grad()
def nearest_real(x: torch.Tensor, reference: torch.Tensor, *, space: str = "feature", domain: str = "mnist",
                 k: int = 1, batch_size: int = 500) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance from each image of ``x`` to its ``k`` nearest images of ``reference``, and their indices.

    ``space="feature"``: Euclidean distance between the domain classifier's 128-d features φ(x)
    (the space ``domain_fid`` measures in); ``space="pixel"``: ‖x − r‖₂ over the pixels in [-1, 1].
    A generator that copies its training images has samples at distance ≈ 0 from them — a
    memorisation check (compare with held-out real images' distances to the training set).
    Returns ``(distances, indices)``, each N×k (N for k = 1), on the CPU.
    """
    check_in("space", space, {"feature", "pixel"})
    check_positive("k", k, integer=True)
    x, reference = _check_images("x", x, min_n=1), _check_images("reference", reference, min_n=1)
    if k > reference.shape[0]:
        raise ValueError(f"k={k} is more than the {reference.shape[0]} reference images")
    dev = reference.device
    if space == "feature":
        net = domain_classifier(domain, dev)
        embed = lambda t: torch.cat([net.features(t[i:i + 1000].to(dev)) for i in range(0, t.shape[0], 1000)])
    else:
        embed = lambda t: t.to(dev).float().flatten(1)
    ref = embed(reference)
    dists, idxs = [], []
    for i in range(0, x.shape[0], batch_size):
        # the direct formula, not ‖a‖² + ‖b‖² − 2a·b, which loses a copy's distance 0 to rounding
        d = torch.cdist(embed(x[i:i + batch_size]), ref, compute_mode="donot_use_mm_for_euclid_dist")
        v, j = d.topk(k, dim=1, largest=False)
        dists.append(v.cpu()); idxs.append(j.cpu())
    d, j = torch.cat(dists), torch.cat(idxs)
    return (d[:, 0], j[:, 0]) if k == 1 else (d, j)


@torch.no_grad()
def class_histogram(x: torch.Tensor, domain: str = "mnist") -> torch.Tensor:
    """Fraction of the images in ``x`` that the domain classifier puts in each class (sums to 1).

    A flat histogram is what a GAN of balanced data should give; spikes show mode collapse.
    """
    x = _check_images("x", x)
    net = domain_classifier(domain, x.device)
    pred = torch.cat([net(x[i:i + 1000]).argmax(1) for i in range(0, x.shape[0], 1000)])
    return torch.bincount(pred, minlength=net.n_classes).float().cpu() / x.shape[0]


@torch.no_grad()
def class_confusion(G: torch.nn.Module, n_per_class: int = 100, domain: str = "mnist", seed: int = 0) -> torch.Tensor:
    """K×K matrix: row y = asked-for class, column = the domain classifier's verdict on G(z | y).

    ``n_per_class`` samples of every class from fixed z, in G's eval mode; each row sums to 1.
    """
    n_classes = int(getattr(G, "n_classes", 0) or 0)
    if not n_classes:
        raise ValueError("class_accuracy and class_confusion need a conditional generator (G.n_classes is not set)")
    check_positive("n_per_class", n_per_class, integer=True)
    dev = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n_classes).repeat_interleave(n_per_class)
    z = torch.randn(y.shape[0], G.latent_dim, generator=gen)
    was_training = G.training
    G.eval()
    try:
        x = torch.cat([G(z[i:i + 1000].to(dev), y[i:i + 1000].to(dev)) for i in range(0, y.shape[0], 1000)])
    finally:
        G.train(was_training)
    net = domain_classifier(domain, dev)
    pred = torch.cat([net(x[i:i + 1000]).argmax(1) for i in range(0, x.shape[0], 1000)]).cpu()
    counts = torch.zeros(n_classes, net.n_classes)
    counts.index_put_((y, pred), torch.ones(y.shape[0]), accumulate=True)
    return counts / n_per_class


def class_accuracy(G: torch.nn.Module, n_per_class: int = 100, domain: str = "mnist",
                   seed: int = 0) -> float:
    """Accuracy of the domain classifier on G(z | y) against the asked-for y (conditional G).

    The mean of the diagonal of :func:`class_confusion`; 1.0 means every digit is the one asked for.
    """
    return class_confusion(G, n_per_class, domain, seed).diagonal().mean().item()


@torch.no_grad()
def modes_covered(x_fake: torch.Tensor, centers: torch.Tensor, std: float, *, n_sigma: float = 3.0,
                  min_share: float = 0.25) -> dict:
    """Mode coverage of 2-D samples on a Gaussian mixture (Metz et al. 2016; Srivastava et al. 2017).

    A sample is *high quality* if it lies within ``n_sigma``·σ of its nearest center; a mode is
    *covered* if it holds at least ``min_share`` of its fair share (N/K) of the high-quality samples.
    Returns ``{"modes_covered": int, "high_quality": fraction, "counts": list per mode}``.
    """
    if x_fake.dim() != 2 or x_fake.shape[1] != 2:
        raise ValueError(f"x_fake must have shape (N, 2), got {tuple(x_fake.shape)}")
    check_positive("std", std)
    x, c = x_fake.float().cpu(), centers.float().cpu()
    dist = torch.cdist(x, c)
    nearest_d, nearest = dist.min(dim=1)
    good = nearest_d <= n_sigma * std
    counts = torch.bincount(nearest[good], minlength=c.shape[0])
    need = max(1, math.ceil(min_share * x.shape[0] / c.shape[0]))
    return {"modes_covered": int((counts >= need).sum()), "high_quality": good.float().mean().item(),
            "counts": counts.tolist()}


@torch.no_grad()
def fid_report(trainer, data, n_eval: int = 2000, seed: int = 0) -> dict:
    """``domain_fid`` of a trainer's G against real images, with the real-vs-real floor at the same N.

    N = min(n_eval, len(data) // 2): G's samples and a first half of real images are each compared
    with a second, disjoint half. A conditional G is asked for every class equally often. The
    classifier is the one of the data's domain (MNIST's for mnist and mnist-5k). The z come from a
    generator of their own (``seed``): evaluating during training must not change the training.
    """
    check_positive("n_eval", n_eval, integer=True)
    gen = torch.Generator().manual_seed(seed)
    n = min(int(n_eval), len(data) // 2)
    real = data.images(2 * n)
    real_a, real_b = real[:n], real[n:]
    chunks = []
    for i in range(0, n, 500):
        k = min(500, n - i)
        z = torch.randn(k, trainer.latent_dim, generator=gen)
        y = (torch.arange(i, i + k) % trainer.n_classes) if trainer.conditional else None
        chunks.append(trainer.sample(z, y))
    x_fake = torch.cat(chunks).clamp(-1, 1)  # a G without tanh (PGGAN's) is clipped as its images are written
    domain = getattr(data, "name", "mnist")
    return {"domain_fid": domain_fid(x_fake, real_b, domain), "domain_fid_real_vs_real": domain_fid(real_a, real_b, domain),
            "n": n}
