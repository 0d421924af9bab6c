"""Cells of notebooks/04_wgan.ipynb (build with: python tools/make_notebook.py 04_wgan)."""

from nbcells import code, md, params

CELLS = [
md("""# 04 · WGAN: a distance that keeps pointing the way
*Arjovsky, Chintala & Bottou (2017): replace the Jensen–Shannon divergence by the Wasserstein-1 distance.*

**Learning objectives**
1. Show why JSD gives no signal when p_data and p_g do not overlap, and why W₁ does.
2. Explain how the asymmetry of KL makes the standard GAN prefer dropping modes.
3. State the Kantorovich–Rubinstein duality and turn it into a critic, its loss and WGAN's training recipe.
4. See what weight clipping does to a deep critic: gradients that vanish or explode, weights piled at ±c.
5. Read the critic's loss as a learning curve that tracks sample quality.

**Builds on:** lesson 01 (D\\*, JSD, the non-saturating loss), lesson 03 (the DCGAN models)."""),
code("""%matplotlib inline
import json, math, time
import matplotlib.pyplot as plt
import torch
import torch.nn as nn
import ganlessons as gl

t_start = time.perf_counter()"""),
params("""# Parameters (papermill: -p NAME VALUE). Defaults: a lecture budget on a laptop CPU, about 2.5 minutes.
dataset: str = "mnist"          # "mnist" (falls back to the bundled "mnist-5k" offline), "mnist-5k", "fashion-mnist"
n_steps: int = 500              # generator updates (each after n_critic critic updates), the training budget
batch_size: int = 64            # images per step
seed: int = 0                   # same seed, same run (bit for bit on the CPU)
device: str = "auto"            # auto picks cuda, then mps, then cpu
progress: bool = True           # progress bars while training
out_json: str = ""              # if set, write this run's metrics here (homework collection)
latent_dim: int = 100           # size of z
nf: int = 32                    # DCGAN width
n_critic: int = 5               # critic updates per generator update (the paper's 5)
clip_value: float = 0.01        # c, critic weights are clamped to the interval from -c to c (the paper's 0.01)
lr: float = 5e-5                # RMSProp learning rate of both networks (the paper's 5e-5)
clip_steps: int = 30            # generator updates of each toy run in the clipping experiment
n_eval: int = 2000              # images per side for domain_fid"""),
md("""## 1 · Why the Jensen–Shannon divergence fails

Lesson 01: against the best D, G minimises 2·JSD(p_data‖p_g) − log 4. Real images live near a
thin manifold in pixel space, and so do G's samples early on; two thin manifolds almost never
overlap (Arjovsky & Bottou 2017). Then the best D separates them perfectly and JSD is the constant
log 2 — **however far apart they are**. A constant has no gradient.

The Wasserstein-1 (earth mover's) distance is the least total work to move one distribution's
mass onto the other:

$$W_1(p_\\text{data}, p_g) = \\inf_{\\gamma \\in \\Pi(p_\\text{data}, p_g)} \\mathbb{E}_{(x, y)\\sim\\gamma}\\,\\lVert x - y \\rVert .$$

Example 1 of the WGAN paper, in 1-D: p_data = U[0, w] and p_g = the same bar shifted by θ. In 1-D
W₁ is exact, W₁ = ∫ |F_data(x) − F_g(x)| dx with F the CDFs."""),
code("""c = gl.theory.divergences_as_supports_separate([0.0, 0.25, 0.5, 1.0, 2.0, 4.0], width=0.5)
for th, j, w in zip(c["shift"], c["jsd"], c["w1"]):
    print(f"θ = {th:4.2f}:  JSD = {j:.4f}   W1 = {w:.4f}")
assert abs(c["jsd"][-1] - math.log(2)) < 1e-6 and abs(c["jsd"][-2] - math.log(2)) < 1e-6   # stuck at log 2
assert abs(c["w1"][-1] - 4.0) < 1e-3 and abs(c["w1"][-2] - 2.0) < 1e-3                     # W1 = |θ|
gl.theory.plot_divergences(width=0.5); plt.show()"""),
md("""### KL's asymmetry and dropped modes

KL(p‖q) = ∫ p log(p/q) blows up where p has mass and q has none. **Forward** KL(p_data‖p_g)
(maximum likelihood) punishes a G that misses a mode; **reverse** KL(p_g‖p_data) punishes a G that
puts mass where there is no data, and barely cares about a missed mode. Arjovsky & Bottou show
that, against the optimal D, the non-saturating generator loss minimises
KL(p_g‖p_data) − 2·JSD(p_data‖p_g): the reverse KL, the one that favours sitting on one mode —
a theoretical root of lesson 01's mode collapse."""),
code("""gl.theory.plot_kl_asymmetry(separation=4.0); plt.show()"""),
md("""## 2 · From the duality to a critic

The infimum over couplings is intractable in high dimension. The Kantorovich–Rubinstein duality
turns it into a supremum over functions:

$$W_1(p_\\text{data}, p_g) = \\sup_{\\lVert f \\rVert_L \\le 1} \\; \\mathbb{E}_{x\\sim p_\\text{data}}[f(x)] - \\mathbb{E}_{x\\sim p_g}[f(x)] ,$$

over all 1-Lipschitz f (|f(x) − f(y)| ≤ ‖x − y‖). A network f_w, the **critic**, approximates the
best f; G then minimises −E[f_w(G(z))]. Three consequences:

- The critic outputs an **unbounded score**, not a probability: **no sigmoid** at the end
  (seed 001 says so; seed 003's critic keeps one, see § 5).
- Its loss is a difference of means: L_critic = E[f(G(z))] − E[f(x)], L_G = −E[f(G(z))]
  (`loss="wgan"` in the trainer), and −L_critic estimates W₁ (up to the Lipschitz constant).
- f must stay Lipschitz. WGAN's blunt tool: after every critic update, **clip** every weight to
  [−c, c] (c = 0.01). The critic is trained closer to optimality (n_critic = 5), and the paper
  uses RMSProp (lr 5 × 10⁻⁵), since momentum made it unstable."""),
md("""## 3 · What clipping does to a deep critic

Gulrajani et al. (2017, Fig. 1b) trained a 12-layer critic on toy data with weight clipping and
measured the gradient norm at each layer: depending on c, it shrinks or grows geometrically
through the depth. We repeat it on the ring of 8 Gaussians with a 12-layer, 256-wide critic,
`clip_steps` generator updates per value of c, and measure ‖∂L/∂h_l‖, the gradient that
back-propagation carries into layer l's output h_l."""),
code("""ring = gl.data.load("ring-8", device=device)
clip_norms, clip_weights = {}, {}
for c_value in (0.1, 0.01, 0.001):
    gl.seed_everything(seed)                # the same initial networks for every c: only c differs
    G_toy, _ = gl.toy.toy_gan(latent_dim=2)
    critic = gl.toy.deep_critic(depth=12, width=256)
    run = gl.train.fit(G_toy, critic, ring, n_steps=clip_steps, batch_size=256, loss="wgan", n_critic=5,
                       constraint=gl.losses.WeightClip(c_value), seed=seed, device=device, progress=False,
                       opt_d=lambda p: torch.optim.RMSprop(p, lr=5e-5), opt_g=lambda p: torch.optim.RMSprop(p, lr=5e-5))
    x_r, _ = ring.sample(512, generator=torch.Generator(device=ring.device).manual_seed(seed))
    x_f = run.sample(torch.randn(512, 2, generator=torch.Generator().manual_seed(seed)))
    clip_norms[c_value] = gl.toy.layer_gradient_norms(critic, x_r, x_f)
    clip_weights[c_value] = torch.cat([p.detach().flatten().cpu() for p in critic.parameters()])
    assert clip_weights[c_value].abs().max() <= c_value + 1e-7

fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.4))
for c_value, norms in clip_norms.items():
    a.semilogy(range(1, len(norms) + 1), [max(v, 1e-30) for v in norms], "o-", label=f"c = {c_value}")
a.set_xlabel("critic layer (1 = input side)"); a.set_ylabel("‖∂L/∂h_l‖ (log)"); a.legend(); a.grid(alpha=0.3)
a.set_title("gradient norm per layer under weight clipping")
b.hist(clip_weights[0.01].numpy(), bins=60, color="tab:orange")
b.set_title("critic weights with c = 0.01: piled up at ±c"); b.set_xlabel("weight value")
plt.tight_layout(); plt.show()
for c_value, norms in clip_norms.items():
    print(f"c = {c_value:<6}: layer 1 {norms[0]:.1e}   layer 6 {norms[5]:.1e}   layer 12 {norms[11]:.1e}")
share_at_c = (clip_weights[0.01].abs() > 0.0099).float().mean().item()
print(f"share of weights at ±c (c = 0.01): {share_at_c:.0%}")"""),
md("""Back-propagation multiplies the gradient by every layer's weights on its way to the input.
With weights clamped to ±c in a 256-wide layer that factor is roughly c·√256 = 16c: below 1 for
c = 0.01 and 0.001, so the gradient **vanishes** geometrically toward the input (on this machine,
from 6·10⁻² at the last layer to about 10⁻¹³ and 0 at the first); above 1 for c = 0.1, so it
**explodes** (to about 10⁶ at the first layer). Either way the early layers learn nothing useful. Meanwhile almost
every weight sits at ±c: clipping has turned the critic into a network of sign bits. Lesson 05
replaces clipping by a penalty on the gradient itself.

Move `clip_value` below (the slider redraws the weight histogram of a freshly clipped critic —
watch the share of weights stuck at ±c grow as c shrinks)."""),
code("""def draw_clipped(c):
    gl.seed_everything(seed)                # the same critic on every redraw: only c changes
    net = gl.toy.deep_critic(depth=12, width=64)
    gl.losses.clip_weights(net, c)
    w = torch.cat([p.detach().flatten() for p in net.parameters()])
    fig, ax = plt.subplots(figsize=(5.5, 2.8))
    ax.hist(w.numpy(), bins=60)
    ax.set_title(f"c = {c:g}: {(w.abs() >= c * 0.999).float().mean():.0%} of weights at ±c (at initialisation)")
    fig.tight_layout()
    return fig

import ipywidgets as W
draw_clipped(clip_value); plt.show()
gl.widgets.interactive(draw_clipped, c=W.SelectionSlider(options=[0.001, 0.003, 0.01, 0.03, 0.1, 0.3], value=0.01,
                                                          description="clip c", continuous_update=False))"""),
md("""## 4 · WGAN on digits

The DCGAN models of lesson 03, the critic ending in a linear score (our D never had a sigmoid),
n_critic = 5, RMSProp at 5 × 10⁻⁵, clipping at c. Since each generator step costs six network
updates, the budget is counted in generator steps as always."""),
code("""gl.seed_everything(seed)
data = gl.data.load(dataset, device=device)
print(data)
G = gl.models.DCGANGenerator28(latent_dim=latent_dim, nf=nf)
critic = gl.models.DCGANDiscriminator28(nf=nf)      # BatchNorm is allowed with clipping (not with lesson 05's penalty)
x_eval_real = data.images(min(n_eval, len(data)))
z_eval = torch.randn(1000, latent_dim, generator=torch.Generator().manual_seed(seed + 2))
def track_fid(trainer):
    return {"domain_fid": gl.metrics.domain_fid(trainer.sample(z_eval), x_eval_real[:1000], domain=data.name)}

trainer = gl.train.fit(G, critic, data, n_steps=n_steps, batch_size=batch_size, loss="wgan", n_critic=n_critic,
                       constraint=gl.losses.WeightClip(clip_value), seed=seed, device=device, progress=progress,
                       opt_d=lambda p: torch.optim.RMSprop(p, lr=lr), opt_g=lambda p: torch.optim.RMSprop(p, lr=lr),
                       callbacks=[gl.train.every(max(1, n_steps // 5), track_fid)])
print(f"{trainer.step} generator steps ({trainer.step * n_critic} critic steps) in {trainer.seconds:.1f} s")
assert max(p.abs().max().item() for p in critic.parameters()) <= clip_value + 1e-7"""),
md("""### The critic's loss is a learning curve
Unlike lesson 01's losses, −L_critic = E[f(x)] − E[f(G(z))] estimates W₁ (times the critic's
Lipschitz constant, which clipping fixes). Two phases: at first the estimate **rises** — the
critic starts from nothing and its estimate is only a lower bound that tightens as it learns;
once the critic keeps up, the estimate **falls** with the distance, i.e. with sample quality.
Plotted next to `domain_fid`, measured along the way:"""),
code("""w_estimate = [-v for v in trainer.history["d_loss"]]
fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
a.plot(trainer.history["step"], w_estimate, alpha=0.25, color="tab:blue")
a.plot(trainer.history["step"], gl.viz.smooth(w_estimate, 25), color="tab:blue")
a.set_xlabel("generator step"); a.set_title("−L_critic (W₁ estimate)"); a.grid(alpha=0.3)
steps_fid, fids = zip(*trainer.evals["domain_fid"])
b.plot(steps_fid, fids, "o-", color="tab:red"); b.set_xlabel("generator step"); b.set_title("domain_fid"); b.grid(alpha=0.3)
plt.tight_layout(); plt.show()
gl.viz.plot_timeline(trainer.snapshots, n_columns=6, n_images=16); plt.show()
gl.viz.show_grid(trainer.sample()[:64], title=f"WGAN after {trainer.step} generator steps"); plt.show()"""),
code("""fid = gl.metrics.fid_report(trainer, data, n_eval)          # G vs real, and the real-vs-real floor
fid_fake, fid_real, n = fid["domain_fid"], fid["domain_fid_real_vs_real"], fid["n"]
smoothed = gl.viz.smooth(w_estimate, 25)
i_peak = int(smoothed.argmax())
w_peak, w_last = float(smoothed[i_peak]), float(smoothed[-1])
print(f"domain_fid {fid_fake:.1f} (real vs real {fid_real:.1f});  W1 estimate: peak {w_peak:.4f} at step "
      f"{trainer.history['step'][i_peak]}, end {w_last:.4f}")
assert math.isfinite(fid_fake)"""),
md("""On this machine at the defaults the estimate peaked near step 180 and then fell by 40 % while
`domain_fid` fell from 1,209 to 563 — the second phase is the learning curve. The samples are
still rough: WGAN with clipping at lr 5 × 10⁻⁵ is slow, one of the reasons for lesson 05.

## 5 · Common mistakes

- **A sigmoid on the critic** (seed 003's WGAN-GP critic keeps DCGAN's `nn.Sigmoid`): the score is
  then squashed into (0, 1), its gradient vanishes where the sigmoid saturates, and the difference
  of means is no longer a W₁ estimate.
- **Clipping only the weights, not the biases**, or clipping the *gradients* instead of the weights.
- **Adam with momentum at WGAN's settings**: the paper saw instability and used RMSProp.
- **Reading −L_critic across runs with different c or architectures**: it estimates W₁ only up to
  the critic's Lipschitz constant, which depends on both.
- **Thinking clipping makes the critic 1-Lipschitz**: it makes it K-Lipschitz for some unknown K,
  and pays for it with the capacity problems above.

## Summary
- Non-overlapping supports: JSD = log 2 (no gradient), W₁ still measures distance.
- The non-saturating GAN loss minimises a reverse KL, which tolerates dropped modes.
- WGAN: critic without sigmoid, L_critic = E[f(G(z))] − E[f(x)], n_critic = 5, RMSProp 5e-5, weights clipped to ±0.01.
- Clipping piles the weights at ±c and makes deep critics' gradients vanish or explode.

## Exercises
**1.** The critic's loss (minimised), from the critic's scores on real and fake batches."""),
code("""def my_critic_loss(d_real, d_fake):
    # your code
    raise NotImplementedError

gl.checks.critic_loss(my_critic_loss)"""),
code("""def solution_critic_loss(d_real, d_fake):
    return d_fake.mean() - d_real.mean()

assert gl.checks.critic_loss(solution_critic_loss)""", hidden=True),
md("""**2.** Clip every parameter of a critic to [−c, c], in place."""),
code("""def my_clip(critic, c):
    # your code: change the critic's parameters, return nothing
    raise NotImplementedError

gl.checks.clip_weights(my_clip)"""),
code("""def solution_clip(critic, c):
    with torch.no_grad():
        for p in critic.parameters():
            p.clamp_(-c, c)

assert gl.checks.clip_weights(solution_clip)""", hidden=True),
md("""**3.** (No checker.) Rerun § 3 with `depth=4`: does the problem shrink? What does that say about
clipping in the shallow critics of 2017 versus deep modern ones?

## References
- M. Arjovsky, S. Chintala, L. Bottou, *Wasserstein GAN*, 2017, arXiv:1701.07875.
- M. Arjovsky, L. Bottou, *Towards Principled Methods for Training GANs*, 2017, arXiv:1701.04862.
- I. Gulrajani et al., *Improved Training of Wasserstein GANs*, 2017, arXiv:1704.00028 (Fig. 1b).
- C. Villani, *Optimal Transport: Old and New*, 2008 (the duality)."""),
code("""if out_json:
    result = {"lesson": "04_wgan",
              "params": {"dataset": dataset, "data_used": data.name, "n_steps": n_steps, "batch_size": batch_size,
                         "seed": seed, "device": str(trainer.device), "progress": progress, "out_json": out_json,
                         "latent_dim": latent_dim, "nf": nf, "n_critic": n_critic, "clip_value": clip_value, "lr": lr,
                         "clip_steps": clip_steps, "n_eval": n_eval},
              "seconds": round(time.perf_counter() - t_start, 2),
              "metrics": {"domain_fid": fid_fake, "domain_fid_real_vs_real": fid_real,
                          "domain_fid_over_training": trainer.evals["domain_fid"],
                          "w1_estimate_peak": w_peak, "w1_estimate_peak_step": trainer.history["step"][i_peak], "w1_estimate_end": w_last,
                          "clip_gradient_norms": {str(k): v for k, v in clip_norms.items()},
                          "share_of_weights_at_c": share_at_c, "steps": trainer.step, "train_seconds": trainer.seconds}}
    with open(out_json, "w") as fh:
        json.dump(result, fh, indent=2)
    print("wrote", out_json)"""),
]
