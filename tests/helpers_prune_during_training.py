"""Shared helpers of the Network Slimming / SFP / SSS tests (not a test module)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn as nn

from common.checkpoint import make_checkpoint, save_checkpoint
from common.data import DeviceLoader

ROOT = Path(__file__).resolve().parent.parent
TINY_VGG = [8, "M", 8, "M", 16, 16, "M", 16, 16, "M", 16, 16]  # vgg11 pattern, a few channels


def randomise_bn(model: nn.Module, seed: int = 0, gamma=None) -> nn.Module:
    """Random BN statistics and shifts (and scales, or ``gamma(n, generator)``), eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(gamma(n, g) if gamma else torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
    return model.eval()


def random_loaders(n=64, batch=16, classes=10, channels=1, seed=0):
    """Tiny train/test DeviceLoaders of random uint8 images (for fast real engine runs)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, channels, 32, 32), generator=g, dtype=torch.uint8)
    y = torch.randint(0, classes, (n,), generator=g)
    mean, std = (0.5,) * channels, (0.25,) * channels
    return (DeviceLoader(x, y, batch, mean, std, train=True, seed=seed),
            DeviceLoader(x[:32], y[:32], 32, mean, std, train=False))


def write_fashion_idx(folder, n_train=64, n_test=48, seed=0):
    """A tiny Fashion-MNIST in the real IDX format (gzipped), so entry points run in seconds."""
    import gzip
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8).numpy().tobytes()
        labels = torch.randint(0, 10, (n,), generator=g, dtype=torch.uint8).numpy().tobytes()
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write((2051).to_bytes(4, "big") + n.to_bytes(4, "big") + (28).to_bytes(4, "big")
                    + (28).to_bytes(4, "big") + images)
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write((2049).to_bytes(4, "big") + n.to_bytes(4, "big") + labels)
    return folder


def write_checkpoint(path, model, method, arm, dataset="fashion-mnist", args=None, meta=None, **extra):
    save_checkpoint(make_checkpoint(model, dataset, method, arm, args=args or {}, meta=meta or {}, **extra), path)
    return path


def run_entry(script: str, *args, cwd=None, in_process=False):
    """Run ``cifar/<method>/<script>.py`` as a program; returns a CompletedProcess.

    ``in_process=True`` runs the same script with ``runpy`` in this interpreter (stderr and the
    exit code captured), which saves the ~3 s start-up of a new Python with torch."""
    argv = [str(ROOT / script), *map(str, args)]
    if in_process:
        import contextlib
        import io
        import runpy
        out, err, code = io.StringIO(), io.StringIO(), 0
        old_argv, sys.argv = sys.argv, argv
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                runpy.run_path(argv[0], run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        finally:
            sys.argv = old_argv
        return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
    env = {**os.environ, "RUNS_DIR": str(cwd or ROOT / "runs"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def assert_one_line_error(proc, *needles):
    assert proc.returncode != 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
