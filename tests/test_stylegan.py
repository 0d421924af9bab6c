"""StyleGAN's layers and generator (Karras et al. 2019) and StyleGAN2's demodulation, on known values."""

import math

import pytest
import torch

import ganlessons as gl
from ganlessons.layers import AdaIN, Blur, ModulatedConv2d, NoiseInjection, instance_norm
from ganlessons.models import MappingNetwork, StyleGenerator


def test_noise_injection_starts_as_the_identity_and_scales_per_channel():
    layer = NoiseInjection(3)
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(layer(x), x)                                  # weight 0 at the start
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.0, 1.0, -2.0]))
    noise = torch.randn(2, 1, 4, 4)
    out = layer(x, noise)
    torch.testing.assert_close(out[:, 0], x[:, 0])
    torch.testing.assert_close(out[:, 1], x[:, 1] + noise[:, 0])
    torch.testing.assert_close(out[:, 2], x[:, 2] - 2 * noise[:, 0])  # one noise image, shared by the channels
    with pytest.raises(ValueError, match=r"noise must have shape \(N, 1, 4, 4\)"):
        layer(x, torch.randn(2, 3, 4, 4))


def test_instance_norm_and_adain_known_values():
    x = torch.tensor([0.0, 2.0, 0.0, 2.0]).view(1, 1, 2, 2)
    torch.testing.assert_close(instance_norm(x), torch.tensor([-1.0, 1.0, -1.0, 1.0]).view(1, 1, 2, 2), atol=1e-6, rtol=0)
    adain = AdaIN(2, w_dim=5)
    with torch.no_grad():
        adain.affine.weight.zero_()
        adain.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.5, -0.5]))  # (s₀, s₁, b₀, b₁)
    h = torch.randn(3, 2, 4, 4) * 3 + 1
    out = adain(h, torch.randn(3, 5))
    n = instance_norm(h)
    torch.testing.assert_close(out[:, 0], 2.0 * n[:, 0] + 0.5)       # (s + 1)·IN(x) + b
    torch.testing.assert_close(out[:, 1], 1.0 * n[:, 1] - 0.5)
    # at initialisation the scale is near 1: s = A(w) is small for |w| ~ 1
    fresh = AdaIN(8, w_dim=64)
    s = fresh.affine(torch.randn(256, 64))[:, :8]
    assert abs(s.mean().item()) < 0.1 and 0.5 < s.std().item() < 1.5


def test_blur_is_the_normalised_121_filter():
    blur = Blur()
    impulse = torch.zeros(1, 1, 5, 5)
    impulse[0, 0, 2, 2] = 1
    k = torch.tensor([1.0, 2.0, 1.0])
    torch.testing.assert_close(blur(impulse)[0, 0, 1:4, 1:4], k[:, None] * k[None, :] / 16)
    flat = torch.full((1, 2, 6, 6), 3.0)
    torch.testing.assert_close(blur(flat)[:, :, 1:-1, 1:-1], flat[:, :, 1:-1, 1:-1])  # sums to 1


def test_demodulation_gives_unit_variance_outputs():
    torch.manual_seed(0)
    conv = ModulatedConv2d(16, 8, 3, w_dim=12)
    w = torch.randn(4, 12) * 3                                        # strong, different styles per sample
    weights = conv.weights(w)
    torch.testing.assert_close(weights.pow(2).sum(dim=(2, 3, 4)), torch.ones(4, 8), rtol=1e-5, atol=1e-5)
    x = torch.randn(4, 16, 40, 40)                                    # unit variance, independent entries
    out = conv(x, w)[:, :, 1:-1, 1:-1]                                # interior pixels: the full kernel applies
    std = out.std(dim=(2, 3))
    assert ((std - 1).abs() < 0.1).all(), std
    plain = ModulatedConv2d(16, 8, 3, w_dim=12, demodulate=False)
    plain.load_state_dict(conv.state_dict())
    std_plain = plain(x, w)[:, :, 1:-1, 1:-1].std(dim=(2, 3))
    assert (std_plain.max() / std_plain.min()) > 1.5                   # the styles' scales pass through unnormalised


def test_mapping_network_learns_100_times_more_slowly():
    """Adam's first step (β₁ = 0) moves each stored weight by lr; the used weight W·c by lr·c."""
    torch.manual_seed(0)
    slow, fast = MappingNetwork(8, 8, n_layers=2, lr_mul=0.01), MappingNetwork(8, 8, n_layers=2, lr_mul=1.0)
    z = torch.randn(16, 8)
    steps = []
    for net in (slow, fast):
        layer = net.net[0]
        before = (layer.weight * layer.w_mul).detach().clone()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.0, 0.99))
        net(z).pow(2).mean().backward()
        opt.step()
        steps.append(((layer.weight * layer.w_mul).detach() - before).abs().max().item())
        # the used weights have the same scale either way: He's √2/√fan_in
        assert abs((layer.weight * layer.w_mul).std().item() - math.sqrt(2 / 8)) < 0.2
    assert steps[0] / steps[1] == pytest.approx(0.01, rel=0.03)  # Adam's ε = 1e-8 is not quite 0 next to the small gradients


def test_r1_penalty_of_a_linear_critic():
    w = torch.randn(1 * 4 * 4)
    critic = lambda x: x.flatten(1) @ w
    batch = gl.losses.CriticBatch(critic, torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4), None, None, 0)
    r1 = gl.losses.R1Penalty(gamma=10.0)(batch)
    torch.testing.assert_close(r1, 5.0 * w.pow(2).sum())
    with pytest.raises(ValueError, match="gamma"):
        gl.losses.R1Penalty(gamma=0)


def _small(**kw):
    torch.manual_seed(0)
    return StyleGenerator(16, 16, mapping_layers=2, fmap_base=64, fmap_max=16, **kw)


def test_generator_shapes_layers_and_noise_control():
    G = _small().eval()
    assert G.num_layers == 8 and G.synthesis.resolutions() == [4, 4, 8, 8, 16, 16, 32, 32]
    assert torch.equal(G.synthesis.const, torch.ones_like(G.synthesis.const))
    z = torch.randn(3, 16)
    assert G(z).shape == (3, 1, 32, 32)
    with torch.no_grad():
        for layer in G.synthesis.layers:
            layer.noise.weight.fill_(0.5)
    fixed = G.synthesis.make_noise(3, torch.Generator().manual_seed(1))
    ws = G.broadcast(G.mapping(z))
    assert torch.equal(G.synthesis(ws, fixed), G.synthesis(ws, fixed))     # fixed noise: the same image
    assert not torch.equal(G.synthesis(ws), G.synthesis(ws))              # fresh noise: another one
    off = [None] * G.num_layers
    assert torch.equal(G.synthesis(ws, off), G.synthesis(ws, off))
    with pytest.raises(ValueError, match="one w per style layer"):
        G.synthesis(ws[:, :3])
    with pytest.raises(ValueError, match="one entry per style layer"):
        G.synthesis(ws, fixed[:2])


def test_output_tanh_squashes_the_linear_toRGB_and_can_be_switched_off():
    G = _small().eval()
    torch.manual_seed(0)
    G_lin = StyleGenerator(16, 16, mapping_layers=2, fmap_base=64, fmap_max=16, output_tanh=False).eval()
    assert G.synthesis.output_tanh and not G_lin.synthesis.output_tanh
    G_lin.load_state_dict(G.state_dict())
    with torch.no_grad():                                 # make the linear output leave [−1, 1]
        for g in (G, G_lin):
            g.synthesis.to_rgb.weight.mul_(20)
    ws = G.broadcast(G.mapping(torch.randn(4, 16)))
    off = [None] * G.num_layers
    linear = G_lin.synthesis(ws, off)
    assert linear.abs().max() > 1
    torch.testing.assert_close(G.synthesis(ws, off), torch.tanh(linear))


def test_w_average_is_tracked_in_training_only():
    G = _small(style_mixing_prob=0.0)
    z = torch.randn(32, 16)
    G.train()
    w_batch = G.mapping(z).mean(0).detach()
    G(z)
    torch.testing.assert_close(G.w_avg, 0.005 * w_batch)                   # lerp from 0 with 1 − β = 0.005
    before = G.w_avg.clone()
    G.eval()(z)
    assert torch.equal(G.w_avg, before)


def test_truncation_and_mixing():
    G = _small().eval()
    with torch.no_grad():
        G.w_avg.copy_(torch.randn(16))
    z = torch.randn(4, 16)
    ws = G.broadcast(G.mapping(z))
    torch.testing.assert_close(G.truncate(ws, 1.0), ws)
    torch.testing.assert_close(G.truncate(ws, 0.0), G.w_avg.expand_as(ws))
    torch.testing.assert_close(G.truncate(ws, 0.5), G.w_avg + 0.5 * (ws - G.w_avg))
    part = G.truncate(ws, 0.0, cutoff=3)
    torch.testing.assert_close(part[:, 3:], ws[:, 3:])
    torch.testing.assert_close(part[:, :3], G.w_avg.expand(4, 3, 16))
    off = [None] * G.num_layers
    same = G(z, psi=0.0, noise=off)
    torch.testing.assert_close(same, same[:1].expand_as(same))             # ψ = 0: the average image for every z
    ws2 = G.broadcast(G.mapping(torch.randn(4, 16)))
    mixed = G.mix(ws, ws2, 3)
    assert torch.equal(mixed[:, :3], ws[:, :3]) and torch.equal(mixed[:, 3:], ws2[:, 3:])
    with pytest.raises(ValueError, match="crossover"):
        G.mix(ws, ws2, 9)
    with pytest.raises(TypeError, match="psi"):
        G.truncate(ws, "0.7")


def test_style_mixing_happens_while_training_with_its_probability():
    G = _small(style_mixing_prob=1.0)
    G.train()
    z = torch.randn(4, 16)
    calls = []
    handle = G.mapping.register_forward_hook(lambda m, i, o: calls.append(i[0].shape))
    G(z)
    assert len(calls) == 2                                                 # a second z was mapped and mixed in
    G.style_mixing_prob = 0.0
    G(z)
    assert len(calls) == 3
    handle.remove()


# ----------------------------------------------------------------------------- the checkers


def _in(x, eps=1e-8):
    return (x - x.mean(dim=(2, 3), keepdim=True)) / torch.sqrt(x.var(dim=(2, 3), unbiased=False, keepdim=True) + eps)


def test_checkers_accept_every_right_way():
    C = gl.checks
    for fn in (lambda x, s, b: _in(x) * (s[..., None, None] + 1) + b[..., None, None],
               lambda x, s, b: torch.nn.functional.instance_norm(x, eps=1e-8) * (1 + s[:, :, None, None]) + b[:, :, None, None],
               lambda x, s, b: torch.addcmul(b.view(*b.shape, 1, 1), _in(x, 1e-5), s.view(*s.shape, 1, 1) + 1)):
        assert C.adain(fn)
    for fn in (lambda w, a, p: a + p * (w - a), lambda w, a, p: torch.lerp(a.expand_as(w), w, p),
               lambda w, a, p: p * w + (1 - p) * a):
        assert C.truncation(fn)
    for fn in (lambda a, b, c: torch.cat([a[:, :c], b[:, c:]], dim=1),
               lambda a, b, c: StyleGenerator.mix(a, b, c),
               lambda a, b, c: torch.where(torch.arange(a.shape[1])[None, :, None] < c, a, b),
               # a 0/1 mask with arithmetic: right, but rounds (b + (a − b) ≠ a in the last bit)
               lambda a, b, c: b + (torch.arange(a.shape[1]) < c).float()[None, :, None] * (a - b)):
        assert C.style_mixing(fn)


@pytest.mark.parametrize("fn,why", [
    (lambda x, s, b: _in(x) * s[..., None, None] + b[..., None, None], "s + 1"),
    (lambda x, s, b: (x - x.mean((2, 3), keepdim=True)) / x.std((2, 3), keepdim=True) * (s[..., None, None] + 1)
     + b[..., None, None], "unbiased"),
    (lambda x, s, b: torch.nn.functional.layer_norm(x, x.shape[1:], eps=1e-8) * (s[..., None, None] + 1)
     + b[..., None, None], "layer norm"),
    (lambda x, s, b: _in(x * (s[..., None, None] + 1) + b[..., None, None]), "after the normalisation"),
    (lambda x, s, b: x * (s[..., None, None] + 1) + b[..., None, None], "normalise x first"),
])
def test_adain_checker_names_the_mistakes(fn, why):
    check = gl.checks.adain(fn)
    assert not check and why in check.message


@pytest.mark.parametrize("fn,why", [
    (lambda w, a, p: p * w, "towards 0"),
    (lambda w, a, p: a + (1 - p) * (w - a), "reversed"),
    (lambda w, a, p: w, "differs"),
])
def test_truncation_checker_names_the_mistakes(fn, why):
    check = gl.checks.truncation(fn)
    assert not check and why in check.message


@pytest.mark.parametrize("fn,why", [
    (lambda a, b, c: torch.cat([b[:, :c], a[:, c:]], dim=1), "swapped"),
    (lambda a, b, c: torch.cat([a[:, :c + 1], b[:, c + 1:]], dim=1), "off by one"),
    (lambda a, b, c: torch.cat([a[:c], b[c:]], dim=0), "dim 0"),
    (lambda a, b, c: torch.cat([a[..., :c], b[..., c:]], dim=-1), "components of w"),
])
def test_style_mixing_checker_names_the_mistakes(fn, why):
    check = gl.checks.style_mixing(fn)
    assert not check and why in check.message


# ----------------------------------------------------------------------------- lesson 07's measurements and sliders


def test_styles_measurements_and_widgets_run_on_a_small_generator():
    import matplotlib
    matplotlib.use("Agg")
    G = _small().eval()
    with torch.no_grad():
        for layer in G.synthesis.layers:
            layer.noise.weight.fill_(0.3)
    real = gl.data.load("mnist-5k", size=32, device="cpu").images(200)
    curve = gl.styles.truncation_curve(G, real, psis=(0.0, 1.0), n=100)
    assert curve["psi"] == [0.0, 1.0] and curve["pixel_std"][0] < curve["pixel_std"][1]
    assert all(0 <= lo <= hi <= 1 for lo, hi in zip(curve["class_min"], curve["class_max"]))
    for space in ("z", "w"):
        assert gl.styles.path_straightness(G, space, n_paths=4, steps=4) >= 1.0 - 1e-6
    with pytest.raises(ValueError, match="space"):
        gl.styles.path_straightness(G, "x")
    spikes = gl.styles.activation_spikes(G, n=4)
    assert [s["resolution"] for s in spikes] == G.synthesis.resolutions() and all(s["max_over_median"] >= 1 for s in spikes)
    z = torch.randn(2, 16)
    assert len(gl.styles.mixing_figure(G, z[:1], z[1:], 3).axes) == 3
    assert gl.styles.mixing_grid(G, n_sources=2, crossovers=(2,)).axes
    fig = gl.styles.noise_figure(G, z, n_draws=4, off=(4, 8))
    assert "noise off at 4×4, 8×8" in fig.texts[0].get_text()
    for box in (gl.widgets.mixing_explorer(G, z[:1], z[1:]), gl.widgets.truncation_explorer(G, z),
                gl.widgets.noise_explorer(G, z[:1], n_draws=4)):
        assert box.state["error"] is None
        first = next(iter(box.sliders.values()))
        first.value = 0 if isinstance(first.value, (int, float)) and not isinstance(first.value, bool) else False
        assert box.state["error"] is None
    # the same w, noise off everywhere: every draw is the same image
    torch.manual_seed(0)
    a = gl.styles.noise_figure(G, z, n_draws=3, off=(4, 8, 16, 32))
    assert "per-pixel std (mean 0.000)" in a.axes[2].get_title()


def test_sampling_a_noisy_generator_is_repeatable_and_leaves_the_global_rng_alone():
    """StyleGAN draws noise inside G: the trainer's snapshots, the pretrained samplers and the card's
    metrics draw it from their own seed, so watching a run never changes it."""
    from ganlessons import pretrained as P
    from ganlessons.train import Trainer
    G = _small()
    with torch.no_grad():
        for layer in G.synthesis.layers:
            layer.noise.weight.fill_(0.5)
    z = torch.randn(4, 16)
    state = torch.random.get_rng_state()
    a, b = P.sampler(G)(z), P.sampler(G)(z)
    s1, s2 = P._samples(G, 8, seed=3), P._samples(G, 8, seed=3)
    assert torch.equal(a, b) and torch.equal(s1, s2)
    assert torch.equal(torch.random.get_rng_state(), state)
    data = gl.data.load("mnist-5k", size=32, device="cpu")
    trainer = Trainer(G, gl.models.ProgressiveDiscriminator(fmap_base=64, fmap_max=16), data, loss="gan",
                      batch_size=16, progress=False, live=False)
    state = torch.random.get_rng_state()
    assert torch.equal(trainer.sample(z), trainer.sample(z))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_mixing_crossover_is_drawn_on_the_device_as_g_style():
    """As ``G_style``: with probability 0.9 a crossover uniform in [1, layers), else ``layers`` (w₁ everywhere)."""
    G = _small(style_mixing_prob=0.9)
    gl.seed_everything(3)
    draws = torch.stack([G.mixing_crossover(torch.device("cpu")) for _ in range(4000)])
    assert draws.dtype == torch.int64 and draws.dim() == 1
    none = (draws == G.num_layers).float().mean().item()
    assert abs(none - 0.1) < 0.02                                           # no mixing in about 10 %
    mixed = draws[draws < G.num_layers]
    assert mixed.min() == 1 and mixed.max() == G.num_layers - 1             # never 0: layer 0 always from w₁
    counts = torch.bincount(mixed, minlength=G.num_layers)[1:].float()
    assert (counts / counts.sum() - 1 / (G.num_layers - 1)).abs().max() < 0.03  # uniform
    always = _small(style_mixing_prob=1.0)
    assert all(int(always.mixing_crossover(torch.device("cpu"))) < always.num_layers for _ in range(200))


def test_mix_takes_a_tensor_crossover_like_an_int():
    G = _small().eval()
    ws, ws2 = G.broadcast(G.mapping(torch.randn(4, 16))), G.broadcast(G.mapping(torch.randn(4, 16)))
    for c in (0, 1, 3, G.num_layers):
        assert torch.equal(G.mix(ws, ws2, torch.tensor(c)), G.mix(ws, ws2, c))
    import numpy as np
    assert torch.equal(G.mix(ws, ws2, np.int64(2)), G.mix(ws, ws2, 2))     # a NumPy integer (a widget's value)
    with pytest.raises(ValueError, match="0-d integer tensor"):
        G.mix(ws, ws2, torch.tensor(2.5))
    with pytest.raises(ValueError, match="crossover must be a layer index"):
        G.mix(ws, ws2, 2.0)


def test_training_mixes_below_the_drawn_crossover(monkeypatch):
    """With the crossover fixed at 2, the synthesis gets w₁ for layers 0, 1 and w₂ from layer 2 on."""
    G = _small(style_mixing_prob=0.9).train()
    monkeypatch.setattr(G, "mixing_crossover", lambda device: torch.tensor(2))
    seen = {}
    monkeypatch.setattr(G.synthesis, "forward", lambda ws, noise="random": seen.setdefault("ws", ws))
    z = torch.randn(3, 16)
    gl.seed_everything(0)
    G(z)
    gl.seed_everything(0)
    w1 = G.mapping(z)
    w2 = G.mapping(torch.randn_like(z))
    ws = seen["ws"]
    torch.testing.assert_close(ws[:, :2], w1[:, None].expand(-1, 2, -1))
    torch.testing.assert_close(ws[:, 2:], w2[:, None].expand(-1, G.num_layers - 2, -1))
