"""The lessons' paths with the models on a GPU and the learner's tensors on the CPU.

CI has no GPU, so these are skipped there; they run wherever CUDA is available (a lecturer's
or a student's free GPU, or the project's device machine). Each one is a place where a tensor
made on the CPU meets a model on the GPU, which once ended in a device-mismatch error.
"""

import pytest
import torch

import ganlessons as gl

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(scope="module")
def cgan_trainer():
    data = gl.data.load("mnist-5k", device="cuda")
    G = gl.models.ConditionalMLPGenerator(latent_dim=16, embedding="onehot")
    D = gl.models.ConditionalMLPDiscriminator(embedding="onehot")
    return gl.train.fit(G, D, data, n_steps=5, batch_size=32, d_regularizers=[gl.losses.MismatchPenalty(1.0)],
                        device="cuda", progress=False), data


def test_sample_takes_cpu_z_and_cpu_labels(cgan_trainer):
    trainer, _ = cgan_trainer
    x = trainer.sample(torch.randn(4, 16), torch.tensor([0, 1, 2, 3]))
    assert x.device.type == "cuda" and x.shape == (4, 1, 28, 28)


def test_fid_report_and_class_accuracy_on_gpu(cgan_trainer):
    trainer, data = cgan_trainer
    fid = gl.metrics.fid_report(trainer, data, n_eval=100)
    assert fid["n"] == 100 and fid["domain_fid_real_vs_real"] < fid["domain_fid"]
    assert 0.0 <= gl.metrics.class_accuracy(trainer.G, n_per_class=5) <= 1.0


def test_widgets_draw_a_gpu_generator_from_cpu_z(cgan_trainer):
    trainer, _ = cgan_trainer
    fig = gl.widgets.latent_sweep(trainer.G, torch.randn(4, 16), dim=0, y=torch.tensor([0, 1, 2, 3]))
    assert fig.axes
    box = gl.widgets.conditional_explorer(trainer.G, dims=(0, 1), n=4)
    box.redraw()
    assert box.state["error"] is None


@pytest.mark.parametrize("extra", [{"constraint": gl.losses.WeightClip(0.01)},
                                   {"d_regularizers": [gl.losses.GradientPenalty(10.0)]}], ids=["clip", "gp"])
def test_wasserstein_training_and_checkpoint_on_gpu(tmp_path, extra):
    data = gl.data.load("mnist-5k", device="cuda")
    G, D = gl.models.DCGANGenerator28(latent_dim=16, nf=8), gl.models.DCGANDiscriminator28(nf=8, batchnorm=False)
    trainer = gl.train.fit(G, D, data, n_steps=3, batch_size=16, loss="wgan", n_critic=2, device="cuda",
                           progress=False, **extra)
    path = tmp_path / "run.pt"
    trainer.save(path)
    again = gl.train.Trainer(gl.models.DCGANGenerator28(latent_dim=16, nf=8),
                             gl.models.DCGANDiscriminator28(nf=8, batchnorm=False), data, loss="wgan",
                             n_critic=2, device="cuda", progress=False, **extra).load(path)
    assert again.step == 3
    # cuDNN's transposed convolutions may add in another order: close, not bit-equal, on a GPU
    assert torch.allclose(again.sample(), trainer.sample(), atol=1e-5)
