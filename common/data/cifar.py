"""CIFAR-10, CIFAR-100 and Fashion-MNIST, held whole on the training device.

Reading: the standard on-disk formats are parsed here, with no torchvision dataset
object on the training path:
  * CIFAR-10  ``<data-dir>/cifar-10-batches-py/{data_batch_1..5,test_batch}`` (python pickles)
  * CIFAR-100 ``<data-dir>/cifar-100-python/{train,test}``
  * Fashion-MNIST IDX files ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` in
    ``<data-dir>``, ``<data-dir>/FashionMNIST/raw`` or ``/usr/share/datasets/fashion-mnist``;
    the 28x28 images are zero-padded to 32x32 (one input channel).
If a dataset is missing, torchvision downloads it when the network is reachable; otherwise
one :class:`UserError` line says where we looked and how to get it.

Training: :class:`DeviceLoader` keeps the split as one uint8 tensor on the device. Each
epoch draws, from a generator seeded by ``(seed, epoch)``, a permutation, a crop offset in
``[0, 2*pad]^2`` and a flip bit per image. The zero-padded split is stored with its mirror
image and viewed (``unfold``, no copy) as all crop windows, so a batch is one advanced-index
gather ``windows[flip, perm, :, dy, dx]`` followed by one multiply-add for
``(x/255 - mean) / std``. No per-image Python, no PIL. The random draws are made on the CPU, so a run sees the same
batches on any device.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common import distributed
from common.data.registry import DATASETS, Dataset, holdout_indices, register_dataset, without
from common.errors import UserError

FASHION_MNIST_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"


# --------------------------------------------------------------------------- readers

# The official files' md5 sums (as torchvision checks them).
OFFICIAL_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f", "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751", "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb", "test_batch": "40351d587109b95175f43aff81a1287e",
    "train": "16019d7e3df5f24257cddd939b257f8d", "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
}
_warned: set = set()


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR batch and nothing else: the only globals it resolves are the numpy
    functions that rebuild an array. A file naming any other (``os.system``, ...) is refused
    before anything runs."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"it names {module}.{name}, which a CIFAR batch never does")
        if module == "numpy":
            return getattr(np, name)
        multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
        return getattr(multiarray, name)


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _unpickle(path: Path) -> dict:
    """A CIFAR batch dict with str keys (the official files are Python-2 pickles: bytes keys). A file
    that is not the official one (md5) is still read, by the restricted unpickler, with a warning."""
    if _md5(path) != OFFICIAL_MD5.get(path.name) and path.parent not in _warned:
        _warned.add(path.parent)
        sys.stderr.write(f"warning: {path} is not the official release (md5 differs); reading it with the "
                         f"restricted unpickler\n")
    try:
        with open(path, "rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except Exception as e:  # truncated, foreign or planted file
        raise UserError(f"cannot read CIFAR batch {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                        ) from None
    if not isinstance(batch, dict):
        raise UserError(f"{path} is not a CIFAR batch file (no dict inside)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _checked_batch(path: Path, batch: dict, label_key: str, classes: int):
    """``(images [N, 3, 32, 32] uint8, labels [N] int64)`` of a batch, or one UserError line."""
    data, labels = batch["data"], batch[label_key]
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.dtype != np.uint8:
        what = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise UserError(f"{path}: data is {what}, expected uint8 (N, 3072): N images of 3x32x32")
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError):
        raise UserError(f"{path}: labels are not integers") from None
    if labels.shape != (data.shape[0],):
        raise UserError(f"{path} holds {data.shape[0]} images but {labels.size} labels")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise UserError(f"{path}: labels must lie in [0, {classes}), found {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels


def _read_cifar(root: Path, name: str, train: bool):
    if name == "cifar10":
        d = root / "cifar-10-batches-py"
        files = [d / f"data_batch_{i}" for i in range(1, 6)] if train else [d / "test_batch"]
        label_key = "labels"
    else:
        d = root / "cifar-100-python"
        files = [d / ("train" if train else "test")]
        label_key = "fine_labels"
    if not all(f.is_file() for f in files):
        return None
    images, labels = [], []
    for f in files:
        batch = _unpickle(f)
        if "data" not in batch or label_key not in batch:
            raise UserError(f"{f} is not a {name} batch file (no data/labels)")
        x, y = _checked_batch(f, batch, label_key, DATASETS[name].num_classes)
        images.append(x)
        labels.append(y)
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))


def _read_idx(path: Path, expected_magic: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise UserError(f"cannot read IDX file {path}: {e}") from None
    magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else -1
    if magic != expected_magic:
        raise UserError(f"{path} is not an IDX file of the expected kind (magic {magic}, expected {expected_magic})")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    count = int(np.prod(dims))
    if len(raw) - offset != count:
        raise UserError(f"{path} is truncated: expected {count} bytes of data, found {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def _find_idx(dirs, stem: str):
    for d in dirs:
        for name in (stem, stem + ".gz"):
            p = Path(d) / name
            if p.is_file():
                return p
    return None


def _fashion_dirs(root: Path):
    return [root, root / "fashion-mnist", root / "FashionMNIST" / "raw", Path(FASHION_MNIST_SYSTEM_DIR)]


def _read_fashion(root: Path, train: bool):
    prefix = "train" if train else "t10k"
    dirs = _fashion_dirs(root)
    img_path = _find_idx(dirs, f"{prefix}-images-idx3-ubyte")
    lbl_path = _find_idx(dirs, f"{prefix}-labels-idx1-ubyte")
    if img_path is None or lbl_path is None:
        return None
    images = _read_idx(img_path, 2051)
    labels = _read_idx(lbl_path, 2049)
    if len(images) != len(labels):
        raise UserError(f"{img_path} holds {len(images)} images but {lbl_path} {len(labels)} labels")
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise UserError(f"{img_path} holds images of shape {images.shape[1:]}, expected 28x28")
    if labels.ndim != 1 or (labels.size and labels.max() >= 10):
        raise UserError(f"{lbl_path}: labels must be one number in [0, 10) per image")
    x = torch.from_numpy(images.copy()).unsqueeze(1)          # N,1,28,28
    x = F.pad(x, (2, 2, 2, 2))                                 # N,1,32,32, zero border
    return x, torch.from_numpy(labels.astype(np.int64))


def _read(root: Path, name: str, train: bool):
    return _read_fashion(root, train) if name == "fashion-mnist" else _read_cifar(root, name, train)


def _download(root: Path, name: str) -> str | None:
    """Try torchvision's downloader; return None on success, the reason on failure.

    On failure everything the attempt created (the folder, partial archives) is removed.
    """
    import shutil

    import torchvision.datasets as tvd
    cls = {"cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100, "fashion-mnist": tvd.FashionMNIST}[name]
    existed = root.exists()
    before = set(root.iterdir()) if existed and root.is_dir() else set()
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            cls(root=str(root), train=train, download=True)
        return None
    except Exception as e:  # no network, proxy refusal, HTTP error, bad archive
        if not existed:
            shutil.rmtree(root, ignore_errors=True)
        elif root.is_dir():
            for entry in set(root.iterdir()) - before:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    finally:
        socket.setdefaulttimeout(old_timeout)


def load_split(name: str, data_dir: str | os.PathLike, train: bool, download: bool = True):
    """Return ``(images uint8 [N,C,32,32], labels int64 [N])`` of one split."""
    info = DATASETS[name]
    root = Path(data_dir)
    data = _read(root, name, train)
    if data is None:
        where = ", ".join(str(d) for d in _fashion_dirs(root)) if name == "fashion-mnist" else str(root)
        reason = _download(root, name) if download else "download disabled"
        if reason is None:
            data = _read(root, name, train)
        if data is None:
            raise UserError(f"{name} not found in {where} and could not be downloaded ({reason}); "
                            f"get it from {info.source} and unpack it into {root}")
    return data


# --------------------------------------------------------------------------- loader

class DeviceLoader:
    """Batches of a whole split held as uint8 on ``device``.

    train=True: per-epoch seeded permutation, random crop with ``pad`` zero padding and
    horizontal flip; train=False: the split in order, unaugmented. Both normalise with the
    dataset's mean/std. Call :meth:`set_epoch` before iterating an epoch.

    Several processes (``world`` > 1, ``common.distributed``): ``batch_size`` is the global batch;
    process ``rank`` yields its slice of each global batch (same permutation, crops and flips as
    one process, so the processes together see exactly the one-process batches; the trailing
    partial batch is dropped), and in test mode its contiguous share of the split.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, mean, std,
                 train: bool, device="cpu", seed: int = 0, pad: int = 4, channels_last: bool = False,
                 rank: int = 0, world: int = 1):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("images must be a uint8 tensor [N, C, H, W]")
        if train and batch_size % world:
            raise UserError(f"--batch-size {batch_size} cannot be split evenly over {world} processes")
        self.device = torch.device(device)
        self.train, self.batch_size, self.seed, self.pad = train, int(batch_size), int(seed), int(pad)
        self.channels_last = channels_last
        self.rank, self.world = int(rank), int(world)
        self.num_samples = int(images.shape[0])     # the whole split, over all processes
        if not train and world > 1:     # this process's share of the test split
            share = -(-images.shape[0] // world)
            images, labels = images[rank * share:(rank + 1) * share], labels[rank * share:(rank + 1) * share]
        self.n, self.c, self.h, self.w = images.shape
        self.labels = labels.to(self.device)
        self.images = images.contiguous().to(self.device)
        if train:
            # the zero-padded split and its mirror image, viewed as every (row, col) crop window:
            # _windows[flip, i, :, dy, dx] is image i cropped at (dy, dx), flipped if flip == 1
            padded = F.pad(self.images, (pad, pad, pad, pad))
            self.images = torch.stack([padded, padded.flip(3)])
            self._windows = self.images.unfold(3, self.h, 1).unfold(4, self.w, 1)
        std_t = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = -mean_t / std_t
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = int(epoch)

    def __len__(self):
        full, rest = divmod(self.n, self.batch_size)
        if self.train and self.world > 1:
            return full
        # a trailing batch of one image would break BatchNorm in train mode: drop it
        return full + (1 if rest > 1 or (rest == 1 and not self.train) else 0)

    def _finish(self, x_u8):
        x = torch.addcmul(self.shift, x_u8, self.scale)   # (x/255 - mean)/std, uint8 -> float32 in one op
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def epoch_draws(self, epoch: int):
        """The epoch's random draws (permutation, row/col offsets, flips), made on the CPU."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        perm = torch.randperm(self.n, generator=g)
        dy = torch.randint(0, 2 * self.pad + 1, (self.n,), generator=g)
        dx = torch.randint(0, 2 * self.pad + 1, (self.n,), generator=g)
        flip = torch.randint(0, 2, (self.n,), generator=g, dtype=torch.bool)
        return perm, dy, dx, flip

    def __iter__(self):
        bs, steps = self.batch_size, len(self)
        if not self.train:
            for i in range(steps):
                yield self._finish(self.images[i * bs:(i + 1) * bs]), self.labels[i * bs:(i + 1) * bs]
            return
        perm, dy, dx, flip = (t.to(self.device) for t in self.epoch_draws(self.epoch))
        # the crop at column offset dx of a flipped image is the flip of the crop at 2*pad - dx
        dx = torch.where(flip, 2 * self.pad - dx, dx)
        flip = flip.long()
        share = bs // self.world
        for i in range(steps):
            start = i * bs + self.rank * share
            sl = slice(start, start + share)
            x = self._windows[flip[sl], perm[sl], :, dy[sl], dx[sl]]       # B, C, H, W (uint8)
            yield self._finish(x), self.labels[perm[sl]]


def cifar_loaders(info: Dataset, data_dir, batch_size: int, test_batch_size: int, device="cpu", seed: int = 0,
                  subset: int | None = None, channels_last: bool = False, download: bool = True,
                  test_subset: int | None = None, image_size: int | None = None, workers: int | None = None,
                  gpu_decode: bool = False, holdout: int | None = None):
    """Train and test :class:`DeviceLoader` of a dataset of the cifar kind (the first ``subset``
    train and ``test_subset`` test images if given, after removing the ``holdout`` images of
    :func:`~common.data.registry.holdout_indices`). The images stay 32x32 and need no workers."""
    if image_size not in (None, info.image_size):
        raise UserError(f"--image-size {image_size}: {info.name} is held at {info.image_size}x{info.image_size}")
    x_train, y_train = load_split(info.name, data_dir, train=True, download=download)
    x_test, y_test = load_split(info.name, data_dir, train=False, download=download)
    if holdout:
        kept = without(len(y_train), holdout_indices(info, data_dir, holdout))
        x_train, y_train = x_train[kept], y_train[kept]
    if subset is not None:
        x_train, y_train = x_train[:subset], y_train[:subset]
    if test_subset is not None:
        x_test, y_test = x_test[:test_subset], y_test[:test_subset]
    shard = dict(rank=distributed.rank(), world=distributed.world_size())
    train = DeviceLoader(x_train, y_train, batch_size, info.mean, info.std, train=True, device=device,
                         seed=seed, channels_last=channels_last, **shard)
    test = DeviceLoader(x_test, y_test, test_batch_size, info.mean, info.std, train=False, device=device,
                        channels_last=channels_last, **shard)
    return train, test


def cifar_train_labels(info: Dataset, data_dir) -> torch.Tensor:
    return load_split(info.name, data_dir, train=True)[1]


def cifar_subset(info: Dataset, data_dir, indices: torch.Tensor, batch_size: int, device="cpu",
                 image_size: int | None = None) -> DeviceLoader:
    images, labels = load_split(info.name, data_dir, train=True)
    return DeviceLoader(images[indices], labels[indices], batch_size, info.mean, info.std, train=False,
                        device=device)


@dataclass(frozen=True)
class HeldImages(Dataset):
    """The cifar kind: 32x32 images held whole, as uint8, on the training device (:class:`DeviceLoader`)."""

    loaders = cifar_loaders
    train_labels = cifar_train_labels
    subset = cifar_subset


def _register(name, num_classes, in_channels, mean, std, source):
    register_dataset(HeldImages(name, "cifar", num_classes, in_channels, 32, mean, std, source))


# Per-channel mean/std of each training split (Fashion-MNIST: of the 32x32 padded images).
_register("cifar10", 10, 3, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
          "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz")
_register("cifar100", 100, 3, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
          "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz")
_register("fashion-mnist", 10, 1, (0.2190,), (0.3318,),
          "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/ (or: apt-get install dataset-fashion-mnist)")
