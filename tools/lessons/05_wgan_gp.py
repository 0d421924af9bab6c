"""Cells of notebooks/05_wgan_gp.ipynb (build with: python tools/make_notebook.py 05_wgan_gp)."""

from nbcells import code, md, params

CELLS = [
md("""# 05 · WGAN-GP: penalise the gradient, not the weights
*Gulrajani et al. (2017): keep the critic 1-Lipschitz where it matters, with a gradient penalty.*

**Learning objectives**
1. Derive the gradient penalty from a property of the optimal critic, and compute it per sample.
2. Explain why the critic must not use BatchNorm here, and what to use instead.
3. See the penalty at work: gradient norms at the interpolates for several λ, and weights that are free again.
4. Compare with spectral normalization, and measure what the penalty's double backward costs per step.
5. Train WGAN-GP on digits with the paper's recipe through the shared trainer.

**Builds on:** lesson 04 (the critic, W₁, weight clipping's failure)."""),
code("""%matplotlib inline
import json, math, time
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import ipywidgets as W
import ganlessons as gl

t_start = time.perf_counter()"""),
params("""# Parameters (papermill: -p NAME VALUE). Defaults: a lecture budget on a laptop CPU, about 2.5 minutes.
dataset: str = "mnist"          # "mnist" (falls back to the bundled "mnist-5k" offline), "mnist-5k", "fashion-mnist"
n_steps: int = 250              # generator updates (each after n_critic critic updates), the training budget
batch_size: int = 64            # images per step
seed: int = 0                   # same seed, same run (bit for bit on the CPU)
device: str = "auto"            # auto picks cuda, then mps, then cpu
progress: bool = True           # progress bars while training
out_json: str = ""              # if set, write this run's metrics here (homework collection)
latent_dim: int = 100           # size of z
nf: int = 32                    # DCGAN width
n_critic: int = 5               # critic updates per generator update (the paper's 5)
lambda_gp: float = 10.0         # penalty weight (the paper's 10)
lr: float = 1e-4                # Adam learning rate, betas 0 and 0.9 (the paper's values)
toy_steps: int = 150            # generator updates of each toy run in the lambda sweep
n_eval: int = 2000              # images per side for domain_fid"""),
md("""## 1 · The penalty

Gulrajani et al. prove that the optimal critic f\\* has gradient norm **exactly 1** on the straight
lines between coupled points of p_data and p_g. Rather than clip weights, they ask for that
property directly, softly, on random points of such lines:

$$L = \\underbrace{\\mathbb{E}[D(\\tilde x)] - \\mathbb{E}[D(x)]}_{\\text{WGAN critic loss}} + \\lambda\\, \\mathbb{E}_{\\hat x}\\big[(\\lVert \\nabla_{\\hat x} D(\\hat x) \\rVert_2 - 1)^2\\big],
\\qquad \\hat x = \\epsilon x + (1 - \\epsilon)\\tilde x,\\; \\epsilon \\sim U[0, 1]$$

with x real, x̃ = G(z), **one ε per sample**, and the norm over **each sample's** gradient (all
pixels and channels). The penalty needs ∂/∂θ of a gradient: `autograd.grad(..., create_graph=True)`
keeps the graph of the first backward so a second one can run through it (the *double backward*).
Recipe: λ = 10, n_critic = 5, Adam(lr 10⁻⁴, β = (0, 0.9)).

A check with a known answer: for a linear critic D(x) = w·x the gradient is w everywhere, so the
penalty is exactly (‖w‖₂ − 1)²."""),
code("""w = torch.randn(1 * 28 * 28)
w = 2.5 * w / w.norm()                                   # ‖w‖ = 2.5, so the penalty must be 1.5² = 2.25
linear_critic = lambda x: x.flatten(1) @ w
x_real, x_fake = torch.randn(16, 1, 28, 28), torch.randn(16, 1, 28, 28)
gp = gl.losses.gradient_penalty(linear_critic, x_real, x_fake)
print(f"gradient penalty of a linear critic with ‖w‖ = 2.5: {gp.item():.6f}")
assert abs(gp.item() - 2.25) < 1e-4"""),
md("""### No BatchNorm in the critic
BatchNorm makes D(x̂ᵢ) depend on the other samples of the batch, so "the gradient of the critic
at x̂ᵢ" is no longer a property of the critic at that point — the per-sample penalty is penalising
a different function. The paper drops normalization in the critic or uses **layer normalization**
(per sample). Our DCGAN critic takes `batchnorm=False`.

## 2 · The penalty at work, on the ring

The same 12-layer critic as lesson 04's clipping experiment, now with the penalty, for three
values of λ. For each: the histogram of ‖∇D(x̂)‖ at fresh interpolates, and the per-layer
gradient norms. A slider flips between the runs."""),
code("""ring = gl.data.load("ring-8", device=device)
adam = lambda p: torch.optim.Adam(p, lr=1e-4, betas=(0.0, 0.9))
toy = {}
for lam in (0.1, 1.0, 10.0):
    gl.seed_everything(seed)                # the same initial networks for every λ: only λ differs
    G_toy, _ = gl.toy.toy_gan(latent_dim=2)
    critic = gl.toy.deep_critic(depth=12, width=64)
    run = gl.train.fit(G_toy, critic, ring, n_steps=toy_steps, batch_size=256, loss="wgan", n_critic=5,
                       d_regularizers=[gl.losses.GradientPenalty(lam)], opt_d=adam, opt_g=adam,
                       seed=seed, device=device, progress=False)
    x_r, _ = ring.sample(512, generator=torch.Generator(device=ring.device).manual_seed(seed))
    x_f = run.sample(torch.randn(512, 2, generator=torch.Generator().manual_seed(seed)))
    toy[lam] = {"norms": gl.losses.interpolate_gradient_norms(critic, x_r, x_f).detach().cpu(),
                "layers": gl.toy.layer_gradient_norms(critic, x_r, x_f),
                "weights": torch.cat([p.detach().flatten().cpu() for p in critic.parameters()])}

def draw_gp(lam):
    r = toy[lam]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3))
    a.hist(r["norms"].numpy(), bins=40, color="tab:green"); a.axvline(1.0, color="black", ls="--")
    a.set_title(f"λ = {lam:g}: ‖∇D(x̂)‖, median {r['norms'].median():.2f}"); a.set_xlabel("gradient norm at x̂")
    b.semilogy(range(1, 14), r["layers"], "o-", color="tab:green"); b.set_ylim(1e-3, 1e3)
    b.set_title("‖∂L/∂h_l‖ per critic layer"); b.set_xlabel("layer (1 = input side)"); b.grid(alpha=0.3)
    fig.tight_layout()
    return fig

for lam in toy:
    print(f"λ = {lam:>4}: median ‖∇D(x̂)‖ = {toy[lam]['norms'].median():.3f};  per-layer norms from "
          f"{min(toy[lam]['layers']):.1e} to {max(toy[lam]['layers']):.1e}")
draw_gp(lambda_gp if lambda_gp in toy else 10.0); plt.show()
gl.widgets.interactive(draw_gp, lam=W.SelectionSlider(options=list(toy), value=10.0, description="λ",
                                                      continuous_update=False))"""),
md("""With λ = 10 the norms at x̂ are held near 1 (on this machine: median 0.77 — after `toy_steps`
updates the critic has not yet grown to the slope the penalty allows — against 1.27 for λ = 1 and
2.31 for λ = 0.1, where the constraint is too weak to hold), and the back-propagated gradient
stays within a factor of about 3 across all 12 layers (7 for λ = 1, 19 for λ = 0.1) — compare
lesson 04, where clipping let it vanish to 10⁻¹³ or explode to 10⁶ (a wider critic there, the
same depth). Now the weights, next to a clipped critic trained the same way:"""),
code("""gl.seed_everything(seed)                    # the λ runs' initial networks, now clipped instead
G_toy, _ = gl.toy.toy_gan(latent_dim=2)
clipped = gl.toy.deep_critic(depth=12, width=64)
gl.train.fit(G_toy, clipped, ring, n_steps=toy_steps, batch_size=256, loss="wgan", n_critic=5,
             constraint=gl.losses.WeightClip(0.01), seed=seed, device=device, progress=False,
             opt_d=lambda p: torch.optim.RMSprop(p, lr=5e-5), opt_g=lambda p: torch.optim.RMSprop(p, lr=5e-5))
w_clip = torch.cat([p.detach().flatten().cpu() for p in clipped.parameters()])
fig, axes = plt.subplots(1, 2, figsize=(10, 2.8))
axes[0].hist(w_clip.numpy(), bins=60, color="tab:orange"); axes[0].set_title("weight clipping, c = 0.01")
axes[1].hist(toy[10.0]["weights"].numpy(), bins=60, color="tab:green"); axes[1].set_title("gradient penalty, λ = 10")
for ax in axes: ax.set_xlabel("critic weight"); ax.locator_params(axis="x", nbins=5)
plt.tight_layout(); plt.show()"""),
md("""## 3 · Spectral normalization, and what each costs

Spectral normalization (Miyato et al. 2018, lesson 03) bounds every layer's Lipschitz constant by
1 instead: no penalty, no extra backward, but a bound that is only loose for the whole network.
What each Lipschitz control costs per generator step, measured here on the MNIST DCGAN critic
(n_critic = 5, same batch):"""),
code("""data = gl.data.load(dataset, device=device)
gl.seed_everything(seed)
def timed(D, **kw):
    run = gl.train.Trainer(gl.models.DCGANGenerator28(latent_dim, nf), D, data, batch_size=batch_size, loss="wgan",
                           n_critic=n_critic, seed=seed, device=device, progress=False, **kw)
    run.fit(n_steps=2)                                  # warm-up
    start = time.perf_counter(); run.fit(n_steps=12)
    return (time.perf_counter() - start) / 10
cost = {"clipping": timed(gl.models.DCGANDiscriminator28(nf, batchnorm=False), constraint=gl.losses.WeightClip(0.01)),
        "gradient penalty": timed(gl.models.DCGANDiscriminator28(nf, batchnorm=False),
                                  d_regularizers=[gl.losses.GradientPenalty(lambda_gp)]),
        "spectral norm": timed(gl.models.DCGANDiscriminator28(nf, batchnorm=False, spectral_norm=True))}
for name, sec in cost.items():
    print(f"{name:>16}: {1e3 * sec:6.1f} ms per generator step  ({sec / cost['clipping']:.2f}× clipping)")"""),
md("""## 4 · WGAN-GP on digits"""),
code("""gl.seed_everything(seed)
print(data)
G = gl.models.DCGANGenerator28(latent_dim=latent_dim, nf=nf)
critic = gl.models.DCGANDiscriminator28(nf=nf, batchnorm=False)     # no BatchNorm: the penalty is per sample
assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
x_eval_real = data.images(min(n_eval, len(data)))
z_eval = torch.randn(1000, latent_dim, generator=torch.Generator().manual_seed(seed + 2))
def track(trainer):
    x_r, _ = data.sample(256, generator=torch.Generator(device=data.device).manual_seed(1))
    norms = gl.losses.interpolate_gradient_norms(trainer.D, x_r, trainer.sample(z_eval[:256]))
    return {"domain_fid": gl.metrics.domain_fid(trainer.sample(z_eval), x_eval_real[:1000], domain=data.name),
            "grad_norm_median": norms.median().item()}

opt = lambda p: torch.optim.Adam(p, lr=lr, betas=(0.0, 0.9))
trainer = gl.train.fit(G, critic, data, n_steps=n_steps, batch_size=batch_size, loss="wgan", n_critic=n_critic,
                       d_regularizers=[gl.losses.GradientPenalty(lambda_gp)], opt_d=opt, opt_g=opt,
                       seed=seed, device=device, progress=progress,
                       callbacks=[gl.train.every(max(1, n_steps // 5), track)])
print(f"{trainer.step} generator steps ({trainer.step * n_critic} critic steps) in {trainer.seconds:.1f} s")"""),
code("""w_estimate = [-v for v in trainer.history["d_loss"]]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.1))
axes[0].plot(trainer.history["step"], gl.viz.smooth(w_estimate, 25)); axes[0].set_title("W₁ estimate E[D(x)] − E[D(G(z))]")
axes[1].plot(trainer.history["step"], gl.viz.smooth(trainer.history["gp"], 25), color="tab:green")
axes[1].set_title("λ · gradient penalty")
steps_fid, fids = zip(*trainer.evals["domain_fid"])
axes[2].plot(steps_fid, fids, "o-", color="tab:red"); axes[2].set_title("domain_fid")
for ax in axes: ax.set_xlabel("generator step"); ax.grid(alpha=0.3)
plt.tight_layout(); plt.show()
gl.viz.plot_timeline(trainer.snapshots, n_columns=6, n_images=16); plt.show()
gl.viz.show_grid(trainer.sample()[:64], title=f"WGAN-GP after {trainer.step} generator steps"); plt.show()"""),
code("""fid = gl.metrics.fid_report(trainer, data, n_eval)          # G vs real, and the real-vs-real floor
fid_fake, fid_real, n = fid["domain_fid"], fid["domain_fid_real_vs_real"], fid["n"]
print(f"domain_fid {fid_fake:.1f} (real vs real {fid_real:.1f});  median ‖∇D(x̂)‖ along the way: "
      + ", ".join(f"{v:.2f}" for _, v in trainer.evals["grad_norm_median"]))
assert math.isfinite(fid_fake)"""),
md("""## 5 · Common mistakes

- **A sigmoid on the critic** (seed 003's WGAN-GP critic ends in `nn.Sigmoid`): the gradient at x̂
  then goes through a saturating squash, and the penalty fights the sigmoid, not the critic.
- **The norm over `dim=1` of a 4-D gradient** (seed 000 writes `gradients.norm(2, dim=1)` on
  N×C×H×W): that is a norm over the *channels* at each pixel, an N×H×W tensor — not each sample's
  gradient norm. Flatten first: `grad.flatten(1).norm(dim=1)`. Exercise 1 catches it.
- **BatchNorm in the critic** (seed 004's WGAN-GP critic has three): the penalty is per sample,
  BatchNorm mixes the samples. Use no normalization or layer norm.
- **One ε for the whole batch** instead of one per sample, and **forgetting `create_graph=True`**
  (then the penalty has no gradient with respect to the critic's weights and does nothing).
- **DCGAN's Adam β₁ = 0.5** (seed 004): the paper uses β = (0, 0.9) for WGAN-GP.

## Summary
- The optimal critic has unit gradient norm between the distributions; the penalty λ·E[(‖∇D(x̂)‖ − 1)²] asks for it at random interpolates.
- Per-sample ε, per-sample norms over the flattened gradient, `create_graph=True`, no BatchNorm in the critic.
- The penalty keeps a deep critic's gradients healthy and its weights free; it costs a double backward per critic step.
- Spectral normalization is the cheaper, layer-wise alternative.

## Exercises
**1.** Write the gradient penalty; it is checked on critics whose gradient norms are known."""),
code("""def my_gradient_penalty(critic, x_real, x_fake):
    # your code: return the mean over the batch of (‖∇ critic(x̂)‖₂ − 1)², without λ
    raise NotImplementedError

gl.checks.gradient_penalty(my_gradient_penalty)"""),
code("""def solution_gradient_penalty(critic, x_real, x_fake):
    eps = torch.rand(x_real.shape[0], *[1] * (x_real.dim() - 1))
    x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

assert gl.checks.gradient_penalty(solution_gradient_penalty)""", hidden=True),
md("""**2.** (No checker.) Put BatchNorm back into the critic (`batchnorm=True`) and train: what happens
to the median ‖∇D(x̂)‖ and to `domain_fid`?

**3.** (No checker.) Penalise only gradient norms *above* 1 (the one-sided penalty,
max(0, ‖∇‖ − 1)², mentioned in the paper). Does the histogram of § 2 change?

## References
- I. Gulrajani, F. Ahmed, M. Arjovsky, V. Dumoulin, A. Courville, *Improved Training of Wasserstein GANs*, 2017, arXiv:1704.00028.
- M. Arjovsky, S. Chintala, L. Bottou, *Wasserstein GAN*, 2017, arXiv:1701.07875.
- T. Miyato, T. Kataoka, M. Koyama, Y. Yoshida, *Spectral Normalization for GANs*, 2018, arXiv:1802.05957.
- J. L. Ba, J. R. Kiros, G. E. Hinton, *Layer Normalization*, 2016, arXiv:1607.06450."""),
code("""if out_json:
    result = {"lesson": "05_wgan_gp",
              "params": {"dataset": dataset, "data_used": data.name, "n_steps": n_steps, "batch_size": batch_size,
                         "seed": seed, "device": str(trainer.device), "progress": progress, "out_json": out_json,
                         "latent_dim": latent_dim, "nf": nf, "n_critic": n_critic, "lambda_gp": lambda_gp, "lr": lr,
                         "toy_steps": toy_steps, "n_eval": n_eval},
              "seconds": round(time.perf_counter() - t_start, 2),
              "metrics": {"domain_fid": fid_fake, "domain_fid_real_vs_real": fid_real,
                          "domain_fid_over_training": trainer.evals["domain_fid"],
                          "grad_norm_median_over_training": trainer.evals["grad_norm_median"],
                          "toy_grad_norm_median": {str(k): v["norms"].median().item() for k, v in toy.items()},
                          "seconds_per_step": cost, "steps": trainer.step, "train_seconds": trainer.seconds}}
    with open(out_json, "w") as fh:
        json.dump(result, fh, indent=2)
    print("wrote", out_json)"""),
]
