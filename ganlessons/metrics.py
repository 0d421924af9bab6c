"""How good are the samples? Numbers measured with a small classifier trained on the domain.

``domain_fid`` is the Fréchet distance of Heusel et al. 2017 (arXiv:1706.08500),

    FID = ‖μ_r − μ_g‖² + Tr(Σ_r + Σ_g − 2(Σ_r Σ_g)^{1/2}),

between Gaussians fitted to features of real and generated images — here the 128-d penultimate
features of a LeNet trained on the dataset itself (:mod:`ganlessons.models.lenet`), computed by
torchmetrics' ``FrechetInceptionDistance`` given that feature module. The numbers are comparable
within this course, not with Inception-FIDs in papers.

The trained weights ship inside the package (``ganlessons/assets/lenet_<domain>.pt``, 0.5 MB),
so nothing is downloaded or trained when a lesson measures quality.

The evaluation lesson's metrics work in the same 128-d space, φ = :func:`features` (each has a
``*_features`` form for precomputed features or 2-D toy points):

- :func:`kid` — Kernel Inception Distance (Bińkowski et al. 2018, arXiv:1801.01401): unbiased MMD²
  with k(x, y) = (xᵀy/d + 1)³;
- :func:`inception_score` — exp(E_x KL(p(y|x) ‖ p(y))) (Salimans et al. 2016, arXiv:1606.03498)
  from the domain classifier's logits;
- :func:`precision_recall` — improved precision and recall (Kynkäänniemi et al. 2019,
  arXiv:1904.06991), k-NN balls around real and fake features;
- :func:`density_coverage` — density and coverage (Naeem et al. 2020, arXiv:2002.09797);
- :func:`fid_infinity` — FID extrapolated to infinitely many samples (Chong & Forsyth 2020,
  arXiv:1911.07023);
- :func:`frechet_distance` and :func:`fid_from_features` — the closed form above, for checking a
  learner's own FID.

None of them draws from or reseeds the global RNG: subsets come from a local ``torch.Generator``
seeded by ``seed``, so the same inputs give the same numbers and evaluating during training does
not change the training.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .models.lenet import LeNet, LeNetFeatures
from .utils import atomic_save, check_in, check_positive, pick_device, safe_load

__all__ = ["DOMAINS", "domain_classifier", "train_domain_classifier", "classifier_accuracy",
           "domain_fid", "fid_report", "class_histogram", "nearest_real", "class_accuracy", "class_confusion", "modes_covered",
           "asset_path", "features", "kid", "kid_features", "inception_score", "inception_score_from_logits",
           "precision_recall", "precision_recall_features", "density_coverage", "density_coverage_features",
           "frechet_distance", "fid_from_features", "fid_infinity", "fid_infinity_features"]

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
    with torch.random.fork_rng():  # the random initial weights are overwritten: leave the caller's RNG as it was
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
        # sync_on_compute=False: inside a torch.distributed group (ganlessons.distributed) torchmetrics
        # would gather the states of every process, and wait for the ones that never measure
        fid = FrechetInceptionDistance(feature=LeNetFeatures(domain_classifier(domain, dev)),
                                       reset_real_features=False, sync_on_compute=False).to(dev)
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
        embed = lambda t: _embed(t.to(dev), domain, 1000)
    else:
        embed = lambda t: t.to(dev).float().flatten(1)
    ref = embed(reference)
    dists, idxs = [], []
    for i in range(0, x.shape[0], batch_size):
        d = _distances(embed(x[i:i + batch_size]), ref)
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
    logits = _embed(x, domain, 1000, logits=True)
    return torch.bincount(logits.argmax(1), minlength=logits.shape[1]).float().cpu() / x.shape[0]


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


# ----------------------------------------------------------------------------- evaluation (lesson 08)

def _embed(x: torch.Tensor, domain: str, batch_size: int, logits: bool = False) -> torch.Tensor:
    """The domain classifier's φ(x) (or its logits) for images ``x``, ``batch_size`` at a time, on x's device."""
    net = domain_classifier(domain, x.device)
    fn = net if logits else net.features
    return torch.cat([fn(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)])


@torch.no_grad()
def features(x: torch.Tensor, domain: str = "mnist", batch_size: int = 1000) -> torch.Tensor:
    """φ(x) ∈ R¹²⁸: the domain classifier's penultimate features of images ``x`` (N×128, on x's device).

    The space ``domain_fid`` and every metric below measure in; compute it once and pass it to the
    ``*_features`` functions to compare several metrics on the same samples.
    """
    check_positive("batch_size", batch_size, integer=True)
    return _embed(_check_images("x", x, min_n=1), domain, batch_size)


def _check_features(name: str, f, min_n: int = 2) -> torch.Tensor:
    """An N×d float64 tensor (float64: KID and FID subtract large, nearly equal sums)."""
    if isinstance(f, np.ndarray):
        f = torch.from_numpy(f)
    if not isinstance(f, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor (or NumPy array) of shape (N, d), got {type(f).__name__}")
    if f.dim() != 2:
        raise ValueError(f"{name} must have shape (N, d): one row per sample, got {tuple(f.shape)}")
    if f.shape[0] < min_n:
        raise ValueError(f"{name} needs at least {min_n} samples, got {f.shape[0]}")
    if f.is_complex() or f.dtype == torch.bool:
        raise TypeError(f"{name} must hold real numbers, got dtype {f.dtype}")
    if not torch.isfinite(f).all():
        raise ValueError(f"{name} contains NaN or inf")
    return f.to("cpu" if f.device.type == "mps" else f.device, torch.float64)  # MPS has no float64


def _check_pair(f_fake, f_real, min_n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    f_fake, f_real = _check_features("f_fake", f_fake, min_n), _check_features("f_real", f_real, min_n)
    if f_fake.shape[1] != f_real.shape[1]:
        raise ValueError(f"f_fake and f_real must have the same number of features d, got shapes "
                         f"{tuple(f_fake.shape)} and {tuple(f_real.shape)}")
    return f_fake.to(f_real.device), f_real


def _image_features(x_fake, x_real, domain: str, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    x_fake, x_real = _check_images("x_fake", x_fake), _check_images("x_real", x_real)
    return features(x_fake, domain, batch_size), features(x_real, domain, batch_size)


def kid_features(f_fake, f_real, subset_size: int | None = None, subsets: int = 100,
                 seed: int = 0) -> tuple[float, float]:
    """KID (Bińkowski et al. 2018, arXiv:1801.01401): the unbiased MMD² of features X (real), Y (fake),

        MMD²_u = Σ_{i≠j} [k(x_i, x_j) + k(y_i, y_j)] / (m(m−1)) − 2 Σ_{i,j} k(x_i, y_j) / m²,
        k(x, y) = (xᵀy/d + 1)³,

    averaged over ``subsets`` random subsets of m = ``subset_size`` samples of each set (default
    min(1000, n_fake, n_real)). Returns (mean, std over subsets). Unbiased: ≈ 0, possibly
    negative, for two samples of one distribution, at any m. Where m is the size of both sets,
    every subset is all of both: one is computed and the std is 0. In φ-space (norms ≈ 60) KIDs run
    in the tens to thousands, not the ≈ 0.01 of Inception features: compare within the course.
    """
    # Our own few lines rather than torchmetrics' KernelInceptionDistance (which gives the same numbers
    # for the same subsets, see the tests): its compute() draws the subsets with torch.randperm from the
    # global RNG (evaluating mid-training would change the training), it raises when subset_size > n
    # instead of adapting to a small sample, and it works in float32, where the unbiased estimate is a
    # difference of large, nearly equal sums. The subsets are drawn in its order (real, then fake).
    f_fake, f_real = _check_pair(f_fake, f_real)
    check_positive("subsets", subsets, integer=True)
    n = min(f_fake.shape[0], f_real.shape[0])
    m = min(1000, n) if subset_size is None else subset_size
    check_positive("subset_size", m, integer=True)
    if not 2 <= m <= n:
        raise ValueError(f"subset_size={m} is not allowed: it must lie in [2, {n}] (the smaller set has {n} "
                         f"samples); None picks min(1000, n)")
    if m == f_fake.shape[0] == f_real.shape[0]:
        subsets = 1  # every subset is a reordering of both whole sets: the same number each time
    d = f_real.shape[1]
    kernel = lambda a, b: (a @ b.T / d + 1) ** 3
    g = torch.Generator().manual_seed(seed)
    scores = []
    for _ in range(subsets):
        x = f_real[torch.randperm(f_real.shape[0], generator=g)[:m].to(f_real.device)]
        y = f_fake[torch.randperm(f_fake.shape[0], generator=g)[:m].to(f_real.device)]
        k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
        within = (k_xx.sum() - k_xx.trace() + k_yy.sum() - k_yy.trace()) / (m * (m - 1))  # i ≠ j only
        scores.append(within - 2 * k_xy.mean())
    s = torch.stack(scores)
    return s.mean().item(), s.std(unbiased=False).item()


@torch.no_grad()
def kid(x_fake: torch.Tensor, x_real: torch.Tensor, domain: str = "mnist", subset_size: int | None = None,
        subsets: int = 100, seed: int = 0, batch_size: int = 1000) -> tuple[float, float]:
    """KID = mean over subsets of MMD²_u with k(x, y) = (xᵀy/d + 1)³ in φ-space (see :func:`kid_features`)."""
    return kid_features(*_image_features(x_fake, x_real, domain, batch_size), subset_size, subsets, seed)


def inception_score_from_logits(logits, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) ‖ p(y))) (Salimans et al. 2016, arXiv:1606.03498), p(y) = E_x p(y|x).

    ``logits``: N×K classifier outputs. The N samples are shuffled (a local generator from ``seed``)
    and cut into ``splits`` equal parts; returns (mean, std over the parts). IS lies in [1, K]: 1 when
    every sample gets the same p(y|x), K for confident predictions spread evenly over the K classes.
    """
    logits = _check_features("logits", logits, min_n=1)
    n = logits.shape[0]
    check_positive("splits", splits, integer=True)
    if splits > n:
        raise ValueError(f"splits={splits} is more than the {n} samples; each split needs at least one")
    # Salimans et al.'s code splits in the given order: a set sorted by class would score ≈ 1 per split.
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(logits.device)
    log_p = logits[perm].log_softmax(dim=1)                                    # log p(y|x)
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits:(i + 1) * n // splits]
        log_py = part.logsumexp(dim=0) - math.log(part.shape[0])               # log p(y) of this split
        scores.append((part.exp() * (part - log_py)).sum(dim=1).mean().exp())  # exp(mean KL)
    s = torch.stack(scores)
    return s.mean().item(), s.std(unbiased=False).item()  # np.std, as in the paper's code


@torch.no_grad()
def inception_score(x: torch.Tensor, domain: str = "mnist", splits: int = 10, seed: int = 0,
                    batch_size: int = 1000) -> tuple[float, float]:
    """IS analogue exp(E_x KL(p(y|x) ‖ p(y))) with the domain classifier as p(y|x); at most 10 here.

    Measures confident and class-balanced samples only: it never looks at real images, so a
    generator that draws one perfect digit per class scores the maximum (see the lesson).
    """
    check_positive("batch_size", batch_size, integer=True)
    logits = _embed(_check_images("x", x, min_n=1), domain, batch_size, logits=True)
    return inception_score_from_logits(logits, splits, seed)


def _distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # the direct formula, not ‖a‖² + ‖b‖² − 2a·b, which loses a copy's distance 0 to rounding
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def _check_k(k, n: int, which: str) -> None:
    check_positive("k", k, integer=True)
    if k >= n:
        raise ValueError(f"k={k} must be less than the number of {which} samples ({n}): NND_k is the distance "
                         f"to the k-th nearest other sample")


def _knn_radii(f: torch.Tensor, k: int) -> torch.Tensor:
    """NND_k(f_i): distance from each row to its k-th nearest other row (itself, at 0, is the 1st of k + 1)."""
    rows = max(1, 2 ** 22 // f.shape[0])  # a block of rows × all of f: 32 MB of float64 at a time
    return torch.cat([_distances(f[i:i + rows], f).kthvalue(k + 1, dim=1).values
                      for i in range(0, f.shape[0], rows)])


def _in_balls(queries: torch.Tensor, centers: torch.Tensor, radii: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query, the number of balls B(c_i, r_i) that hold it; for each center, whether its ball holds a query.

    ``<=``, not the strict ``<`` of the ``prdc`` package. With ``<`` a sample exactly on a ball's
    edge does not count: identical sets of distinct points still score precision, recall and
    coverage 1 (each point lies in its own ball, at distance 0 < r_i) but density 1 instead of
    1 + 1/k (the k-th neighbour sits on the edge); and a point repeated k + 1 times gets r_i = 0, a
    ball that holds not even its own copies, so a set of such duplicates scores 0 against itself.
    """
    rows = max(1, 2 ** 22 // centers.shape[0])
    counts, hit = [], torch.zeros(centers.shape[0], dtype=torch.bool, device=centers.device)
    for i in range(0, queries.shape[0], rows):
        inside = _distances(queries[i:i + rows], centers) <= radii
        counts.append(inside.sum(dim=1))
        hit |= inside.any(dim=0)
    return torch.cat(counts), hit


def precision_recall_features(f_fake, f_real, k: int = 3) -> dict:
    """Improved precision and recall (Kynkäänniemi et al. 2019, arXiv:1904.06991) of feature sets.

        precision = 1/M Σ_j 1[∃ i: ‖y_j − x_i‖ ≤ NND_k(x_i)]   (fakes y on the real manifold)
        recall    = 1/N Σ_i 1[∃ j: ‖x_i − y_j‖ ≤ NND_k(y_j)]   (reals x on the fake manifold)

    NND_k(a) is the distance from a to its k-th nearest neighbour in its own set (k = 3 as in the
    paper). Precision measures fidelity, recall diversity. Returns ``{"precision", "recall"}``.
    """
    f_fake, f_real = _check_pair(f_fake, f_real)
    _check_k(k, f_real.shape[0], "real")
    _check_k(k, f_fake.shape[0], "fake")
    on_real, _ = _in_balls(f_fake, f_real, _knn_radii(f_real, k))
    on_fake, _ = _in_balls(f_real, f_fake, _knn_radii(f_fake, k))
    return {"precision": (on_real > 0).double().mean().item(), "recall": (on_fake > 0).double().mean().item()}


@torch.no_grad()
def precision_recall(x_fake: torch.Tensor, x_real: torch.Tensor, k: int = 3, domain: str = "mnist",
                     batch_size: int = 1000) -> dict:
    """Improved precision and recall of images in φ-space (see :func:`precision_recall_features`)."""
    return precision_recall_features(*_image_features(x_fake, x_real, domain, batch_size), k)


def density_coverage_features(f_fake, f_real, k: int = 5) -> dict:
    """Density and coverage (Naeem et al. 2020, arXiv:2002.09797) of fakes Y_1..M against reals X_1..N.

        density  = 1/(kM) Σ_j Σ_i 1[Y_j ∈ B(X_i, NND_k(X_i))]
        coverage = 1/N Σ_i 1[∃ j: Y_j ∈ B(X_i, NND_k(X_i))]

    Only real balls are used, so a few fake outliers cannot inflate them as they do recall. Density
    is ≈ 1 for fakes distributed like the reals (it may exceed 1); coverage is in [0, 1]. k = 5 as
    in the paper. Returns ``{"density", "coverage"}``.
    """
    f_fake, f_real = _check_pair(f_fake, f_real)
    _check_k(k, f_real.shape[0], "real")
    counts, hit = _in_balls(f_fake, f_real, _knn_radii(f_real, k))
    return {"density": counts.sum().item() / (k * f_fake.shape[0]), "coverage": hit.double().mean().item()}


@torch.no_grad()
def density_coverage(x_fake: torch.Tensor, x_real: torch.Tensor, k: int = 5, domain: str = "mnist",
                     batch_size: int = 1000) -> dict:
    """Density and coverage of images in φ-space (see :func:`density_coverage_features`)."""
    return density_coverage_features(*_image_features(x_fake, x_real, domain, batch_size), k)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance of two Gaussians (Heusel et al. 2017, arXiv:1706.08500), in float64:

        d² = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^{1/2}).

    Tr((Σ₁Σ₂)^{1/2}) = Σ √λ over the eigenvalues λ of the symmetric Σ₁^{1/2} Σ₂ Σ₁^{1/2} (same
    spectrum as Σ₁Σ₂, but real and ≥ 0 by construction: no complex parts to drop, as with sqrtm).
    """
    mu1, mu2 = (torch.as_tensor(m, dtype=torch.float64) for m in (mu1, mu2))
    sigma1, sigma2 = (torch.as_tensor(s, dtype=torch.float64).to(mu1.device) for s in (sigma1, sigma2))
    mu2 = mu2.to(mu1.device)
    d = mu1.shape[0] if mu1.dim() == 1 else -1
    for name, v, shape in (("mu1", mu1, (d,)), ("mu2", mu2, (d,)), ("sigma1", sigma1, (d, d)), ("sigma2", sigma2, (d, d))):
        if d < 1 or tuple(v.shape) != shape:
            raise ValueError(f"{name} must have shape {'(d,)' if len(shape) == 1 else '(d, d)'} with d = len(mu1) "
                             f"= {d if d > 0 else '?'}, got {tuple(v.shape)}")
        if not torch.isfinite(v).all():
            raise ValueError(f"{name} contains NaN or inf")
    lam, vec = torch.linalg.eigh((sigma1 + sigma1.T) / 2)
    root1 = vec @ torch.diag(lam.clamp(min=0).sqrt()) @ vec.T                  # Σ₁^{1/2}
    inner = torch.linalg.eigvalsh(root1 @ ((sigma2 + sigma2.T) / 2) @ root1)
    tr_sqrt = inner.clamp(min=0).sqrt().sum()
    return ((mu1 - mu2).square().sum() + sigma1.trace() + sigma2.trace() - 2 * tr_sqrt).item()


def _gaussian(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return f.mean(dim=0), torch.cov(f.T)  # the unbiased (N − 1) covariance, as pytorch-fid and torchmetrics


def fid_from_features(f_fake, f_real) -> float:
    """FID of two feature sets: :func:`frechet_distance` between Gaussians N(μ, Σ) fitted to each (N − 1 in Σ)."""
    f_fake, f_real = _check_pair(f_fake, f_real)
    return frechet_distance(*_gaussian(f_fake), *_gaussian(f_real))


def fid_infinity_features(f_fake, f_real, n_points: int = 15, n_min: int | None = None, seed: int = 0) -> dict:
    """FID∞ (Chong & Forsyth 2020, arXiv:1911.07023): FID is biased in the number N of fake samples,

        FID_N ≈ FID∞ + b/N,

    so FID_N is measured on random subsets of ``n_points`` sizes N from ``n_min`` to all of
    ``f_fake`` (default n_min: max(N_fake/5, 2d) for d features, where 2d < N_fake: below about 2d
    the sample covariance is nearly singular and FID_N leaves the 1/N law; else N_fake/5), FID_N is fitted by least squares against 1/N, and the line is read at
    1/N = 0. The real Gaussian is fitted once to all of ``f_real`` (use as many real samples as you
    have: their own bias is not extrapolated). Returns ``{"fid_infinity", "slope" (b), "points"
    [(N, FID_N), ...]}``.
    """
    f_fake, f_real = _check_pair(f_fake, f_real)
    n = f_fake.shape[0]
    check_positive("n_points", n_points, integer=True)
    if n_points < 2:
        raise ValueError(f"n_points={n_points} is not allowed: a line needs at least 2 sample counts")
    if n_min is None:
        d = f_fake.shape[1]
        n_min = max(2, n // 5, 2 * d) if 2 * d < n else max(2, n // 5)
    check_positive("n_min", n_min, integer=True)
    if not 2 <= n_min < n:
        raise ValueError(f"n_min={n_min} is not allowed: it must lie in [2, {n - 1}] (f_fake has {n} samples)")
    sizes = torch.linspace(n_min, n, n_points).round().long().unique().tolist()
    mu_r, sigma_r = _gaussian(f_real)
    g = torch.Generator().manual_seed(seed)
    points = []
    for size in sizes:
        subset = f_fake[torch.randperm(n, generator=g)[:size].to(f_fake.device)]
        points.append((size, frechet_distance(*_gaussian(subset), mu_r, sigma_r)))
    inv_n = torch.tensor([1 / size for size, _ in points], dtype=torch.float64)
    fid = torch.tensor([v for _, v in points], dtype=torch.float64)
    design = torch.stack([torch.ones_like(inv_n), inv_n], dim=1)
    intercept, slope = torch.linalg.lstsq(design, fid[:, None]).solution.flatten().tolist()
    return {"fid_infinity": intercept, "slope": slope, "points": points}


@torch.no_grad()
def fid_infinity(x_fake: torch.Tensor, x_real: torch.Tensor, domain: str = "mnist", n_points: int = 15,
                 n_min: int | None = None, seed: int = 0, batch_size: int = 1000) -> dict:
    """FID∞ of images in φ-space: FID_N ≈ FID∞ + b/N fitted and read at 1/N = 0 (see :func:`fid_infinity_features`)."""
    return fid_infinity_features(*_image_features(x_fake, x_real, domain, batch_size), n_points, n_min, seed)
