"""Training throughput: our trainer against the tutorials' DataLoader loop, same DCGAN, same batch, one run.

The model is the 28×28 MNIST DCGAN of the Jupyter-Book chapter "24. Generative Adversarial
Network" (section "Improving the quality of synthesized images using DCGAN"; z = 100, nf = 32), built once per side from the
same seed. The two sides differ only in the loop around it:

- ours: ``ganlessons.train.Trainer`` — data held as one uint8 tensor on the device, batched by
  index there; losses read back every ``log_every`` steps; D's weights frozen in the G step;
  on the CPU, convolution weights in channels-last (NHWC) order, oneDNN's own layout.
- ours, NCHW: the same trainer with ``channels_last=False`` (what it did before), to show what the
  memory order alone is worth.
- ours, ``precision="bf16"`` (``--bf16``; an option, not the default): the trainer's two steps under
  autocast to bfloat16 — fast on CPUs with AMX or AVX512-BF16, slower on most laptops, other numerics.
- tutorial: a ``Dataset`` returning PIL images through ``ToTensor`` and ``Normalize``, a
  ``DataLoader(shuffle=True, drop_last=True)``, ``.to(device)`` per batch, G run twice per
  iteration and ``.item()`` on every loss, as in that chapter's ``d_train``/``g_train``.

Images/s counts real images the discriminator sees. The sides alternate for ``--rounds`` rounds
and each keeps its best round, so a burst of load on the machine hits both alike.

    python benchmarks/bench_loop.py [--device auto] [--batch-size 64] [--steps 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn as nn
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

import ganlessons as gl


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


def models(device):
    gl.seed_everything(1)
    return gl.models.DCGANGenerator28(100, 32).to(device), gl.models.DCGANDiscriminator28(32).to(device)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run_ours(data, device, batch_size, steps, warmup, channels_last=None, precision="fp32"):
    G, D = models(device)
    trainer = gl.train.Trainer(G, D, data, batch_size=batch_size, device=device, progress=False, n_samples=16,
                               live=False, channels_last=channels_last, precision=precision)
    trainer.fit(n_steps=warmup)
    sync(device)
    t0 = time.perf_counter()
    trainer.fit(n_steps=warmup + steps)
    sync(device)
    return steps * batch_size / (time.perf_counter() - t0)


def run_seed(dataset, device, batch_size, steps, warmup):
    G, D = models(device)
    loss_fn = nn.BCEWithLogitsLoss()
    g_opt = torch.optim.Adam(G.parameters(), 2e-4, betas=(0.5, 0.999))
    d_opt = torch.optim.Adam(D.parameters(), 2e-4, betas=(0.5, 0.999))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)

    def d_train(x):
        D.zero_grad()
        x = x.to(device)
        d_real = D(x)
        loss_real = loss_fn(d_real, torch.ones_like(d_real))
        g_out = G(torch.randn(x.size(0), 100, device=device))
        d_fake = D(g_out.detach())
        loss = loss_real + loss_fn(d_fake, torch.zeros_like(d_fake))
        loss.backward()
        d_opt.step()
        return loss.item()

    def g_train(x):
        G.zero_grad()
        d_fake = D(G(torch.randn(x.size(0), 100, device=device)))
        loss = loss_fn(d_fake, torch.ones_like(d_fake))
        loss.backward()
        g_opt.step()
        return loss.item()

    done, t0 = 0, None
    while done < warmup + steps:
        for x, _ in loader:
            if done == warmup:
                sync(device)
                t0 = time.perf_counter()
            d_train(x)
            g_train(x)
            done += 1
            if done == warmup + steps:
                break
    sync(device)
    return steps * batch_size / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=60, help="timed generator steps per round")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--dataset", default="mnist-5k")
    ap.add_argument("--bf16", action="store_true", help="also time ours under bfloat16 autocast")
    args = ap.parse_args()
    device = gl.pick_device(args.device)
    data = gl.data.load(args.dataset, device=device)
    host = data.to("cpu")
    dataset = PILDigits(host.x, host.y)
    sides = {"ours (ganlessons.train)": dict(),
             "ours, NCHW (channels_last=False)": dict(channels_last=False)}
    if args.bf16:
        sides["ours, precision='bf16'"] = dict(precision="bf16")
    rounds = {name: [] for name in [*sides, "seed (DataLoader + PIL)"]}
    for _ in range(args.rounds):
        for name, options in sides.items():
            rounds[name].append(run_ours(data, device, args.batch_size, args.steps, args.warmup, **options))
        rounds["seed (DataLoader + PIL)"].append(run_seed(dataset, device, args.batch_size, args.steps, args.warmup))
    best = {name: max(v) for name, v in rounds.items()}
    best_seed = best["seed (DataLoader + PIL)"]
    print(f"device {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}), "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch_size}, "
          f"{args.steps} steps x {args.rounds} rounds")
    for name, v in rounds.items():
        print(f"{name:<34} {best[name]:8.0f} img/s  {best[name] / best_seed:5.2f}x   rounds: {[round(x) for x in v]}")
    print(json.dumps({"device": str(device), "threads": torch.get_num_threads(),
                      "img_s": best, "ratio": best["ours (ganlessons.train)"] / best_seed}))


if __name__ == "__main__":
    main()
