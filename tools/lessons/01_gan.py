"""Cells of notebooks/01_gan.ipynb (build with: python tools/make_notebook.py 01_gan)."""

from nbcells import code, md, params

CELLS = [
md("""# 01 · The adversarial game
*Goodfellow et al. (2014): two networks, one value function, and what goes wrong — first on 8 dots, then on digits.*

**Learning objectives**
1. Write down the value function V(D, G), derive the optimal discriminator D\\*, and say what G minimises against it (the Jensen–Shannon divergence).
2. Explain why G is trained with the *non-saturating* loss −log D(G(z)) and not with log(1 − D(G(z))).
3. Watch a GAN learn a ring of 8 Gaussians with D's output under it, and recognise **mode collapse** when G outpaces D.
4. Train a fully connected GAN on MNIST with the course's one training loop, and read its curves without mistaking them for quality.
5. Switch on one-sided label smoothing and see what it changes in D.

**Builds on:** lesson 00 (the toolkit: `gl.data.load`, `gl.train.fit`, `domain_fid`)."""),
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
n_steps: int = 3000             # generator updates of the MNIST GAN, the training budget
batch_size: int = 64            # images per step
seed: int = 0                   # same seed, same run (bit for bit on the CPU)
device: str = "auto"            # auto picks cuda, then mps, then cpu
progress: bool = True           # progress bars while training
out_json: str = ""              # if set, write this run's metrics here (homework collection)
latent_dim: int = 100           # size of z for the MNIST GAN
lr: float = 5e-4                # Adam learning rate of G and D, betas 0.5 and 0.999 (DCGAN used 2e-4; see text)
n_critic: int = 1               # k, discriminator steps per generator step (Algorithm 1 of the paper)
real_label: float = 1.0         # target for real images in D's loss; 0.9 is one-sided label smoothing
ring_steps: int = 3000          # generator updates of each 2-D toy run
ring_batch_size: int = 256      # points per step in the toy runs
ring_lr: float = 5e-4           # Adam learning rate of both players in the stable toy run
collapse_lr_ratio: float = 10.0 # the collapsing toy run: D at 2e-4, G at this many times D's learning rate
n_eval: int = 2000              # images per side for domain_fid"""),
md("""## 1 · The game

A generator G maps noise z ~ p_z (here N(0, I)) to a sample G(z); a discriminator D maps a sample
x to D(x), the probability that x came from the data and not from G. They play

$$\\min_G \\max_D \\; V(D, G) = \\mathbb{E}_{x\\sim p_\\text{data}}[\\log D(x)] + \\mathbb{E}_{z\\sim p_z}[\\log(1 - D(G(z)))].$$

D is rewarded for saying "real" to data and "fake" to G's samples; G is rewarded when D is fooled.
Training alternates (Algorithm 1 of the paper): **k** steps of gradient *ascent* on V for D, then
one step of *descent* for G. The paper used k = 1; `n_critic` is the trainer's name for k.

In code, D returns a **logit** d and D(x) = σ(d): the losses use `binary_cross_entropy_with_logits`,
which computes log σ(d) without ever forming σ(d) (§ 6 shows why that matters).

### The optimal discriminator

For a fixed G write p_g for the density of G(z). Then

$$V(D, G) = \\int p_\\text{data}(x)\\log D(x) + p_g(x)\\log(1 - D(x))\\,dx .$$

For each x, the function y ↦ a log y + b log(1 − y) has derivative a/y − b/(1 − y), zero at
y = a/(a + b). So the best D is (Proposition 1)

$$D^*(x) = \\frac{p_\\text{data}(x)}{p_\\text{data}(x) + p_g(x)} ,$$

and putting D\\* back into V gives what G actually minimises (Theorem 1):

$$C(G) = \\max_D V(D, G) = -\\log 4 + 2\\cdot \\mathrm{JSD}(p_\\text{data} \\,\\|\\, p_g),$$

which is smallest, −log 4, exactly when p_g = p_data — and then D\\* = ½ everywhere: D can do no
better than a coin. Move the sliders: p_g is the orange density, D\\* the blue line."""),
code("""x = torch.linspace(-6, 8, 1401, dtype=torch.float64); dx = float(x[1] - x[0])
p_data, p_g = gl.theory.gaussian_pdf(x, 0.0, 1.0), gl.theory.gaussian_pdf(x, 2.0, 1.0)
jsd = gl.theory.js_divergence(p_data, p_g, dx)
c_g = gl.theory.virtual_training_criterion(p_data, p_g, dx)
print(f"JSD = {jsd:.4f}   C(G) = {c_g:.4f}   -log 4 + 2 JSD = {-math.log(4) + 2 * jsd:.4f}")
assert abs(c_g - (-math.log(4) + 2 * jsd)) < 1e-6                      # Theorem 1, numerically
assert torch.allclose(gl.theory.optimal_discriminator(p_data, p_data), torch.full_like(x, 0.5))
gl.theory.plot_optimal_discriminator(mu_g=2.0, sigma_g=1.0); plt.show()   # the static picture
gl.widgets.optimal_discriminator_explorer(mu_g=2.0, sigma_g=1.0)"""),
md("""Two things to notice with the sliders: when p_g sits on p_data, D\\* is flat at ½ and
C(G) = −log 4 ≈ −1.386; when the two densities barely overlap, JSD is stuck near log 2 however far
apart they are — a first hint of the vanishing gradients that motivate WGAN (lesson 04).

## 2 · Why G is not trained on log(1 − D(G(z)))

Early in training G's samples are bad and D rejects them confidently: D(G(z)) ≈ 0. There
log(1 − D(G(z))) is flat — its gradient with respect to D's logit is −D(G(z)) ≈ 0, so G learns
almost nothing. The paper's fix: let G *maximise* log D(G(z)) instead. Same fixed point, but the
gradient is −(1 − D(G(z))) ≈ −1 exactly when G needs it. This is the **non-saturating** loss,
`gl.losses.g_loss_nonsaturating`; the original is `g_loss_minimax`."""),
code("""gl.theory.plot_generator_losses(); plt.show()
d_fake = torch.tensor([-4.6], requires_grad=True)            # logit with D(G(z)) ≈ 0.01
for name, loss_fn in (("minimax", gl.losses.g_loss_minimax), ("non-saturating", gl.losses.g_loss_nonsaturating)):
    (grad,) = torch.autograd.grad(loss_fn(d_fake), d_fake)
    print(f"{name:>15}: dL/dlogit at D(G(z)) = {torch.sigmoid(d_fake).item():.3f} is {grad.item():+.4f}")
assert abs(torch.autograd.grad(gl.losses.g_loss_nonsaturating(d_fake), d_fake)[0].item()) > 50 * \\
       abs(torch.autograd.grad(gl.losses.g_loss_minimax(d_fake), d_fake)[0].item())"""),
md("""## 3 · A GAN you can see: the ring of 8 Gaussians

Real data: 8 small Gaussian blobs on a circle of radius 2 (σ = 0.05). G and D are small MLPs
(3 hidden layers of 128) and z is 2-D, so the whole game fits on one picture: **black** points are
real, **orange** points are G(z) for 1,000 fixed z, and the background is D(x) — red where D says
"real", blue where it says "fake". G's points flow uphill on D's surface; D redraws the surface."""),
code("""ring = gl.data.load("ring-8", device=device)
print(ring)
gl.seed_everything(seed)                    # initial weights come from the seed, like the training noise
G_ring, D_ring = gl.toy.toy_gan(latent_dim=2)
print(G_ring)
frames = gl.toy.FrameRecorder(every=max(1, ring_steps // 10), seed=seed)
stable = gl.train.fit(G_ring, D_ring, ring, n_steps=ring_steps, batch_size=ring_batch_size, lr=ring_lr,
                      seed=seed, device=device, progress=progress, callbacks=[frames])
x_ring_real = ring.images(2000)
gl.toy.plot_frames(frames.frames, x_ring_real, suptitle="stable: G and D at the same learning rate"); plt.show()
z_test = torch.randn(4000, 2, generator=torch.Generator().manual_seed(seed + 1))
cover_stable = gl.metrics.modes_covered(stable.sample(z_test), ring.centers, ring.std)
print(f"modes covered: {cover_stable['modes_covered']} of 8; "
      f"{cover_stable['high_quality']:.0%} of samples within 3σ of a mode")"""),
md("""`modes_covered` (Metz et al. 2016; Srivastava et al. 2017) counts a sample as *high quality* if it
lies within 3σ of a mode, and a mode as *covered* if it holds at least a quarter of its fair share
of the samples. Drag the slider to step through the run (the row above is the static version)."""),
code("""gl.widgets.frame_explorer(frames.frames, x_ring_real)"""),
md("""### Mode collapse: the "Helvetica scenario"

The paper warns that G "must not be trained too much without updating D, in order to avoid the
Helvetica scenario in which G collapses too many values of z to the same value of x". Here is
that scenario on purpose: the same networks and seed, but D learns at 2 × 10⁻⁴ and G
`collapse_lr_ratio` = 10 times faster (the stable run gave both 5 × 10⁻⁴). D lags behind; G
pours *all* its samples onto whatever spot D currently likes; D catches up and pushes the
cluster away, and it hops to the next spot."""),
code("""gl.seed_everything(seed)                    # the same initial networks as the stable run
G_c, D_c = gl.toy.toy_gan(latent_dim=2)
d_lr = 2e-4
frames_c = gl.toy.FrameRecorder(every=max(1, ring_steps // 10), seed=seed)
collapsed = gl.train.fit(G_c, D_c, ring, n_steps=ring_steps, batch_size=ring_batch_size, seed=seed, device=device,
                         progress=progress, callbacks=[frames_c],
                         opt_g=lambda p: torch.optim.Adam(p, lr=d_lr * collapse_lr_ratio, betas=(0.5, 0.999)),
                         opt_d=lambda p: torch.optim.Adam(p, lr=d_lr, betas=(0.5, 0.999)))
gl.toy.plot_frames(frames_c.frames, x_ring_real, suptitle=f"collapsing: G's lr = {collapse_lr_ratio:g} × D's"); plt.show()
cover_collapse = gl.metrics.modes_covered(collapsed.sample(z_test), ring.centers, ring.std)

fig, axes = plt.subplots(1, 2, figsize=(9, 2.6), sharey=True)
for ax, cover, name in ((axes[0], cover_stable, "stable"), (axes[1], cover_collapse, "collapsing")):
    ax.bar(range(8), cover["counts"]); ax.set_xlabel("mode"); ax.set_title(f"{name}: {cover['modes_covered']}/8 modes covered")
axes[0].set_ylabel("samples within 3σ"); plt.tight_layout(); plt.show()
print(f"modes covered  stable: {cover_stable['modes_covered']}   collapsing: {cover_collapse['modes_covered']}")
if ring_steps >= 2000:  # a lecture-length run: the contrast this section is about
    assert cover_stable["modes_covered"] >= cover_collapse["modes_covered"] + 4"""),
md("""What the frames show is the classic picture of mode collapse: not a G that is bad everywhere,
but a G that is *good at one thing at a time*. D's own training signal is what moves G along,
so the collapse does not settle; it cycles. Later lessons meet the cures: a loss whose gradient
does not vanish (WGAN, lesson 04), and D looking at whole batches (minibatch standard deviation,
lesson 06). Even the stable setting can leave a mode nearly empty: on this machine seeds 0, 1
and 2 cover all 8 modes, seed 3 only 6 — try it. With both players at 2 × 10⁻⁴ instead, 3,000
steps were not enough to fill all 8 for seeds 0, 2 and 3.

## 4 · Digits: the MLP GAN on MNIST

The fully connected G and D of the popular MNIST GAN: G is 100 → 128 → 256 → 512 → 1024 → 784
with LeakyReLU(0.2), BatchNorm after every hidden layer but the first, and tanh on the output
(the images are scaled to [−1, 1]); D is 784 → 512 → 256 → 1 logit. Training goes through the
same loop as the ring above — only the data, the models and the budget changed. The learning
rate is 5 × 10⁻⁴, not the usual 2 × 10⁻⁴: on this machine that halved `domain_fid` after 3,000 steps
(239 against 479) — a lecture budget rewards a faster start."""),
code("""data = gl.data.load(dataset, device=device)
print(data)
gl.seed_everything(seed)                    # the same initial weights on every run with this seed
G = gl.models.MLPGenerator(latent_dim=latent_dim)
D = gl.models.MLPDiscriminator()
print(G); print(D)
assert G(torch.randn(4, latent_dim)).shape == (4, 1, 28, 28) and D(data.images(4).cpu()).shape == (4,)

x_eval_real = data.images(min(n_eval, len(data)))
z_eval = torch.randn(1000, latent_dim, generator=torch.Generator().manual_seed(seed + 2))
def track_fid(trainer):  # quality over training, on 1,000 fixed z: cheap enough to run six times
    return {"domain_fid": gl.metrics.domain_fid(trainer.sample(z_eval), x_eval_real[:1000], domain=data.name)}

eval_every = max(1, n_steps // 6)
d_loss = gl.losses.d_loss_bce if real_label == 1.0 else gl.losses.one_sided_label_smoothing(real_label)
trainer = gl.train.fit(G, D, data, n_steps=n_steps, batch_size=batch_size, lr=lr, n_critic=n_critic,
                       d_loss=d_loss, g_loss=gl.losses.g_loss_nonsaturating, seed=seed, device=device,
                       progress=progress, callbacks=[gl.train.every(eval_every, track_fid)])
print(f"{trainer.step} steps in {trainer.seconds:.1f} s ({trainer.images_seen / trainer.seconds:,.0f} real images/s)")"""),
md("""### The losses are not a quality score
Left: D's and G's losses. Right: `domain_fid` (lower is better) of the same G, measured along
the way. The losses settle into a band early and then hardly move, while quality keeps improving:
each loss is measured against an opponent who keeps changing, so it says whether the game is
*balanced*, not how good the samples are. A D loss that collapses to 0 (D wins outright) or a G
loss that climbs without end is worth a look; a "lower" G loss is not a better G."""),
code("""fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
gl.viz.plot_losses(trainer.history, ax=a, title="losses")
steps_fid, fids = zip(*trainer.evals["domain_fid"])
b.plot(steps_fid, fids, "o-"); b.set_xlabel("generator step"); b.set_title("domain_fid (lower is better)"); b.grid(alpha=0.3)
plt.tight_layout(); plt.show()
gl.viz.plot_timeline(trainer.snapshots, n_columns=6, n_images=16); plt.show()
gl.viz.show_grid(trainer.sample()[:64], title=f"G(z) after {trainer.step} steps"); plt.show()"""),
code("""fid = gl.metrics.fid_report(trainer, data, n_eval)          # G vs real, and the real-vs-real floor
fid_fake, fid_real, n = fid["domain_fid"], fid["domain_fid_real_vs_real"], fid["n"]
print(f"domain_fid  G vs real: {fid_fake:.1f}   real vs real (the floor at n = {n}): {fid_real:.1f}")
assert math.isfinite(fid_fake) and fid_real < fid_fake"""),
md("""## 5 · Walking through z

G is a smooth function of z, so a path from z₀ to z₁ gives a path of digits. We walk along the
great circle (*slerp*, White 2016): z ~ N(0, I) in 100 dimensions has norm ≈ 10, and the straight
line's midpoint would be shorter than any z G was trained on. Each row is one walk."""),
code("""gen = torch.Generator().manual_seed(seed + 3)
z0, z1 = torch.randn(6, latent_dim, generator=gen), torch.randn(6, latent_dim, generator=gen)
walks = torch.stack([gl.widgets.interpolate(a, b, n=10, method="slerp") for a, b in zip(z0, z1)])  # 6×10×latent
x_walk = trainer.sample(walks.reshape(-1, latent_dim))
assert torch.allclose(walks[:, 0], z0) and torch.allclose(walks[:, -1], z1, atol=1e-5)
gl.viz.show_grid(x_walk, nrow=10, title="slerp from z₀ (left) to z₁ (right)", size=6); plt.show()"""),
md("""Now move single components of z for 16 fixed z at once. Most single components change the
digits only a little — G spreads meaning over many directions — but some change the stroke
width or the slant. (The static picture shows z[0] at −2.5, 0 and +2.5.)"""),
code("""z16 = torch.randn(16, latent_dim, generator=torch.Generator().manual_seed(seed))
gl.widgets.latent_sweep(G, z16, dim=0, values=(-2.5, 0.0, 2.5)); plt.show()
gl.widgets.latent_explorer(G, dims=(0, 1, 2, 3), z=z16)"""),
md("""## 6 · One-sided label smoothing

Salimans et al. (2016) replace the target 1 for real images by 0.9 (and keep 0 for fakes — hence
*one-sided*): D's loss on real data then has its minimum at logit log(0.9/0.1) ≈ 2.2 instead of
at +∞, so D cannot become arbitrarily confident, and the gradients it hands to G stay moderate.
Smoothing the *fake* side too would move D\\* towards p_g where there is no data — which is why
only the real side is smoothed.

A short comparison: a second run with the other setting, the same seed, for the first third of
the budget. The main run above is its twin up to that step, so we compare like with like."""),
code("""other_label = 0.9 if real_label == 1.0 else 1.0
n_compare = 2 * eval_every
other_d_loss = gl.losses.d_loss_bce if other_label == 1.0 else gl.losses.one_sided_label_smoothing(other_label)
gl.seed_everything(seed)                    # the main run's initial weights: only the real label differs
twin = gl.train.fit(gl.models.MLPGenerator(latent_dim=latent_dim), gl.models.MLPDiscriminator(), data,
                    n_steps=n_compare, batch_size=batch_size, lr=lr, n_critic=n_critic, d_loss=other_d_loss,
                    g_loss=gl.losses.g_loss_nonsaturating, seed=seed, device=device, progress=progress)
fid_twin = gl.metrics.domain_fid(twin.sample(z_eval), x_eval_real[:1000], domain=data.name)
fid_main_then = dict(trainer.evals["domain_fid"])[n_compare]
runs = {real_label: (trainer.history, fid_main_then), other_label: (twin.history, fid_twin)}

fig, ax = plt.subplots(figsize=(6, 3))
for label, (hist, fid) in sorted(runs.items()):
    k = min(len(hist["step"]), n_compare)
    ax.plot(hist["step"][:k], gl.viz.smooth(hist["d_real"][:k], 25),
            label=f"real label {label:g}: domain_fid {fid:.0f} at step {n_compare}")
ax.axhline(math.log(9), color="gray", ls=":", label="log 9, D's best logit with label 0.9")
ax.set_xlabel("generator step"); ax.set_ylabel("mean logit on real images"); ax.legend(fontsize=8); ax.grid(alpha=0.3)
plt.tight_layout(); plt.show()
def late_logit(hist):  # D's mean logit on real images over the last quarter of the compared steps
    vals = [float(v) for s, v in zip(hist["step"], hist["d_real"]) if 0.75 * n_compare < s <= n_compare]
    return sum(vals) / len(vals)
smoothing = {"at_step": n_compare, "real_label_1.0": runs[1.0][1], "real_label_0.9": runs[0.9][1],
             "d_real_logit_1.0": late_logit(runs[1.0][0]), "d_real_logit_0.9": late_logit(runs[0.9][0])}
print(", ".join(f"{k} {v:.3g}" for k, v in smoothing.items()))"""),
md("""Read the plot for what smoothing does to D: with the target 0.9, D's mean logit on real images
stays lower — it is less sure of itself (on this machine, at the default seed: 0.14 against 0.39
over the last quarter of the compared steps, and `domain_fid` 823 against 767 at step 1,000).
Neither run comes near the ceiling log 9 that smoothing imposes: in a balanced game D is far from
certain anyway. Smoothing is a guard against an over-confident D in long runs; one pair of short
runs says little about quality, so try other seeds before you believe a difference in
`domain_fid`.

## 7 · Common mistakes

**`nn.Sigmoid()` at the end of D plus `nn.BCELoss`.** Mathematically the same as
`BCEWithLogitsLoss` on the logit; numerically not. In float32 σ(30) is exactly 1.0, so a D that is
very sure a fake is real gets log(1 − 1) = −∞, which PyTorch clamps to −100 — and the gradient
through the saturated sigmoid is exactly 0. On the logit the loss is 30 and the gradient 1.
Several popular implementations (and two of the seeds of this course) do the former."""),
code("""d = torch.tensor([30.0], requires_grad=True)                 # D's logit for a fake it thinks is real
loss_prob = nn.BCELoss()(torch.sigmoid(d), torch.zeros(1))
(g_prob,) = torch.autograd.grad(loss_prob, d)
loss_logit = nn.BCEWithLogitsLoss()(d, torch.zeros(1))
(g_logit,) = torch.autograd.grad(loss_logit, d)
print(f"Sigmoid + BCELoss : loss {loss_prob.item():7.2f}, gradient {g_prob.item():.4f}")
print(f"BCEWithLogitsLoss : loss {loss_logit.item():7.2f}, gradient {g_logit.item():.4f}")
assert g_prob.item() == 0.0 and abs(g_logit.item() - 1.0) < 1e-6"""),
md("""**Forgetting `.detach()` on the fakes in D's step.** Then `d_loss.backward()` also runs
through G and leaves gradients in G's parameters: wasted work, and if G's optimiser does not
zero them first, G's next step follows *D's* objective. (The trainer makes the fakes for D's step
under `torch.no_grad()`.) Exercise 4 below checks this in your own code."""),
code("""G_tiny, D_tiny = nn.Sequential(nn.Linear(4, 8), nn.Tanh()), nn.Sequential(nn.Linear(8, 1), nn.Flatten(0))
z4 = torch.randn(16, 4)
gl.losses.d_loss_bce(D_tiny(torch.randn(16, 8)), D_tiny(G_tiny(z4))).backward()          # no detach
leaked = G_tiny[0].weight.grad is not None and G_tiny[0].weight.grad.abs().sum().item() > 0
G_tiny.zero_grad(set_to_none=True)
gl.losses.d_loss_bce(D_tiny(torch.randn(16, 8)), D_tiny(G_tiny(z4).detach())).backward()  # detached
print(f"without detach G got gradients: {leaked};  with detach: {G_tiny[0].weight.grad is not None}")
assert leaked and G_tiny[0].weight.grad is None"""),
md("""**Sampling with BatchNorm still in training mode.** In `train()` mode BatchNorm normalises with
the statistics of the *current batch*, so a sample depends on the other z in its batch (and a
batch of one fails outright). Sample in `eval()` mode — `trainer.sample` and the widgets do.
And a mistake copied from a popular MNIST GAN: `nn.BatchNorm1d(256, 0.8)` sets **eps** = 0.8,
not the momentum (the second positional argument is `eps`)."""),
code("""dev = trainer.device                                        # where G lives now: the CPU or a GPU
z_one = torch.randn(1, latent_dim, device=dev)
batch_a = torch.cat([z_one, torch.randn(15, latent_dim, device=dev)])
batch_b = torch.cat([z_one, torch.randn(15, latent_dim, device=dev) * 2])
G.train()
with torch.no_grad():
    drift_train = (G(batch_a)[0] - G(batch_b)[0]).abs().max().item()
G.eval()
with torch.no_grad():
    drift_eval = (G(batch_a)[0] - G(batch_b)[0]).abs().max().item()
print(f"same z, different batch-mates: max pixel change {drift_train:.3f} in train mode, {drift_eval:.1e} in eval mode")
print(nn.BatchNorm1d(256, 0.8))
assert drift_train > 1e-3 and drift_eval < 1e-5"""),
md("""**Reading the losses as quality.** See § 4: the losses flatten while `domain_fid` keeps
falling. Judge a GAN by its samples on a fixed z and by a measure such as `domain_fid`.

## Summary
- GAN training is a two-player game; against the best D, G minimises −log 4 + 2·JSD(p_data‖p_g).
- D\\* = p_data/(p_data + p_g) is ½ everywhere at the optimum.
- Train G with the non-saturating loss; compute every loss from logits.
- Mode collapse is G outrunning D: all z mapped to one place, hopping as D catches up. `modes_covered` measures it on toy data.
- Losses say whether the game is balanced, not whether the samples are good.

## Exercises
Each checker calls your function on fresh inputs and says ✅ or ❌ and why. Unfinished exercises
show ❌; the notebook still runs. A worked solution is in the collapsed cell after each exercise.

**1.** The discriminator's loss from logits: L_D = −E[log σ(d_real)] − E[log(1 − σ(d_fake))]."""),
code("""def my_d_loss(d_real, d_fake):
    # your code: d_real, d_fake are D's logits, shape (batch,); return one number
    raise NotImplementedError

gl.checks.d_loss(my_d_loss)"""),
code("""def solution_d_loss(d_real, d_fake):
    return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))

assert gl.checks.d_loss(solution_d_loss)""", hidden=True),
md("""**2.** The non-saturating generator loss: L_G = −E[log σ(d_fake)]."""),
code("""def my_g_loss(d_fake):
    # your code
    raise NotImplementedError

gl.checks.g_loss(my_g_loss)"""),
code("""def solution_g_loss(d_fake):
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))

assert gl.checks.g_loss(solution_g_loss)""", hidden=True),
md("""**3.** The optimal discriminator for two densities given on a grid of points."""),
code("""def my_optimal_d(p_data, p_g):
    # your code: p_data, p_g are tensors of density values at the same points
    raise NotImplementedError

gl.checks.optimal_discriminator(my_optimal_d)"""),
code("""def solution_optimal_d(p_data, p_g):
    return p_data / (p_data + p_g)

assert gl.checks.optimal_discriminator(solution_optimal_d)""", hidden=True),
md("""**4.** One discriminator step's loss, given G, D, a real batch and z — without touching G."""),
code("""def my_d_step_loss(G, D, x_real, z):
    # your code: return D's loss; G must get no gradient from it
    raise NotImplementedError

gl.checks.d_step_detach(my_d_step_loss)"""),
code("""def solution_d_step_loss(G, D, x_real, z):
    x_fake = G(z).detach()
    return gl.losses.d_loss_bce(D(x_real), D(x_fake))

assert gl.checks.d_step_detach(solution_d_step_loss)""", hidden=True),
md("""**5.** (No checker.) Rerun § 3 with `collapse_lr_ratio = 1` and then 3: where does collapse start?
And add `n_critic=5` to the collapsing run's `fit` call — do more D steps per G step rescue it?

## References
- I. Goodfellow et al., *Generative Adversarial Nets*, NeurIPS 2014, arXiv:1406.2661.
- T. Salimans et al., *Improved Techniques for Training GANs*, 2016, arXiv:1606.03498 (one-sided label smoothing).
- L. Metz et al., *Unrolled Generative Adversarial Networks*, 2016, arXiv:1611.02163 (the ring of Gaussians).
- A. Srivastava et al., *VEEGAN*, 2017, arXiv:1705.07761 (counting covered modes).
- T. White, *Sampling Generative Networks*, 2016, arXiv:1609.04468 (slerp).
- M. Kahng et al., *GAN Lab*, 2018, arXiv:1809.01587."""),
code("""if out_json:
    result = {"lesson": "01_gan",
              "params": {"dataset": dataset, "data_used": data.name, "n_steps": n_steps, "batch_size": batch_size,
                         "seed": seed, "device": str(trainer.device), "progress": progress, "out_json": out_json,
                         "latent_dim": latent_dim, "lr": lr, "n_critic": n_critic, "real_label": real_label,
                         "ring_steps": ring_steps, "ring_batch_size": ring_batch_size, "ring_lr": ring_lr,
                         "collapse_lr_ratio": collapse_lr_ratio, "n_eval": n_eval},
              "seconds": round(time.perf_counter() - t_start, 2),
              "metrics": {"modes_covered": cover_stable["modes_covered"],
                          "modes_covered_collapse": cover_collapse["modes_covered"],
                          "high_quality": round(cover_stable["high_quality"], 4),
                          "domain_fid": fid_fake, "domain_fid_real_vs_real": fid_real,
                          "domain_fid_over_training": trainer.evals["domain_fid"],
                          "label_smoothing": smoothing, "steps": trainer.step, "train_seconds": trainer.seconds}}
    with open(out_json, "w") as fh:
        json.dump(result, fh, indent=2)
    print("wrote", out_json)"""),
]
