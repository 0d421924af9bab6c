"""ganlessons.fast: the GPU fast path — off and identical on the CPU, graph-safe steps for every lesson.

Without a GPU the CUDA graphs themselves cannot run; ``FastPath(graphs="check")`` runs each step
eagerly and compares the operations it issues with the first step of its key, which is what a graph
would replay. The tests below run it on every lesson's configuration, and show that it catches each
way a step can go stale in a graph. The tests marked ``cuda`` capture real graphs where a GPU exists.
"""

import copy

import pytest
import torch
import torch.nn as nn

import ganlessons as gl
from ganlessons.fast import FastPath, GraphUnsafe, capturable_optimizer, implementation, restore_implementation
from ganlessons.pretrained import EMA, LinearDecay

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (CI has none)")


@pytest.fixture(scope="module")
def d28():
    return gl.data.load("mnist-5k", n=256, device="cpu")


@pytest.fixture(scope="module")
def d32():
    return gl.data.load("mnist-5k", n=256, size=32, device="cpu")


def adam(lr=1e-3):
    return lambda p: torch.optim.Adam(p, lr, (0.0, 0.99))


def dcgan(batchnorm=None, sn=False):
    return gl.models.DCGANGenerator28(16, 8), gl.models.DCGANDiscriminator28(8, batchnorm=batchnorm, spectral_norm=sn)


def pggan():
    return (gl.models.ProgressiveGenerator(max_resolution=32, fmap_base=64, fmap_max=16),
            gl.models.ProgressiveDiscriminator(max_resolution=32, fmap_base=64, fmap_max=16))


def stylegan():
    return (gl.models.StyleGenerator(16, 16, mapping_layers=2, max_resolution=32, fmap_base=64, fmap_max=16),
            gl.models.ProgressiveDiscriminator(max_resolution=32, fmap_base=64, fmap_max=16))


# one configuration per lesson's training run: (models, dataset fixture, trainer arguments)
LESSONS = {
    "01 gan (MLP)": (lambda: (gl.models.MLPGenerator(16, hidden=(32, 64)), gl.models.MLPDiscriminator(hidden=(64, 32))),
                     "d28", {}),
    "01 feature matching": (lambda: (gl.models.MLPGenerator(16, hidden=(32, 64)),
                                     gl.models.MLPDiscriminator(hidden=(64, 32))),
                            "d28", {"d_loss": gl.losses.d_loss_bce, "g_loss": gl.losses.FeatureMatching()}),
    "02 cgan + mismatch": (lambda: (gl.models.ConditionalMLPGenerator(16, n_classes=10, hidden=(32, 64)),
                                    gl.models.ConditionalMLPDiscriminator(n_classes=10, hidden=(64, 32))),
                           "d28", {"d_regularizers": [gl.losses.MismatchPenalty(1.0)]}),
    "03 dcgan": (dcgan, "d28", {}),
    "03 spectral norm, hinge": (lambda: dcgan(sn=True), "d28", {"loss": "hinge"}),
    "03 DiffAugment": (lambda: (gl.models.DCGANGenerator28(16, 8),
                                gl.augment.DiffAugment(gl.models.DCGANDiscriminator28(8), ("translation", "cutout"))),
                       "d28", {}),
    "04 wgan, clipping, RMSprop": (dcgan, "d28", {"loss": "wgan", "n_critic": 3, "constraint": gl.losses.WeightClip(0.01),
                                                  "opt_d": lambda p: torch.optim.RMSprop(p, 5e-5),
                                                  "opt_g": lambda p: torch.optim.RMSprop(p, 5e-5)}),
    "05 wgan-gp": (lambda: dcgan(batchnorm=False), "d28", {"loss": "wgan", "n_critic": 2,
                                                           "d_regularizers": [gl.losses.GradientPenalty(10.0)]}),
    "07 stylegan + R1": (stylegan, "d32", {"d_regularizers": [gl.losses.R1Penalty(1.0)], "opt_d": adam(), "opt_g": adam()}),
}


def fit(models, data, steps=8, fast=None, seed=0, **kw):
    gl.seed_everything(seed)
    G, D = models()
    tr = gl.train.Trainer(G, D, data, batch_size=8, progress=False, seed=seed, fast=fast, **kw)
    return tr.fit(n_steps=steps)


@pytest.mark.parametrize("name", list(LESSONS))
def test_every_lesson_step_is_graph_safe_and_unchanged(name, request):
    """The check mode captures once, replays every later update unchanged, and computes what the plain path does."""
    models, data, kw = LESSONS[name]
    data = request.getfixturevalue(data)
    fp = FastPath(graphs="check", warmup=2)
    checked = fit(models, data, fast=fp, **kw)
    # step 1 makes Adam's state (a new key), 2 more warm up, the 4th is captured: 4 replays
    assert fp.mode == "check" and fp.captures == 1 and fp.replays == 8 - 1 - 2 - 1, fp
    plain = fit(models, data, fast=False, **kw)
    assert checked.history["d_loss"] == plain.history["d_loss"]
    assert checked.history["g_loss"] == plain.history["g_loss"]


def progressive_trainer(d32, fast, steps_per_phase=48, n_steps=80):
    gl.seed_everything(0)
    G, D = pggan()
    schedule = gl.progressive.ProgressiveSchedule(steps_per_phase, max_resolution=32)
    tr = gl.train.Trainer(G, D, gl.progressive.FadedReals(d32), loss="wgan", batch_size=8, progress=False, fast=fast,
                          d_regularizers=[gl.losses.GradientPenalty(), gl.losses.DriftPenalty()], opt_d=adam(), opt_g=adam(),
                          callbacks=[LinearDecay(n_steps, 0.5), schedule])
    tr.callbacks.append(EMA(tr.G, 0.9))
    return tr, schedule


def test_pggan_gets_one_graph_per_phase_and_the_same_losses(d32):
    """4×4, then fade-in and stabilisation of 8, 16, 32: 7 phases, 7 captures; α read from a buffer each step."""
    fp = FastPath(graphs="check", warmup=2)
    tr, schedule = progressive_trainer(d32, fp)
    tr.fit(n_steps=80)
    assert tr.G.lod == 0.0 and fp.captures == 7, fp
    assert len(schedule.resets) == 6  # Adam reset at each level change: the state's identity is in the key
    plain, _ = progressive_trainer(d32, False)
    plain.fit(n_steps=80)
    assert tr.history["d_loss"] == plain.history["d_loss"]


def test_a_python_decision_in_a_step_is_caught(d32):
    """StyleGAN's mixing decided on the host (``if torch.rand(()) < p``, as the course's code did) is refused."""
    class HostMixing(gl.models.StyleGenerator):
        def mixing_crossover(self, device):
            return int(torch.randint(1, self.num_layers, ())) if torch.rand(()) < self.style_mixing_prob \
                else self.num_layers

    models = lambda: (HostMixing(16, 16, mapping_layers=2, max_resolution=32, fmap_base=64, fmap_max=16),
                      gl.models.ProgressiveDiscriminator(max_resolution=32, fmap_base=64, fmap_max=16))
    with pytest.raises(GraphUnsafe, match="reads a value back to the host"):
        fit(models, d32, fast=FastPath(graphs="check", warmup=1))


def test_a_changing_python_number_is_caught(d32, monkeypatch):
    """PGGAN's fade-in with α as a Python float (baked in at capture) is caught the first time α changes."""
    import ganlessons.models.pggan as P

    gl.seed_everything(0)
    G, D = pggan()
    lerp = P.lerp
    monkeypatch.setattr(P, "lerp", lambda a, b, t: lerp(a, b, G._alpha))  # the float, not the buffer
    tr = gl.train.Trainer(G, D, gl.progressive.FadedReals(d32), loss="wgan", batch_size=8, progress=False,
                          fast=FastPath(graphs="check", warmup=1),
                          callbacks=[gl.progressive.ProgressiveSchedule(48, max_resolution=32)])
    with pytest.raises(GraphUnsafe, match="a Python number or a shape"):
        tr.fit(n_steps=40)


def test_a_tensor_made_anew_instead_of_filled_in_place_is_caught(d32):
    class Recreated(gl.progressive.FadedReals):
        def set_lod(self, lod):
            super().set_lod(lod)
            self._alpha = self._alpha.clone()  # a new tensor each step: a graph would read the old one
            return self

    gl.seed_everything(0)
    G, D = pggan()
    tr = gl.train.Trainer(G, D, Recreated(d32), loss="wgan", batch_size=8, progress=False,
                          fast=FastPath(graphs="check", warmup=1),
                          callbacks=[gl.progressive.ProgressiveSchedule(48, max_resolution=32)])
    with pytest.raises(GraphUnsafe, match="re-created instead of updated in place"):
        tr.fit(n_steps=40)


def test_new_key_after_load_and_after_an_optimizer_reset(d28, tmp_path):
    fp = FastPath(graphs="check", warmup=1)
    tr = fit(dcgan, d28, steps=4, fast=fp)
    assert fp.captures == 1
    path = tr.save(tmp_path / "ckpt.pt")
    tr.load(path)                         # new weights and optimiser state: captured anew
    tr.fit(n_steps=7)
    assert fp.captures == 2
    tr.opt_d.state.clear()                # as PGGAN's reset: Adam's state is new (twice: cleared, then made)
    tr.fit(n_steps=11)
    assert fp.captures == 3 and fp.replays == 1 + 1 + 1, fp


# ----------------------------------------------------------------------------- off on the CPU, bad input


def test_fast_is_off_on_the_cpu_and_true_falls_back_to_the_plain_steps(d28):
    a = fit(dcgan, d28, steps=5)
    b = fit(dcgan, d28, steps=5, fast=True)
    assert a.fast is None and b.fast is None and a.precision == b.precision == "fp32"
    assert a.history["d_loss"] == b.history["d_loss"]
    eager = FastPath(graphs=True)
    c = fit(dcgan, d28, steps=5, fast=eager)  # asked for on a CPU: eager steps, and it says why
    assert eager.mode == "eager" and "CUDA graphs need a CUDA device" in eager.reason
    assert c.history["d_loss"] == a.history["d_loss"]


def test_bad_fast_arguments_name_the_argument(d28):
    G, D = dcgan()
    with pytest.raises(TypeError, match="fast must be None"):
        gl.train.Trainer(G, D, d28, fast="yes", progress=False)
    with pytest.raises(ValueError, match="graphs must be True, False or 'check', got 'maybe'"):
        FastPath(graphs="maybe")
    with pytest.raises(ValueError, match="precision"):
        FastPath(precision="fp16")
    with pytest.raises(ValueError, match="warmup"):
        FastPath(warmup=0)
    fp = FastPath(graphs="check")
    gl.train.Trainer(G, D, d28, fast=fp, progress=False)
    with pytest.raises(ValueError, match="already serves another trainer"):
        gl.train.Trainer(*dcgan(), d28, fast=fp, progress=False)


def test_models_with_hooks_run_eagerly(d32):
    gl.seed_everything(0)
    G, D = pggan()
    rms = gl.progressive.ActivationRMS(G, every=1)  # Python in the forward pass: a graph would run it once
    fp = FastPath(graphs="check")
    tr = gl.train.Trainer(G, D, gl.progressive.FadedReals(d32), loss="wgan", batch_size=8, progress=False, fast=fp,
                          callbacks=[rms])
    tr.fit(n_steps=3)
    assert fp.mode == "eager" and "hooks" in fp.reason and fp.captures == 0
    assert len(next(iter(rms.history.values()))) == 3


def test_learning_rates_reach_the_graph_as_tensors_and_callbacks_keep_floats():
    """A captured optimiser step reads its rate from a tensor; LinearDecay's float lands there before each replay."""
    model = nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    opt.param_groups[0]["capturable"] = True  # as capturable_optimizer does on a GPU (no step is taken here)

    class T:
        opt_d = opt
        opt_g = torch.optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1)  # no `capturable`: left alone

    fp = FastPath(graphs="check")
    with fp._tensor_lr(T):
        lr = opt.param_groups[0]["lr"]
        assert torch.is_tensor(lr) and lr.item() == pytest.approx(1e-3)
        assert T.opt_g.param_groups[0]["lr"] == 0.1
    assert opt.param_groups[0]["lr"] == 1e-3 and isinstance(opt.param_groups[0]["lr"], float)
    opt.param_groups[0]["lr"] = 5e-4           # a callback (LinearDecay) sets a float
    fp._copy_lr(T)
    assert lr.item() == pytest.approx(5e-4)    # the captured tensor holds it: the next replay uses it
    ptr = lr.data_ptr()
    fp._copy_lr(T)
    assert lr.data_ptr() == ptr                # filled in place, never replaced


def test_capturable_optimizer_and_restoring_implementation_flags():
    model = nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    capturable_optimizer(opt, capturable=False)  # on a CPU: fused (supported there), not capturable
    group = opt.param_groups[0]
    assert group["fused"] is True and group["foreach"] is False and group["capturable"] is False
    saved = copy.deepcopy(opt.state_dict())
    plain = torch.optim.Adam(model.parameters(), lr=1e-3)
    own = implementation(plain)
    plain.load_state_dict(saved)
    assert plain.param_groups[0]["fused"] is True   # load_state_dict takes the saver's flags ...
    restore_implementation(plain, own)
    assert not plain.param_groups[0]["fused"]       # ... and this device's come back
    state = plain.state[next(iter(model.parameters()))]
    assert state["step"].device.type == "cpu" and state["step"].item() == 1.0


def test_a_trainer_loads_a_checkpoint_of_another_implementation(d28, tmp_path):
    tr = fit(dcgan, d28, steps=3)
    for opt in (tr.opt_d, tr.opt_g):
        capturable_optimizer(opt, capturable=False)
    path = tr.save(tmp_path / "fused.pt")
    again = gl.train.Trainer(*dcgan(), d28, batch_size=8, progress=False)
    again.load(path)
    assert not again.opt_d.param_groups[0].get("fused")
    again.fit(n_steps=5)
    assert again.step == 5


def test_gradient_penalty_norm_is_fp32_under_bf16_autocast():
    critic = nn.Sequential(nn.Flatten(), nn.Linear(16, 1))
    x, y = torch.randn(4, 1, 4, 4), torch.randn(4, 1, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        norms = gl.losses.interpolate_gradient_norms(critic, x, y)
        r1 = gl.losses.R1Penalty(1.0)(gl.losses.CriticBatch(critic, x, y, critic(x), critic(y), 0))
    assert norms.dtype == torch.float32 and r1.dtype == torch.float32
    # a linear critic's gradient is its weight: the norm is ‖w‖ whatever the interpolate
    expected = critic[1].weight.norm().expand(4)
    torch.testing.assert_close(norms, expected, rtol=1e-2, atol=1e-3)  # bf16 forward, fp32 norm


# ----------------------------------------------------------------------------- on a GPU


@cuda
def test_cuda_graphs_capture_replay_and_track_the_plain_path():
    """Same model and seed: the fast path (bf16, graphs) and the plain fp32 path give losses that track each other."""
    data = gl.data.load("mnist-5k", device="cuda")
    fp = FastPath()
    fast = fit(dcgan, data, steps=400, fast=fp, log_every=50)
    plain = fit(dcgan, data, steps=400, fast=False, log_every=50)
    assert fp.mode == "cuda" and fp.captures == 1 and fp.replays == 400 - 1 - fp.warmup, fp
    assert fast.precision == "bf16" and plain.precision == "fp32"
    for name in ("d_loss", "g_loss"):
        a, b = (torch.tensor(run.history[name][-200:]) for run in (fast, plain))
        # the mean of each half of the run within a third of the losses' own spread of each other
        for part in (slice(0, 100), slice(100, 200)):
            assert abs(a[part].mean() - b[part].mean()) < (a[part].std() + b[part].std()) / 3 + 0.02, name


@cuda
def test_cuda_graphs_for_wgan_gp_and_pggan_phases():
    data = gl.data.load("mnist-5k", device="cuda")
    fp = FastPath()
    fit(lambda: dcgan(batchnorm=False), data, steps=40, fast=fp, loss="wgan", n_critic=5,
        d_regularizers=[gl.losses.GradientPenalty(10.0)])
    assert fp.mode == "cuda" and fp.captures == 1, fp
    d32 = gl.data.load("mnist-5k", size=32, device="cuda")
    fp = FastPath()
    tr, _ = progressive_trainer(d32, fp)
    tr.fit(n_steps=80)
    assert fp.mode == "cuda" and fp.captures == 7, fp
