"""Transposed convolution from first principles, against torch (Dumoulin & Visin 2016)."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from ganlessons import convt

CASES = [(1, 4, 1, 0, 0), (4, 4, 2, 1, 0), (4, 3, 2, 1, 0), (7, 4, 2, 1, 0), (5, 3, 2, 1, 1), (6, 5, 3, 2, 2),
         (3, 3, 1, 1, 0)]


@pytest.mark.parametrize("n,k,s,p,op", CASES)
def test_output_size_and_manual_transposed_conv_match_torch(n, k, s, p, op):
    torch.manual_seed(0)
    x, w = torch.randn(2, 3, n, n), torch.randn(3, 4, k, k)
    theirs = F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op)
    assert convt.output_size(n, k, s, p, op) == theirs.shape[-1] == (n - 1) * s - 2 * p + k + op
    torch.testing.assert_close(convt.conv_transpose2d(x, w, s, p, op), theirs, atol=1e-5, rtol=1e-5)


def test_zero_insert_known_values():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    torch.testing.assert_close(convt.zero_insert(x, 2), torch.tensor([[1.0, 0, 2], [0, 0, 0], [3, 0, 4]]))


def test_overlap_counts_show_the_checkerboard():
    uneven = convt.overlap_counts(4, 3, 2, 1)   # k = 3, s = 2: 1, 2, 4 stamps alternate
    assert sorted(set(uneven.ravel().tolist())) == [1.0, 2.0, 4.0]
    even = convt.overlap_counts(6, 4, 2, 1)      # k = 4, s = 2: (k/s)² = 4 stamps inside
    assert set(even[2:-2, 2:-2].ravel().tolist()) == {4.0}


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="op .* smaller than the stride"):
        convt.output_size(4, 3, 2, 1, 2)
    with pytest.raises(ValueError, match="k must be an int"):
        convt.output_size(4, 0, 2)
    fig = convt.plot_transposed_conv(3, 3, 2, 1)
    assert "nn.ConvTranspose2d gives 5" in fig._suptitle.get_text()


def test_dcgan_models_paper_shapes_and_spectral_norm():
    import ganlessons as gl

    G64 = gl.models.DCGANGenerator64(nf=8)
    assert G64(torch.randn(2, 100)).shape == (2, 3, 64, 64)
    D = gl.models.DCGANDiscriminator28(nf=8, batchnorm=False, spectral_norm=True)
    for _ in range(30):  # power iteration runs in training-mode forward passes
        D(torch.randn(4, 1, 28, 28))
    sig = [torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item() for m in D.modules()
           if isinstance(m, nn.Conv2d)]
    assert len(sig) == 4 and all(abs(s - 1) < 0.05 for s in sig)


@pytest.mark.parametrize("n,k,s,p", [(4, 3, 1, 0), (4, 3, 2, 1), (5, 3, 2, 1), (6, 4, 2, 1), (4, 2, 2, 0)])
def test_conv_matrix_is_conv2d_and_its_transpose_is_conv_transpose2d(n, k, s, p):
    g = torch.Generator().manual_seed(n * 100 + k * 10 + s)
    w = torch.randn(k, k, generator=g, dtype=torch.float64)
    x = torch.randn(1, 1, n, n, generator=g, dtype=torch.float64)
    C = convt.conv_matrix(w, n, stride=s, padding=p)
    y = F.conv2d(x, w[None, None], stride=s, padding=p)
    o = y.shape[-1]
    assert C.shape == (o * o, n * n)
    torch.testing.assert_close(C @ x.flatten(), y.flatten())
    op = n - convt.output_size(o, k, s, p)       # output padding that brings Cᵀ y back to n×n
    torch.testing.assert_close(C.T @ y.flatten(),
                               F.conv_transpose2d(y, w[None, None], stride=s, padding=p, output_padding=op).flatten())


def test_conv_matrix_known_values_and_errors():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    C = convt.conv_matrix(w, 3)                  # 3×3 input, 2×2 kernel, stride 1: 4 outputs
    assert C[0].tolist() == [1, 2, 0, 3, 4, 0, 0, 0, 0]
    assert C[3].tolist() == [0, 0, 0, 0, 1, 2, 0, 3, 4]
    with pytest.raises(ValueError, match="kernel"):
        convt.conv_matrix(torch.ones(2, 3), 4)
    with pytest.raises(ValueError, match="stride"):
        convt.conv_matrix(w, 3, stride=0)
