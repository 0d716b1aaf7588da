#!/usr/bin/env python
"""Time ``prune.py`` of ThiNet and of regression pruning, and their peak memory.

CIFAR mode (default): writes a CIFAR-10 of random images in the real on-disk format (50,000 train /
10,000 test by default) and a VGG-16 (``vgg16_mlp``) baseline checkpoint, then runs each method's
``prune.py`` with its default sample counts (1,000 images, 10 locations per image).

ImageNet mode (``--imagenet``): writes an ImageNet-layout folder of 1,000 classes of photo-sized JPEGs
(500x375) and full-width VGG-16 (no BN) and ResNet-50 baselines (random weights: the cost does not
depend on them), then runs ``imagenet/<method>/prune.py`` at 224x224 on each -- ThiNet-Conv (r 0.5)
and ThiNet-50 (r 0.5), VGG-16-5x and ResNet-50-2x -- with ``--images N`` sample images (the papers
use 10,000 and 5,000; default 100 here) and ``--test-subset`` validation images.

Each runs in a fresh process; printed: wall time of the whole command (data, the evaluations before
and after, pruning, saving), the method's own time, the time of every pruned layer and the
process's peak resident memory.

    python scripts/bench_channel_pruning.py [--methods thinet regression] [--threads N]
                                            [--train-images 50000] [--test-images 10000] [--keep DIR]
    python scripts/bench_channel_pruning.py --imagenet [--archs vgg16_nobn resnet50] [--images 100]
                                            [--test-subset 20] [--batch-size 32] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

# runs an entry point in this process, then reports the process's own peak RSS (KiB on Linux)
WRAPPER = """
import resource, runpy, sys
script = sys.argv[1]; sys.argv = sys.argv[1:]
try:
    runpy.run_path(script, run_name="__main__")
finally:
    print(f"PEAK_RSS_KIB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", flush=True)
"""


def write_cifar10(root: Path, n_train: int, n_test: int, seed: int = 0):
    """Random uint8 images in CIFAR-10's python pickles (5 train batches + test_batch)."""
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    sizes = [n_train // 5 + (i < n_train % 5) for i in range(5)]
    for i, n in enumerate(sizes, 1):
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(np.arange(n) % 10)}
        (d / f"data_batch_{i}").write_bytes(pickle.dumps(batch))
    test = {b"data": rng.integers(0, 256, (n_test, 3072), dtype=np.uint8), b"labels": list(np.arange(n_test) % 10)}
    (d / "test_batch").write_bytes(pickle.dumps(test))


def write_baseline(path: Path):
    import torch

    from common.checkpoint import make_checkpoint, save_checkpoint
    from common.models import build_model

    torch.manual_seed(0)
    model = build_model("vgg16_mlp", 10, 3)
    save_checkpoint(make_checkpoint(model, "cifar10", "l1-norm", "baseline", meta={"seed": 1}), path)


def write_imagenet(root: Path, classes: int = 1000):
    """One photo-sized JPEG per class in train/ and val/."""
    import torch
    from torchvision.io import write_file

    from bench_imagenet_loader import photo_jpeg   # (this folder is on the path of a script run from it)

    g = torch.Generator().manual_seed(0)
    for split in ("train", "val"):
        for k in range(classes):
            folder = root / split / f"n{k:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            write_file(str(folder / "0.JPEG"), photo_jpeg(g))


def write_imagenet_baseline(path: Path, arch: str):
    import torch

    from common.checkpoint import make_checkpoint, save_checkpoint
    from common.models import build_model

    torch.manual_seed(0)
    save_checkpoint(make_checkpoint(build_model(arch, 1000, 3), "imagenet", "pretrained", "baseline",
                                    meta={"seed": 1}), path)


def run_prune(cmd, env, out):
    """Run one prune.py in a fresh process; ``(wall seconds, peak RSS GiB, result)``."""
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        print(r.stdout[-2000:], r.stderr[-2000:], sep="\n")
        raise SystemExit(f"{' '.join(cmd[3:5])} failed (exit {r.returncode})")
    rss = int(next(line.split()[1] for line in r.stdout.splitlines() if line.startswith("PEAK_RSS_KIB")))
    print("\n== " + " ".join(cmd[3:]))
    print("\n".join(line for line in r.stdout.splitlines() if "->" in line or "FLOPs" in line))
    return wall, rss / 2**20, json.loads((out / "result.json").read_text())


def imagenet_mode(args, work, env):
    t0 = time.perf_counter()
    if not (work / "imagenet" / "val").is_dir():
        write_imagenet(work / "imagenet")
    for arch in args.archs:
        if not (work / f"{arch}.pt").is_file():
            write_imagenet_baseline(work / f"{arch}.pt", arch)
    print(f"1,000-class ImageNet-layout JPEG folder and baselines ({', '.join(args.archs)}) ready in "
          f"{time.perf_counter() - t0:.1f}s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    speedup = {"vgg16_nobn": "5", "resnet50": "2"}          # VGG-16-5x and ResNet-50-2x
    rows = []
    for arch in args.archs:
        for method in args.methods:
            extra = ["--r", "0.5"] if method == "thinet" else ["--speedup", speedup[arch]]
            out = work / f"{method}-{arch}"
            cmd = [sys.executable, "-c", WRAPPER, str(ROOT / f"imagenet/{method}/prune.py"),
                   "--checkpoint", str(work / f"{arch}.pt"), "--data-dir", str(work / "imagenet"), "--save", str(out),
                   "--device", "cpu", "--images", str(args.images), "--test-subset", str(args.test_subset),
                   "--batch-size", str(args.batch_size), *extra]
            import shutil
            shutil.rmtree(out, ignore_errors=True)
            wall, rss, result = run_prune(cmd, env, out)
            layers = result["report"]["layers"]
            slowest = max(layers, key=lambda r: r["seconds"])
            rows.append((method, arch, wall, result["report"]["seconds"], rss, len(layers), slowest["layer"],
                         slowest["seconds"], result["flops_reduction"]))
    print("\n| method | model | prune.py wall (s) | of which pruning (s) | peak RSS (GiB) | layers | slowest layer (s) "
          "| FLOPs reduction |")
    print("|---|---|---|---|---|---|---|---|")
    for method, arch, wall, prune_s, rss, n, name, slow, red in rows:
        print(f"| {method} | {arch} | {wall:.0f} | {prune_s:.0f} | {rss:.2f} | {n} | {name}: {slow:.0f} | "
              f"{100 * red:.1f}% |")
    print(f"\n224x224, {args.images} sample images, {args.test_subset} validation images, CPU, threads "
          f"{args.threads or 'default'}; load average now {os.getloadavg()[0]:.1f}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["thinet", "regression"], choices=["thinet", "regression"])
    p.add_argument("--threads", type=int, default=None, help="torch/OpenMP threads of the pruning process "
                   "(default: torch's own choice)")
    p.add_argument("--train-images", type=int, default=50000)
    p.add_argument("--test-images", type=int, default=10000)
    p.add_argument("--keep", default=None, help="work in this folder and keep it (default: a temp folder)")
    p.add_argument("--imagenet", action="store_true", help="ImageNet mode: full-width VGG-16 and ResNet-50 at 224")
    p.add_argument("--archs", nargs="+", default=["vgg16_nobn", "resnet50"], choices=["vgg16_nobn", "resnet50"])
    p.add_argument("--images", type=int, default=100, help="ImageNet mode: sample images (default 100)")
    p.add_argument("--test-subset", type=int, default=20, help="ImageNet mode: validation images (default 20)")
    p.add_argument("--batch-size", type=int, default=32, help="ImageNet mode: batch of the samples (default 32)")
    args = p.parse_args(argv)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_channel_pruning_"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    if args.imagenet:
        try:
            imagenet_mode(args, work, env)
        finally:
            if not args.keep:
                import shutil
                shutil.rmtree(work, ignore_errors=True)
        return
    t0 = time.perf_counter()
    write_cifar10(work / "data", args.train_images, args.test_images)
    write_baseline(work / "baseline.pt")
    print(f"CIFAR-shaped data ({args.train_images} train / {args.test_images} test, random) and a VGG-16 "
          f"(vgg16_mlp) baseline written in {time.perf_counter() - t0:.1f}s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rows = []
    for method in args.methods:
        out = work / method
        cmd = [sys.executable, "-c", WRAPPER, str(ROOT / f"cifar/{method}/prune.py"),
               "--checkpoint", str(work / "baseline.pt"), "--data-dir", str(work / "data"), "--save", str(out),
               "--device", "cpu"]
        wall, rss, result = run_prune(cmd, env, out)
        layers = result["report"]["layers"]
        rows.append((method, wall, result["report"]["seconds"], rss, len(layers),
                     sum(row["samples"] for row in layers) // len(layers), result["flops_reduction"]))
    print("\n| method | prune.py wall (s) | of which pruning (s) | peak RSS (GiB) | layers | samples/layer "
          "| FLOPs reduction |")
    print("|---|---|---|---|---|---|---|")
    for method, wall, prune_s, rss, n, samples, red in rows:
        print(f"| {method} | {wall:.1f} | {prune_s:.1f} | {rss:.2f} | {n} | {samples} | {100 * red:.1f}% |")
    threads = args.threads or "default"
    print(f"\nVGG-16 (vgg16_mlp) on CIFAR-shaped data, default sample counts, CPU, threads {threads}; "
          f"load average now {os.getloadavg()[0]:.1f}")
    if not args.keep:
        import shutil
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
