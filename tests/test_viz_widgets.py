import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

import ganlessons as gl
from ganlessons import viz, widgets


def test_grid_image_shape_and_range():
    x = torch.linspace(-1, 1, 16 * 28 * 28).view(16, 1, 28, 28)
    img = viz.grid_image(x, nrow=4)
    assert img.shape == (4 * 28 + 5 * 2, 4 * 28 + 5 * 2, 3)
    assert img.min() >= 0 and img.max() <= 1
    u8 = ((x + 1) * 127.5).round().to(torch.uint8)
    np.testing.assert_allclose(viz.grid_image(u8, nrow=4), img, atol=1 / 255)
    with pytest.raises(ValueError, match="N×C×H×W"):
        viz.grid_image(torch.zeros(28, 28))


def test_plots_return_figures():
    hist = {"step": [1, 2, 3, 4], "d_loss": [1.0, 0.9, 0.8, 0.7], "g_loss": [2.0, 1.0, 1.5, 1.2]}
    fig = viz.plot_losses(hist)
    assert isinstance(fig, Figure) and len(fig.axes[0].lines) >= 2
    with pytest.raises(KeyError, match="gp"):
        viz.plot_losses(hist, keys=("gp",))
    snaps = [(s, torch.randint(0, 255, (16, 1, 28, 28), dtype=torch.uint8)) for s in range(0, 100, 10)]
    fig = viz.plot_timeline(snaps, n_columns=4)
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 30", "step 60", "step 90"]
    np.testing.assert_allclose(viz.smooth([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])


def test_decision_surface_of_a_known_discriminator():
    D = torch.nn.Linear(2, 1)
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[1.0, 0.0]]))
        D.bias.zero_()
    xs, ys, v = viz.decision_surface(D, (-1, 1), (-1, 1), n=5)
    np.testing.assert_allclose(v[0], 1 / (1 + np.exp(-xs)), rtol=1e-6)  # σ(x₁), constant along x₂
    fig = viz.plot_points(torch.randn(50, 2), torch.randn(50, 2), D)
    assert isinstance(fig, Figure)


@pytest.fixture
def tiny_G():
    gl.seed_everything(0)
    return gl.models.MLPGenerator(6, (1, 28, 28), hidden=(16, 32)).eval()


def test_latent_grid_sets_the_chosen_components(tiny_G):
    z = torch.randn(4, 6)
    a = widgets.latent_grid(tiny_G, z, [0, 2], [0.0, 0.0])
    b = widgets.latent_grid(tiny_G, z, [0, 2], [2.5, 0.0])
    assert a.shape == (4, 1, 28, 28) and not torch.allclose(a, b)
    z2 = z.clone()
    z2[:, [0, 2]] = torch.tensor([2.5, 0.0])
    torch.testing.assert_close(b, tiny_G(z2).detach())
    with pytest.raises(ValueError, match="dims must be z components in 0..5"):
        widgets.latent_grid(tiny_G, z, [6], [1.0])
    with pytest.raises(ValueError, match="one value per dim"):
        widgets.latent_grid(tiny_G, z, [0, 1], [1.0])


def test_latent_explorer_redraws_when_a_slider_moves(tiny_G, monkeypatch):
    calls = []
    original = widgets.latent_figure

    def spy(G, z, dims, values, **kw):
        calls.append(list(values))
        return original(G, z, dims, values, **kw)

    monkeypatch.setattr(widgets, "latent_figure", spy)
    box = widgets.latent_explorer(tiny_G, dims=(0, 1), n=4)
    z1 = box.sliders["z1"].value
    assert calls == [[box.sliders["z0"].value, z1]]  # drawn once on display
    box.sliders["z0"].value = 1.5
    box.sliders["z1"].value = -2.0
    assert calls[1:] == [[1.5, z1], [1.5, -2.0]]  # each slider move redraws with the new z


def test_widget_errors_are_shown_not_swallowed(capsys):
    def draw(v):
        raise RuntimeError(f"bad value {v}")

    import ipywidgets as W

    box = widgets.interactive(draw, v=W.FloatSlider(value=1.0))
    assert isinstance(box.state["error"], RuntimeError)  # reported in the Output, no traceback
    assert "bad value 1.0" in capsys.readouterr().out
