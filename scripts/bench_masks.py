#!/usr/bin/env python
"""Speed of unstructured pruning: the engine's mask overhead per training step, and global
magnitude pruning of a 20M-parameter VGG-19.

  python scripts/bench_masks.py [--archs vgg19 resnet56] [--steps 8] [--repeats 3] [--threads N]
                                [--device cpu|cuda] [--skip-train] [--skip-prune]

Training step: the engine's real loop (``Trainer``) on synthetic CIFAR-sized batches of 64, once
dense and once with a 50 %-sparse keep-mask on every conv and linear weight, interleaved, the
median over repeats. The mask's own work (zeroing masked gradients, re-applying the mask) is
also timed alone, which is the overhead free of the noise of two separate training runs.
Pruning: ``magnitude_prune`` (global threshold, exact count) at 50 %, then 20 % of the remaining
weights with that mask in place (a lottery / IMP round), then layer-wise; best of repeats.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from common.data import DeviceLoader
from common.engine import TrainConfig, Trainer
from common.masks import MaskKeeper, prunable_weights
from common.models import build_model
from common.pruning.weight_level import magnitude_prune, prune_fraction_of_remaining


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_seconds_per_step(arch, mask_density, steps, device, batch=64):
    torch.manual_seed(0)
    model = build_model(arch, 10, 3).to(device)
    mask = None
    if mask_density is not None:
        g = torch.Generator().manual_seed(0)
        mask = {n: torch.rand(w.shape, generator=g) < mask_density
                for n, w in prunable_weights(model, ("conv", "linear")).items()}
    x = torch.randint(0, 256, (batch * (steps + 1), 3, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 10, (len(x),))
    train = DeviceLoader(x, y, batch, (0.5,) * 3, (0.25,) * 3, train=True, device=device)
    test = DeviceLoader(x[:2], y[:2], 2, (0.5,) * 3, (0.25,) * 3, train=False, device=device)
    with tempfile.TemporaryDirectory() as d:
        t = Trainer(model, train, test, TrainConfig(epochs=1, lr=0.01, no_progress=True), d,
                    {"dataset": "synthetic", "method": "bench", "arm": "x"}, mask=mask)
        sync(device)
        t0 = time.perf_counter()
        t._train_epoch(0)
        sync(device)
        total = time.perf_counter() - t0
    return total / (steps + 1)


def keeper_seconds(arch, device, repeats=20):
    torch.manual_seed(0)
    model = build_model(arch, 10, 3).to(device)
    mask = {n: torch.rand(w.shape) < 0.5 for n, w in prunable_weights(model, ("conv", "linear")).items()}
    keeper = MaskKeeper(model, mask)
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        keeper.mask_grads()
        keeper.apply()
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archs", nargs="+", default=["vgg19", "resnet56"])
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--skip-prune", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads")

    if not args.skip_train:
        print("\nmask overhead per training step (batch 64, 32x32, 50% sparse conv+linear weights)")
        print(f"{'arch':<10} {'params':>8} {'dense s/step':>13} {'masked s/step':>14} {'diff':>7} "
              f"{'mask ops s':>11} {'mask ops / step':>16}")
        for arch in args.archs:
            dense, masked = [], []
            for _ in range(args.repeats):
                dense.append(train_seconds_per_step(arch, None, args.steps, device))
                masked.append(train_seconds_per_step(arch, 0.5, args.steps, device))
            d, m = statistics.median(dense), statistics.median(masked)
            k = keeper_seconds(arch, device)
            n = sum(q.numel() for q in build_model(arch, 10, 3).parameters())
            print(f"{arch:<10} {n / 1e6:>7.2f}M {d:>13.4f} {m:>14.4f} {100 * (m / d - 1):>+6.1f}% "
                  f"{k:>11.5f} {100 * k / d:>15.2f}%")

    if not args.skip_prune:
        torch.manual_seed(0)
        model = build_model("vgg19", 10, 3)
        n = sum(w.numel() for w in prunable_weights(model).values())
        print(f"\nglobal magnitude pruning of vgg19 ({n / 1e6:.2f}M conv weights), best of {args.repeats + 2}")
        one_shot = best_of(lambda: magnitude_prune(model, 0.5), args.repeats + 2)
        print(f"  one shot to 50% (global threshold, mask applied):    {one_shot:.3f} s")
        mask, _ = magnitude_prune(model, 0.5)
        weights = prunable_weights(model)
        again = best_of(lambda: prune_fraction_of_remaining(weights, 0.2, mask), args.repeats + 2)
        print(f"  20% of the remaining, old mask kept (one LT round): {again:.3f} s")
        torch.manual_seed(0)
        model = build_model("vgg19", 10, 3)
        layer = best_of(lambda: magnitude_prune(model, 0.5, scope="layer"), args.repeats + 2)
        print(f"  layer-wise 50%:                                      {layer:.3f} s")


if __name__ == "__main__":
    main()
