"""What lesson 07 measures and draws on a trained StyleGAN generator (:class:`ganlessons.models.StyleGenerator`).

Every function returns numbers or a matplotlib Figure; the sliders in :mod:`ganlessons.widgets` call
them. Random draws come from generators of their own (``seed``), never from the global RNG, except
where the subject is the noise itself and a seed is still given.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .utils import check_positive

__all__ = ["sample", "styles_of", "mixing_figure", "mixing_grid", "truncation_curve", "truncation_figure", "noise_figure",
           "path_straightness", "activation_spikes"]


def _dev(G: nn.Module) -> torch.device:
    return next(G.parameters()).device


def _z(G, n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, G.latent_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def sample(G, ws: torch.Tensor, noise=None, seed: int = 0) -> torch.Tensor:
    """g(ws) in eval mode, clipped to [-1, 1], on the CPU; noise fixed by ``seed`` unless given."""
    was = G.training
    G.eval()
    try:
        if noise is None:
            noise = G.synthesis.make_noise(ws.shape[0], torch.Generator().manual_seed(seed))
        return G.synthesis(ws.to(_dev(G)), noise).clamp(-1, 1).cpu()
    finally:
        G.train(was)


@torch.no_grad()
def styles_of(G, z: torch.Tensor) -> torch.Tensor:
    """f(z), one copy per style layer: N × L × w_dim, on G's device."""
    return G.broadcast(G.mapping(z.to(_dev(G))))


def mixing_figure(G, z1: torch.Tensor, z2: torch.Tensor, crossover: int, title: str | None = None):
    """Source A, source B and their mix at ``crossover``: layers below it from A (coarse), the rest from B."""
    import matplotlib.pyplot as plt

    from .viz import show_grid

    ws1, ws2 = styles_of(G, z1), styles_of(G, z2)
    res = G.synthesis.resolutions()
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.4))
    for ax, x, head in ((axes[0], sample(G, ws1), "A"), (axes[1], sample(G, ws2), "B"),
                        (axes[2], sample(G, G.mix(ws1, ws2, crossover)), f"A's layers 0–{crossover - 1}, B's from {crossover}")):
        show_grid(x, nrow=x.shape[0], ax=ax, title=head)
    lo = f"{res[crossover - 1]}×{res[crossover - 1]}" if crossover > 0 else "none"
    fig.suptitle(title or f"crossover {crossover}: A sets the styles up to {lo}, B the finer ones", fontsize=10)
    fig.tight_layout()
    return fig


def mixing_grid(G, n_sources: int = 5, crossovers=(2, 4, 6), seed: int = 0):
    """Rows: sources A; columns: crossovers; each cell is A's coarse styles with B's finer ones."""
    import matplotlib.pyplot as plt

    from .viz import grid_image

    zA, zB = _z(G, n_sources, seed), _z(G, 1, seed + 1).expand(n_sources, -1)
    wsA, wsB = styles_of(G, zA), styles_of(G, zB)
    cols = [("A", sample(G, wsA))] + [(f"A < {c} ≤ B", sample(G, G.mix(wsA, wsB, c))) for c in crossovers] + \
           [("B", sample(G, wsB))]
    fig, axes = plt.subplots(1, len(cols), figsize=(1.4 * len(cols), 1.4 * n_sources + 0.6))
    for ax, (head, x) in zip(axes, cols):
        ax.imshow(grid_image(x, nrow=1)[..., 0], cmap="gray", vmin=0, vmax=1)
        ax.set_axis_off(); ax.set_title(head, fontsize=8)
    fig.suptitle("style mixing: layers before the crossover from A, the rest from B", fontsize=9)
    fig.tight_layout()
    return fig


@torch.no_grad()
def truncation_curve(G, x_real: torch.Tensor, psis=(0.0, 0.25, 0.5, 0.7, 0.85, 1.0), n: int = 1000,
                     seed: int = 0, domain: str = "mnist") -> dict:
    """For each ψ: ``domain_fid`` of n truncated samples against ``x_real``, and the class histogram's spread."""
    from .metrics import class_histogram, domain_fid

    check_positive("n", n, integer=True)
    z = _z(G, n, seed)
    ws = styles_of(G, z)
    noise = G.synthesis.make_noise(n, torch.Generator().manual_seed(seed + 1))
    out = {"psi": [], "domain_fid": [], "class_min": [], "class_max": [], "pixel_std": []}
    for psi in psis:
        x = sample(G, G.truncate(ws, psi), noise)
        hist = class_histogram(x, domain)
        out["psi"].append(float(psi))
        out["domain_fid"].append(domain_fid(x, x_real, domain))
        out["class_min"].append(hist.min().item())
        out["class_max"].append(hist.max().item())
        out["pixel_std"].append(x.std(dim=0).mean().item())
    return out


def truncation_figure(G, z: torch.Tensor, psi: float, title: str | None = None):
    """The same z at truncation ψ (1 = none, 0 = the average image)."""
    from .viz import show_grid

    x = sample(G, G.truncate(styles_of(G, z), psi))
    return show_grid(x, nrow=int(round(x.shape[0] ** 0.5)), size=3.4,
                     title=title or f"ψ = {psi:.2f}: w̄ + ψ·(w − w̄)")


@torch.no_grad()
def noise_figure(G, z: torch.Tensor, n_draws: int = 16, off: tuple = (), seed: int = 0, title: str | None = None):
    """One w, ``n_draws`` noise draws: some draws, their mean and the per-pixel standard deviation.

    ``off``: resolutions whose noise is switched off (e.g. (4, 8): only 16×16 and 32×32 noise left).
    """
    import matplotlib.pyplot as plt

    from .viz import show_grid

    ws = styles_of(G, z[:1]).expand(n_draws, -1, -1)
    gen = torch.Generator().manual_seed(seed)
    noise = [None if r in off else torch.randn(n_draws, 1, r, r, generator=gen) for r in G.synthesis.resolutions()]
    x = sample(G, ws, noise)
    std = x.std(dim=0)[0]
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.3))
    show_grid(x[:4], nrow=2, ax=axes[0], title="four noise draws")
    show_grid(x.mean(dim=0, keepdim=True), nrow=1, ax=axes[1], title=f"mean of {n_draws}")
    im = axes[2].imshow(std.numpy(), cmap="magma", vmin=0, vmax=max(0.05, std.max().item()))
    axes[2].set_axis_off(); axes[2].set_title(f"per-pixel std (mean {std.mean():.3f})")
    fig.colorbar(im, ax=axes[2], fraction=0.046)
    fig.suptitle(title or ("noise everywhere" if not off else f"noise off at {', '.join(f'{r}×{r}' for r in off)}"),
                 fontsize=10)
    fig.tight_layout()
    return fig


@torch.no_grad()
def path_straightness(G, space: str, n_paths: int = 64, steps: int = 16, seed: int = 0, domain: str = "mnist") -> float:
    """Mean over paths of (length of the image path in classifier features) / (distance of its ends).

    Paths are straight lines between two random points in z (``space="z"``, mapped to w at every
    step) or in w (``space="w"``, between the two mapped ends). 1 = the features change at a steady
    rate along the path; more = detours: the digit changes, changes back, passes through other
    shapes. A disentangled latent space gives straighter paths. Related to, not the same as,
    Karras et al. 2019's perceptual path length (§ 4.1): E[d_VGG(g(t), g(t + ε)) / ε²], ε = 10⁻⁴,
    the mean squared step of one short piece of a path, not normalised by the ends' distance.
    """
    from .metrics import domain_classifier

    if space not in ("z", "w"):
        raise ValueError(f"space must be 'z' or 'w', got {space!r}")
    net = domain_classifier(domain, "cpu")
    z0, z1 = _z(G, n_paths, seed), _z(G, n_paths, seed + 1)
    t = torch.linspace(0, 1, steps + 1)
    if space == "z":
        zs = z0[None] + (z1 - z0)[None] * t.view(-1, 1, 1)
        ws = torch.stack([styles_of(G, zz) for zz in zs])
    else:
        w0, w1 = styles_of(G, z0), styles_of(G, z1)
        ws = w0[None] + (w1 - w0)[None] * t.view(-1, 1, 1, 1)
    noise = G.synthesis.make_noise(n_paths, torch.Generator().manual_seed(seed + 2))
    feats = torch.stack([net.features(sample(G, w, noise)) for w in ws])        # (steps+1) × n × 128
    length = (feats[1:] - feats[:-1]).norm(dim=2).sum(dim=0)
    chord = (feats[-1] - feats[0]).norm(dim=1).clamp_min(1e-6)
    return (length / chord).mean().item()


@torch.no_grad()
def activation_spikes(G, n: int = 64, seed: int = 0) -> list[dict]:
    """Per style layer, before its instance norm: the largest |activation| over the median one, per feature map.

    Instance norm erases each feature map's magnitude; a generator that needs magnitudes can hide
    them in one strong, local spike that dominates the normalisation statistics (StyleGAN2 §2: the
    "droplet" artefacts). Returns, per layer, the worst ratio and where it is.
    """
    stats: list[dict] = []
    hooks = []
    for i, layer in enumerate(G.synthesis.layers):
        def hook(module, inputs, _out, i=i):
            x = inputs[0].abs().flatten(2)                     # N × C × HW, the input of AdaIN
            ratio = x.max(dim=2).values / x.median(dim=2).values.clamp_min(1e-6)
            worst = ratio.max().item()
            stats.append({"layer": i, "resolution": G.synthesis.resolutions()[i], "max_over_median": worst,
                          "mean_over_maps": ratio.mean().item()})
        hooks.append(layer.adain.register_forward_hook(hook))
    try:
        sample(G, styles_of(G, _z(G, n, seed)))
    finally:
        for h in hooks:
            h.remove()
    return stats
