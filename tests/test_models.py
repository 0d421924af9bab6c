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
