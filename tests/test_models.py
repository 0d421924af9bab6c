import pytest
import torch
import torch.nn.functional as F

import ganlessons as gl


@pytest.mark.parametrize("embedding", ["onehot", "learned"])
def test_conditional_generator_from_embedding_is_forward(embedding):
    G = gl.models.ConditionalMLPGenerator(latent_dim=6, hidden=(16, 32), embedding=embedding, embed_dim=4).eval()
    z, y = torch.randn(5, 6), torch.tensor([0, 3, 9, 3, 1])
    torch.testing.assert_close(G.from_embedding(z, G.label(y)), G(z, y))
    if embedding == "onehot":
        torch.testing.assert_close(G.label(y), F.one_hot(y, 10).float())
    with pytest.raises(ValueError, match="e must have shape"):
        G.from_embedding(z, torch.zeros(5, 3))


def test_conditional_models_name_bad_labels():
    G = gl.models.ConditionalMLPGenerator(latent_dim=6, hidden=(16,))
    with pytest.raises(ValueError, match="integer class labels"):
        G(torch.randn(2, 6), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="embedding"):
        gl.models.ConditionalMLPDiscriminator(embedding="word2vec")


def _conv_weights(model):
    return [m.weight.detach() for m in model.modules()
            if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear))]


def test_dcgan_models_offer_the_papers_init():
    torch.manual_seed(0)
    for model in (gl.models.DCGANGenerator28(nf=32, init="dcgan"), gl.models.DCGANDiscriminator28(nf=32, init="dcgan"),
                  gl.models.DCGANGenerator64(nf=16, init="dcgan")):
        w = torch.cat([t.flatten() for t in _conv_weights(model)])
        assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                assert abs(m.weight.mean().item() - 1) < 0.01 and 0.005 < m.weight.std().item() < 0.04
                assert torch.all(m.bias == 0)
    torch_init = gl.models.DCGANGenerator28(nf=32)                 # the default: PyTorch's initialisation
    assert torch_init.net[-2].weight.std().item() > 0.1   # PyTorch's default: Kaiming-uniform, 1/√(3·fan) with fan = 1·4·4
    assert all(torch.all(m.weight == 1) for m in torch_init.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with pytest.raises(ValueError, match="init"):
        gl.models.DCGANGenerator28(init="xavier")


def test_dcgan_init_function_is_in_place_and_covers_linear():
    net = torch.nn.Sequential(torch.nn.Linear(200, 300), torch.nn.BatchNorm1d(300))
    assert gl.models.dcgan.dcgan_init_(net) is net
    assert abs(net[0].weight.std().item() - 0.02) < 0.001 and torch.all(net[0].bias == 0)
    assert torch.all(net[1].bias == 0) and abs(net[1].weight.mean().item() - 1) < 0.01


def test_spectral_norm_discriminator_has_no_batchnorm():
    has_bn = lambda D: any(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules())  # noqa: E731
    assert has_bn(gl.models.DCGANDiscriminator28(nf=8))                          # default: BN
    assert not has_bn(gl.models.DCGANDiscriminator28(nf=8, spectral_norm=True))  # None → no BN under SN
    assert not has_bn(gl.models.DCGANDiscriminator28(nf=8, batchnorm=False, spectral_norm=True))  # lesson 05's call
    assert not has_bn(gl.models.DCGANDiscriminator28(nf=8, batchnorm=False))
    with pytest.raises(ValueError, match="batchnorm=True with spectral_norm=True"):
        gl.models.DCGANDiscriminator28(nf=8, batchnorm=True, spectral_norm=True)


def test_discriminator_slope_and_spectral_norm_after_init():
    torch.manual_seed(0)
    D = gl.models.DCGANDiscriminator28(nf=8, spectral_norm=True, slope=0.1, init="dcgan")
    assert all(m.negative_slope == 0.1 for m in D.modules() if isinstance(m, torch.nn.LeakyReLU))
    for _ in range(30):   # each training-mode forward runs one more power-iteration step
        D(torch.randn(4, 1, 28, 28))
    D.eval()
    sig = [torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item() for m in D.modules()
           if isinstance(m, torch.nn.Conv2d)]
    assert all(abs(s - 1) < 0.05 for s in sig)   # normalised from the N(0, 0.02) init
    with pytest.raises(ValueError, match="slope"):
        gl.models.DCGANDiscriminator28(slope=-0.2)
