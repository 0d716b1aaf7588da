#!/usr/bin/env python
"""Benchmarks of the data pipeline and the engine (prints figures; asserts nothing).

1. One epoch of 50,000 CIFAR-shaped images through our device-resident pipeline versus
   torchvision's DataLoader with the original code's transforms (Pad 4 + RandomCrop 32 +
   flip + ToTensor + Normalize, batch 64, 2 workers), same machine, same run.
2. Engine overhead: ``Trainer`` training steps versus a bare hand-written loop, same model,
   same batches.
3. With ``--device cuda``: images/s of VGG-16 training at batch 64 under the paper's recipe,
   fed by our pipeline versus by the DataLoader.

If ``--data-dir`` holds no ``cifar-10-batches-py/``, random images are written there in
CIFAR's format first (default: a temporary folder, removed afterwards).

    python scripts/bench_loader.py [--data-dir DIR] [--device cpu|cuda] [--workers 2] [--skip-engine]
"""

from __future__ import annotations

import argparse
import os
import pickle
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common.data import dataset_info, make_loaders
from common.engine import Hook, TrainConfig, Trainer
from common.models import build_model


def write_fake_cifar10(root: Path, n_train=50_000, n_test=10_000, seed=0):
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    per = n_train // 5
    for i in range(1, 6):
        batch = {"data": rng.integers(0, 256, (per, 3072), dtype=np.uint8),
                 "labels": rng.integers(0, 10, per).tolist()}
        with open(d / f"data_batch_{i}", "wb") as f:
            pickle.dump(batch, f)
    with open(d / "test_batch", "wb") as f:
        pickle.dump({"data": rng.integers(0, 256, (n_test, 3072), dtype=np.uint8),
                     "labels": rng.integers(0, 10, n_test).tolist()}, f)


def torchvision_loader(root, batch_size, workers, pin=False):
    import torchvision.datasets as tvd
    import torchvision.transforms as T
    info = dataset_info("cifar10")
    tf = T.Compose([T.Pad(4), T.RandomCrop(32), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize(info.mean, info.std)])

    class CIFAR10Unchecked(tvd.CIFAR10):  # the written stand-in files have other md5 sums
        def _check_integrity(self):
            return True

        def _load_meta(self):
            self.classes = [str(i) for i in range(10)]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    ds = CIFAR10Unchecked(str(root), train=True, transform=tf, download=False)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers,
                                       pin_memory=pin, persistent_workers=False)


def time_epoch(loader, device):
    t0 = time.perf_counter()
    n = 0
    for x, y in loader:
        if x.device != device:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        n += y.numel()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, n


class ListLoader:
    """The same pre-made batches every epoch (for the engine-overhead comparison)."""

    def __init__(self, batches, h=32, w=32):
        self.batches, self.n, self.h, self.w = batches, sum(len(b[1]) for b in batches), h, w

    def set_epoch(self, epoch):
        pass

    def __len__(self):
        return len(self.batches)

    def __iter__(self):
        return iter(self.batches)


def bench_loader(root, device, workers):
    ours_train, _, _ = make_loaders("cifar10", root, 64, 256, device=device, seed=0)
    tv = torchvision_loader(root, 64, workers, pin=device.type == "cuda")
    time_epoch(ours_train, device)  # warm-up (allocations)
    ours = min(time_epoch(ours_train, device)[0] for _ in range(3))
    tv_t, n = time_epoch(tv, device)
    print(f"[loader] one epoch of {n:,} images, batch 64, device {device}:")
    print(f"  ours (device-resident, one gather per batch):   {ours:7.3f} s  ({n / ours:10,.0f} img/s)")
    print(f"  torchvision DataLoader, {workers} workers, PIL:       {tv_t:7.3f} s  ({n / tv_t:10,.0f} img/s)")
    print(f"  speed-up: {tv_t / ours:.1f}x")


def bench_engine(root, device, steps=60, repeats=3):
    torch.manual_seed(0)
    train, test, info = make_loaders("cifar10", root, 64, 256, device=device, seed=0)
    batches = []
    for x, y in train:
        batches.append((x, y))
        if len(batches) == steps:
            break
    test_batches = ListLoader([next(iter(test))])

    def fresh():
        torch.manual_seed(0)
        return build_model("resnet20", 10).to(device)

    def bare_loop():
        model = fresh()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        model.train()
        t0 = time.perf_counter()
        for x, y in batches:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    def engine_loop():
        model = fresh()
        tmp = tempfile.mkdtemp()
        try:
            trainer = Trainer(model, ListLoader(batches), test_batches,
                              TrainConfig(epochs=1, lr=0.1), tmp,
                              {"dataset": "cifar10", "method": "bench", "arm": "baseline"}, hooks=[Hook()])
            _, _, _, seconds = trainer._train_epoch(0)
            return seconds
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    bare_loop(), engine_loop()  # warm-up
    bare, eng = [], []
    for _ in range(repeats):  # interleaved, so machine load hits both alike
        bare.append(bare_loop())
        eng.append(engine_loop())
    b, e = statistics.median(bare), statistics.median(eng)
    print(f"[engine] resnet20, {steps} training steps of batch 64 on {device} (median of {repeats}):")
    print(f"  bare loop: {b:.3f} s ({steps * 64 / b:,.0f} img/s)   engine: {e:.3f} s ({steps * 64 / e:,.0f} img/s)")
    print(f"  engine overhead: {100 * (e / b - 1):+.1f}%  (tqdm bar, lr per step, loss/acc accounting, hooks)")


def bench_gpu_training(root, workers, steps=200):
    device = torch.device("cuda")

    def run(loader, label, channels_last=False, amp=False):
        torch.manual_seed(0)
        model = build_model("vgg16_mlp", 10).to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        done, t0 = 0, None
        for i, (x, y) in enumerate(loader):
            if x.device != device:
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            if i == 20:
                torch.cuda.synchronize()
                t0 = time.perf_counter()
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                loss = F.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if i >= 20:
                done += y.numel()
            if i == 20 + steps:
                break
        torch.cuda.synchronize()
        rate = done / (time.perf_counter() - t0)
        print(f"  {label:58s} {rate:10,.0f} img/s")
        return rate

    print(f"[gpu] VGG-16 (vgg16_mlp) training, batch 64, SGD, {steps} steps after 20 warm-up, "
          f"{torch.cuda.get_device_name()}:")
    ours, _, _ = make_loaders("cifar10", root, 64, 256, device=device, seed=0)
    a = run(ours, "ours (device-resident data), fp32")
    run(ours, "ours, bf16 autocast + channels_last", channels_last=True, amp=True)
    b = run(torchvision_loader(root, 64, workers, pin=True), f"torchvision DataLoader ({workers} workers), fp32")
    print(f"  speed-up fp32: {a / b:.2f}x")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="CIFAR-10 root; random CIFAR-format data is written if absent")
    p.add_argument("--device", default="cpu")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--skip-engine", action="store_true")
    args = p.parse_args()
    device = torch.device(args.device)
    tmp = None
    root = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="bench-cifar-"))
    if not args.data_dir:
        tmp = root
    try:
        if not (root / "cifar-10-batches-py").is_dir():
            t0 = time.perf_counter()
            write_fake_cifar10(root)
            print(f"(wrote 60,000 random CIFAR-format images to {root} in {time.perf_counter() - t0:.1f} s)")
        print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {os.cpu_count()} cores")
        bench_loader(root, device, args.workers)
        if not args.skip_engine:
            bench_engine(root, device)
        if device.type == "cuda":
            bench_gpu_training(root, args.workers)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
