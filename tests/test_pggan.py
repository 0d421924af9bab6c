"""Progressive growing: the networks' fade-in, the schedule, the faded reals, the trainer hook, the checkers."""

import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

import ganlessons as gl
from ganlessons.models import ProgressiveDiscriminator, ProgressiveGenerator
from ganlessons.models.pggan import level_of, lod_of
from ganlessons.progressive import FadedReals, ProgressiveSchedule, fade_reals

SMALL = dict(fmap_base=64, fmap_max=16)


def _nets(seed=0):
    torch.manual_seed(seed)
    return ProgressiveGenerator(8, **SMALL), ProgressiveDiscriminator(**SMALL)


# ----------------------------------------------------------------------------- level of detail


def test_lod_and_level_are_the_official_formula():
    assert lod_of(4, 1.0, 32) == 3.0 and lod_of(8, 0.5, 32) == 2.5 and lod_of(32, 1.0, 32) == 0.0
    assert level_of(2.5, 32) == (8, 0.5) and level_of(3.0, 32) == (4, 1.0) and level_of(0.25, 32) == (32, 0.75)
    for bad in (-0.1, 3.5, "1", True):
        with pytest.raises(ValueError, match="lod must be"):
            level_of(bad, 32)
    with pytest.raises(ValueError, match="alpha"):
        lod_of(8, 1.5, 32)
    with pytest.raises(ValueError, match="no older layers"):
        lod_of(4, 0.5, 32)
    with pytest.raises(ValueError, match="power of two"):
        ProgressiveGenerator(8, max_resolution=24)


def test_networks_keep_their_level_and_say_it():
    G, D = _nets()
    assert (G.resolution, G.alpha, G.lod) == (32, 1.0, 0.0)       # a built (or loaded) G samples at full size
    G.set_level(16, 0.25)
    assert (G.resolution, G.alpha, G.lod) == (16, 0.25, 1.75)
    assert "now at 16×16, alpha=0.25" in repr(G)
    D.set_lod(2.5)
    assert (D.resolution, D.alpha) == (8, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        G.set_level(16, -0.1)


# ----------------------------------------------------------------------------- the fade-in at α = 0 and α = 1


@pytest.mark.parametrize("r", [8, 16, 32])
def test_generator_fade_in_is_exactly_old_then_new(r):
    G, _ = _nets()
    z = torch.randn(5, 8)
    old, new = G.set_level(r, 0.3).fade_paths(z)
    assert torch.equal(G.set_level(r, 0.0)(z), old)
    assert torch.equal(G.set_level(r, 1.0)(z), new)
    torch.testing.assert_close(G.set_level(r, 0.3)(z), 0.7 * old + 0.3 * new)
    torch.testing.assert_close(G.set_level(r // 2, 1.0)(z), old)     # α = 0 is the previous level
    assert G(z).shape == (5, 1, 32, 32)
    # what the new level draws has r×r detail, the old path only r/2×r/2 blocks
    f = 32 // r
    assert torch.equal(old, old[:, :, ::2 * f, ::2 * f].repeat_interleave(2 * f, 2).repeat_interleave(2 * f, 3))
    assert torch.equal(new, new[:, :, ::f, ::f].repeat_interleave(f, 2).repeat_interleave(f, 3))


@pytest.mark.parametrize("r", [8, 16, 32])
def test_discriminator_fade_in_is_exactly_old_then_new(r):
    _, D = _nets()
    x = torch.randn(8, 1, 32, 32)
    torch.testing.assert_close(D.set_level(r, 0.0)(x), D.set_level(r // 2, 1.0)(x))
    d1 = D.set_level(r, 1.0)(x)
    # at α = 1 the old fromRGB plays no part: changing it changes nothing
    with torch.no_grad():
        D.from_rgb[int(math.log2(r)) - 3][0].weight.add_(1.0)
    assert torch.equal(D(x), d1)
    assert d1.shape == (8,)


@pytest.mark.parametrize("r", [8, 16, 32])
def test_real_images_fade_the_same_way(r):
    x = torch.rand(4, 1, 32, 32) * 2 - 1
    f = 32 // r
    x_r = torch.nn.functional.avg_pool2d(x, f)
    new = x_r.repeat_interleave(f, 2).repeat_interleave(f, 3)
    old_r = torch.nn.functional.avg_pool2d(x_r, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)
    old = old_r.repeat_interleave(f, 2).repeat_interleave(f, 3)
    torch.testing.assert_close(fade_reals(x, r, 1.0), new)
    torch.testing.assert_close(fade_reals(x, r, 0.0), old)
    torch.testing.assert_close(fade_reals(x, r, 0.4), 0.6 * old + 0.4 * new)
    assert torch.equal(fade_reals(x, 32, 1.0), x)


def test_tanh_free_output_and_shape_errors():
    G, D = _nets()
    with pytest.raises(ValueError, match=r"z must have shape \(N, 8\)"):
        G(torch.randn(2, 9))
    with pytest.raises(ValueError, match="at every level"):
        D(torch.randn(4, 1, 16, 16))
    with pytest.raises(ValueError, match="use_pixelnorm=False"):
        ProgressiveGenerator(8, use_batchnorm=True, **SMALL)
    assert not any(isinstance(m, torch.nn.Tanh) for m in G.modules())


def test_channels_follow_nf_of_the_official_code():
    G = ProgressiveGenerator(fmap_base=8192, fmap_max=512)
    assert G.latent_dim == 512 and G.nf(1) == 512 and G.dense.w_mul == pytest.approx(math.sqrt(2) / 4 / math.sqrt(512))
    G = ProgressiveGenerator(fmap_base=128, fmap_max=32)
    assert [G.nf(s) for s in range(5)] == [32, 32, 32, 16, 8]
    assert [m.out_channels for m in G.to_rgb] == [1, 1, 1, 1] and G.to_rgb[3].in_channels == 8
    assert all(m.gain == 1.0 for m in G.to_rgb)


# ----------------------------------------------------------------------------- the schedule


def test_schedule_follows_images_shown():
    s = ProgressiveSchedule(100, max_resolution=32)
    assert s.lod(0) == 3.0 and s.lod(99) == 3.0                  # stabilise 4×4
    assert s.lod(150) == 2.5 and s.level(150) == (8, 0.5)        # halfway through fading in 8×8
    assert s.lod(200) == 2.0 and s.lod(250) == 2.0               # stabilise 8×8
    assert s.lod(600) == 0.0 and s.lod(10_000) == 0.0            # full resolution, for good
    assert s.images_to_full == 600 and s.steps_for(10, extra_phases=1) == 70
    s2 = ProgressiveSchedule(100, transition_images=50, start_resolution=8)
    assert s2.lod(0) == 2.0 and s2.lod(125) == 1.5 and s2.lod(150) == 1.0
    with pytest.raises(ValueError, match="images_per_phase"):
        ProgressiveSchedule(0)


def test_schedule_drives_the_one_trainer_per_image_and_resets_adam():
    data = gl.data.load("mnist-5k", size=32, device="cpu")
    s = ProgressiveSchedule(64, max_resolution=32)
    G, D = _nets()
    ema = gl.pretrained.EMA(G, 0.9)
    seen = []
    trainer = gl.train.Trainer(G, D, FadedReals(data), loss="wgan", d_regularizers=[gl.losses.DriftPenalty()],
                               batch_size=8, progress=False, live=False, callbacks=[s])
    trainer.callbacks += [ema, lambda t: seen.append((t.images_seen, t.G.lod, t.data.lod, ema.G.lod,
                                                      int(next(iter(t.opt_g.state.values()))["step"])))]  # a copy: Adam counts in place
    trainer.fit(n_steps=s.steps_for(8, extra_phases=0))
    for images, g_lod, data_lod, ema_lod, _ in seen:
        prev = images - 8                            # the level was set before the step, from the images before it
        assert g_lod == data_lod == ema_lod == s.lod(prev)
    # Adam restarts when new layers enter (floor(lod) changes) and when they are fully in (ceil(lod) changes)
    assert s.resets == [72, 128, 200, 256, 328]    # lod leaves 3.0 after image 64, reaches 2.0 at 128 …
    step_counts = [c for *_, c in seen]
    assert step_counts[72 // 8] == 1 and step_counts[128 // 8] == 1   # the first step after a reset is step 1 again
    assert step_counts[72 // 8 - 1] == 9
    assert trainer.G.lod == s.lod(trainer.images_seen - 8) == 0.125   # the last step: 32×32 nearly faded in


def test_faded_reals_wrap_a_dataset():
    data = gl.data.load("mnist-5k", size=32, device="cpu")
    reals = FadedReals(data).set_level(8, 0.5)
    x, y = reals.sample(4, generator=torch.Generator().manual_seed(0))
    x0, y0 = data.sample(4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, y0) and torch.equal(x, fade_reals(x0, 8, 0.5))
    assert len(reals) == len(data) and reals.name == data.name and reals.images(3).shape == (3, 1, 32, 32)
    assert "now 8×8" in repr(reals)
    with pytest.raises(ValueError, match="size=32"):
        FadedReals(gl.data.load("mnist-5k", device="cpu"))


# ----------------------------------------------------------------------------- lesson helpers


def test_transition_snapshots_and_figures():
    data = gl.data.load("mnist-5k", size=32, device="cpu")
    G, D = _nets()
    s = ProgressiveSchedule(32)
    snaps = gl.progressive.TransitionSnapshots()
    gl.train.fit(G, D, FadedReals(data), n_steps=s.steps_for(8, extra_phases=0), loss="wgan", batch_size=8,
                 progress=False, callbacks=[s, snaps])
    assert sorted(snaps.models) == [8, 16, 32]
    for r, (g, d) in snaps.models.items():
        assert g.resolution == r and 0.5 <= g.alpha < 1 and g is not G and not g.training
    z, x = torch.randn(4, 8), data.images(4)
    g, d = snaps.models[16]
    before = (g.resolution, g.alpha)
    fig = gl.viz.fade_figure(g, z, x, 16, 0.3, D=d)
    assert (g.resolution, g.alpha) == before and len(fig.axes) == 6 and "D(fake)" in fig.axes[2].get_title()
    fig = gl.viz.schedule_figure(s, 300, 8)
    assert len(fig.axes) == 2
    box = gl.widgets.fade_explorer(snaps.models, z, x)
    assert box.state["error"] is None
    box.sliders["resolution"].value = 8
    box.sliders["alpha"].value = 1.0
    assert box.state["error"] is None
    with pytest.raises(ValueError, match="empty"):
        gl.widgets.fade_explorer({}, z, x)


def test_equalized_lr_evens_out_the_relative_updates():
    torch.manual_seed(0)
    x, x_fake = torch.randn(8, 1, 32, 32), torch.randn(8, 1, 32, 32)
    loss = lambda D: D(x_fake).mean() - D(x).mean()
    spread = {}
    for wscale in (True, False):
        torch.manual_seed(0)
        D = ProgressiveDiscriminator(fmap_base=128, fmap_max=32, use_wscale=wscale)
        u = gl.progressive.relative_update_sizes(D, loss, n_steps=10)
        spread[wscale] = max(u.values()) / min(u.values())
    assert spread[True] < spread[False] / 2


def test_activation_rms_records_the_layers_in_use():
    data = gl.data.load("mnist-5k", size=32, device="cpu")
    G, D = _nets()
    for m in (G, D):
        m.set_level(8, 1.0)
    rms = gl.progressive.ActivationRMS(G, every=2)
    gl.train.fit(G, D, FadedReals(data).set_level(8, 1.0), n_steps=6, loss="wgan", batch_size=8, progress=False,
                 callbacks=[rms])
    assert sorted(rms.history) == ["blocks.0.0", "blocks.1.0", "blocks.1.3"]
    assert all(len(v) == 3 and all(r > 0 for _, r in v) for v in rms.history.values())
    rms.remove()


# ----------------------------------------------------------------------------- the checkers


def _mbstd(x, group_size=4, *, unbiased=False, eps="inside", grouping="official"):
    n, c, h, w = x.shape
    g = min(group_size, n)
    if grouping == "official":
        y = x.reshape(g, -1, c, h, w)
    elif grouping == "consecutive":
        y = x.reshape(-1, g, c, h, w).transpose(0, 1)
    else:
        y = x.reshape(1, n, c, h, w).transpose(0, 1)
    var = y.var(dim=0, unbiased=unbiased) if unbiased else (y - y.mean(0)).pow(2).mean(0)
    sd = {"inside": torch.sqrt(var + 1e-8), "outside": torch.sqrt(var) + 1e-8}[eps].mean(dim=(1, 2, 3))
    if grouping == "official":
        feat = sd.repeat(g)
    elif grouping == "consecutive":
        feat = sd.repeat_interleave(g)
    else:
        feat = sd.expand(n)
    return torch.cat([x, feat.view(n, 1, 1, 1).expand(n, 1, h, w)], dim=1)


def test_checkers_accept_every_right_way():
    C = gl.checks
    for fn in (lambda o, n, a: (1 - a) * o + a * n, lambda o, n, a: torch.lerp(o, n, a),
               lambda o, n, a: o + a * (n - o), lambda o, n, a: gl.layers.lerp(o, n, a)):
        assert C.fade_in(fn), fn
    for fn in (lambda x: x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8),
               lambda x: x / torch.sqrt(torch.mean(x ** 2, 1, keepdim=True) + 1e-8),
               lambda x: torch.nn.functional.normalize(x, dim=1) * math.sqrt(x.shape[1]),
               gl.layers.PixelNorm()):
        assert C.pixel_norm(fn)
    for fn in (_mbstd, lambda x, g=4: gl.layers.MinibatchStdDev(g)(x),
               lambda x, g=4: _mbstd(x, g)):
        assert C.minibatch_stddev(fn)


@pytest.mark.parametrize("fn,why", [
    (lambda o, n, a: a * o + (1 - a) * n, "swapped"),
    (lambda o, n, a: torch.tanh((1 - a) * o + a * n), "no tanh on the blend"),
    (lambda o, n, a: (1 - a) * torch.tanh(o) + a * torch.tanh(n), "no tanh"),
    (lambda o, n, a: o + a * n, "fade *out*"),
    (lambda o, n, a: n, "not the new path alone"),
    (lambda o, n, a: (o + n) / 2, "differs"),
])
def test_fade_in_checker_names_the_mistakes(fn, why):
    check = gl.checks.fade_in(fn)
    assert not check and why in check.message


@pytest.mark.parametrize("fn,why", [
    (lambda x: x / x.norm(dim=1, keepdim=True), "root *mean* square"),
    (lambda x: x / (x.pow(2).mean(dim=1, keepdim=True) + 1e-8), "square root"),
    (lambda x: x / torch.sqrt(x.pow(2).mean(dim=0, keepdim=True) + 1e-8), "like BatchNorm"),
    (lambda x: x / torch.sqrt(x.pow(2).mean(dim=(2, 3) if x.dim() == 4 else 1, keepdim=True) + 1e-8), "pixels"),
    (lambda x: x, "differs"),
])
def test_pixel_norm_checker_names_the_mistakes(fn, why):
    check = gl.checks.pixel_norm(fn)
    assert not check and why in check.message


@pytest.mark.parametrize("kw,why", [
    (dict(grouping="batch"), "whole batch"),
    (dict(grouping="consecutive"), "consecutive"),
    (dict(unbiased=True), "unbiased"),
    (dict(eps="outside"), "inside the square root"),
])
def test_minibatch_stddev_checker_names_the_mistakes(kw, why):
    check = gl.checks.minibatch_stddev(lambda x, g=4: _mbstd(x, g, **kw))
    assert not check and why in check.message


def test_minibatch_stddev_checker_other_mistakes():
    assert "one more feature map" in gl.checks.minibatch_stddev(lambda x, g=4: x).message
    assert "group_size argument" in gl.checks.minibatch_stddev(lambda x, g=4: _mbstd(x, 4)).message
    assert "not written yet" in gl.checks.minibatch_stddev(lambda x, g=4: (_ for _ in ()).throw(NotImplementedError)).message
    # the checkers leave the learner's random state alone
    torch.manual_seed(123)
    a = torch.rand(1)
    torch.manual_seed(123)
    gl.checks.minibatch_stddev(lambda x, g=4: _mbstd(x, g) + 0 * torch.rand(1))
    gl.checks.fade_in(lambda o, n, al: (1 - al) * o + al * n)
    assert torch.equal(torch.rand(1), a)


def test_fade_in_alpha_lives_in_a_buffer_filled_in_place():
    """α is read from a buffer (a CUDA graph of the step replays its later values); not in the state dict."""
    G = gl.models.ProgressiveGenerator(max_resolution=32, fmap_base=64, fmap_max=16)
    reals = gl.progressive.FadedReals(gl.data.load("mnist-5k", n=16, size=32, device="cpu"))
    buffers = {m: (m.fade_alpha if hasattr(m, "fade_alpha") else m._alpha) for m in (G, reals)}
    ptrs = {m: b.data_ptr() for m, b in buffers.items()}
    for lod, alpha in ((2.75, 0.25), (1.5, 0.5), (1.0, 1.0), (0.0, 1.0)):
        for m in (G, reals):
            m.set_lod(lod)
        for m, b in buffers.items():
            assert b.item() == pytest.approx(alpha) and b.data_ptr() == ptrs[m]
    assert "fade_alpha" not in G.state_dict()
    assert G.set_level(16, 0.5).graph_key == (2, True) and G.set_level(16, 1.0).graph_key == (2, False)
    assert reals.set_level(8, 0.3).graph_key == (8, True)
    z = torch.randn(4, G.latent_dim)
    G.set_level(16, 0.3)
    old, new = G.fade_paths(z)
    torch.testing.assert_close(G(z), old + (new - old) * 0.3)  # the blend reads the buffer's α
