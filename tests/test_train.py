import json
import math
import subprocess
import sys
import textwrap

import pytest
import torch

import ganlessons as gl
from ganlessons.train import Trainer, TrainingDiverged


def small_models(seed=0, latent_dim=8):
    gl.seed_everything(seed)
    G = gl.models.MLPGenerator(latent_dim, (1, 28, 28), hidden=(32, 64))
    D = gl.models.MLPDiscriminator((1, 28, 28), hidden=(64, 32))
    return G, D


@pytest.fixture(scope="module")
def small_data():
    return gl.data.load("mnist-5k", n=512, device="cpu")


def run(small_data, steps=12, seed=0, **kw):
    G, D = small_models(seed)
    return gl.train.fit(G, D, small_data, n_steps=steps, batch_size=16, seed=seed, progress=False, **kw)


def test_same_seed_gives_identical_losses(small_data):
    a, b = run(small_data), run(small_data)
    assert a.history["d_loss"] == b.history["d_loss"] and a.history["g_loss"] == b.history["g_loss"]
    assert len(a.history["g_loss"]) == 12 and a.history["step"] == list(range(1, 13))
    c = run(small_data, seed=1)
    assert c.history["d_loss"] != a.history["d_loss"]


def test_training_changes_both_models_and_keeps_snapshots(small_data):
    G, D = small_models()
    g0 = [p.clone() for p in G.parameters()]
    d0 = [p.clone() for p in D.parameters()]
    tr = gl.train.fit(G, D, small_data, n_steps=20, batch_size=16, progress=False, n_samples=9)
    assert all(not torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(d0, D.parameters()))
    steps = [s for s, _ in tr.snapshots]
    assert steps[0] == 0 and steps[-1] == 20 and steps == sorted(steps)
    assert tr.snapshots[-1][1].shape == (9, 1, 28, 28) and tr.snapshots[-1][1].dtype == torch.uint8
    assert tr.images_seen == 20 * 16


RESUME = textwrap.dedent("""
    import json, sys, torch
    sys.path.insert(0, {tests!r})
    from test_train import small_models
    import ganlessons as gl
    torch.set_num_threads(1)
    mode, path, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = gl.data.load("mnist-5k", n=512, device="cpu")
    G, D = small_models()
    tr = gl.train.Trainer(G, D, data, batch_size=16, n_critic=2, progress=False, seed=5)
    if mode == "resume":
        tr.load(path)
    tr.fit(n_steps=steps)
    if mode == "first":
        tr.save(path)
    print(json.dumps({{"d": tr.history["d_loss"], "g": tr.history["g_loss"], "step": tr.step,
                      "w": G.net[0].weight.sum().item()}}))
""")


def test_resume_in_a_fresh_process_equals_uninterrupted(tmp_path):
    script = tmp_path / "resume.py"
    script.write_text(RESUME.format(tests=str(__import__("pathlib").Path(__file__).parent)))
    ckpt = tmp_path / "ckpt.pt"

    def go(mode, steps):
        out = subprocess.run([sys.executable, str(script), mode, str(ckpt), str(steps)], check=True,
                             capture_output=True, text=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    full = go("full", 16)
    first = go("first", 7)
    resumed = go("resume", 16)
    assert first["step"] == 7 and resumed["step"] == 16
    assert resumed["d"] == full["d"] and resumed["g"] == full["g"]  # bit-identical, not just close
    assert resumed["w"] == full["w"]


def test_nan_raises_naming_step_and_loss(small_data):
    G, D = small_models()
    calls = {"n": 0}

    def d_loss(d_real, d_fake):
        calls["n"] += 1
        loss = gl.losses.d_loss_bce(d_real, d_fake)
        return loss * float("nan") if calls["n"] == 4 else loss

    with pytest.raises(TrainingDiverged, match=r"d_loss became nan at step 4"):
        gl.train.fit(G, D, small_data, n_steps=10, batch_size=16, progress=False,
                     d_loss=d_loss, g_loss=gl.losses.g_loss_nonsaturating)


def test_nan_detected_when_logging_is_batched(small_data):
    G, D = small_models()
    calls = {"n": 0}

    def g_loss(d_fake):
        calls["n"] += 1
        loss = gl.losses.g_loss_nonsaturating(d_fake)
        return loss + float("inf") if calls["n"] == 4 else loss

    tr = Trainer(G, D, small_data, batch_size=16, progress=False, log_every=5,
                 d_loss=gl.losses.d_loss_bce, g_loss=g_loss)
    with pytest.raises(TrainingDiverged, match=r"g_loss became inf at step 4"):
        tr.fit(n_steps=10)
    assert tr.step == 5  # found at the next read-back, named by the step it happened in


def test_interrupt_keeps_a_usable_model_and_history(small_data):
    G, D = small_models()

    def ctrl_c(trainer):
        if trainer.step == 5:
            raise KeyboardInterrupt

    tr = Trainer(G, D, small_data, batch_size=16, progress=False, callbacks=[ctrl_c])
    tr.fit(n_steps=50)
    assert tr.interrupted and tr.step == 5
    assert len(tr.history["d_loss"]) == 5 and tr.snapshots[-1][0] == 5
    assert all(p.requires_grad for p in D.parameters())
    x = tr.sample()
    assert x.shape == (64, 1, 28, 28) and torch.isfinite(x).all()
    tr.callbacks.clear()
    tr.fit(n_steps=8)  # and training goes on from there
    assert not tr.interrupted and tr.step == 8 and len(tr.history["g_loss"]) == 8


def test_n_critic_constraint_and_regularizer_are_applied(small_data):
    G, D = small_models()
    seen = {"constraint": 0, "reg": 0}

    def constraint(model):
        seen["constraint"] += 1
        gl.losses.clip_weights(model, 0.05)

    class CountingGP(gl.losses.GradientPenalty):
        def __call__(self, batch):
            seen["reg"] += 1
            return super().__call__(batch)

    tr = gl.train.fit(G, D, small_data, n_steps=3, batch_size=16, n_critic=4, loss="wgan", progress=False,
                      constraint=constraint, d_regularizers=[CountingGP(10.0)])
    assert seen == {"constraint": 12, "reg": 12}
    assert max(p.abs().max().item() for p in D.parameters()) <= 0.05 + 1e-7
    assert len(tr.history["gp"]) == 3 and all(v >= 0 for v in tr.history["gp"])
    assert tr.images_seen == 3 * 4 * 16


def test_time_budget_stops(small_data):
    G, D = small_models()
    tr = gl.train.fit(G, D, small_data, seconds=0.3, batch_size=16, progress=False)
    assert 0 < tr.step < 10_000 and tr.seconds < 5


def test_conditional_training_passes_labels(small_data):
    gl.seed_everything(0)
    G = gl.models.ConditionalMLPGenerator(8, 10, hidden=(32, 64))
    D = gl.models.ConditionalMLPDiscriminator(10, hidden=(64, 32))
    tr = gl.train.fit(G, D, small_data, n_steps=3, batch_size=16, progress=False, n_samples=20,
                      d_regularizers=[gl.losses.GradientPenalty(1.0)], loss="wgan")
    assert tr.conditional and tr.fixed_y.tolist() == list(range(10)) * 2
    assert tr.snapshots[-1][1].shape == (20, 1, 28, 28)


def test_mismatch_penalty_sees_real_images_with_wrong_labels(small_data):
    seen = []

    class SpyD(gl.models.ConditionalMLPDiscriminator):
        def forward(self, x, y):
            seen.append((x.detach().clone(), y.clone()))
            return super().forward(x, y)

    G = gl.models.ConditionalMLPGenerator(8, 10, hidden=(32, 64))
    tr = gl.train.fit(G, SpyD(10, hidden=(64, 32)), small_data, n_steps=2, batch_size=16, progress=False,
                      d_regularizers=[gl.losses.MismatchPenalty(1.0)])
    assert len(tr.history["mismatch"]) == 2 and all(v > 0 for v in tr.history["mismatch"])
    # Per D step: real pair, fake pair, then the mismatched pair — the real images, other labels.
    (x_real, y_real), _, (x_wrong, y_wrong) = seen[:3]
    assert torch.equal(x_wrong, x_real) and (y_wrong != y_real).all()


def test_checkpoint_of_another_model_is_a_clear_error(small_data, tmp_path):
    tr = run(small_data, steps=2)
    path = tr.save(tmp_path / "a.pt")
    G2 = gl.models.MLPGenerator(8, (1, 28, 28), hidden=(48, 64))
    _, D = small_models()
    with pytest.raises(ValueError, match=r"G\.net\.0\.weight has shape"):
        Trainer(G2, D, small_data, progress=False).load(path)
    G3 = gl.models.DCGANGenerator28(8, 4)
    with pytest.raises(ValueError, match="class MLPGenerator"):
        Trainer(G3, D, small_data, progress=False).load(path)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="bad.pt"):
        Trainer(*small_models(), small_data, progress=False).load(tmp_path / "bad.pt")


def test_checkpoint_is_weights_only_and_atomic(small_data, tmp_path, monkeypatch):
    tr = run(small_data, steps=2)
    path = tmp_path / "ck.pt"
    tr.save(path)
    torch.load(path, weights_only=True)  # no pickled code inside
    before = path.read_bytes()

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        tr.save(path)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def test_bad_arguments_name_the_argument(small_data):
    G, D = small_models()
    with pytest.raises(ValueError, match="n_critic must be > 0"):
        Trainer(G, D, small_data, n_critic=0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        Trainer(G, D, small_data, batch_size=16.5)
    with pytest.raises(ValueError, match="loss='wasserstein'"):
        Trainer(G, D, small_data, loss="wasserstein")
    with pytest.raises(TypeError, match="data must be"):
        Trainer(G, D, torch.zeros(3))
    with pytest.raises(ValueError, match="give a budget"):
        Trainer(G, D, small_data, progress=False).fit()
    with pytest.raises(ValueError, match="both d_loss and g_loss"):
        Trainer(G, D, small_data, d_loss=gl.losses.d_loss_bce)


def test_callbacks_every_records_evals(small_data):
    G, D = small_models()
    cb = gl.train.every(5, lambda t: {"mean_g": t.history["g_loss"][-1]})
    tr = gl.train.fit(G, D, small_data, n_steps=12, batch_size=16, progress=False, callbacks=[cb])
    assert [s for s, _ in tr.evals["mean_g"]] == [5, 10]


def _spy_conditional(seen):
    class SpyG(gl.models.ConditionalMLPGenerator):
        def forward(self, z, y):
            seen.append(y.clone())
            return super().forward(z, y)

    return SpyG


def test_conditional_d_step_makes_its_fakes_with_the_real_labels(small_data):
    """x̂ between x_real and G(z, y) must join two images of one class (scored under that label)."""
    seen_g, seen_d = [], []

    class SpyD(gl.models.ConditionalMLPDiscriminator):
        def forward(self, x, y):
            seen_d.append(y.clone())
            return super().forward(x, y)

    gl.seed_everything(0)
    G = _spy_conditional(seen_g)(8, 10, hidden=(32, 64))
    tr = gl.train.Trainer(G, SpyD(10, hidden=(64, 32)), small_data, batch_size=16, progress=False, loss="wgan",
                          d_regularizers=[gl.losses.GradientPenalty(1.0)])
    seen_g.clear()
    tr.fit(n_steps=1)
    y_g_in_d_step = next(y for y in seen_g if len(y) == 16)  # after the fixed-z snapshot
    y_real, y_fake, y_interp = seen_d[:3]  # D(x_real, y), D(G(z, y), y), the penalty's D(x̂, y)
    assert torch.equal(y_g_in_d_step, y_real) and torch.equal(y_fake, y_real) and torch.equal(y_interp, y_real)


def test_generator_labels_follow_the_data_label_frequencies():
    """The conditional optimum compares p(y)p(x|y) with p(y)p_g(x|y): G's labels follow the data's p(y)."""
    data = gl.data.load("mnist-5k", device="cpu")
    keep = torch.cat([torch.nonzero(data.y == 0).flatten()[:400], torch.nonzero(data.y != 0).flatten()[:100]])
    skewed = type(data)("skewed", data.x[keep], data.y[keep], data.classes)  # 80 % zeros
    gl.seed_everything(0)
    G = gl.models.ConditionalMLPGenerator(8, 10, hidden=(16,))
    tr = gl.train.Trainer(G, gl.models.ConditionalMLPDiscriminator(10, hidden=(16,)), skewed, batch_size=4000,
                          progress=False)
    share_of_zeros = (tr._y_fake() == 0).float().mean().item()
    assert abs(share_of_zeros - 0.8) < 0.03
    uniform = gl.train.Trainer(G, gl.models.ConditionalMLPDiscriminator(10, hidden=(16,)), data, batch_size=16,
                               progress=False)
    assert uniform._label_p is None  # balanced labels: randint, exactly uniform


def test_feature_matching_trains_g_on_d_features(small_data):
    """Salimans et al.'s L_G = mean_j (E f_j(x) − E f_j(G(z)))², through the one trainer."""
    G, D = small_models()
    x = torch.randn(5, 1, 28, 28)
    fm = gl.losses.FeatureMatching()
    batch = gl.losses.GeneratorBatch(D, x, x.clone())
    assert fm(batch).item() == 0.0  # identical statistics, nothing to match
    x_fake = torch.zeros(5, 1, 28, 28, requires_grad=True)
    loss = fm(gl.losses.GeneratorBatch(D, x, x_fake))
    want = ((D.features(x).mean(0) - D.features(x_fake).mean(0)) ** 2).mean()
    torch.testing.assert_close(loss, want)
    loss.backward()
    assert x_fake.grad is not None and x_fake.grad.abs().sum() > 0
    tr = gl.train.fit(G, D, small_data, n_steps=5, batch_size=16, progress=False, g_loss=fm,
                      d_loss=gl.losses.d_loss_bce)
    assert len(tr.history["g_loss"]) == 5 and all(v >= 0 for v in tr.history["g_loss"])
    with pytest.raises(TypeError, match="features"):
        fm(gl.losses.GeneratorBatch(lambda v: v.sum(1), x, x))


def test_channels_last_is_the_cpu_default_for_convolutional_models_only():
    data = gl.data.load("mnist-5k", device="cpu", n=128)
    gl.seed_everything(0)
    conv = gl.train.Trainer(gl.models.DCGANGenerator28(16, 8), gl.models.DCGANDiscriminator28(8), data,
                            device="cpu", progress=False)
    assert conv.channels_last
    w = conv.D.net[2].weight
    assert w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
    mlp = gl.train.Trainer(gl.models.MLPGenerator(16, hidden=(8,)), gl.models.MLPDiscriminator(hidden=(8,)), data,
                           device="cpu", progress=False)
    assert not mlp.channels_last
    off = gl.train.Trainer(gl.models.DCGANGenerator28(16, 8), gl.models.DCGANDiscriminator28(8), data,
                           device="cpu", progress=False, channels_last=False)
    assert off.D.net[2].weight.is_contiguous()


def test_channels_last_trains_the_same_model_up_to_rounding():
    """One step from the same weights: NHWC and NCHW give the same update, to float rounding."""
    data = gl.data.load("mnist-5k", device="cpu", n=128)
    runs = []
    for cl in (False, True):
        gl.seed_everything(0)
        G, D = gl.models.DCGANGenerator28(16, 8), gl.models.DCGANDiscriminator28(8)
        t = gl.train.fit(G, D, data, n_steps=1, batch_size=16, progress=False, live=False, channels_last=cl)
        runs.append(torch.cat([p.detach().flatten() for p in t.G.parameters()]))
    assert torch.allclose(runs[0], runs[1], atol=1e-5)


def test_bf16_precision_trains_and_bad_precision_is_named():
    data = gl.data.load("mnist-5k", device="cpu", n=128)
    gl.seed_everything(0)
    t = gl.train.fit(gl.models.DCGANGenerator28(16, 8), gl.models.DCGANDiscriminator28(8), data, n_steps=3,
                     batch_size=16, progress=False, live=False, precision="bf16")
    assert t.step == 3 and all(math.isfinite(v) for v in t.history["d_loss"])
    assert next(t.G.parameters()).dtype == torch.float32  # the weights stay fp32; autocast computes in bf16
    with pytest.raises(ValueError, match="precision='fp16' is not allowed"):
        gl.train.Trainer(gl.models.DCGANGenerator28(16, 8), gl.models.DCGANDiscriminator28(8), data,
                         progress=False, precision="fp16")


def test_bf16_critic_steps_each_see_the_weights_the_previous_one_left():
    """With n_critic = 2 the second critic step's gradient is taken at the updated weights.

    D(x) = w·x on the constant point x = (1, 0), loss = D(x_real)², SGD at lr 0.1: w ← 0.8·w per
    step, so w goes 0.5 → 0.4 → 0.32. A stale bf16 copy of w in the second step would give
    0.5 − 2·0.1·2·0.5 = 0.3.
    """
    class Const:
        device = torch.device("cpu")
        def sample(self, n, generator=None):
            return torch.tensor([[1.0, 0.0]]).expand(n, 2), torch.zeros(n, dtype=torch.long)

    G = torch.nn.Linear(1, 2)
    G.latent_dim = 1
    D = torch.nn.Sequential(torch.nn.Linear(2, 1, bias=False), torch.nn.Flatten(0))
    with torch.no_grad():
        D[0].weight.copy_(torch.tensor([[0.5, 0.0]]))
    t = gl.train.Trainer(G, D, Const(), d_loss=lambda r, f: (r ** 2).mean(), g_loss=lambda f: f.mean(),
                         n_critic=2, batch_size=4, device="cpu", progress=False, live=False, precision="bf16",
                         opt_d=lambda p: torch.optim.SGD(p, lr=0.1), opt_g=lambda p: torch.optim.SGD(p, lr=0.0))
    t.fit(n_steps=1)
    assert D[0].weight[0, 0].item() == pytest.approx(0.32, abs=2e-3)
