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


def test_wasserstein_and_kl_known_values():
    p = theory.gaussian_pdf(X, 0.0, 1.0)
    # W₁ between N(0, 1) and N(θ, 1) is |θ| (a pure shift); JSD saturates, W₁ does not.
    for shift in (0.5, 2.0, 6.0):
        assert theory.wasserstein_1d(p, theory.gaussian_pdf(X, shift, 1.0), DX) == pytest.approx(shift, abs=1e-3)
    c = theory.divergences_as_supports_separate([0.0, 0.25, 1.0, 3.0], width=0.5)
    np.testing.assert_allclose(c["w1"], [0.0, 0.25, 1.0, 3.0], atol=1e-3)
    np.testing.assert_allclose(c["jsd"][2:], [math.log(2)] * 2, atol=1e-6)
    assert c["jsd"][1] == pytest.approx(0.5 * math.log(2), abs=1e-3)  # half the mass overlaps
    # KL(N(0,1) ‖ N(μ,1)) = μ²/2; KL is infinite where p has mass and q has none.
    assert theory.kl_divergence(p, theory.gaussian_pdf(X, 1.5, 1.0), DX) == pytest.approx(1.125, abs=1e-6)
    bar = (X.abs() < 1).double()
    assert theory.kl_divergence(p, bar / (bar.sum() * DX), DX) == math.inf


def test_reverse_kl_prefers_one_mode_forward_kl_punishes_it():
    fig = theory.plot_kl_asymmetry(4.0)
    wide, narrow = (ax.get_title() for ax in fig.axes)
    value = lambda title, which: float(title.split(which + " = ")[1].split()[0])  # noqa: E731
    assert value(narrow, "KL(p_g‖p_data)") < value(wide, "KL(p_g‖p_data)")
    assert value(narrow, "KL(p_data‖p_g)") > value(wide, "KL(p_data‖p_g)")


def test_layer_gradient_norms_of_a_known_critic():
    critic = torch.nn.Sequential(torch.nn.Linear(2, 3, bias=False), torch.nn.Linear(3, 1, bias=False))
    with torch.no_grad():
        critic[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]))
        critic[1].weight.copy_(torch.tensor([[1.0, 2.0, 3.0]]))
    x_real, x_fake = torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 0.0]])
    # L = f(x_fake) − f(x_real); ∂L/∂W₂ = h(x_fake) − h(x_real) = −(1, 1, 2); ∂L/∂W₁ = −W₂ᵀ x_realᵀ.
    norms = toy.layer_gradient_norms(critic, x_real, x_fake, wrt="weights")
    assert norms[1] == pytest.approx(math.sqrt(6)) and norms[0] == pytest.approx(math.sqrt(2 * 14))
    # ∂L/∂output = +1 (fake pass) and −1 (real pass); ∂L/∂h₁ = ±W₂ᵀ in each pass: √(14 + 14).
    acts = toy.layer_gradient_norms(critic, x_real, x_fake)
    assert acts[1] == pytest.approx(math.sqrt(2)) and acts[0] == pytest.approx(math.sqrt(28))
    with pytest.raises(ValueError, match="wrt"):
        toy.layer_gradient_norms(critic, x_real, x_fake, wrt="inputs")
    assert len(toy.layer_gradient_norms(toy.deep_critic(12, 8), torch.randn(4, 2), torch.randn(4, 2))) == 13


def test_point_masses_are_the_papers_example_1():
    # Arjovsky et al. 2017, Example 1 in 1-D: P_0 = δ_0, P_θ = δ_θ.
    c = theory.point_mass_divergences([-2.0, -0.1, 0.0, 0.1, 3.0])
    np.testing.assert_allclose(c["w1"], [2.0, 0.1, 0.0, 0.1, 3.0])
    np.testing.assert_allclose(c["jsd"], [math.log(2)] * 2 + [0.0] + [math.log(2)] * 2)
    assert list(c["kl"]) == [math.inf, math.inf, 0.0, math.inf, math.inf]
    # The bars are a variant: their JSD is continuous, half of log 2 at half overlap.
    bars = theory.divergences_as_supports_separate([0.0, 0.01, 0.25], width=0.5)
    assert bars["jsd"][1] < 0.02 and bars["jsd"][2] == pytest.approx(0.5 * math.log(2), abs=1e-3)
    assert len(theory.plot_divergences(0.5).axes) == 2


def test_instance_noise_makes_jsd_smooth_and_keeps_w1():
    sigma = 0.3
    c = theory.instance_noise_divergences([0.0, 0.003, 0.03, 1.0, 4.0], sigma=sigma)
    # Between N(0, σ²) and N(θ, σ²): JSD ≈ θ²/(8σ²) for small θ (continuous at 0), → log 2 far away.
    assert c["jsd"][0] == pytest.approx(0.0, abs=1e-12)
    for th, j in zip(c["shift"][1:3], c["jsd"][1:3]):
        assert j == pytest.approx(th ** 2 / (8 * sigma ** 2), rel=1e-2)
    assert np.all(np.diff(c["jsd"]) > 0) and c["jsd"][-1] == pytest.approx(math.log(2), abs=1e-4)
    np.testing.assert_allclose(c["w1"], c["shift"], atol=1e-3)       # the same noise on both sides: W₁ = |θ|
    bars = theory.instance_noise_divergences([0.0, 0.5, 2.0], sigma=0.1, width=0.5)
    np.testing.assert_allclose(bars["w1"], [0.0, 0.5, 2.0], atol=1e-3)
    assert 0 < bars["jsd"][1] < bars["jsd"][2] <= math.log(2) + 1e-9
    with pytest.raises(ValueError, match="sigma"):
        theory.instance_noise_divergences([1.0], sigma=0.0)
    assert theory.plot_instance_noise() is not None


def test_layer_gradient_norms_in_float64_do_not_underflow():
    # A chain of 1×1 layers with weight 1e-10: ∂L/∂h_1 = 2·(1e-10)^5 = 2e-50, below float32's range.
    chain = torch.nn.Sequential(*[torch.nn.Linear(1, 1, bias=False) for _ in range(6)])
    with torch.no_grad():
        for m in chain:
            m.weight.fill_(1e-10)
    x_real, x_fake = torch.ones(1, 1), torch.zeros(1, 1)
    norms = toy.layer_gradient_norms(chain, x_real, x_fake)                 # float64 by default
    assert norms[0] == pytest.approx(math.sqrt(2) * 1e-50, rel=1e-6) and norms[-1] == pytest.approx(math.sqrt(2))
    assert toy.layer_gradient_norms(chain, x_real, x_fake, dtype=None)[0] == 0.0   # float32 underflows
    assert chain[0].weight.dtype == torch.float32                             # the critic itself is untouched
    with pytest.raises(ValueError, match="dtype"):
        toy.layer_gradient_norms(chain, x_real, x_fake, dtype=torch.int64)


def test_scale_into_share_at_bound_and_fit_critic():
    torch.manual_seed(0)
    critic = toy.deep_critic(3, 16)
    assert toy.share_at_bound(critic, 0.01) > 0.5                        # default init: mostly outside ±0.01
    toy.scale_into(critic, 0.01)
    assert max(p.abs().max().item() for p in critic.parameters()) <= 0.01 + 1e-9
    assert toy.share_at_bound(critic, 0.01) < 0.1
    real = lambda n: torch.randn(n, 2) * 0.1 + torch.tensor([1.0, 0.0])  # noqa: E731
    fake = lambda n: torch.randn(n, 2) * 0.1 - torch.tensor([1.0, 0.0])  # noqa: E731
    seen = []
    est = toy.fit_critic(toy.deep_critic(2, 16), real, fake, n_steps=200, batch_size=64, lambda_gp=10.0,
                         optimizer=lambda p: torch.optim.Adam(p, lr=1e-2), every=50,
                         callback=lambda step, D: seen.append(step))
    # W₁ between the two clouds is 2 (a shift by 2); a penalised critic gets close.
    assert seen == [50, 100, 150, 200] and 1.5 < np.mean(est[-20:]) < 2.3
    clipped = toy.deep_critic(2, 16)
    toy.fit_critic(clipped, real, fake, n_steps=5, clip_value=0.05)
    assert max(p.abs().max().item() for p in clipped.parameters()) <= 0.05 + 1e-9
    with pytest.raises(ValueError, match="exactly one"):
        toy.fit_critic(clipped, real, fake, n_steps=5)
