"""MLP discriminators' features(x): the last hidden layer that feature matching uses."""

import pytest
import torch

import ganlessons as gl


def test_features_feed_the_last_linear_layer():
    torch.manual_seed(0)
    D = gl.models.MLPDiscriminator()
    x = torch.randn(5, 1, 28, 28)
    f = D.features(x)
    assert f.shape == (5, 256)
    torch.testing.assert_close(D.last_linear(f).squeeze(1), D(x))


def test_features_are_after_the_activation():
    torch.manual_seed(0)
    D = gl.models.MLPDiscriminator(in_shape=2, hidden=(8, 8))
    f = D.features(torch.randn(64, 2) * 5)
    # LeakyReLU(0.2): negative activations are exactly 0.2 × a pre-activation, so some are < 0
    assert (f < 0).any() and f.shape == (64, 8)


def test_toy_discriminator_has_features():
    _, D = gl.toy.toy_gan(latent_dim=2)
    x = torch.randn(7, 2)
    torch.testing.assert_close(D.last_linear(D.features(x)).squeeze(1), D(x))


@pytest.mark.parametrize("embedding", ["onehot", "learned"])
def test_conditional_features_feed_the_last_linear_layer(embedding):
    torch.manual_seed(0)
    D = gl.models.ConditionalMLPDiscriminator(n_classes=10, embedding=embedding)
    x, y = torch.randn(6, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4, 9])
    f = D.features(x, y)
    assert f.shape == (6, 256)
    torch.testing.assert_close(D.last_linear(f).squeeze(1), D(x, y))
    # the label matters to the features: a different y, different f
    assert not torch.allclose(D.features(x, (y + 1) % 10), f)


def test_features_reject_a_wrong_shape():
    D = gl.models.MLPDiscriminator()
    with pytest.raises(ValueError, match="x must have shape"):
        D.features(torch.randn(3, 784))
    Dc = gl.models.ConditionalMLPDiscriminator(n_classes=10)
    with pytest.raises(ValueError, match="same batch size"):
        Dc.features(torch.randn(3, 1, 28, 28), torch.tensor([1, 2]))


def test_feature_matching_trains_through_features():
    if not hasattr(gl.losses, "FeatureMatching"):
        pytest.skip("gl.losses.FeatureMatching not there yet")
    ring = gl.data.load("ring-8")
    gl.seed_everything(0)
    G, D = gl.toy.toy_gan(latent_dim=2)
    tr = gl.train.fit(G, D, ring, n_steps=5, batch_size=32, g_loss=gl.losses.FeatureMatching(),
                      d_loss=gl.losses.d_loss_bce, seed=0, progress=False)
    assert tr.step == 5 and all(torch.isfinite(torch.as_tensor(v)).all() for v in tr.history["g_loss"])
