"""No checker may reseed or draw from the global RNGs: running or skipping an exercise must not
change the learner's later random draws (issue 9)."""

import random

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import ganlessons as gl
from ganlessons import checks


class _TinyLabelled:
    """Just enough of a dataset for mismatch_prediction: 40 random 'images' with labels."""

    device = torch.device("cpu")

    def __init__(self):
        g = torch.Generator().manual_seed(5)
        self.x, self.y = torch.randn(40, 4, generator=g), torch.randint(0, 10, (40,), generator=g)

    def sample(self, n, generator=None):
        idx = torch.randint(len(self.x), (n,), generator=generator)
        return self.x[idx], self.y[idx]


class _NoisyD(nn.Module):
    """A conditional D that draws noise from the global RNG in forward, as some do."""

    n_classes = 10

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4 + 10, 1)

    def forward(self, x, y):
        h = torch.cat([x + 0.01 * torch.randn_like(x), F.one_hot(y, 10).float()], 1)
        return self.lin(h).flatten()


def _drawing(fn):
    """The right answer, written by a learner who also draws from every global RNG on the way."""
    def wrapped(*args):
        torch.rand(3), np.random.rand(2), random.random()
        return fn(*args)
    return wrapped


def _right_block(i, o):
    return nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU())


def _right_clip(m, c):
    with torch.no_grad():
        for p in m.parameters():
            p.clamp_(-c, c)


RIGHT = {
    "d_loss": (checks.d_loss, lambda r, f: gl.losses.d_loss_bce(r, f)),
    "g_loss": (checks.g_loss, lambda f: F.softplus(-f).mean()),
    "optimal_discriminator": (checks.optimal_discriminator, lambda p, q: p / (p + q)),
    "d_step_detach": (checks.d_step_detach, lambda G, D, x, z: gl.losses.d_loss_bce(D(x), D(G(z).detach()))),
    "conditional_input": (checks.conditional_input, lambda z, y, k: torch.cat([z, F.one_hot(y, k).float()], 1)),
    "transposed_conv_size": (checks.transposed_conv_size, lambda n, k, s, p, op: (n - 1) * s - 2 * p + k + op),
    "generator_block": (checks.generator_block, _right_block),
    "critic_loss": (checks.critic_loss, lambda r, f: f.mean() - r.mean()),
    "clip_weights": (checks.clip_weights, _right_clip),
    "gradient_penalty": (checks.gradient_penalty, gl.losses.gradient_penalty),
    "fade_in": (checks.fade_in, lambda old, new, a: (1 - a) * old + a * new),
    "pixel_norm": (checks.pixel_norm, lambda x: gl.layers.PixelNorm()(x)),
    "minibatch_stddev": (checks.minibatch_stddev, lambda x, g=4: gl.layers.MinibatchStdDev(g)(x)),
    "adain": (checks.adain, lambda x, s, b: gl.layers.instance_norm(x) * (s[..., None, None] + 1) + b[..., None, None]),
    "truncation": (checks.truncation, lambda w, a, p: a + p * (w - a)),
    "style_mixing": (checks.style_mixing, lambda a, b, c: torch.cat([a[:, :c], b[:, c:]], dim=1)),
    "frechet_distance": (checks.frechet_distance, lambda f, r: gl.metrics.fid_from_features(f, r)),
    "precision": (checks.precision, lambda f, r, k: gl.metrics.precision_recall_features(f, r, k)["precision"]),
    "unbiased_mmd": (checks.unbiased_mmd, lambda x, y: gl.metrics.kid_features(y, x)[0]),
}


def _states():
    return torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()


def _same(a, b):
    return torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_every_checker_is_covered():
    assert set(RIGHT) | {"mismatch_prediction"} == set(checks.__all__) - {"Check"}


@pytest.mark.parametrize("name", list(RIGHT))
@pytest.mark.parametrize("drawing", [False, True], ids=["plain", "learner draws"])
def test_checker_leaves_the_global_rng_alone(name, drawing):
    check, fn = RIGHT[name]
    torch.manual_seed(1234)
    np.random.seed(1234)
    random.seed(1234)
    before = _states()
    result = check(_drawing(fn) if drawing else fn)
    assert result, (name, result)
    assert _same(before, _states()), name


@pytest.mark.parametrize("name", list(RIGHT))
def test_running_a_checker_does_not_shift_later_draws(name):
    """The learner's next draws are the same whether the exercise cell ran or not."""
    check, fn = RIGHT[name]
    torch.manual_seed(7)
    skipped = torch.randn(5)
    torch.manual_seed(7)
    check(_drawing(fn))
    ran = torch.randn(5)
    assert torch.equal(skipped, ran), name


def test_wrong_answers_leave_the_global_rng_alone_too():
    before = _states()
    checks.d_loss(lambda r, f: torch.randn(()) + r.mean())
    checks.gradient_penalty(lambda c, r, f: (torch.manual_seed(0), torch.rand(1))[1].sum())
    checks.generator_block(lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 3, 2, 1), nn.Dropout(0.5)))
    checks.d_step_detach(lambda G, D, x, z: (torch.manual_seed(3), 1.0)[1])
    assert _same(before, _states())


def test_mismatch_prediction_with_a_d_leaves_the_global_rng_alone():
    D, data = _NoisyD(), _TinyLabelled()
    before = _states()
    result = checks.mismatch_prediction("Higher.", D=D, data=data, n=16)
    assert result and "Measured on this D" in result.message
    assert _same(before, _states())


def test_a_learner_reseeding_inside_does_not_reseed_the_notebook():
    torch.manual_seed(11)
    expected = torch.rand(4)
    torch.manual_seed(11)

    def reseeds(critic, x_real, x_fake):
        gl.seed_everything(0)  # a learner's function may reseed; the checker puts the state back
        return gl.losses.gradient_penalty(critic, x_real, x_fake)

    checks.gradient_penalty(reseeds)
    assert torch.equal(torch.rand(4), expected)


def test_verdicts_are_reproducible():
    """The sandbox seeds the window: the same function gets the same message every time."""
    flaky = lambda c, r, f: gl.losses.gradient_penalty(c, r, f) * (1 + 0.01 * torch.rand(()))  # noqa: E731
    assert checks.gradient_penalty(flaky).message == checks.gradient_penalty(flaky).message


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_rng_is_left_alone_too():
    torch.cuda.init()
    torch.cuda.manual_seed_all(21)
    before = torch.cuda.get_rng_state_all()

    def draws_on_cuda(critic, x_real, x_fake):
        torch.rand(3, device="cuda")
        torch.cuda.manual_seed_all(0)
        return gl.losses.gradient_penalty(critic, x_real, x_fake)

    assert checks.gradient_penalty(draws_on_cuda)
    assert checks.d_loss(lambda r, f: (torch.randn(2, device="cuda"), gl.losses.d_loss_bce(r, f))[1])
    after = torch.cuda.get_rng_state_all()
    assert all(torch.equal(a, b) for a, b in zip(before, after))
