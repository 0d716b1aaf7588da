#!/usr/bin/env python
"""Time ``prune.py`` of ThiNet and of regression pruning on VGG-16 with CIFAR-shaped data.

Writes a CIFAR-10 of random images in the real on-disk format (50,000 train / 10,000 test by
default) and a VGG-16 (``vgg16_mlp``) baseline checkpoint, then runs each method's ``prune.py``
with its default sample counts (1,000 images, 10 locations per image) in a fresh process and
prints: wall time of the whole command (data loading, the test-set evaluations before and after,
pruning, saving), the method's own time (reading the sample images, then sampling, selecting and
least squares layer by layer) and the process's peak resident memory.

    python scripts/bench_channel_pruning.py [--methods thinet regression] [--threads N]
                                            [--train-images 50000] [--test-images 10000] [--keep DIR]
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


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--methods", nargs="+", default=["thinet", "regression"], choices=["thinet", "regression"])
    p.add_argument("--threads", type=int, default=None, help="torch/OpenMP threads of the pruning process "
                   "(default: torch's own choice)")
    p.add_argument("--train-images", type=int, default=50000)
    p.add_argument("--test-images", type=int, default=10000)
    p.add_argument("--keep", default=None, help="work in this folder and keep it (default: a temp folder)")
    args = p.parse_args(argv)

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_channel_pruning_"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    write_cifar10(work / "data", args.train_images, args.test_images)
    write_baseline(work / "baseline.pt")
    print(f"CIFAR-shaped data ({args.train_images} train / {args.test_images} test, random) and a VGG-16 "
          f"(vgg16_mlp) baseline written in {time.perf_counter() - t0:.1f}s; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    rows = []
    for method in args.methods:
        out = work / method
        cmd = [sys.executable, "-c", WRAPPER, str(ROOT / f"cifar/{method}/prune.py"),
               "--checkpoint", str(work / "baseline.pt"), "--data-dir", str(work / "data"), "--save", str(out),
               "--device", "cpu"]
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
        wall = time.perf_counter() - t
        if r.returncode != 0:
            print(r.stdout[-2000:], r.stderr[-2000:], sep="\n")
            raise SystemExit(f"{method} prune.py failed (exit {r.returncode})")
        rss = int(next(line.split()[1] for line in r.stdout.splitlines() if line.startswith("PEAK_RSS_KIB")))
        result = json.loads((out / "result.json").read_text())
        layers = result["report"]["layers"]
        print(f"\n== {method}: " + " ".join(cmd[3:]))
        print("\n".join(line for line in r.stdout.splitlines() if "->" in line or "FLOPs" in line))
        rows.append((method, wall, result["report"]["seconds"], rss / 2**20, len(layers),
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
