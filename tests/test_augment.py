"""DiffAugment: known shifts and squares, gradients through T, and the wrapper the trainer uses."""

import pytest
import torch

import ganlessons as gl
from ganlessons.augment import DiffAugment, cutout, translation


def test_translation_moves_whole_pixels_and_fills_with_background():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    y = translation(x, ratio=0.25, generator=torch.Generator().manual_seed(0))
    seen = set()
    for img in y[:, 0]:
        # find the shift: every kept pixel is x[i − ty, j − tx]; the rest is −1
        for ty in (-1, 0, 1):
            for tx in (-1, 0, 1):
                want = torch.full((4, 4), -1.0)
                for i in range(4):
                    for j in range(4):
                        if 0 <= i - ty < 4 and 0 <= j - tx < 4:
                            want[i, j] = x[0, 0, i - ty, j - tx]
                if torch.equal(img, want):
                    seen.add((ty, tx))
    assert len(seen) == 9  # every shift in ±round(0.25·4) = ±1 appears among 64 images, and nothing else
    assert y.shape == x.shape


def test_cutout_blanks_one_square_per_image():
    x = torch.ones(200, 1, 8, 8)
    y = cutout(x, ratio=0.5, generator=torch.Generator().manual_seed(1))
    blank = (y == -1).sum((1, 2, 3))
    assert set(y.unique().tolist()) <= {-1.0, 1.0}
    assert blank.max() == 16 and blank.min() >= 4  # a 4×4 square, clipped at the border at most to 2×2
    full = y[blank == 16][0, 0] == -1
    rows, cols = full.any(1).nonzero().flatten(), full.any(0).nonzero().flatten()
    assert rows.tolist() == list(range(rows[0], rows[0] + 4)) and cols.tolist() == list(range(cols[0], cols[0] + 4))


def test_gradients_flow_through_the_augmentation():
    x = torch.randn(8, 1, 28, 28, requires_grad=True)
    translation(cutout(x)).sum().backward()
    # every gradient is 0 or 1: each output pixel is one input pixel or the fill
    assert set(x.grad.unique().tolist()) <= {0.0, 1.0} and x.grad.sum() > 0


def test_wrapper_augments_in_training_only_and_keeps_labels():
    D = gl.models.ConditionalMLPDiscriminator(n_classes=10)
    A = DiffAugment(D, "translation,cutout")
    assert A.policy == ["translation", "cutout"] and A.n_classes == 10
    x, y = torch.randn(4, 1, 28, 28).clamp(-1, 1), torch.arange(4)
    A.eval()
    assert torch.equal(A(x, y), D(x, y))
    A.train()
    torch.manual_seed(0)
    assert not torch.equal(A(x, y), D(x, y))
    with pytest.raises(ValueError, match="policy='colour' is not allowed"):
        DiffAugment(D, ["colour"])


def test_trainer_runs_with_an_augmented_critic_and_the_mismatch_term():
    gl.seed_everything(0)
    data = gl.data.load("mnist-5k", device="cpu", n=256)
    G = gl.models.ConditionalMLPGenerator(latent_dim=8, n_classes=10, hidden=(16, 32))
    D = DiffAugment(gl.models.ConditionalMLPDiscriminator(n_classes=10, hidden=(32,)))
    t = gl.train.fit(G, D, data, n_steps=3, batch_size=16, progress=False, live=False,
                     d_regularizers=[gl.losses.MismatchPenalty()])
    assert t.step == 3 and len(t.history["mismatch"]) == 3
