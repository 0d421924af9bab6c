import math

import pytest
import torch
import torch.nn as nn

from ganlessons import losses as L


def test_bce_losses_known_values():
    zero = torch.zeros(8)
    # D(x) = σ(0) = ½ on both sides: −log ½ − log ½ = 2 log 2 = log 4 (the −log 4 of the paper).
    assert L.d_loss_bce(zero, zero).item() == pytest.approx(2 * math.log(2))
    assert L.g_loss_nonsaturating(zero).item() == pytest.approx(math.log(2))
    assert L.g_loss_minimax(zero).item() == pytest.approx(-math.log(2))
    # Confident and right: the loss goes to 0 without overflow even for huge logits.
    big = torch.full((4,), 200.0)
    assert L.d_loss_bce(big, -big).item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(L.d_loss_bce(-big, big))


def test_label_smoothing_changes_only_the_real_side():
    d = torch.tensor([1.5, -0.5, 0.3])
    smoothed = L.one_sided_label_smoothing(0.9)
    expected = -(0.9 * torch.log(torch.sigmoid(d)) + 0.1 * torch.log(1 - torch.sigmoid(d))).mean() \
        - torch.log(1 - torch.sigmoid(d)).mean()
    torch.testing.assert_close(smoothed(d, d), expected)
    with pytest.raises(ValueError, match="real_label"):
        L.one_sided_label_smoothing(1.5)


def test_saturation_gradients():
    # Early in training D(G(z)) ≈ 0: the minimax loss has almost no gradient, the non-saturating one does.
    d_fake = torch.tensor([-8.0], requires_grad=True)
    (g_mm,) = torch.autograd.grad(L.g_loss_minimax(d_fake), d_fake)
    (g_ns,) = torch.autograd.grad(L.g_loss_nonsaturating(d_fake), d_fake)
    assert abs(g_mm.item()) < 1e-3 and abs(g_ns.item()) > 0.99


def test_wgan_hinge_lsgan_values():
    d_real, d_fake = torch.tensor([2.0, 4.0]), torch.tensor([-1.0, 0.0])
    assert L.d_loss_wgan(d_real, d_fake).item() == pytest.approx(-0.5 - 3.0)
    assert L.g_loss_wgan(d_fake).item() == pytest.approx(0.5)
    assert L.d_loss_hinge(torch.tensor([0.5]), torch.tensor([-0.5])).item() == pytest.approx(1.0)
    assert L.d_loss_lsgan(torch.ones(3), torch.zeros(3)).item() == 0.0
    assert L.g_loss_lsgan(torch.zeros(3)).item() == pytest.approx(0.5)


def test_resolve_unknown_loss():
    with pytest.raises(ValueError, match="loss='wasserstein'"):
        L.resolve("wasserstein")


@pytest.mark.parametrize("shape", [(16, 5), (16, 3, 4, 4)])
def test_gradient_penalty_linear_critic_is_exact(shape):
    torch.manual_seed(0)
    w = torch.randn(shape[1:])
    critic = lambda x: (x * w).flatten(1).sum(1)  # D(x) = w·x, ∇D = w everywhere
    x_real, x_fake = torch.randn(shape), torch.randn(shape)
    gp = L.gradient_penalty(critic, x_real, x_fake)
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-5)


def test_gradient_penalty_is_zero_for_unit_gradient_and_per_sample():
    critic = lambda x: x[:, 0, 0, 0] * 1.0  # ‖∇D‖ = 1 for every sample
    x = torch.randn(8, 2, 3, 3)
    assert L.gradient_penalty(critic, x, torch.randn_like(x)).item() == pytest.approx(0.0, abs=1e-12)
    # D(x) = ‖x‖²/2 ⇒ ∇D(x̂) = x̂: the penalty depends on where ε puts each sample.
    critic2 = lambda x: 0.5 * (x ** 2).flatten(1).sum(1)
    torch.manual_seed(3)
    x_real, x_fake = torch.full((4, 1, 2, 2), 2.0), torch.zeros(4, 1, 2, 2)
    torch.manual_seed(7)
    eps = torch.rand(4, 1, 1, 1)
    expected = ((eps.flatten() * 2.0 * 2.0 - 1) ** 2).mean()  # ‖x̂‖ = ε·‖x_real‖ = ε·4
    torch.manual_seed(7)
    torch.testing.assert_close(L.gradient_penalty(critic2, x_real, x_fake), expected)


def test_gradient_penalty_backpropagates_into_critic_weights():
    critic = nn.Linear(3, 1)
    gp = L.GradientPenalty(10.0)(L.CriticBatch(lambda x: critic(x).squeeze(1), torch.randn(6, 3),
                                               torch.randn(6, 3), None, None, 0))
    gp.backward()
    w = critic.weight.detach()
    torch.testing.assert_close(critic.weight.grad, 10 * 2 * (w.norm() - 1) * w / w.norm())
    with pytest.raises(ValueError, match="same shape"):
        L.gradient_penalty(critic, torch.randn(2, 3), torch.randn(3, 3))


def test_weight_clip_and_drift():
    m = nn.Linear(10, 10)
    nn.init.normal_(m.weight, std=1.0)
    L.WeightClip(0.01)(m)
    assert m.weight.abs().max().item() == pytest.approx(0.01)
    with pytest.raises(ValueError, match="clip_value must be > 0"):
        L.WeightClip(0)
    with pytest.raises(TypeError, match="clip_value"):
        L.clip_weights(m, "0.01")
    drift = L.DriftPenalty(1e-3)(L.CriticBatch(None, None, None, torch.tensor([2.0, -2.0]), None, 0))
    assert drift.item() == pytest.approx(4e-3)


def test_mismatched_labels_never_equal_y_and_cover_all_others():
    y = torch.arange(10).repeat(500)
    y_wrong = L.mismatched_labels(y, 10)
    assert (y_wrong != y).all() and y_wrong.min() == 0 and y_wrong.max() == 9
    assert len(set(y_wrong[y == 3].tolist())) == 9  # every other class occurs


def test_mismatch_penalty_known_value():
    class ConstantD(torch.nn.Module):  # logit c for any pair: the penalty is weight · softplus(c)
        n_classes = 10

        def forward(self, x, y):
            return torch.full((x.shape[0],), 2.0)

    x, y = torch.zeros(8, 1, 28, 28), torch.arange(8)
    batch = L.CriticBatch(None, x, x, None, None, 0, ConstantD(), y, y)
    assert L.MismatchPenalty(0.5)(batch).item() == pytest.approx(0.5 * math.log1p(math.exp(2.0)))
    with pytest.raises(ValueError, match="conditional"):
        L.MismatchPenalty()(L.CriticBatch(None, x, x, None, None, 0))
    with pytest.raises(ValueError, match="weight"):
        L.MismatchPenalty(-1.0)


def test_interpolate_gradient_norms_are_per_flattened_sample():
    # D(x) = ½‖x‖²: ∇D = x; with x_real = x_fake the interpolate is x, so the norms are ‖x_i‖.
    x = torch.randn(5, 3, 4, 4)
    norms = L.interpolate_gradient_norms(lambda v: 0.5 * (v ** 2).flatten(1).sum(1), x, x.clone())
    torch.testing.assert_close(norms, x.flatten(1).norm(dim=1))
    assert not norms.requires_grad
