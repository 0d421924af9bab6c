"""Interactive controls (ipywidgets) over logic that lives in plain, testable functions.

The pattern of the course: a pure function computes the picture (returns a Figure or data);
a widget wires sliders to it through an ``Output`` whose callback is wrapped with
``@out.capture(clear_output=True, wait=True)``, so an error inside shows in the notebook
instead of vanishing into the browser console.
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure

from . import viz
from .utils import check_in

__all__ = ["latent_grid", "latent_figure", "latent_sweep", "latent_explorer", "interactive", "interpolate", "conditional_explorer",
           "optimal_discriminator_explorer", "frame_explorer", "transposed_conv_explorer", "fade_explorer",
           "mixing_explorer", "truncation_explorer", "noise_explorer"]


def _check_dims(dims: Sequence[int], latent_dim: int) -> list[int]:
    dims = [int(d) for d in dims]
    bad = [d for d in dims if not 0 <= d < latent_dim]
    if bad or not dims:
        raise ValueError(f"dims must be z components in 0..{latent_dim - 1}, got {list(dims)}")
    return dims


@torch.no_grad()
def latent_grid(G: torch.nn.Module, z: torch.Tensor, dims: Sequence[int], values: Sequence[float],
                y: torch.Tensor | None = None) -> torch.Tensor:
    """G(z′) where z′ is ``z`` with components ``dims`` set to ``values`` (for every row of z)."""
    if z.dim() == 1:
        z = z[None]
    dims = _check_dims(dims, z.shape[1])
    if len(values) != len(dims):
        raise ValueError(f"give one value per dim: {len(dims)} dims but {len(values)} values")
    z = z.clone()
    z[:, dims] = torch.as_tensor(list(values), dtype=z.dtype, device=z.device)
    dev = next(G.parameters()).device
    was = G.training
    G.eval()  # BatchNorm's running statistics: a sample must not depend on its batch-mates
    try:
        return (G(z.to(dev), y.to(dev)) if y is not None else G(z.to(dev))).cpu()
    finally:
        G.train(was)


def latent_figure(G, z, dims, values, y=None, nrow: int = 8, title: str | None = None) -> Figure:
    """The picture the latent explorer draws for one setting of its sliders."""
    x = latent_grid(G, z, dims, values, y)
    if title is None:
        title = ", ".join(f"z[{d}]={v:+.1f}" for d, v in zip(dims, values))
    fig = viz.show_grid(x, nrow=nrow, title=title, size=3.2)
    return fig


def latent_sweep(G, z, dim: int = 0, values: Sequence[float] = (-2.5, 0.0, 2.5), y=None,
                 title: str | None = None) -> Figure:
    """The static companion of the latent explorer: the same z with z[dim] at a few ``values``.

    ``title`` goes above the panels (which generator this is, e.g. a shipped one).
    """
    fig, axes = plt.subplots(1, len(values), figsize=(3 * len(values), 3.3 + 0.3 * bool(title)), squeeze=False)
    nrow = max(1, int(round(z.shape[0] ** 0.5)))
    for ax, v in zip(axes[0], values):
        viz.show_grid(latent_grid(G, z, [dim], [v], y), nrow=nrow, ax=ax, title=f"z[{dim}] = {v:+.1f}")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def interactive(draw: Callable[..., Figure], **sliders):
    """Wire ``sliders`` (name → ipywidget) to ``draw(**values)``, shown in a capturing Output."""
    import ipywidgets as W
    from IPython.display import display

    out = W.Output()
    state = {"error": None}

    @out.capture(clear_output=True, wait=True)
    def redraw(_change=None):
        try:
            fig = draw(**{k: s.value for k, s in sliders.items()})
        except Exception as err:  # a learner's bad setting: say what is wrong under the sliders
            state["error"] = err
            print(f"{type(err).__name__}: {err}")
            return
        state["error"] = None
        display(fig)
        plt.close(fig)

    for s in sliders.values():
        s.observe(redraw, names="value")
    redraw()
    controls = W.HBox(list(sliders.values()), layout=W.Layout(flex_flow="row wrap"))
    box = W.VBox([controls, out])
    # CSS classes in the browser's DOM, so the browser tests (tests/test_browser.py) find every
    # explorer, its controls and its picture without depending on ipywidgets' internal markup
    box.add_class("gl-explorer")
    box.add_class(f"gl-controls-{len(sliders)}")  # how many controls the kernel made, to count in the page
    controls.add_class("gl-controls")
    for s in sliders.values():
        s.add_class("gl-control")
    out.add_class("gl-picture")
    box.redraw = redraw  # for tests and for a lecturer's "reset"
    box.sliders = sliders
    box.state = state  # state["error"]: the last error the drawing raised, or None
    return box


def latent_explorer(G: torch.nn.Module, dims: Sequence[int] = (0, 1, 2, 3), z: torch.Tensor | None = None,
                    n: int = 16, y: torch.Tensor | None = None, span: float = 3.0, seed: int = 0,
                    title: str | None = None):
    """A slider per chosen z component; moving one redraws G(z) for ``n`` fixed z at once.

    ``title`` (e.g. which generator) is put before the slider values on the figure.
    """
    import ipywidgets as W

    latent_dim = int(G.latent_dim)
    dims = _check_dims(dims, latent_dim)
    if z is None:
        z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))
    start = z[0, dims].tolist() if z.dim() == 2 else z[dims].tolist()
    sliders = {f"z{d}": W.FloatSlider(value=round(v, 1), min=-span, max=span, step=0.1,
                                      description=f"z[{d}]", continuous_update=False)
               for d, v in zip(dims, start)}

    def draw(**values):
        vals = [values[f"z{d}"] for d in dims]
        label = ", ".join(f"z[{d}]={v:+.1f}" for d, v in zip(dims, vals))
        return latent_figure(G, z, dims, vals, y=y, nrow=int(n ** 0.5),
                             title=f"{title}\n{label}" if title else label)

    return interactive(draw, **sliders)


# ----------------------------------------------------------------------------- interpolation


def interpolate(z0: torch.Tensor, z1: torch.Tensor, n: int = 8, method: str = "slerp") -> torch.Tensor:
    """``n`` points from z0 to z1 (both ends included), stacked on a new first dimension.

    ``"linear"``: (1 − t)z0 + t·z1. ``"slerp"`` (White 2016, arXiv:1609.04468) follows the great
    circle: sin((1 − t)Ω)/sin Ω · z0 + sin(tΩ)/sin Ω · z1, cos Ω = ẑ0·ẑ1. A Gaussian z has
    norm ≈ √latent_dim; the straight line's midpoint is shorter than any z G saw in training,
    the great circle's is not.
    """
    check_in("method", method, {"linear", "slerp"})
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must have the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an int ≥ 2 (the two ends), got {n!r}")
    t = torch.linspace(0, 1, n, dtype=z0.dtype, device=z0.device).view(n, *([1] * z0.dim()))
    if method == "linear":
        return (1 - t) * z0 + t * z1
    cos = (z0 * z1).sum() / (z0.norm() * z1.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1 + 1e-7, 1 - 1e-7))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


# ----------------------------------------------------------------------------- more explorers


def conditional_explorer(G: torch.nn.Module, dims: Sequence[int] = (0, 1, 2), n: int = 8, span: float = 3.0,
                         seed: int = 0, class_names: Sequence[str] | None = None, title: str | None = None):
    """A class selector and a slider per chosen z component redraw G(z | y) for ``n`` fixed z.

    ``title`` (e.g. which generator) is put before G(z | y) on the figure.
    """
    import ipywidgets as W

    n_classes = int(getattr(G, "n_classes", 0) or 0)
    if not n_classes:
        raise ValueError("conditional_explorer needs a conditional generator (G.n_classes is not set)")
    latent_dim = int(G.latent_dim)
    dims = _check_dims(dims, latent_dim)
    names = list(class_names) if class_names is not None else [str(c) for c in range(n_classes)]
    z = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))
    sliders = {"y": W.ToggleButtons(options=[(nm, i) for i, nm in enumerate(names)], value=0,
                                    description="class y", style={"button_width": "2.6em"})}
    sliders.update({f"z{d}": W.FloatSlider(value=round(float(z[0, d]), 1), min=-span, max=span, step=0.1,
                                           description=f"z[{d}]", continuous_update=False) for d in dims})

    def draw(y, **values):
        labels = torch.full((n,), int(y), dtype=torch.long)
        return latent_figure(G, z, dims, [values[f"z{d}"] for d in dims], y=labels, nrow=n,
                             title=(f"{title}: " if title else "") + f"G(z | y = {names[int(y)]})")

    return interactive(draw, **sliders)


def optimal_discriminator_explorer(mu_g: float = 2.0, sigma_g: float = 1.0):
    """Sliders for p_g = N(μ_g, σ_g²) against p_data = N(0, 1); redraws D*, JSD and C(G)."""
    import ipywidgets as W

    from . import theory

    sliders = {"mu_g": W.FloatSlider(value=mu_g, min=-4, max=6, step=0.1, description="μ_g", continuous_update=False),
               "sigma_g": W.FloatSlider(value=sigma_g, min=0.2, max=3, step=0.1, description="σ_g",
                                        continuous_update=False)}
    return interactive(lambda mu_g, sigma_g: theory.plot_optimal_discriminator(mu_g, sigma_g), **sliders)


def frame_explorer(frames, x_real: torch.Tensor):
    """A slider over a toy run's recorded frames: G's points and D's surface at that step."""
    import ipywidgets as W

    from . import toy

    if not frames:
        raise ValueError("no frames recorded: pass a gl.toy.FrameRecorder to the trainer and train first")
    slider = W.SelectionSlider(options=[(str(f.step), i) for i, f in enumerate(frames)], value=len(frames) - 1,
                               description="step", continuous_update=False)
    return interactive(lambda i: toy.plot_frame(frames[i], x_real), i=slider)


def transposed_conv_explorer(n: int = 3, k: int = 3, s: int = 2, p: int = 1, op: int = 0):
    """Sliders for n, k, s, p, op: the zero-inserted input, the output size and its overlap pattern."""
    import ipywidgets as W

    from . import convt

    def slider(value, lo, hi, label):
        return W.IntSlider(value=value, min=lo, max=hi, description=label, continuous_update=False,
                           layout=W.Layout(width="230px"))

    sliders = {"n": slider(n, 1, 8, "n (input)"), "k": slider(k, 1, 7, "k (kernel)"), "s": slider(s, 1, 4, "s (stride)"),
               "p": slider(p, 0, 3, "p (padding)"), "op": slider(op, 0, 3, "op (out pad)")}
    return interactive(convt.plot_transposed_conv, **sliders)


def fade_explorer(models: dict, z: torch.Tensor, x_real: torch.Tensor, alpha: float = 0.5, title: str | None = None):
    """The fade-in α slider: pick a transition (resolution) and α; see G's two paths, their blend, and the reals.

    ``models`` maps a resolution to ``(G, D)`` (D may be None), e.g. ``TransitionSnapshots.models``,
    or ``{r: (G, None) for r in (8, 16, 32)}`` for one trained G.
    """
    import ipywidgets as W

    if not models:
        raise ValueError("models is empty: train through at least one fade-in (TransitionSnapshots), "
                         "or pass {resolution: (G, D)}")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    options = sorted(models)
    sliders = {"resolution": W.Dropdown(options=[(f"{r}×{r}", r) for r in options], value=options[-1],
                                        description="fade in"),
               "alpha": W.FloatSlider(value=float(alpha), min=0.0, max=1.0, step=0.05, description="α",
                                      continuous_update=False)}

    def draw(resolution, alpha):
        G, D = models[resolution]
        return viz.fade_figure(G, z, x_real, resolution, alpha, D=D, title=title)

    return interactive(draw, **sliders)


def mixing_explorer(G, z1: torch.Tensor, z2: torch.Tensor, crossover: int = 4, title: str | None = None):
    """Style mixing with a slider for the crossover layer (0 = all B, L = all A)."""
    import ipywidgets as W

    from . import styles

    sliders = {"crossover": W.IntSlider(value=int(crossover), min=0, max=G.num_layers, description="crossover",
                                        continuous_update=False)}
    return interactive(lambda crossover: styles.mixing_figure(G, z1, z2, crossover, title=title), **sliders)


def truncation_explorer(G, z: torch.Tensor, psi: float = 0.7, title: str | None = None):
    """The truncation trick with a ψ slider: the same z pulled towards the average w."""
    import ipywidgets as W

    from . import styles

    sliders = {"psi": W.FloatSlider(value=float(psi), min=0.0, max=1.0, step=0.05, description="ψ",
                                    continuous_update=False)}
    return interactive(lambda psi: styles.truncation_figure(G, z, psi, title=f"{title}\nψ = {psi:.2f}" if title else None),
                       **sliders)


def noise_explorer(G, z: torch.Tensor, n_draws: int = 16, title: str | None = None):
    """Noise switched on or off per resolution, for one w: the draws and the per-pixel spread."""
    import ipywidgets as W

    from . import styles

    res = sorted(set(G.synthesis.resolutions()))
    sliders = {f"r{r}": W.Checkbox(value=True, description=f"noise at {r}×{r}", indent=False) for r in res}

    def draw(**on):
        off = tuple(r for r in res if not on[f"r{r}"])
        return styles.noise_figure(G, z, n_draws, off=off, title=title)

    return interactive(draw, **sliders)
