"""ganlessons.layers: PixelNorm, minibatch stddev and the equalized layers, on known values."""

import math

import numpy as np
import pytest
import torch

from ganlessons.layers import (EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, downscale2d, lerp,
                               upscale2d)


def test_pixelnorm_known_value_and_unit_rms():
    out = PixelNorm()(torch.tensor([[3.0, 4.0]]))
    torch.testing.assert_close(out, torch.tensor([[3.0, 4.0]]) / math.sqrt(12.5))
    x = torch.randn(3, 8, 5, 5) * 7 + 2
    y = PixelNorm()(x)
    torch.testing.assert_close(y.pow(2).mean(dim=1), torch.ones(3, 5, 5), rtol=1e-5, atol=1e-5)
    # per pixel, over channels only: scaling one pixel's vector does not change the others
    x2 = x.clone(); x2[:, :, 0, 0] *= 100
    torch.testing.assert_close(PixelNorm()(x2)[:, :, 1:], y[:, :, 1:])


def test_pixelnorm_epsilon_inside_the_root():
    # a zero vector stays zero (x·rsqrt(0 + ε)) and a tiny one is damped by ε
    assert torch.equal(PixelNorm()(torch.zeros(1, 4)), torch.zeros(1, 4))
    tiny = torch.full((1, 4), 1e-4)
    torch.testing.assert_close(PixelNorm()(tiny), tiny / math.sqrt(1e-8 + 1e-8))


def _mbstd_reference(x: np.ndarray, group_size: int) -> np.ndarray:
    """networks.py:minibatch_stddev_layer, step by step in NumPy (float64)."""
    g = min(group_size, x.shape[0])
    n, c, h, w = x.shape
    y = x.reshape(g, -1, c, h, w)
    y = y - y.mean(axis=0, keepdims=True)
    y = np.sqrt((y ** 2).mean(axis=0) + 1e-8)
    y = y.mean(axis=(1, 2, 3), keepdims=True)
    y = np.tile(y, (g, 1, h, w))
    return np.concatenate([x, y], axis=1)


@pytest.mark.parametrize("n,group", [(8, 4), (12, 4), (3, 4), (6, 2), (4, 4)])
def test_minibatch_stddev_matches_the_official_formula(n, group):
    x = torch.randn(n, 3, 4, 4, generator=torch.Generator().manual_seed(n))
    out = MinibatchStdDev(group)(x)
    assert out.shape == (n, 4, 4, 4)
    np.testing.assert_allclose(out.double().numpy(), _mbstd_reference(x.double().numpy(), group), rtol=1e-5, atol=1e-6)


def test_minibatch_stddev_groups_are_i_mod_n_over_g_and_a_collapsed_group_gives_1e_4():
    x = torch.randn(8, 2, 3, 3)
    x[0::2] = x[0]                      # with G = 4, M = 2: group 0 holds samples 0, 2, 4, 6
    feat = MinibatchStdDev(4)(x)[:, -1]
    torch.testing.assert_close(feat[0::2], torch.full((4, 3, 3), 1e-4))
    assert (feat[1::2] > 0.1).all()
    # a known value: two samples, one feature of 1 pixel, values 0 and 2: std (biased) 1
    two = torch.tensor([0.0, 2.0]).view(2, 1, 1, 1)
    torch.testing.assert_close(MinibatchStdDev(4)(two)[:, 1].flatten(), torch.full((2,), math.sqrt(1 + 1e-8)))


def test_minibatch_stddev_refuses_an_indivisible_batch_and_bad_arguments():
    with pytest.raises(ValueError, match="not divisible into groups of 4"):
        MinibatchStdDev(4)(torch.randn(6, 2, 4, 4))
    with pytest.raises(ValueError, match="group_size"):
        MinibatchStdDev(0)
    with pytest.raises(ValueError, match="N×C×H×W"):
        MinibatchStdDev(4)(torch.randn(8, 3))
    assert "group_size=4" in repr(MinibatchStdDev(4))


def test_equalized_conv_scale_init_and_equivalence_to_a_plain_conv():
    torch.manual_seed(0)
    conv = EqualizedConv2d(16, 32, 3)
    assert conv.w_mul == pytest.approx(math.sqrt(2) / math.sqrt(16 * 9))
    assert abs(conv.weight.std().item() - 1.0) < 0.05 and abs(conv.weight.mean().item()) < 0.05
    assert torch.equal(conv.bias, torch.zeros(32))
    x = torch.randn(2, 16, 6, 6)
    ref = torch.nn.functional.conv2d(x, conv.weight * conv.w_mul, conv.bias, padding=1)
    torch.testing.assert_close(conv(x), ref)
    assert conv(x).shape == (2, 32, 6, 6)
    assert "16 → 32, 3×3, w·0.1179 (gain 1.414/√144)" in repr(conv)


def test_equalized_linear_gains_lr_mul_and_plain_init():
    torch.manual_seed(0)
    dense = EqualizedLinear(512, 256, gain=math.sqrt(2) / 4)
    assert dense.w_mul == pytest.approx(math.sqrt(2) / 4 / math.sqrt(512))
    # StyleGAN's mapping layers: init std 1/lr_mul, run-time coefficient he_std·lr_mul, bias scaled by lr_mul
    mapping = EqualizedLinear(512, 512, lr_mul=0.01)
    assert abs(mapping.weight.std().item() - 100.0) < 5
    assert mapping.w_mul == pytest.approx(math.sqrt(2) / math.sqrt(512) * 0.01)
    with torch.no_grad():
        mapping.bias.fill_(1.0)
    torch.testing.assert_close(mapping(torch.zeros(1, 512)), torch.full((1, 512), 0.01))
    # use_wscale=False: the usual He init, no run-time scale
    plain = EqualizedLinear(512, 256, use_wscale=False)
    assert plain.w_mul == 1.0 and abs(plain.weight.std().item() - math.sqrt(2 / 512)) < 0.005
    assert "plain He init" in repr(plain)
    # the effective weights of both parametrisations have the same distribution
    eq = EqualizedLinear(512, 256)
    assert abs((eq.weight * eq.w_mul).std().item() - plain.weight.std().item()) < 0.005


def test_equalized_layers_refuse_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        EqualizedConv2d(3, 8, 4)
    with pytest.raises(ValueError, match="gain"):
        EqualizedLinear(3, 8, gain=0)
    with pytest.raises(ValueError, match="lr_mul"):
        EqualizedLinear(3, 8, lr_mul=-1)
    with pytest.raises(ValueError, match="needs N×3×H×W"):
        EqualizedConv2d(3, 8, 3)(torch.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match="last dimension 3"):
        EqualizedLinear(3, 8)(torch.randn(2, 4))


def test_resampling_and_lerp():
    x = torch.randn(2, 1, 4, 4)
    up = upscale2d(x)
    assert up.shape == (2, 1, 8, 8) and torch.equal(up[:, :, ::2, ::2], x) and torch.equal(up[:, :, 1::2, 1::2], x)
    torch.testing.assert_close(downscale2d(up), x)              # box down undoes nearest up (up to rounding)
    torch.testing.assert_close(downscale2d(x)[0, 0, 0, 0], x[0, 0, :2, :2].mean())
    a, b = torch.zeros(3), torch.ones(3) * 2
    assert torch.equal(lerp(a, b, 0.0), a) and torch.equal(lerp(a, b, 1.0), b)
    torch.testing.assert_close(lerp(a, b, 0.25), torch.full((3,), 0.5))
