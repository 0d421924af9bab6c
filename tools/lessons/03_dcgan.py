"""Cells of notebooks/03_dcgan.ipynb (build with: python tools/make_notebook.py 03_dcgan)."""

from nbcells import code, md, params

CELLS = [
md("""# 03 · DCGAN: convolutions that draw
*Radford, Metz & Chintala (2015): the architecture rules that made GANs train on images.*

**Learning objectives**
1. Compute a transposed convolution by hand — zero insertion, kernel, overlap sum — and its output size o = (n − 1)·s − 2p + k + op.
2. Explain checkerboard artifacts from uneven kernel overlap.
3. State the DCGAN guidelines and where normalization sits in each GAN family up to StyleGAN.
4. Train a 28×28 DCGAN through the shared trainer and explore its latent space.
5. Compare two stabilisers — one-sided label smoothing and spectral normalization — at an equal budget.

**Builds on:** lesson 01 (the game and its losses), lesson 00 (the trainer, `domain_fid`)."""),
code("""%matplotlib inline
import json, math, time
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import torch.nn.functional as F
import ganlessons as gl

t_start = time.perf_counter()"""),
params("""# Parameters (papermill: -p NAME VALUE). Defaults: a lecture budget on a laptop CPU, about 2.5 minutes.
dataset: str = "mnist"          # "mnist" (falls back to the bundled "mnist-5k" offline), "mnist-5k", "fashion-mnist"
n_steps: int = 1000             # generator updates of the main DCGAN run, the training budget
batch_size: int = 64            # images per step
seed: int = 0                   # same seed, same run (bit for bit on the CPU)
device: str = "auto"            # auto picks cuda, then mps, then cpu
progress: bool = True           # progress bars while training
out_json: str = ""              # if set, write this run's metrics here (homework collection)
latent_dim: int = 100           # size of z
nf: int = 32                    # DCGAN width: G has nf*4, nf*2, nf channels
lr: float = 2e-4                # Adam learning rate, betas 0.5 and 0.999 (the paper's values)
n_compare: int = 400            # generator updates of each stabiliser run in the comparison
n_eval: int = 2000              # images per side for domain_fid"""),
md("""## 1 · The transposed convolution

An ordinary convolution with stride s shrinks an image. G needs the opposite: a learned way to
*grow* one. The transposed convolution does it, and it is easiest to see as an ordinary
convolution over a stretched input:

1. **zero insertion**: put s − 1 zeros between neighbouring input pixels;
2. **padding**: add k − 1 − p zeros around it (and op extra rows/columns at the bottom/right);
3. **convolve** with stride 1 and the kernel flipped.

Equivalently: every input pixel stamps a copy of the kernel, scaled by its value, onto the output
at stride s, and overlapping stamps **add**. Counting pixels gives the output side

$$o = (n - 1)\\,s - 2p + k + op .$$

Below, the three steps by hand, checked against PyTorch."""),
code("""x = torch.randn(2, 3, 4, 4)                  # batch 2, 3 channels, 4×4
w = torch.randn(3, 5, 4, 4)                  # ConvTranspose2d weight: (C_in, C_out, k, k)
ours = gl.convt.conv_transpose2d(x, w, s=2, p=1)
theirs = F.conv_transpose2d(x, w, stride=2, padding=1)
print("zero-inserted 4×4 with s = 2:", tuple(gl.convt.zero_insert(x, 2).shape[-2:]),
      "  output:", tuple(ours.shape[-2:]), "  formula:", gl.convt.output_size(4, 4, 2, 1))
torch.testing.assert_close(ours, theirs)
for n, k, s, p, op in [(1, 4, 1, 0, 0), (4, 3, 2, 1, 0), (7, 4, 2, 1, 0), (5, 3, 2, 1, 1)]:
    assert gl.convt.output_size(n, k, s, p, op) == nn.ConvTranspose2d(1, 1, k, s, p, op)(torch.zeros(1, 1, n, n)).shape[-1]"""),
md("""Move the sliders. The middle panel is the stretched input (white: a real pixel, black: an
inserted or padding zero); the right panel counts how many kernel stamps land on each output
pixel. With k = 4, s = 2 every interior pixel gets the same number of stamps; with **k = 3, s = 2**
they alternate 1, 2, 4 — an output that is, from the start, brighter on a grid. That is the
**checkerboard artifact** (Odena et al. 2016): uneven overlap whenever k is not a multiple of s.
G can learn to hide it, but it fights the pattern all the way; k divisible by s, or resize then
convolve, avoids it."""),
code("""gl.convt.plot_transposed_conv(n=4, k=3, s=2, p=1); plt.show()     # uneven: 1, 2, 4 stamps
gl.convt.plot_transposed_conv(n=4, k=4, s=2, p=1); plt.show()     # even: 4 stamps inside
assert len(set(gl.convt.overlap_counts(6, 4, 2, 1)[4:-4, 4:-4].ravel())) == 1
assert len(set(gl.convt.overlap_counts(6, 3, 2, 1)[3:-3, 3:-3].ravel())) == 3
gl.widgets.transposed_conv_explorer(n=4, k=3, s=2, p=1)"""),
md("""## 2 · The DCGAN guidelines

Radford et al. list what made deep convolutional GANs train stably:

- **No pooling**: strided convolutions in D, transposed (fractionally strided) convolutions in G — the network learns its own down- and upsampling.
- **BatchNorm** in both networks, *except* G's output layer and D's input layer.
- **No fully connected hidden layers**: z is reshaped to a 1×1 map (or projected to 4×4) and convolved from there; D's last convolution gives one number.
- **ReLU** in G (Tanh on the output, images in [−1, 1]); **LeakyReLU(0.2)** in D.
- Adam with lr 2 × 10⁻⁴ and β₁ = 0.5 (0.9 oscillated); weights from N(0, 0.02).

### Normalization, family by family
Seed 000 of this course lists BatchNorm for progressive GANs — they deliberately have none.

| model | generator | discriminator / critic |
| --- | --- | --- |
| GAN (2014) | none (MLP; popular MNIST code adds BatchNorm) | none (dropout) |
| DCGAN (2015) | BatchNorm, not on the output | BatchNorm, not on the input |
| WGAN (2017) | BatchNorm (DCGAN's G) | BatchNorm allowed (clipping is per weight) |
| WGAN-GP (2017) | BatchNorm | **no BatchNorm** (the penalty is per sample); layer norm or none |
| SNGAN (2018) | BatchNorm | spectral normalization of every layer |
| PGGAN (2018) | **PixelNorm** + equalized learning rate, no BatchNorm | equalized learning rate + minibatch stddev, no BatchNorm |
| StyleGAN (2019) | **AdaIN** (instance norm then style) + equalized LR | as PGGAN |
| StyleGAN2 (2020) | weight demodulation instead of AdaIN | as PGGAN (residual) |

## 3 · The 28×28 DCGAN

The paper's 64×64 generator grows 4 → 8 → 16 → 32 → 64 with k = 4, s = 2, p = 1 — the even
overlap above. 28 = 7·4 is not a power of two, so the MNIST version takes one k = 3 step
(4 → 7) and then two k = 4 steps (7 → 14 → 28)."""),
code("""gl.seed_everything(seed)
paper_G = gl.models.DCGANGenerator64()
print(paper_G)
print(f"the paper's 64×64 G: {sum(p.numel() for p in paper_G.parameters()):,} parameters")
del paper_G
gl.seed_everything(seed)                    # again: the paper's G drew from the generator; ours starts from the seed
G = gl.models.DCGANGenerator28(latent_dim=latent_dim, nf=nf)
D = gl.models.DCGANDiscriminator28(nf=nf)
print(G); print(D)
print(f"our G: {sum(p.numel() for p in G.parameters()):,} parameters, D: {sum(p.numel() for p in D.parameters()):,}")
sizes, h = [], torch.randn(2, latent_dim)[:, :, None, None]
for m in G.net:
    h = m(h)
    if isinstance(m, nn.ConvTranspose2d):
        sizes.append(h.shape[-1])
print("G's feature-map sides:", sizes)
assert sizes == [4, 7, 14, 28]"""),
code("""gl.seed_everything(seed)
data = gl.data.load(dataset, device=device)
print(data)
x_eval_real = data.images(min(n_eval, len(data)))
z_eval = torch.randn(1000, latent_dim, generator=torch.Generator().manual_seed(seed + 2))
def track_fid(trainer):
    return {"domain_fid": gl.metrics.domain_fid(trainer.sample(z_eval), x_eval_real[:1000], domain=data.name)}

eval_every = max(1, min(n_compare, n_steps) // 2)
trainer = gl.train.fit(G, D, data, n_steps=n_steps, batch_size=batch_size, lr=lr, seed=seed, device=device,
                       progress=progress, callbacks=[gl.train.every(eval_every, track_fid)])
print(f"{trainer.step} steps in {trainer.seconds:.1f} s ({trainer.images_seen / trainer.seconds:,.0f} real images/s)")
gl.viz.plot_losses(trainer.history); plt.show()
gl.viz.plot_timeline(trainer.snapshots, n_columns=6, n_images=16); plt.show()
gl.viz.show_grid(trainer.sample()[:64], title=f"DCGAN after {trainer.step} steps"); plt.show()"""),
code("""fid = gl.metrics.fid_report(trainer, data, n_eval)          # G vs real, and the real-vs-real floor
fid_fake, fid_real, n = fid["domain_fid"], fid["domain_fid_real_vs_real"], fid["n"]
print(f"domain_fid  DCGAN vs real: {fid_fake:.1f}   real vs real: {fid_real:.1f}")
assert math.isfinite(fid_fake) and fid_real < fid_fake"""),
md("""## 4 · The latent space of a convolutional G

Radford et al. showed that walking in z gives smooth changes — G has not memorised images. Each
row walks (slerp) from one z to another; below, the sliders move single components."""),
code("""gen = torch.Generator().manual_seed(seed + 3)
z0, z1 = torch.randn(6, latent_dim, generator=gen), torch.randn(6, latent_dim, generator=gen)
walks = torch.stack([gl.widgets.interpolate(a, b, n=10) for a, b in zip(z0, z1)])
gl.viz.show_grid(trainer.sample(walks.reshape(-1, latent_dim)), nrow=10, title="slerp walks, one per row", size=6); plt.show()
z16 = torch.randn(16, latent_dim, generator=torch.Generator().manual_seed(seed))
gl.widgets.latent_sweep(G, z16, dim=0); plt.show()
gl.widgets.latent_explorer(G, dims=(0, 1, 2, 3), z=z16)"""),
md("""## 5 · Two stabilisers, one budget

Both act on D, whose over-confidence is the usual source of trouble:

- **One-sided label smoothing** (Salimans et al. 2016): real targets 0.9 instead of 1 (lesson 01).
- **Spectral normalization** (Miyato et al. 2018): every weight matrix W of D is divided by its
  largest singular value σ(W), estimated with one power-iteration step per update. Each layer is
  then 1-Lipschitz, and so is D (LeakyReLU is too): D's output cannot change faster than its input.
  PyTorch has it as `torch.nn.utils.parametrizations.spectral_norm`; our D takes
  `spectral_norm=True` (and then no BatchNorm, as in the paper).

Each runs for `n_compare` steps from the same seed; the main run above, measured at the same
step, is the baseline."""),
code("""variants = {  # name: (D's options, the trainer's options)
    "label smoothing 0.9": ({}, dict(d_loss=gl.losses.one_sided_label_smoothing(0.9),
                                     g_loss=gl.losses.g_loss_nonsaturating)),
    "spectral norm D": (dict(batchnorm=False, spectral_norm=True), {}),
}
compare = {"baseline": {"domain_fid": dict(trainer.evals["domain_fid"])[min(n_compare, n_steps)],
                        "seconds_per_step": trainer.seconds / trainer.step}}
grids = {}
for name, (d_options, kw) in variants.items():
    gl.seed_everything(seed)                # the main run's initial G (and D, where its layers are the same)
    G_v = gl.models.DCGANGenerator28(latent_dim=latent_dim, nf=nf)
    D_v = gl.models.DCGANDiscriminator28(nf=nf, **d_options)
    run = gl.train.fit(G_v, D_v, data, n_steps=min(n_compare, n_steps), batch_size=batch_size, lr=lr, seed=seed,
                       device=device, progress=progress, **kw)
    compare[name] = {"domain_fid": track_fid(run)["domain_fid"], "seconds_per_step": run.seconds / run.step}
    grids[name] = run.sample()[:32]
sn_D = run.D
fig, axes = plt.subplots(1, 2, figsize=(9, 2.6))
for ax, (name, x) in zip(axes, grids.items()):
    gl.viz.show_grid(x, nrow=8, ax=ax, title=f"{name}: domain_fid {compare[name]['domain_fid']:.0f}")
plt.tight_layout(); plt.show()
for name, c in compare.items():
    print(f"{name:>20}: domain_fid {c['domain_fid']:7.1f} after {min(n_compare, n_steps)} steps, "
          f"{1e3 * c['seconds_per_step']:.1f} ms/step")"""),
code("""# Spectral norm at work: the largest singular value of each of D's (flattened) weights is ≈ 1.
sigmas = [torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item()
          for m in sn_D.modules() if isinstance(m, nn.Conv2d)]
print("σ(W) per layer of the spectrally normalised D:", [round(s, 3) for s in sigmas])
assert all(abs(s - 1) < 0.15 for s in sigmas)"""),
md("""Read the numbers as one experiment at one seed and a short budget, not as a ranking. On this
machine (offline data, seed 0, the defaults: 400 steps each, all three from the same initial G)
label smoothing matched the baseline (`domain_fid` 509 against 530) while the spectrally
normalised D without BatchNorm was far behind (902): a D held to Lipschitz constant 1 learns more
slowly, and in a short run G learns only as fast as D teaches it. Miyato et al. report SN's gains over long runs, tuned with more D steps per
G step or a larger D learning rate — try `n_critic=2` in its `fit` call. What SN guarantees, the
cell above verifies: σ(W) ≈ 1 in every layer.

## 6 · Common mistakes

- **k not divisible by s in G** (k = 3, s = 2 everywhere): a built-in checkerboard. Our 28×28 G
  uses k = 3 once, where 4 → 7 needs it.
- **A sigmoid at the end of D** with `BCELoss` (seed 002 does this "for simplicity"): compute the
  loss from the logit (lesson 01, § 7).
- **BatchNorm on G's output or D's input**: the paper leaves them out; normalising the image
  itself destroys the very statistics D must judge.
- **Mixing real and fake in one BatchNorm batch** vs separate batches: our trainer calls D on the
  real and the fake batch separately, as the paper's code does; the statistics then differ
  between the two calls, which is part of why BatchNorm'd D's behave as they do.
- **Saying "PGGAN/StyleGAN use BatchNorm"**: they do not (table above).

## Summary
- A transposed convolution is a convolution over a zero-inserted, padded input; o = (n−1)s − 2p + k + op.
- Uneven kernel overlap (k mod s ≠ 0) leaves a checkerboard.
- DCGAN: strided convolutions, BatchNorm (not at the ends), ReLU/Tanh in G, LeakyReLU in D, Adam(2e-4, β₁ 0.5).
- Spectral normalization makes every layer of D 1-Lipschitz at the cost of a power iteration per step.

## Exercises
**1.** The output side of a transposed convolution."""),
code("""def my_output_size(n, k, s, p, op):
    # your code: return an int
    raise NotImplementedError

gl.checks.transposed_conv_size(my_output_size)"""),
code("""def solution_output_size(n, k, s, p, op):
    return (n - 1) * s - 2 * p + k + op

assert gl.checks.transposed_conv_size(solution_output_size)""", hidden=True),
md("""**2.** A DCGAN generator block: c_in channels in, c_out out, side doubled."""),
code("""def my_generator_block(c_in, c_out):
    # your code: return an nn.Module (e.g. nn.Sequential)
    raise NotImplementedError

gl.checks.generator_block(my_generator_block)"""),
code("""def solution_generator_block(c_in, c_out):
    return nn.Sequential(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True))

assert gl.checks.generator_block(solution_generator_block)""", hidden=True),
md("""**3.** (No checker.) Build a G whose every upsampling uses k = 3, s = 2 and train it for a few
hundred steps: can you see the grid in early samples?

## References
- A. Radford, L. Metz, S. Chintala, *Unsupervised Representation Learning with Deep Convolutional GANs*, 2015, arXiv:1511.06434.
- V. Dumoulin, F. Visin, *A guide to convolution arithmetic for deep learning*, 2016, arXiv:1603.07285.
- A. Odena, V. Dumoulin, C. Olah, *Deconvolution and Checkerboard Artifacts*, Distill, 2016.
- T. Miyato et al., *Spectral Normalization for GANs*, 2018, arXiv:1802.05957.
- T. Salimans et al., *Improved Techniques for Training GANs*, 2016, arXiv:1606.03498."""),
code("""if out_json:
    result = {"lesson": "03_dcgan",
              "params": {"dataset": dataset, "data_used": data.name, "n_steps": n_steps, "batch_size": batch_size,
                         "seed": seed, "device": str(trainer.device), "progress": progress, "out_json": out_json,
                         "latent_dim": latent_dim, "nf": nf, "lr": lr, "n_compare": n_compare, "n_eval": n_eval},
              "seconds": round(time.perf_counter() - t_start, 2),
              "metrics": {"domain_fid": fid_fake, "domain_fid_real_vs_real": fid_real,
                          "domain_fid_over_training": trainer.evals["domain_fid"], "stabilisers": compare,
                          "steps": trainer.step, "train_seconds": trainer.seconds}}
    with open(out_json, "w") as fh:
        json.dump(result, fh, indent=2)
    print("wrote", out_json)"""),
]
