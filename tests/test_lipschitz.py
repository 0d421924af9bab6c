"""Operator norms by power iteration (gl.lipschitz) against values known in closed form."""

import math

import pytest
import torch
import torch.nn as nn

import ganlessons as gl
from ganlessons import lipschitz as L


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_linear_layer_norm_is_its_largest_singular_value():
    torch.manual_seed(0)
    lin = nn.Linear(7, 5)                                   # the bias is left out
    expected = torch.linalg.matrix_norm(lin.weight.double(), ord=2).item()
    assert L.operator_norm(lin, (1, 7), n_iter=200, generator=_gen()) == pytest.approx(expected, rel=1e-6)
    assert L.matrix_sigma(lin) == pytest.approx(expected, rel=1e-9)


def test_affine_function_counts_only_its_linear_part():
    A = torch.tensor([[3.0, 0.0], [0.0, -1.0]])
    f = lambda x: x @ A.T + torch.tensor([100.0, -7.0])   # noqa: E731
    assert L.operator_norm(f, (1, 2), n_iter=100, generator=_gen()) == pytest.approx(3.0, rel=1e-5)


def test_one_by_one_conv_is_the_sigma_of_its_matrix():
    torch.manual_seed(1)
    conv = nn.Conv2d(6, 4, 1, bias=True)
    expected = torch.linalg.matrix_norm(conv.weight.double().flatten(1), ord=2).item()
    assert L.operator_norm(conv, (1, 6, 3, 3), n_iter=150, generator=_gen()) == pytest.approx(expected, rel=1e-5)


def test_delta_kernel_is_the_identity():
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0, 1, 1] = 1.0
    assert L.operator_norm(conv, (1, 1, 6, 6), n_iter=20, generator=_gen()) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_all_ones_kernel_circular_is_k_squared(k):
    # circulant operator: its largest eigenvalue is the kernel's sum, reached by the constant image
    conv = nn.Conv2d(1, 1, k, padding=k // 2, padding_mode="circular", bias=False)
    nn.init.ones_(conv.weight)
    assert L.operator_norm(conv, (1, 1, 8, 8), n_iter=50, generator=_gen()) == pytest.approx(k * k, rel=1e-6)
    assert L.matrix_sigma(conv) == pytest.approx(k, rel=1e-9)   # the reshaped 1×k² matrix: σ = k, not k²


def test_all_ones_zero_padded_approaches_k_squared_on_large_inputs():
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    nn.init.ones_(conv.weight)
    small = L.operator_norm(conv, (1, 1, 4, 4), n_iter=100, generator=_gen())
    large = L.operator_norm(conv, (1, 1, 24, 24), n_iter=100, generator=_gen())
    assert small < large < 9.0 and large > 8.8


def test_stride_bound_ceil_k_over_s_is_reached_and_respected():
    # all ones, k = 4, s = 2, circular: every pixel in ⌈k/s⌉² = 4 patches → ‖conv‖ = 2·σ(W̄) = 8
    conv = nn.Conv2d(1, 1, 4, stride=2, padding=1, padding_mode="circular", bias=False)
    nn.init.ones_(conv.weight)
    assert L.operator_norm(conv, (1, 1, 8, 8), n_iter=50, generator=_gen()) == pytest.approx(8.0, rel=1e-6)
    torch.manual_seed(2)
    for k, s in [(4, 2), (3, 2), (3, 1), (5, 2)]:
        conv = nn.Conv2d(3, 5, k, stride=s, padding=k // 2, bias=False)
        norm = L.operator_norm(conv, (1, 3, 12, 12), n_iter=200, generator=_gen())
        sigma = L.matrix_sigma(conv)
        assert sigma * (1 - 1e-3) <= norm <= math.ceil(k / s) * sigma * (1 + 1e-6)


def test_matches_dense_matrix_of_a_small_conv():
    torch.manual_seed(3)
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=False)
    shape = (1, 2, 5, 5)
    fn = L.linear_map(conv)
    eye = torch.eye(50, dtype=torch.float64).view(50, *shape[1:])
    dense = fn(eye).flatten(1).T                        # columns: images of basis vectors
    expected = torch.linalg.matrix_norm(dense, ord=2).item()
    assert L.operator_norm(conv, shape, n_iter=500, generator=_gen()) == pytest.approx(expected, rel=1e-5)


def test_conv_transpose_norm_equals_its_conv():
    torch.manual_seed(4)
    conv = nn.Conv2d(3, 4, 4, 2, 1, bias=False)
    convt = nn.ConvTranspose2d(4, 3, 4, 2, 1, bias=False)
    with torch.no_grad():
        convt.weight.copy_(conv.weight)                  # the adjoint of conv: same norm
    a = L.operator_norm(conv, (1, 3, 8, 8), n_iter=300, generator=_gen())
    b = L.operator_norm(convt, (1, 4, 4, 4), n_iter=300, generator=_gen())
    assert a == pytest.approx(b, rel=1e-4)
    # what SN divides by differs: torch's spectral_norm takes dim 1 (output channels) of a ConvTranspose2d weight
    expected = torch.linalg.matrix_norm(convt.weight.double().transpose(0, 1).flatten(1), ord=2).item()
    assert L.matrix_sigma(convt) == pytest.approx(expected, rel=1e-9)


def test_does_not_touch_the_global_rng():
    conv = nn.Conv2d(1, 2, 3, bias=False)
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    L.operator_norm(conv, (1, 1, 6, 6), n_iter=5, generator=_gen())
    L.operator_norm(conv, (1, 1, 6, 6), n_iter=5)
    assert torch.equal(before, torch.random.get_rng_state())


def test_layer_operator_norms_of_the_sn_critic():
    torch.manual_seed(0)
    D = gl.models.DCGANDiscriminator28(nf=8, spectral_norm=True)
    D.train()
    u_before = [p.clone() for n, p in D.named_buffers() if n.endswith("_u")]
    rows = L.layer_operator_norms(D, (1, 1, 28, 28), generator=_gen())
    assert [r["input_shape"] for r in rows] == [(1, 1, 28, 28), (1, 8, 14, 14), (1, 16, 7, 7), (1, 32, 4, 4)]
    assert D.training                                                     # state restored
    assert all(torch.equal(a, b) for a, b in zip(u_before, [p for n, p in D.named_buffers() if n.endswith("_u")]))
    for r in rows:                                                        # SN: σ(W̄) = 1, ‖conv‖ ≥ σ(W̄)
        assert r["matrix_sigma"] == pytest.approx(1.0, abs=0.05)
        assert r["operator_norm"] >= r["matrix_sigma"] * (1 - 1e-3)
    assert rows[-1]["operator_norm"] == pytest.approx(rows[-1]["matrix_sigma"], rel=1e-4)  # 4×4 → 1: a plain matrix
    assert rows[0]["operator_norm"] > 1.3                                 # k4 s2: above 1, up to 2


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="n_iter"):
        L.operator_norm(nn.Linear(2, 2), (1, 2), n_iter=0)
    with pytest.raises(ValueError, match="input_shape"):
        L.operator_norm(nn.Linear(2, 2), (1, 0))
    with pytest.raises(TypeError, match="layer"):
        L.operator_norm(nn.ReLU(), (1, 2))
