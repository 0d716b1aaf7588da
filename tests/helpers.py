"""Test helpers: datasets written in their real on-disk formats, and CLI runs."""

from __future__ import annotations

import gzip
import os
import pickle
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np

from common.engine import Hook

ROOT = Path(__file__).resolve().parent.parent
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
HAVE_FASHION = (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file()
FASHION_SKIP = "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)"


def write_cifar10(root: Path, n_per_batch=20, n_test=30, seed=0, bytes_keys=False):
    """CIFAR-10 python batches: 5 x n_per_batch training images and a test batch."""
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)
    data = {}
    for name, n in [(f"data_batch_{i}", n_per_batch) for i in range(1, 6)] + [("test_batch", n_test)]:
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, n).tolist()
        with open(d / name, "wb") as f:
            pickle.dump({key("data"): x, key("labels"): y, key("batch_label"): name}, f)
        data[name] = (x, y)
    return data


def write_cifar100(root: Path, n_train=40, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    d = root / "cifar-100-python"
    d.mkdir(parents=True, exist_ok=True)
    data = {}
    for name, n in (("train", n_train), ("test", n_test)):
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        y = rng.integers(0, 100, n).tolist()
        with open(d / name, "wb") as f:
            pickle.dump({"data": x, "fine_labels": y, "coarse_labels": [v // 5 for v in y]}, f)
        data[name] = (x, y)
    return data


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file: magic (0, 0, 0x08 = uint8, ndim), big-endian dims, then the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion(root: Path, n_train=64, n_test=32, seed=0, gz=True):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    for name, a in arrays.items():
        if gz:
            with gzip.open(root / (name + ".gz"), "wb") as f:
                f.write(idx_bytes(a))
        else:
            (root / name).write_bytes(idx_bytes(a))
    return arrays


def run_cli(*args, cwd=None, env=None, timeout=300):
    """Run ``python <args>`` from the repo root (or ``cwd``); no network, no tqdm bars."""
    full_env = dict(os.environ)
    # any download attempt fails fast instead of reaching the network
    full_env.update({"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
                     "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
                     "no_proxy": "", "NO_PROXY": ""})
    full_env.update(env or {})
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(proc, *fragments):
    """Exit code non-zero, no traceback, exactly one stderr line containing each fragment."""
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert proc.returncode != 0, f"expected failure, got exit 0; stdout={proc.stdout[-500:]}"
    assert "Traceback" not in proc.stderr, proc.stderr
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{proc.stderr}"
    for frag in fragments:
        assert frag in lines[0], f"{frag!r} not in {lines[0]!r}"
    return lines[0]


class EntryResult:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run_entry(script, *args):
    """Run an entry-point script in this process, as ``python script args`` would.

    Same code path as the command line (argparse, ``main_guard``, exit codes, stderr), without
    paying a Python + torch start-up per call. An uncaught exception propagates (= a traceback).
    """
    import contextlib
    import io
    import runpy

    path = script if os.path.isabs(str(script)) else ROOT / script
    out, err = io.StringIO(), io.StringIO()
    old_argv, old_env = sys.argv, {k: os.environ.get(k) for k in ("http_proxy", "https_proxy")}
    old_path = list(sys.path)
    sys.argv = [str(path), *map(str, args)]
    sys.path.insert(0, str(Path(path).parent))         # as python does for a script: its folder first
    os.environ.update({"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"})
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(str(path), run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        urllib.request.install_opener(None)        # urlopen's opener keeps the proxies it first saw: drop it
    return EntryResult(code, out.getvalue(), err.getvalue())



def run_sweep(*args):
    """``python -m common.sweep ARGS`` (what ``scripts/<tree>/<method>.sh`` runs), in this process: for the checks
    of the command line that need no training."""
    import contextlib
    import io

    from common import sweep

    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            sweep.main([str(a) for a in args])
    except SystemExit as e:
        code = e.code
    return EntryResult(code, out.getvalue(), err.getvalue())


class KillAt(Hook):
    """Simulates the process being killed during epoch ``epoch`` (after its training steps, before
    its checkpoint is written); ``KillAt(-1)`` never kills (the same hooks, for the resumed run)."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, trainer, epoch):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def synthetic_loaders(n=64, batch=16, channels=1):
    """Random uint8 images (n, channels, 32, 32) with random labels as (train, test) device loaders."""
    import torch

    from common.data import DeviceLoader

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, channels, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    mean, std = (0.5,) * channels, (0.25,) * channels
    return (DeviceLoader(x, y, batch, mean, std, train=True), DeviceLoader(x, y, batch, mean, std, train=False))
