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

__all__ = ["latent_grid", "latent_figure", "latent_explorer", "interactive"]


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
    box = W.VBox([W.HBox(list(sliders.values()), layout=W.Layout(flex_flow="row wrap")), out])
    box.redraw = redraw  # for tests and for a lecturer's "reset"
    box.sliders = sliders
    box.state = state  # state["error"]: the last error the drawing raised, or None
    return box


def latent_explorer(G: torch.nn.Module, dims: Sequence[int] = (0, 1, 2, 3), z: torch.Tensor | None = None,
                    n: int = 16, y: torch.Tensor | None = None, span: float = 3.0, seed: int = 0):
    """A slider per chosen z component; moving one redraws G(z) for ``n`` fixed z at once."""
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
        return latent_figure(G, z, dims, [values[f"z{d}"] for d in dims], y=y, nrow=int(n ** 0.5))

    return interactive(draw, **sliders)
