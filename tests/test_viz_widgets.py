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


def test_explorers_carry_the_classes_the_browser_tests_find_them_by():
    import ipywidgets as W

    sliders = {"v": W.FloatSlider(value=1.0), "c": W.Checkbox(value=True)}
    box = widgets.interactive(lambda v, c: Figure(), **sliders)
    assert box.state["error"] is None
    controls, picture = box.children
    assert {"gl-explorer", "gl-controls-2"} <= set(box._dom_classes)
    assert "gl-controls" in controls._dom_classes and "gl-picture" in picture._dom_classes
    assert all("gl-control" in s._dom_classes for s in sliders.values())


def _pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba()).copy()


def test_interpolate_linear_and_slerp():
    z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    lin = widgets.interpolate(z0, z1, n=3, method="linear")
    torch.testing.assert_close(lin[1], torch.tensor([1.5, 1.5]))
    s = widgets.interpolate(z0, z1, n=3, method="slerp")
    torch.testing.assert_close(s[0], z0)
    torch.testing.assert_close(s[-1], z1)
    # Slerp stays on the circle of radius 3: the midpoint is (3/√2)(1, 1), not the shorter chord's.
    torch.testing.assert_close(s[1], torch.tensor([3 / 2 ** 0.5] * 2))
    with pytest.raises(ValueError, match="method"):
        widgets.interpolate(z0, z1, method="cubic")
    with pytest.raises(ValueError, match="n must be"):
        widgets.interpolate(z0, z1, n=1)


def test_conditional_explorer_changes_the_picture_when_the_class_changes(monkeypatch):
    G = gl.models.ConditionalMLPGenerator(latent_dim=8, hidden=(16, 16))
    figures, labels = [], []
    original = widgets.latent_figure

    def spy(G_, z, dims, values, y=None, **kw):
        labels.append(y.tolist())
        fig = original(G_, z, dims, values, y=y, **kw)
        figures.append(_pixels(fig))
        return fig

    monkeypatch.setattr(widgets, "latent_figure", spy)
    box = widgets.conditional_explorer(G, dims=(0, 1), n=4)
    box.sliders["y"].value = 7
    assert labels == [[0] * 4, [7] * 4]
    assert not np.array_equal(figures[0], figures[1])  # a new class, a new picture
    box.sliders["z0"].value = -2.5
    assert len(figures) == 3 and not np.array_equal(figures[1], figures[2])
    with pytest.raises(ValueError, match="conditional"):
        widgets.conditional_explorer(gl.models.MLPGenerator(latent_dim=8))


def test_theory_and_toy_explorers_redraw():
    box = widgets.optimal_discriminator_explorer()
    assert box.state["error"] is None
    box.sliders["mu_g"].value = 0.0
    box.sliders["sigma_g"].value = 2.5
    assert box.state["error"] is None
    ring = gl.data.load("ring-8", device="cpu", n=500)
    G, D = gl.toy.toy_gan(width=8, depth=1)
    rec = gl.toy.FrameRecorder(every=2, n_points=50, resolution=10)
    gl.train.fit(G, D, ring, n_steps=4, batch_size=16, device="cpu", progress=False, callbacks=[rec])
    box = widgets.frame_explorer(rec.frames, ring.images(100))
    box.sliders["i"].value = 0
    assert box.state["error"] is None
    with pytest.raises(ValueError, match="no frames"):
        widgets.frame_explorer([], ring.images(10))


def test_latent_sweep_draws_one_panel_per_value(tiny_G):
    z = torch.randn(4, tiny_G.latent_dim)
    fig = widgets.latent_sweep(tiny_G, z, dim=1, values=(-1.0, 2.0))
    assert [ax.get_title() for ax in fig.axes] == ["z[1] = -1.0", "z[1] = +2.0"]


def test_transposed_conv_explorer_redraws_and_reports_bad_settings():
    box = widgets.transposed_conv_explorer(n=3, k=3, s=2, p=1)
    assert box.state["error"] is None
    box.sliders["op"].value = 2  # op must be smaller than s = 2: shown under the sliders, not raised
    assert isinstance(box.state["error"], ValueError) and "op" in str(box.state["error"])
    box.sliders["op"].value = 1
    assert box.state["error"] is None
