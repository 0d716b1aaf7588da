"""ImageNet-kind datasets: folders of JPEG images, streamed from disk.

Layout (torchvision's ``ImageFolder``): ``<data-dir>/train/<class>/*.JPEG`` and
``<data-dir>/val/<class>/*.JPEG``. ``python scripts/prepare_imagenet.py --archives DIR --out DIR`` makes
it from the official ImageNet archives, through ``torchvision.datasets.ImageNet`` (which parses the
devkit and sorts the validation images into class folders). ``scripts/make_image_folder.py``
writes Fashion-MNIST (and CIFAR, when present) in the same layout, so this path runs offline on
real images.

Training: RandomResizedCrop(S) (scale 0.08-1, ratio 3/4-4/3) and a horizontal flip; evaluation:
resize the shorter side to S x 256/224, centre crop S; S = ``--image-size`` (224 by default).
Each image is decoded by torchvision's libjpeg-turbo decoder (``torchvision.io.decode_image``)
into a uint8 tensor and cropped and resized as uint8 in the workers; batches travel as uint8 (4x
less than float) through pinned memory, and become float and normalised on the device, in one
fused op. A crop and a flip are a function of (seed, epoch, image), whatever the number of
workers: a resumed run sees the batches an uninterrupted one would.

Several processes (torchrun): ``--batch-size`` is the global batch; every epoch's permutation is
drawn from (seed, epoch), and process ``r`` takes its slice of every global batch -- the processes
together see exactly the batches one process would (the role of a ``DistributedSampler``, with
that guarantee). The test split is shared out contiguously, no image padded or repeated.

``gpu_decode=True`` (CUDA only): the workers read the files and the JPEGs are decoded on the GPU
(``torchvision.io.decode_jpeg(device="cuda")``), then cropped there.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from common import distributed
from common.data.registry import Dataset as DatasetInfo
from common.data.registry import holdout_indices, register_dataset, without
from common.errors import UserError

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
EXTENSIONS = (".jpg", ".jpeg", ".png")
_UNREADABLE = "cannot decode image "


# --------------------------------------------------------------------------- the file list

def _split_dir(info: DatasetInfo, data_dir, split: str) -> Path:
    root = Path(data_dir) / split
    if not root.is_dir():
        raise UserError(f"{info.name}: no folder {root} (expected {Path(data_dir)}/train/<class>/*.JPEG and "
                        f"{Path(data_dir)}/val/<class>/*.JPEG; {info.source})")
    return root


def image_list(info: DatasetInfo, data_dir, split: str) -> tuple[list[tuple[str, int]], list[str]]:
    """``([(path, label)], classes)`` of one split, classes sorted by folder name (ImageFolder's order).
    A missing or empty split, a class folder without images, or another number of classes than the
    dataset has is one :class:`UserError` line."""
    root = _split_dir(info, data_dir, split)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    if not classes:
        raise UserError(f"{root} holds no class folders (expected {root}/<class>/*.JPEG)")
    if info.num_classes and len(classes) != info.num_classes:
        raise UserError(f"{root} holds {len(classes)} class folders; {info.name} has {info.num_classes} classes")
    samples = []
    for label, name in enumerate(classes):
        entries = [p for p in (root / name).iterdir() if not p.name.startswith(".")]
        other = next((p for p in entries if p.suffix.lower() not in EXTENSIONS), None)
        if other is not None:
            raise UserError(f"{other} is not a JPEG or PNG file; an image folder holds .jpg/.jpeg/.png files only "
                            f"(what the decoder reads)")
        files = sorted(entries)
        if not files:
            raise UserError(f"class folder {root / name} holds no images (.JPEG, .jpg, .png)")
        samples += [(str(p), label) for p in files]
    return samples, classes


def check_same_classes(data_dir, train: list, val: list) -> None:
    """One line naming the first class where ``val/`` differs from ``train/``: its labels would be another class's."""
    for i, (a, b) in enumerate(zip(train, val)):
        if a != b:
            raise UserError(f"{Path(data_dir) / 'val'} has other classes than {Path(data_dir) / 'train'}: class {i} is "
                            f"{b!r} in val/ and {a!r} in train/ (both must hold the same class folders)")


# --------------------------------------------------------------------------- transforms

def random_resized_crop_box(height: int, width: int, g: torch.Generator, scale=(0.08, 1.0),
                            ratio=(3 / 4, 4 / 3)) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of RandomResizedCrop (Szegedy et al. 2015, torchvision's rule) drawn
    from ``g``: area in ``scale`` of the image, aspect ratio log-uniform in ``ratio``; after ten
    misses, the central crop of the nearest ratio."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        u = torch.rand(3, generator=g).tolist()
        target = area * (scale[0] + (scale[1] - scale[0]) * u[0])
        aspect = math.exp(log_ratio[0] + (log_ratio[1] - log_ratio[0]) * u[1])
        w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (1,), generator=g))
            left = int(torch.randint(0, width - w + 1, (1,), generator=g))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        h, w = height, int(round(height * ratio[1]))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def train_view(image: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """RandomResizedCrop(size) + horizontal flip of a uint8 ``[3, H, W]`` image (on its device)."""
    import torchvision.transforms.v2.functional as TF

    top, left, h, w = random_resized_crop_box(image.shape[-2], image.shape[-1], g)
    out = TF.resized_crop(image, top, left, h, w, [size, size], antialias=True)
    return out.flip(-1) if bool(torch.randint(0, 2, (1,), generator=g)) else out


def eval_view(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side to ``size * 256 / 224``, centre crop ``size`` (uint8 in, uint8 out)."""
    import torchvision.transforms.v2.functional as TF

    resized = TF.resize(image, [int(size * 256 / 224)], antialias=True)
    return TF.center_crop(resized, [size, size])


def decode(path: str, device="cpu") -> torch.Tensor:
    """A uint8 ``[3, H, W]`` RGB image; an unreadable, truncated or foreign file raises naming it."""
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file

    try:
        with warnings.catch_warnings():      # torchvision >= 0.29 points to TorchCodec; the decoder is the same
            warnings.simplefilter("ignore", DeprecationWarning)
            data = read_file(path)
            if str(device) != "cpu":
                return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
            return decode_image(data, mode=ImageReadMode.RGB)
    except Exception as e:  # truncated, corrupt or not an image
        text = str(e).strip() or type(e).__name__
        found = re.search(r"\.cpp:\d+, (.+)", text)      # torchvision's "<file>.cpp:<line>, <reason>"
        reason = found.group(1).split(". ")[0] if found else text.splitlines()[-1]
        raise RuntimeError(f"{_UNREADABLE}{path} ({reason})") from None


class ImageFolderSplit(Dataset):
    """One split as ``(uint8 [3, S, S], label)`` items. An item's key is ``epoch * n + index``: the
    crop and flip of a training image are drawn from ``(seed, key)``, so they do not depend on which
    worker makes them (see :class:`EpochSampler`)."""

    def __init__(self, samples, size: int, train: bool, seed: int = 0, decode_in_worker: bool = True):
        self.samples, self.size, self.train, self.seed = samples, int(size), train, int(seed)
        self.decode_in_worker = decode_in_worker

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, key: int):
        path, label = self.samples[key % len(self.samples)]
        if not self.decode_in_worker:       # GPU decode: the file's bytes, decoded on the device
            with open(path, "rb") as f:
                return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8), label, key
        image = decode(path)
        if self.train:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + key)
            return train_view(image, self.size, g), label
        return eval_view(image, self.size), label


class EpochSampler(Sampler):
    """Keys ``epoch * n + index`` of one epoch, for this process.

    train: a permutation drawn from ``(seed, epoch)``, the tail that does not fill a global batch
    dropped, and process ``rank`` given its slice of every global batch of ``batch_size``;
    test: the split in order, process ``rank`` given its contiguous share."""

    def __init__(self, n: int, batch_size: int, train: bool, seed: int = 0, rank: int = 0, world: int = 1):
        if train and batch_size % world:
            raise UserError(f"--batch-size {batch_size} cannot be split evenly over {world} processes")
        self.n, self.batch_size, self.train, self.seed = n, batch_size, train, seed
        self.rank, self.world, self.epoch = rank, world, 0

    def set_epoch(self, epoch: int):
        self.epoch = int(epoch)

    def _indices(self) -> list[int]:
        if not self.train:
            share = -(-self.n // self.world)
            return list(range(self.rank * share, min(self.n, (self.rank + 1) * share)))
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g)
        full = self.n // self.batch_size * self.batch_size
        part = self.batch_size // self.world
        return perm[:full].view(-1, self.batch_size)[:, self.rank * part:(self.rank + 1) * part].flatten().tolist()

    def __iter__(self):
        offset = self.epoch * self.n if self.train else 0
        return iter([offset + i for i in self._indices()])

    def __len__(self):
        return len(self._indices())


class StreamLoader:
    """Batches of an image-folder split: uint8 from the workers, float and normalised on ``device``
    (the loader contract of ``common.data``)."""

    def __init__(self, info: DatasetInfo, samples, batch_size: int, train: bool, device="cpu", seed: int = 0,
                 size: int = 224, workers: int = 4, channels_last: bool = False, gpu_decode: bool = False,
                 rank: int = 0, world: int = 1):
        self.device, self.train, self.size = torch.device(device), train, size
        self.channels_last, self.gpu_decode = channels_last, gpu_decode and self.device.type == "cuda"
        self.num_samples = len(samples)
        self.dataset = ImageFolderSplit(samples, size, train, seed, decode_in_worker=not self.gpu_decode)
        per_process = batch_size // world if train else batch_size
        self.sampler = EpochSampler(len(samples), batch_size if train else per_process, train, seed, rank, world)
        self.seed = seed
        pin = self.device.type == "cuda"
        self.loader = DataLoader(self.dataset, batch_size=per_process, sampler=self.sampler, num_workers=workers,
                                 pin_memory=pin, persistent_workers=workers > 0, drop_last=False,
                                 prefetch_factor=4 if workers > 0 else None,
                                 collate_fn=_collate_bytes if self.gpu_decode else None)
        mean = torch.tensor(info.mean, device=self.device).view(1, -1, 1, 1)
        std = torch.tensor(info.std, device=self.device).view(1, -1, 1, 1)
        self.scale, self.shift = 1.0 / (255.0 * std), -mean / std

    def set_epoch(self, epoch: int):
        self.sampler.set_epoch(epoch)

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        batches = iter(self.loader)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except Exception as e:  # a worker could not decode an image: name it, in one line
                found = re.search(re.escape(_UNREADABLE) + r"(.+?\))", str(e))
                if found:
                    raise UserError(f"{_UNREADABLE}{found.group(1)}") from None
                raise
            x, y = self._gpu_views(batch) if self.gpu_decode else batch
            x = torch.addcmul(self.shift, x.to(self.device, non_blocking=True), self.scale)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, y.to(self.device, non_blocking=True)

    def _gpu_views(self, batch):
        data, labels, keys = batch
        views = []
        for raw, key in zip(data, keys.tolist()):
            path = self.dataset.samples[key % len(self.dataset.samples)][0]
            try:
                from torchvision.io import ImageReadMode, decode_jpeg
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    image = decode_jpeg(raw, mode=ImageReadMode.RGB, device=self.device)
            except Exception as e:
                raise UserError(f"{_UNREADABLE}{path} ({str(e).splitlines()[-1][:120]})") from None
            if self.train:
                g = torch.Generator().manual_seed(self.seed * 1_000_003 + key)
                views.append(train_view(image, self.size, g))
            else:
                views.append(eval_view(image, self.size))
        return torch.stack(views), labels


def _collate_bytes(items):
    data, labels, keys = zip(*items)
    return list(data), torch.tensor(labels), torch.tensor(keys)


# --------------------------------------------------------------------------- registry hooks

def folder_loaders(info: DatasetInfo, data_dir, batch_size: int, test_batch_size: int, device="cpu", seed: int = 0,
                   subset: int | None = None, channels_last: bool = False, download: bool = True,
                   test_subset: int | None = None, image_size: int | None = None, workers: int | None = None,
                   gpu_decode: bool = False, holdout: int | None = None):
    train_samples, classes = image_list(info, data_dir, "train")
    test_samples, val_classes = image_list(info, data_dir, "val")
    check_same_classes(data_dir, classes, val_classes)
    if holdout:           # MetaPruning's sub-validation images never train (common.data.registry.holdout_indices)
        train_samples = [train_samples[i] for i in without(len(train_samples), holdout_indices(info, data_dir,
                                                                                               holdout)).tolist()]
    if subset is not None:       # a class-balanced first N would need the labels: the first N, as CIFAR
        train_samples = _spread(train_samples, subset)
    if test_subset is not None:
        test_samples = _spread(test_samples, test_subset)
    size = image_size or info.image_size
    workers = default_workers() if workers is None else workers
    shard = dict(rank=distributed.rank(), world=distributed.world_size())
    common = dict(device=device, seed=seed, size=size, workers=workers, channels_last=channels_last,
                  gpu_decode=gpu_decode, **shard)
    return (StreamLoader(info, train_samples, batch_size, True, **common),
            StreamLoader(info, test_samples, test_batch_size, False, **common))


def _spread(samples, n: int):
    """``n`` images spread evenly over the sorted list (so every class is represented)."""
    if n >= len(samples):
        return samples
    step = len(samples) / n
    return [samples[int(i * step)] for i in range(n)]


def default_workers() -> int:
    import os
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(8, cpus // max(1, distributed.launched_world_size())))


def folder_train_labels(info: DatasetInfo, data_dir) -> torch.Tensor:
    samples, _ = image_list(info, data_dir, "train")
    return torch.tensor([label for _, label in samples])


def folder_subset(info: DatasetInfo, data_dir, indices, batch_size: int, device="cpu", image_size=None):
    samples, _ = image_list(info, data_dir, "train")
    chosen = [samples[i] for i in torch.as_tensor(indices).tolist()]
    return StreamLoader(info, chosen, batch_size, False, device=device, size=image_size or info.image_size,
                        workers=0)


@dataclass(frozen=True)
class ImageFolder(DatasetInfo):
    """The imagenet kind: ``train/<class>/*.JPEG`` and ``val/<class>/*.JPEG`` streamed from disk
    (:class:`StreamLoader`)."""

    loaders = folder_loaders
    train_labels = folder_train_labels
    subset = folder_subset


def _register(name, classes, size, source):
    register_dataset(ImageFolder(name, "imagenet", classes, 3, size, IMAGENET_MEAN, IMAGENET_STD, source))


_register("imagenet", 1000, 224, "prepare it from the official archives with python scripts/prepare_imagenet.py "
                                  "--archives DIR --out DIR")
_register("fashion-mnist-jpeg", 10, 32, "write it with python scripts/make_image_folder.py --dataset fashion-mnist "
                                         "--out DIR")
_register("cifar10-jpeg", 10, 32, "write it with python scripts/make_image_folder.py --dataset cifar10 --out DIR")
# ``--dataset folder``: a stand-in until --data-dir names the folder (common.data.registry.resolve_dataset)
register_dataset(ImageFolder("folder", "imagenet", 0, 3, 224, IMAGENET_MEAN, IMAGENET_STD,
                             "any image folder: --dataset folder --data-dir DIR (DIR/train/<class>/, "
                             "DIR/val/<class>/)"))


# --------------------------------------------------------------------------- any image folder

FOLDER = "folder"


@dataclass(frozen=True)
class FolderDataset(ImageFolder):
    """``--dataset folder --data-dir DIR``: any image folder of ``DIR/train/<class>/`` and ``DIR/val/<class>/`` (JPEG,
    PNG), the classes its sorted sub-folders. Its name ``folder:<DIR>[|mean=..|std=..]`` says where it is (a checkpoint
    of it finds it again) and, when given, its normalisation; otherwise the mean and std are measured on up to 500
    training images spread over the split."""

    root: str = ""

    def loaders(self, data_dir, *args, **kw):
        return folder_loaders(self, self.root, *args, **kw)

    def train_labels(self, data_dir):
        return folder_train_labels(self, self.root)

    def subset(self, data_dir, *args, **kw):
        return folder_subset(self, self.root, *args, **kw)


def folder_name(data_dir, mean=None, std=None) -> str:
    """The dataset name of an image folder (``folder:<absolute DIR>``, with the normalisation when given)."""
    name = f"{FOLDER}:{Path(data_dir).resolve()}"
    if (mean is None) != (std is None):
        raise UserError("give both --mean and --std (or neither: they are measured)")
    if mean is not None:
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise UserError("--mean and --std take three values each (R, G, B), the std > 0")
        name += "|mean=" + ",".join(f"{v:g}" for v in mean) + "|std=" + ",".join(f"{v:g}" for v in std)
    return name


def measured_stats(samples, count: int = 500):
    """Per-channel mean and std of the pixels of ``count`` images spread over ``samples``, in [0, 1]."""
    chosen = _spread(samples, count)
    total, total_sq, n = torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), 0
    for path, _ in chosen:
        try:
            x = decode(path).double() / 255
        except RuntimeError as e:
            raise UserError(str(e)) from None
        total += x.sum((1, 2))
        total_sq += x.pow(2).sum((1, 2))
        n += x.shape[1] * x.shape[2]
    mean = total / n
    std = (total_sq / n - mean ** 2).sqrt()
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(v, 4) for v in std.tolist())


_FOLDERS: dict = {}


def folder_dataset(name: str) -> FolderDataset:
    """The :class:`FolderDataset` a ``folder:...`` name stands for (made once per process)."""
    if name in _FOLDERS:
        return _FOLDERS[name]
    root, *extra = name[len(FOLDER) + 1:].split("|")
    given = dict(part.split("=", 1) for part in extra)
    probe = FolderDataset(name, "imagenet", 0, 3, 224, (0.5,) * 3, (0.5,) * 3, "an image folder", root)
    train, classes = image_list(probe, root, "train")
    check_same_classes(root, classes, image_list(probe, root, "val")[1])
    if "mean" in given:
        mean, std = (tuple(float(v) for v in given[k].split(",")) for k in ("mean", "std"))
    else:
        mean, std = measured_stats(train)
    dataset = FolderDataset(name, "imagenet", len(classes), 3, 224, mean, std, f"the image folder {root}", root)
    _FOLDERS[name] = dataset
    return dataset
