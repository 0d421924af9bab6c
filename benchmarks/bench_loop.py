"""Training throughput: our trainer against the tutorials' DataLoader loop, same models, same batch, one run.

For each configuration — the 28×28 MNIST DCGAN (z = 100, nf = 32, the Jupyter-Book chapter "24.
Generative Adversarial Network", section "Improving the quality of synthesized images using DCGAN")
at batch 64, 128 and 1024, and WGAN-GP (the same G, D without BatchNorm, 5 critic steps, λ = 10) at
batch 64 — the sides train the same models, built from the same seed, on the same device:

- **seeds' loop**: a ``Dataset`` returning PIL images through ``ToTensor`` and ``Normalize``, a
  ``DataLoader(shuffle=True, drop_last=True)``, ``.to(device)`` per batch, ``.item()`` on every loss,
  as that chapter's ``d_train``/``g_train`` (WGAN-GP: its ``d_train_wgan`` five times on one batch);
- **ours, plain**: ``gl.train.Trainer(fast=False)`` — data as one uint8 tensor on the device, batched
  by index there, losses read back every ``log_every`` steps, D frozen in the G step (fp32, eager;
  channels-last on a CPU);
- **ours, fast** (a CUDA device only): ``gl.train.Trainer`` as it runs there by default, the fast path
  of :mod:`ganlessons.fast` — bf16 autocast, channels-last, fused Adam, the D and G steps replayed
  as CUDA graphs;
- ``--bf16`` adds ours with ``precision="bf16"`` on the plain path (on a CPU: AMX/AVX512-BF16 or not).

Images/s counts the real images the critic sees (steps × n_critic × batch). Each side runs for
``--seconds`` per round, the sides alternate for ``--rounds`` rounds and each keeps its best round, so
a burst of load on the machine hits all alike. Achieved TFLOP/s: the matrix-product and convolution
FLOPs of one update (forward and backward, counted once on our update by ``torch.utils.flop_counter``'s formulas;
the seeds' loop computes the same products) times updates per second, against a matrix product
measured here in the side's precision (bf16 and fp32; on a GPU fp32 without TF32, PyTorch's default). An "epoch" is 60,000 images, full MNIST's
training set, at the measured rate.

    python benchmarks/bench_loop.py [--device auto] [--configs dcgan:64,dcgan:128,dcgan:1024,wgan-gp:64]
                                    [--seconds 3] [--rounds 2] [--bf16] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn as nn
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry
from torchvision import transforms

import ganlessons as gl

EPOCH = 60_000
SEED_SIDE = "seeds' loop (DataLoader + PIL)"


class PILDigits(Dataset):
    """The tutorial's input path: a PIL image per item, converted and normalised on the CPU."""

    def __init__(self, x_uint8: torch.Tensor, y: torch.Tensor):
        self.images = [Image.fromarray(img[0].numpy(), mode="L") for img in x_uint8]
        self.labels = y.tolist()
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


CONFIGS = {
    "dcgan": dict(loss="gan", n_critic=1, batchnorm=True, lr=2e-4, betas=(0.5, 0.999), lambda_gp=0.0),
    "wgan-gp": dict(loss="wgan", n_critic=5, batchnorm=False, lr=1e-4, betas=(0.0, 0.9), lambda_gp=10.0),
}


def models(cfg, device):
    gl.seed_everything(1)
    return (gl.models.DCGANGenerator28(100, 32).to(device),
            gl.models.DCGANDiscriminator28(32, batchnorm=cfg["batchnorm"]).to(device))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------- ours


class CountFlops(TorchDispatchMode):
    """The FLOPs of matrix products and convolutions, by ``torch.utils.flop_counter``'s formulas.

    ``FlopCounterMode`` itself also tracks modules with backward hooks, which ``autograd.grad`` (the
    gradient penalty) refuses; this counts the same operations without them."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func.overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


class Ours:
    """Our trainer, built once per side and configuration (a graph is captured once), timed in chunks."""

    def __init__(self, cfg, data, device, batch_size, **options):
        G, D = models(cfg, device)
        regs = [gl.losses.GradientPenalty(cfg["lambda_gp"])] if cfg["lambda_gp"] else []
        self.trainer = gl.train.Trainer(G, D, data, loss=cfg["loss"], n_critic=cfg["n_critic"], d_regularizers=regs,
                                        lr=cfg["lr"], betas=cfg["betas"], batch_size=batch_size, device=device,
                                        progress=False, live=False, n_samples=16, **options)
        self.n_critic, self.batch_size, self.device = cfg["n_critic"], batch_size, device
        self.trainer.fit(n_steps=8)  # warm-up: cuDNN's choices, Adam's state, the graphs' capture

    def flops(self) -> int:
        """Matrix-product and convolution FLOPs of one update (n_critic D steps and a G step)."""
        tr = self.trainer
        with CountFlops() as counter:
            tr._d_steps()
            tr._g_step()
        return counter.total

    def run(self, seconds: float) -> float:
        tr = self.trainer
        step0 = tr.step
        sync(self.device)
        t0 = time.perf_counter()
        tr.fit(seconds=seconds)
        sync(self.device)
        return (tr.step - step0) * self.n_critic * self.batch_size / (time.perf_counter() - t0)


# ----------------------------------------------------------------------------- the seeds' loop


class SeedLoop:
    """The tutorial's loop: DataLoader of PIL images, ``.to(device)`` per batch, ``.item()`` per loss."""

    def __init__(self, cfg, dataset, device, batch_size):
        self.cfg, self.device, self.batch_size = cfg, device, batch_size
        self.G, self.D = models(cfg, device)
        self.g_opt = torch.optim.Adam(self.G.parameters(), cfg["lr"], betas=cfg["betas"])
        self.d_opt = torch.optim.Adam(self.D.parameters(), cfg["lr"], betas=cfg["betas"])
        self.loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)
        self.loss_fn = nn.BCEWithLogitsLoss()
        self.batches = iter(self.loader)
        self.run(0.0, min_updates=2)  # warm-up

    def _gradient_penalty(self, real, fake):
        alpha = torch.rand(real.shape[0], 1, 1, 1, requires_grad=True, device=self.device)
        interpolated = alpha * real + (1 - alpha) * fake
        proba = self.D(interpolated)
        grads = torch.autograd.grad(outputs=proba, inputs=interpolated, grad_outputs=torch.ones(proba.size(),
                                    device=self.device), create_graph=True, retain_graph=True)[0]
        grads = grads.view(real.shape[0], -1)
        return self.cfg["lambda_gp"] * ((grads.norm(2, dim=1) - 1) ** 2).mean()

    def d_train(self, x):
        self.D.zero_grad()
        x = x.to(self.device)
        d_real = self.D(x)
        g_out = self.G(torch.randn(x.size(0), 100, device=self.device))
        d_fake = self.D(g_out.detach())
        if self.cfg["loss"] == "wgan":
            loss = d_fake.mean() - d_real.mean() + self._gradient_penalty(x.data, g_out.data)
        else:
            loss = self.loss_fn(d_real, torch.ones_like(d_real)) + self.loss_fn(d_fake, torch.zeros_like(d_fake))
        loss.backward()
        self.d_opt.step()
        return loss.item()

    def g_train(self, x):
        self.G.zero_grad()
        d_fake = self.D(self.G(torch.randn(x.size(0), 100, device=self.device)))
        loss = -d_fake.mean() if self.cfg["loss"] == "wgan" else self.loss_fn(d_fake, torch.ones_like(d_fake))
        loss.backward()
        self.g_opt.step()
        return loss.item()

    def _next(self):
        try:
            return next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            return next(self.batches)

    def run(self, seconds: float, min_updates: int = 1) -> float:
        sync(self.device)
        t0, updates = time.perf_counter(), 0
        while updates < min_updates or time.perf_counter() - t0 < seconds:
            x, _ = self._next()
            for _ in range(self.cfg["n_critic"]):  # the tutorial's critic iterations reuse the batch
                self.d_train(x)
            self.g_train(x)
            updates += 1
        sync(self.device)
        return updates * self.cfg["n_critic"] * self.batch_size / (time.perf_counter() - t0)


# ----------------------------------------------------------------------------- the peak


def matmul_peak(device, dtype, seconds: float = 1.0) -> float:
    """FLOP/s of a large square matrix product in ``dtype`` on ``device`` (the best of a few)."""
    n = 8192 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        sync(device)
        t0 = time.perf_counter()
        for _ in range(10):
            a @ b
        sync(device)
        best = max(best, 10 * 2 * n ** 3 / (time.perf_counter() - t0))
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--configs", default="dcgan:64,dcgan:128,dcgan:1024,wgan-gp:64",
                    help="comma-separated model:batch pairs (models: dcgan, wgan-gp)")
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per side and round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dataset", default="mnist-5k")
    ap.add_argument("--bf16", action="store_true", help="also time ours with precision='bf16' on the plain path")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    args = ap.parse_args()
    device = gl.pick_device(args.device)
    configs = []
    for item in args.configs.split(","):
        name, _, batch = item.partition(":")
        if name not in CONFIGS or not batch.isdigit():
            ap.error(f"--configs: {item!r} is not model:batch with a model in {sorted(CONFIGS)}")
        configs.append((name, int(batch)))
    data = gl.data.load(args.dataset, device=device)
    host = data.to("cpu")
    dataset = PILDigits(host.x, host.y)
    cuda = device.type == "cuda"
    peaks = {"bf16": matmul_peak(device, torch.bfloat16), "fp32": matmul_peak(device, torch.float32)}
    name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"device {device} ({name}), torch {torch.__version__}; measured matmul peak: "
          + ", ".join(f"{k} {v / 1e12:.3g} TFLOP/s" for k, v in peaks.items()))
    print(f"{'config':<13} {'side':<40} {'img/s':>9} {'× seeds':>8} {'TFLOP/s':>8} {'% peak':>7} {'60k epoch':>10}")
    results = []
    for cfg_name, batch in configs:
        cfg = CONFIGS[cfg_name]
        sides = {SEED_SIDE: SeedLoop(cfg, dataset, device, batch),
                 "ours, plain (fast=False)": Ours(cfg, data, device, batch, fast=False)}
        if cuda:
            sides["ours, fast (bf16, CUDA graphs)"] = Ours(cfg, data, device, batch)
        if args.bf16:
            sides["ours, plain, precision='bf16'"] = Ours(cfg, data, device, batch, fast=False, precision="bf16")
        flops = next(s for s in sides.values() if isinstance(s, Ours)).flops()
        rounds = {side: [] for side in sides}
        for _ in range(args.rounds):
            for side, runner in sides.items():
                rounds[side].append(runner.run(args.seconds))
        seed = max(rounds[SEED_SIDE])
        for side, values in rounds.items():
            best = max(values)
            precision = sides[side].trainer.precision if isinstance(sides[side], Ours) else "fp32"
            peak = peaks[precision]
            tflops = flops * best / (cfg["n_critic"] * batch) / 1e12
            row = {"config": f"{cfg_name} b{batch}", "side": side, "img_s": round(best), "ratio": best / seed,
                   "tflops": tflops, "peak_fraction": tflops * 1e12 / peak, "peak": precision,
                   "epoch_s": EPOCH / best, "rounds": [round(v) for v in values], "flops_per_update": flops}
            results.append(row)
            print(f"{row['config']:<13} {side:<40} {best:9.0f} {row['ratio']:7.2f}x {tflops:8.3f} "
                  f"{100 * row['peak_fraction']:6.1f}% {row['epoch_s']:9.2f}s")
    summary = {"device": str(device), "name": name, "torch": torch.__version__, "threads": torch.get_num_threads(),
               "peaks_tflops": {k: v / 1e12 for k, v in peaks.items()}, "results": results}
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(summary, fh, indent=1)


if __name__ == "__main__":
    main()
