"""Cells of notebooks/02_cgan.ipynb (build with: python tools/make_notebook.py 02_cgan)."""

from nbcells import code, md, params

CELLS = [
md("""# 02 · Conditioning: the conditional GAN
*Mirza & Osindero (2014): tell both players which digit it is — then ask G for a 7 and get a 7.*

**Learning objectives**
1. Write the conditional value function and build the conditional inputs of G and D.
2. Explain why D still answers only "real or fake", and how it nonetheless punishes an image with the wrong label.
3. Compare a one-hot label code with a learned embedding.
4. Control G with a class selector and z sliders: one row per class from the same z keeps the style and changes the digit.
5. Measure conditioning with `class_accuracy`, a trained digit classifier's verdict on G(z | y).

**Builds on:** lesson 01 (the game, D\\*, the non-saturating loss)."""),
code("""%matplotlib inline
import json, math, time
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
import ganlessons as gl

t_start = time.perf_counter()"""),
params("""# Parameters (papermill: -p NAME VALUE). Defaults: a lecture budget on a laptop CPU, about 2 minutes.
dataset: str = "mnist"          # "mnist" (falls back to the bundled "mnist-5k" offline), "mnist-5k", "fashion-mnist"
n_steps: int = 3000             # generator updates, the training budget
batch_size: int = 64            # images per step
seed: int = 0                   # same seed, same run (bit for bit on the CPU)
device: str = "auto"            # auto picks cuda, then mps, then cpu
progress: bool = True           # progress bar while training
out_json: str = ""              # if set, write this run's metrics here (homework collection)
latent_dim: int = 100           # size of z
lr: float = 5e-4                # Adam learning rate of G and D, betas 0.5 and 0.999
embedding: str = "onehot"       # label code e(y): "onehot" (fixed) or "learned" (nn.Embedding)
embed_dim: int = 10             # size of a learned embedding (a one-hot code has n_classes)
mismatch_weight: float = 1.0    # weight of the matching-aware term (real image, wrong label); 0 is the plain cGAN
n_eval: int = 2000              # images per side for domain_fid
n_per_class: int = 100          # samples per class for class_accuracy"""),
md("""## 1 · Conditioning both players

Give G and D an extra input y (here the digit class). G draws x = G(z | y); D judges the *pair*:
D(x | y) is the probability that x is a real image **of class y**. The game becomes

$$\\min_G \\max_D\\; \\mathbb{E}_{(x, y)\\sim p_\\text{data}}[\\log D(x \\mid y)] + \\mathbb{E}_{z\\sim p_z,\\, y\\sim p(y)}[\\log(1 - D(G(z \\mid y) \\mid y))].$$

Mirza & Osindero feed y in by **concatenation**: G's input is [z, e(y)] and D's is
[vec(x), e(y)], where e(y) is a code for the label — a one-hot vector, or a learned embedding
(a trainable table `nn.Embedding(K, d)`, one row per class). A one-hot code has nothing to learn
and keeps the classes equidistant; an embedding can place similar classes near each other and
can be smaller than K when there are many classes.

**D still outputs one number: real or fake.** It is not a classifier. Lesson 01's argument runs
unchanged on pairs: the best D is

$$D^*(x, y) = \\frac{p_\\text{data}(x, y)}{p_\\text{data}(x, y) + p_g(x, y)},$$

and G then minimises the Jensen–Shannon divergence between the *joint* distributions — which,
with y drawn from the same p(y), is zero only when p_g(x | y) = p_data(x | y) for every class.
A "3" drawn when G was asked for a 7 is a pair (x, 7) with p_data(x, 7) ≈ 0: D\\* ≈ 0 there,
and G pays for it.

There is a catch: the data never shows D a real image with a wrong label, so D learns to reject
a mismatched pair only after G has produced it. The **matching-aware** discriminator of Reed et
al. (2016) shows D such pairs directly — real images with wrong labels, scored as fakes:

$$L_D = -\\mathbb{E}[\\log D(x \\mid y)] - \\mathbb{E}[\\log(1 - D(G(z \\mid y) \\mid y))] - \\lambda\\, \\mathbb{E}_{y' \\neq y}[\\log(1 - D(x \\mid y'))].$$

On this machine, 3,000 steps of the plain cGAN (`mismatch_weight = 0`) reached a `class_accuracy`
of 0.60–0.80; with the matching-aware term (λ = 1, the default) 0.94."""),
md("""## 2 · Building the conditional input"""),
code("""z = torch.randn(4, latent_dim)
y = torch.tensor([3, 1, 4, 1])
e = F.one_hot(y, num_classes=10).float()            # num_classes: the width must not depend on the batch
g_input = torch.cat([z, e], dim=1)                  # one row per sample: [z, e(y)]
print("z", tuple(z.shape), "+ e(y)", tuple(e.shape), "->", tuple(g_input.shape))
print(e)
assert g_input.shape == (4, latent_dim + 10) and torch.equal(g_input[:, latent_dim:].argmax(1), y)"""),
code("""gl.seed_everything(seed)
data = gl.data.load(dataset, device=device)
print(data)
G = gl.models.ConditionalMLPGenerator(latent_dim=latent_dim, n_classes=data.n_classes, embedding=embedding,
                                      embed_dim=embed_dim)
D = gl.models.ConditionalMLPDiscriminator(n_classes=data.n_classes, embedding=embedding, embed_dim=embed_dim)
print(G); print(D)
x_test = G(z, y)
assert x_test.shape == (4, 1, 28, 28) and D(x_test, y).shape == (4,)
if embedding == "onehot":  # G's own code for y is the one-hot vector built above
    assert torch.equal(G.label(y), e)"""),
md("""## 3 · Training

The same trainer as every lesson: it sees `G.n_classes` and passes labels — real images with
their own labels, fakes with labels drawn uniformly, the same y to G and to D. The matching-aware
term is a *regulariser* of D's loss, like the gradient penalty of lesson 05; the trainer logs it as
`mismatch`. We also measure `class_accuracy` six times along the way."""),
code("""x_eval_real = data.images(min(n_eval, len(data)))
def track(trainer):
    return {"class_accuracy": gl.metrics.class_accuracy(trainer.G, n_per_class=30, domain=data.name, seed=seed)}

regularizers = [gl.losses.MismatchPenalty(mismatch_weight)] if mismatch_weight > 0 else []
trainer = gl.train.fit(G, D, data, n_steps=n_steps, batch_size=batch_size, lr=lr, seed=seed, device=device,
                       progress=progress, d_regularizers=regularizers,
                       callbacks=[gl.train.every(max(1, n_steps // 6), track)])
print(f"{trainer.step} steps in {trainer.seconds:.1f} s ({trainer.images_seen / trainer.seconds:,.0f} real images/s)")
assert trainer.conditional"""),
code("""fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.2))
gl.viz.plot_losses(trainer.history, keys=[k for k in ("d_loss", "g_loss", "mismatch") if k in trainer.history],
                   ax=a, title="losses")
steps_acc, accs = zip(*trainer.evals["class_accuracy"])
b.plot(steps_acc, accs, "o-"); b.set_ylim(0, 1); b.axhline(0.1, color="gray", ls=":", label="chance")
b.set_xlabel("generator step"); b.set_title("class_accuracy along the way"); b.legend(); b.grid(alpha=0.3)
plt.tight_layout(); plt.show()
gl.viz.plot_timeline(trainer.snapshots, n_columns=6, n_images=20); plt.show()"""),
md("""## 4 · Style held, class varied

Each column below is **one z**; each row asks for one class. If G has learned to separate *what*
(the label) from *how* (z: slant, width, thickness), a column keeps its handwriting while the
digit changes."""),
code("""n_cols = 8
z_cols = torch.randn(n_cols, latent_dim, generator=torch.Generator().manual_seed(seed + 5))
z_grid = z_cols.repeat(data.n_classes, 1)                                  # row-major: class by class
y_grid = torch.arange(data.n_classes).repeat_interleave(n_cols)
x_grid = trainer.sample(z_grid, y_grid)
gl.viz.show_grid(x_grid, nrow=n_cols, title="rows: y = 0 … 9; columns: one z each", size=5); plt.show()
assert x_grid.shape == (data.n_classes * n_cols, 1, 28, 28)"""),
md("""## 5 · How often is it the digit we asked for? `class_accuracy`

A LeNet trained on real MNIST (it ships with the package; 0.989 held-out accuracy) classifies
G(z | y) for 100 z per class. `class_accuracy` is the fraction classified as the asked-for y; the
matrix shows where G goes wrong (row: asked for, column: what the classifier saw). The classifier
must be *trained*: an untrained network's "features" would make any number meaningless."""),
code("""confusion = gl.metrics.class_confusion(trainer.G, n_per_class=n_per_class, domain=data.name, seed=seed)
class_accuracy = confusion.diagonal().mean().item()
fig, ax = plt.subplots(figsize=(4.2, 3.8))
im = ax.imshow(confusion, cmap="Blues", vmin=0, vmax=1); fig.colorbar(im, ax=ax, fraction=0.046)
ax.set_xlabel("classifier says"); ax.set_ylabel("G was asked for"); ax.set_xticks(range(10)); ax.set_yticks(range(10))
ax.set_title(f"class_accuracy = {class_accuracy:.3f}"); plt.tight_layout(); plt.show()

fid = gl.metrics.fid_report(trainer, data, n_eval)          # G vs real, and the real-vs-real floor
fid_fake, fid_real, n = fid["domain_fid"], fid["domain_fid_real_vs_real"], fid["n"]
print(f"class_accuracy {class_accuracy:.3f}   domain_fid {fid_fake:.1f} (real vs real {fid_real:.1f})")
same = gl.metrics.class_accuracy(trainer.G, n_per_class, domain=data.name, seed=seed)  # the diagonal's mean
assert 0.0 <= class_accuracy <= 1.0 and abs(class_accuracy - same) < 1e-6"""),
md("""## 6 · Ask for a digit

Choose a class and move the z sliders: the eight samples share the class and change their
style together. (Static picture below: the same eight z, asked for 0, 4 and 8.)"""),
code("""fig, axes = plt.subplots(1, 3, figsize=(10, 1.9))
z8 = torch.randn(8, latent_dim, generator=torch.Generator().manual_seed(seed))
for ax, c in zip(axes, (0, 4, 8)):
    gl.viz.show_grid(trainer.sample(z8, torch.full((8,), c)), nrow=8, ax=ax, title=f"y = {c}")
plt.show()
gl.widgets.conditional_explorer(G, dims=(0, 1, 2), n=8, seed=seed)"""),
md("""## 7 · Between two classes

Interpolating the label *code* while z stays fixed: e = (1 − t)·e(a) + t·e(b). For a one-hot code
the midpoint is "half a 1, half a 7" — an input G never saw in training, so the middle of a row
shows what G does with an ambiguous request (often a sudden switch, sometimes a blend). Set
`embedding = "learned"` and compare: a learned code space can make the path smoother."""),
code("""pairs = [(1, 7), (3, 8), (4, 9), (0, 6), (2, 5)]
t = torch.linspace(0, 1, 9)
z_fixed = torch.randn(1, latent_dim, generator=torch.Generator().manual_seed(seed + 7)).to(trainer.device)
rows = []
G.eval()
with torch.no_grad():
    for a, b in pairs:
        ea, eb = G.label(torch.tensor([a], device=trainer.device)), G.label(torch.tensor([b], device=trainer.device))
        codes = (1 - t.to(ea)[:, None]) * ea + t.to(ea)[:, None] * eb
        rows.append(G.from_embedding(z_fixed.expand(len(t), -1), codes).cpu())
    x_one = G(z_fixed, torch.tensor([1], device=trainer.device))[0].cpu()
    assert torch.allclose(rows[0][0], x_one, atol=1e-4)          # a batch of 9 and of 1 round differently
G.train()
gl.viz.show_grid(torch.cat(rows), nrow=len(t), title="label code from a (left) to b (right): " +
                 ", ".join(f"{a}→{b}" for a, b in pairs), size=6); plt.show()"""),
md("""## 8 · What D does with a mismatched pair

Real images, once with their own labels and once with wrong ones. D answers "real or fake"
for the pair; if it has learned the conditioning, real digits with wrong labels are called fake."""),
code("""x_r, y_r = data.sample(1000, generator=torch.Generator(device=data.device).manual_seed(seed))
y_w = gl.losses.mismatched_labels(y_r, data.n_classes)
D.eval()
with torch.no_grad():
    d_right, d_wrong = torch.sigmoid(D(x_r, y_r)).cpu(), torch.sigmoid(D(x_r, y_w)).cpu()
D.train()
plt.figure(figsize=(6, 2.8))
plt.hist(d_right, bins=40, range=(0, 1), alpha=0.6, label="D(x | right y)")
plt.hist(d_wrong, bins=40, range=(0, 1), alpha=0.6, label="D(x | wrong y)")
plt.xlabel("D's probability of 'real'"); plt.legend(); plt.tight_layout(); plt.show()
mismatch = {"d_right": d_right.mean().item(), "d_wrong": d_wrong.mean().item()}
print(f"mean D on real images: {mismatch['d_right']:.3f} with the right label, "
      f"{mismatch['d_wrong']:.3f} with a wrong one")"""),
md("""## 9 · Common mistakes

- **Giving D a different label than G was asked for.** The fake pair is (G(z | y), y) with the
  *same* y; pairing the fakes with the real batch's labels asks D a different question.
- **A raw class number as one input.** `y.float()` as a single feature says 7 > 3; classes have no
  order. Use one-hot or an embedding.
- **`F.one_hot(y)` without `num_classes`.** The code's width is then max(y) + 1 of *this batch*;
  it breaks on the first batch without a 9.
- **Concatenating along the batch dimension.** `torch.cat([z, e])` stacks rows (dim 0); the code
  belongs beside z in each row (dim 1).
- **A sigmoid at the end of D with `BCELoss` or `MSELoss`** (as in a popular cGAN, and seed 000
  says either works). D's output is a logit; the loss is BCE-with-logits (lesson 01, § 7).
- **Judging conditioning by eye on a few samples.** Measure it: `class_accuracy` over 1,000
  samples with a *trained* classifier.

## Summary
- A cGAN conditions both G and D on y; D still outputs one real/fake probability, now for the pair.
- D\\*(x, y) = p_data(x, y)/(p_data(x, y) + p_g(x, y)): a real image with a wrong label is unlikely
  under the data, and G is punished for drawing the wrong class.
- Showing D mismatched real pairs (matching-aware D) makes it learn the conditioning sooner.
- `class_accuracy` measures conditioning with a trained classifier; one row per class shows the
  split between label (what) and z (how).

## Exercises
**1.** Build G's conditional input from z, integer labels y and the number of classes."""),
code("""def my_conditional_input(z, y, n_classes):
    # your code: return [z, one-hot code of y], one row per sample
    raise NotImplementedError

gl.checks.conditional_input(my_conditional_input)"""),
code("""def solution_conditional_input(z, y, n_classes):
    return torch.cat([z, F.one_hot(y, n_classes).float()], dim=1)

assert gl.checks.conditional_input(solution_conditional_input)""", hidden=True),
md("""**2.** Predict before you measure: take real images and give D wrong labels. Is D's loss term for
real data, −log D(x | y′), **higher**, **lower** or the **same** as with the right labels? Write
your answer; the checker also measures it on the D you just trained."""),
code("""my_prediction = ""   # "higher", "lower" or "same"

gl.checks.mismatch_prediction(my_prediction, D=D, data=data)"""),
code("""assert gl.checks.mismatch_prediction("higher")""", hidden=True),
md("""**3.** (No checker.) Retrain with `mismatch_weight = 0` and then with `embedding = "learned"`. How do
`class_accuracy` along the way and the interpolation rows of § 7 change?

## References
- M. Mirza, S. Osindero, *Conditional Generative Adversarial Nets*, 2014, arXiv:1411.1784.
- S. Reed et al., *Generative Adversarial Text to Image Synthesis*, 2016, arXiv:1605.05396 (matching-aware D).
- I. Goodfellow et al., *Generative Adversarial Nets*, 2014, arXiv:1406.2661.
- Further: A. Odena et al., *AC-GAN*, 2017, arXiv:1610.09585; T. Miyato, M. Koyama, *cGANs with Projection Discriminator*, 2018, arXiv:1802.05637."""),
code("""if out_json:
    result = {"lesson": "02_cgan",
              "params": {"dataset": dataset, "data_used": data.name, "n_steps": n_steps, "batch_size": batch_size,
                         "seed": seed, "device": str(trainer.device), "progress": progress, "out_json": out_json,
                         "latent_dim": latent_dim, "lr": lr, "embedding": embedding, "embed_dim": embed_dim,
                         "mismatch_weight": mismatch_weight, "n_eval": n_eval, "n_per_class": n_per_class},
              "seconds": round(time.perf_counter() - t_start, 2),
              "metrics": {"class_accuracy": class_accuracy, "domain_fid": fid_fake,
                          "domain_fid_real_vs_real": fid_real,
                          "class_accuracy_over_training": trainer.evals["class_accuracy"],
                          "d_real_pair": mismatch["d_right"], "d_mismatched_pair": mismatch["d_wrong"],
                          "steps": trainer.step, "train_seconds": trainer.seconds}}
    with open(out_json, "w") as fh:
        json.dump(result, fh, indent=2)
    print("wrote", out_json)"""),
]
