"""The 2014 GAN's theory in numbers (Goodfellow et al. 2014) and the 2-D toy recorder."""

import math

import numpy as np
import pytest
import torch

import ganlessons as gl
from ganlessons import theory, toy

X = torch.linspace(-12, 14, 5201, dtype=torch.float64)
DX = float(X[1] - X[0])


def test_optimal_discriminator_known_values():
    p, q = torch.tensor([1.0, 3.0, 0.0, 0.0]), torch.tensor([1.0, 1.0, 2.0, 0.0])
    torch.testing.assert_close(theory.optimal_discriminator(p, q), torch.tensor([0.5, 0.75, 0.0, 0.5]))


def test_jsd_bounds_and_theorem_1():
    p = theory.gaussian_pdf(X, 0.0, 1.0)
    assert theory.js_divergence(p, p, DX) == pytest.approx(0.0, abs=1e-9)
    # Disjoint supports: JSD = log 2 and C(G) = 0, the worst case.
    far = theory.gaussian_pdf(X, 11.0, 0.2)
    assert theory.js_divergence(p, far, DX) == pytest.approx(math.log(2), abs=1e-6)
    # Theorem 1: C(G) = −log 4 + 2·JSD for any p_g; −log 4 exactly when p_g = p_data.
    for mu, sigma in ((0.0, 1.0), (1.0, 1.0), (2.0, 0.5), (-1.5, 2.0)):
        q = theory.gaussian_pdf(X, mu, sigma)
        c = theory.virtual_training_criterion(p, q, DX)
        assert c == pytest.approx(-math.log(4) + 2 * theory.js_divergence(p, q, DX), abs=1e-6)  # grid tails
    assert theory.virtual_training_criterion(p, p, DX) == pytest.approx(-math.log(4), abs=1e-6)


def test_generator_loss_gradients_match_autograd():
    c = theory.generator_loss_curves(9)
    logit = torch.logit(torch.tensor(c["d_fake"])).requires_grad_()
    (g_mm,) = torch.autograd.grad(torch.log1p(-torch.sigmoid(logit)).sum(), logit)
    (g_ns,) = torch.autograd.grad(gl.losses.g_loss_nonsaturating(logit) * len(logit), logit)
    np.testing.assert_allclose(g_mm.numpy(), c["grad_minimax"], rtol=1e-6)
    np.testing.assert_allclose(g_ns.numpy(), c["grad_nonsaturating"], rtol=1e-6)
    assert theory.plot_generator_losses() is not None
    with pytest.raises(ValueError, match="sigma"):
        theory.plot_optimal_discriminator(sigma_g=0.0)


def test_frame_recorder_keeps_start_and_every_n_steps():
    ring = gl.data.load("ring-8", device="cpu", n=2000)
    G, D = toy.toy_gan(latent_dim=2, width=16, depth=2)
    rec = toy.FrameRecorder(every=5, n_points=100, resolution=20)
    gl.train.fit(G, D, ring, n_steps=10, batch_size=32, device="cpu", progress=False, callbacks=[rec])
    assert [f.step for f in rec.frames] == [0, 5, 10]
    f = rec.frames[-1]
    assert f.x_fake.shape == (100, 2) and f.surface[2].shape == (20, 20) and 0 <= f.modes_covered <= 8
    fig = toy.plot_frames(rec.frames, ring.images(200))
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="no frames"):
        toy.plot_frames([], ring.images(10))
    with pytest.raises(ValueError, match="width"):
        toy.toy_gan(width=0)
