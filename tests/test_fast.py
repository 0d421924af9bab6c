"""ganlessons.fast: the GPU fast path — off and identical on the CPU, graph-safe steps for every lesson.

Without a GPU the CUDA graphs themselves cannot run; ``FastPath(graphs="check")`` runs each step
eagerly and compares the operations it issues with the first step of its key, which is what a graph
would replay. The tests below run it on every lesson's configuration, and show that it catches each
way a step can go stale in a graph. The tests marked ``cuda`` capture real graphs where a GPU exists.
"""

import copy
from types import SimpleNamespace

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
    "02 cgan, one-hot (the lesson's default)": (
        lambda: (gl.models.ConditionalMLPGenerator(16, n_classes=10, hidden=(32, 64), embedding="onehot"),
                 gl.models.ConditionalMLPDiscriminator(n_classes=10, hidden=(64, 32), embedding="onehot")),
        "d28", {"d_regularizers": [gl.losses.MismatchPenalty(1.0)]}),
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
    with pytest.raises(GraphUnsafe, match="no longer the one captured"):
        tr.fit(n_steps=40)


def test_another_part_of_a_tensor_each_step_is_caught(d28):
    """A batch sliced at a moving offset of one tensor: a graph would read the slice it was captured with."""
    class Sliding:  # the next batch is a view made between steps, each at another offset of the same images
        device = torch.device("cpu")

        def __init__(self, data):
            self.x = data.images()
            self.batch = self.x[:8]

        def before_step(self, trainer):
            start = trainer.step * 8 % (len(self.x) - 8)
            self.batch = self.x[start:start + 8]

        def sample(self, batch_size, generator=None):
            return self.batch, torch.zeros(batch_size, dtype=torch.long)

    gl.seed_everything(0)
    G, D = dcgan()
    data = Sliding(d28)
    tr = gl.train.Trainer(G, D, data, batch_size=8, progress=False, fast=FastPath(graphs="check", warmup=1),
                          callbacks=[data])
    with pytest.raises(GraphUnsafe, match="no longer the one captured"):
        tr.fit(n_steps=6)


def test_a_copy_to_the_host_in_a_step_is_caught(d28):
    """``.tolist()`` (or ``.cpu()``, ``.numpy()``) inside a step: a no-op on a CPU, a wait for the GPU in a graph."""
    def d_loss(d_real, d_fake):
        d_real.tolist()  # e.g. logging every value
        return gl.losses.d_loss_bce(d_real, d_fake)

    with pytest.raises(GraphUnsafe, match=r"Tensor.tolist\(\) at test_fast.py:\d+ in d_loss copies to the host"):
        fit(dcgan, d28, fast=FastPath(graphs="check", warmup=1), d_loss=d_loss, g_loss=gl.losses.g_loss_nonsaturating)


def test_an_optimizer_without_a_capturable_form_stays_eager(d28):
    """SGD has no ``capturable``: captured, it would keep its first learning rate whatever LinearDecay sets."""
    fp = FastPath(graphs="check", warmup=1)
    tr = fit(dcgan, d28, steps=6, fast=fp, opt_d=lambda p: torch.optim.SGD(p, 0.01), callbacks=[LinearDecay(6, 0.0)])
    assert fp.mode == "eager" and "opt_d (SGD) has no capturable form" in fp.reason and fp.captures == 0
    assert tr.opt_d.param_groups[0]["lr"] == pytest.approx(0.01 / 6)  # the decay reached the eager steps


def test_hooks_added_after_the_trainer_was_built_make_it_eager(d32):
    gl.seed_everything(0)
    G, D = pggan()
    fp = FastPath(graphs="check", warmup=1)
    tr = gl.train.Trainer(G, D, gl.progressive.FadedReals(d32), loss="wgan", batch_size=8, progress=False, fast=fp)
    tr.fit(n_steps=4)
    assert fp.mode == "check" and fp.captures == 1
    rms = gl.progressive.ActivationRMS(G, every=1)  # after the capture: the next key sees it
    tr.callbacks.append(rms)
    tr.fit(n_steps=7)
    assert fp.mode == "eager" and "G carries Python hooks" in fp.reason
    assert len(next(iter(rms.history.values()))) == 3  # its hook ran at every step


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


# ----------------------------------------------------------------------------- the GPU warm-up, on a CPU


class _Replayed:
    """Stands in for a captured CUDA graph on a CPU: runs the step at capture and at each replay."""

    def __init__(self, step, trainer, stream, pool=None):
        self.step, self.graph = step, SimpleNamespace(pool=lambda: None)
        self.out = step()

    def replay(self):
        return self.step()


def gpu_mode(monkeypatch, warmup=3):
    """A FastPath that runs its CUDA mode's logic (warm-up, watching, capture, replay) on the CPU."""
    monkeypatch.setattr(gl.fast, "_CudaCapture", _Replayed)
    fp = FastPath(warmup=warmup)
    original = fp.attach

    def attach(trainer):
        original(trainer)
        fp.mode, fp.reason = "cuda", ""
    fp.attach = attach
    return fp


@pytest.mark.parametrize("name", list(LESSONS))
def test_every_lesson_passes_the_gpu_warm_up_and_is_captured(name, request, monkeypatch):
    """The CUDA mode records its last two warm-up steps and compares them: every lesson's two are the same."""
    models, data, kw = LESSONS[name]
    fp = gpu_mode(monkeypatch)
    fit(models, request.getfixturevalue(data), steps=8, fast=fp, **kw)
    assert fp.mode == "cuda" and fp.reason == "" and fp.captures == 1 and fp.replays == 8 - 1 - 3, fp


def test_the_gpu_warm_up_sends_a_changing_python_number_to_the_eager_path(d28, monkeypatch):
    """A learner's loss with a number that changes every step (read from outside): no error, eager, and why."""
    schedule = {"weight": 1.0}

    def d_loss(d_real, d_fake):
        schedule["weight"] *= 0.99  # annealed in Python: a graph would keep its value at capture
        return schedule["weight"] * gl.losses.d_loss_bce(d_real, d_fake)

    fp = gpu_mode(monkeypatch)
    tr = fit(dcgan, d28, steps=8, fast=fp, d_loss=d_loss, g_loss=gl.losses.g_loss_nonsaturating)
    assert fp.mode == "eager" and fp.captures == 0, fp
    assert "a Python number or a shape" in fp.reason and "test_fast.py" in fp.reason and "in d_loss" in fp.reason
    assert schedule["weight"] == pytest.approx(0.99 ** 8) and tr.step == 8  # every step ran it


def test_the_gpu_warm_up_sends_a_host_read_to_the_eager_path(d28, monkeypatch):
    def d_loss(d_real, d_fake):
        if d_real.mean() > 100:  # a decision on the host: bool(tensor) reads it back
            d_real = d_real * 0
        return gl.losses.d_loss_bce(d_real, d_fake)

    fp = gpu_mode(monkeypatch)
    fit(dcgan, d28, steps=6, fast=fp, d_loss=d_loss, g_loss=gl.losses.g_loss_nonsaturating)
    assert fp.mode == "eager" and "reads a value back to the host" in fp.reason and "in d_loss" in fp.reason, fp


def test_optimiser_and_weight_hooks_make_the_steps_eager(d28, monkeypatch):
    counted = []
    fp = gpu_mode(monkeypatch)
    gl.seed_everything(0)
    tr = gl.train.Trainer(*dcgan(), d28, batch_size=8, progress=False, fast=fp)
    tr.opt_g.register_step_post_hook(lambda *_: counted.append(1))  # runs Python after each step
    tr.fit(n_steps=6)
    assert fp.mode == "eager" and "opt_g carries Python hooks" in fp.reason and len(counted) == 6, fp
    fp = gpu_mode(monkeypatch)
    tr = gl.train.Trainer(*dcgan(), d28, batch_size=8, progress=False, fast=fp)
    next(tr.D.parameters()).register_hook(lambda g: counted.append(2))
    tr.fit(n_steps=6)
    assert fp.mode == "eager" and "D carries Python hooks" in fp.reason and counted.count(2) == 6, fp


def test_a_key_that_changes_at_every_update_ends_in_eager_steps_that_say_why(d28, monkeypatch):
    class MovingBetas:  # e.g. a one-cycle schedule moving Adam's β1 each step: a new key each time
        def before_step(self, trainer):
            for g in trainer.opt_d.param_groups:
                g["betas"] = (0.5 - trainer.step * 1e-3, 0.999)

    fp = gpu_mode(monkeypatch)
    fit(dcgan, d28, steps=gl.fast.CHURN + 5, fast=fp, callbacks=[MovingBetas()])
    assert fp.mode == "eager" and fp.captures == 0 and "each of the last 20 updates" in fp.reason, fp


def test_what_a_graph_reads_is_kept_alive_while_it_is_held(d28):
    fp = FastPath(graphs="check", warmup=1)
    tr = fit(dcgan, d28, steps=4, fast=fp)
    assert fp.captures == 1 and any(obj is tr.data for obj in fp._alive)  # so no other object can take its id


def test_moments_saved_beside_weights_of_another_layout_follow_their_weights():
    """A checkpoint from NCHW weights loaded beside channels-last ones: fused Adam needs the moments laid out
    like their weights (the CPU's fused kernel silently miscomputes the mix); the values are unchanged."""
    torch.manual_seed(0)
    w = torch.randn(8, 4, 3, 3)
    grads = [torch.randn(8, 4, 3, 3) for _ in range(4)]

    def run(weight, fused, state=None, steps=grads):
        p = nn.Parameter(weight.clone())
        opt = torch.optim.Adam([p], lr=0.1, fused=fused)
        if state is not None:
            own = implementation(opt)
            opt.load_state_dict(state)
            restore_implementation(opt, own)
        for g in steps:
            p.grad = torch.empty_like(p).copy_(g)  # laid out like its weight, as autograd makes it
            opt.step()
        return p, opt

    reference, _ = run(w, fused=False)                        # 4 steps, NCHW, one optimiser
    p, opt = run(w, fused=False, steps=grads[:2])             # 2 steps, NCHW, saved ...
    saved = copy.deepcopy(opt.state_dict())
    nhwc = p.detach().to(memory_format=torch.channels_last)
    resumed, opt = run(nhwc, fused=True, state=saved, steps=grads[2:])  # ... resumed channels-last, fused
    for name in ("exp_avg", "exp_avg_sq"):
        assert opt.state[resumed][name].stride() == resumed.stride()
    torch.testing.assert_close(resumed.detach(), reference.detach(), rtol=1e-5, atol=1e-6)


def test_a_trainer_resumes_a_checkpoint_saved_in_another_layout(d28, tmp_path):
    nchw = fit(dcgan, d28, steps=3, channels_last=False)
    path = nchw.save(tmp_path / "nchw.pt")
    again = gl.train.Trainer(*dcgan(), d28, batch_size=8, progress=False, channels_last=True).load(path)
    for p in again.D.parameters():
        for value in again.opt_d.state[p].values():
            if value.shape == p.shape:
                assert value.stride() == p.stride()
    again.fit(n_steps=5)
    assert again.step == 5


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


def test_bf16_is_the_default_precision_on_a_gpu_and_fp32_elsewhere(d28):
    assert FastPath().default_precision(torch.device("cuda")) == "bf16"
    assert FastPath().default_precision(torch.device("cpu")) == "fp32"
    assert FastPath(precision="fp32").default_precision(torch.device("cuda")) == "fp32"
    tr = gl.train.Trainer(*dcgan(), d28, progress=False, fast=FastPath(graphs="check"))
    assert tr.precision == "fp32"
    tr = gl.train.Trainer(*dcgan(), d28, progress=False, fast=FastPath(graphs="check", precision="bf16"))
    assert tr.precision == "bf16"


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


@cuda
def test_cuda_graph_replays_compute_what_the_eager_steps_compute():
    """fp32, deterministic cuDNN: 12 updates from graphs and 12 eager ones give the same weights (the same
    random numbers too: graph-safe RNG advances as eager draws do), and each replay draws a new batch."""
    torch.backends.cudnn.deterministic = True
    try:
        data = gl.data.load("mnist-5k", device="cuda")
        runs = {}
        for graphs in (True, False):
            fp = FastPath(graphs=graphs, precision="fp32")
            runs[graphs] = (fit(lambda: dcgan(batchnorm=False), data, steps=12, fast=fp, loss="wgan", n_critic=2,
                                d_regularizers=[gl.losses.GradientPenalty(10.0)]), fp)
        (graphed, fp), (eager, _) = runs[True], runs[False]
        assert fp.mode == "cuda" and fp.replays > 5, fp
        torch.testing.assert_close(graphed.history["d_loss"], eager.history["d_loss"], rtol=1e-4, atol=1e-5)
        for a, b in zip(graphed.G.parameters(), eager.G.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
        d_real = graphed.history["d_real"][-fp.replays:]
        assert len(set(d_real)) == len(d_real)  # a new batch at every replay, not the captured one
    finally:
        torch.backends.cudnn.deterministic = False


@cuda
def test_a_learning_rate_set_after_capture_reaches_the_graph():
    data = gl.data.load("mnist-5k", device="cuda")
    fp = FastPath()
    tr = fit(dcgan, data, steps=10, fast=fp)
    assert fp.mode == "cuda" and fp.replays > 0
    for opt in (tr.opt_d, tr.opt_g):
        for group in opt.param_groups:
            group["lr"] = 0.0  # as LinearDecay at its end
    before = [p.detach().clone() for p in list(tr.G.parameters()) + list(tr.D.parameters())]
    tr.fit(n_steps=15)
    assert fp.captures == 1  # no new capture: the replays read the rate from its tensor
    for a, b in zip(before, list(tr.G.parameters()) + list(tr.D.parameters())):
        assert torch.equal(a, b)


@cuda
def test_the_users_sync_debug_mode_is_kept():
    data = gl.data.load("mnist-5k", device="cuda")
    torch.cuda.set_sync_debug_mode("warn")
    try:
        fit(dcgan, data, steps=6, fast=FastPath())
        assert torch.cuda.get_sync_debug_mode() == 1
    finally:
        torch.cuda.set_sync_debug_mode("default")
