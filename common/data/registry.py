"""One registry of datasets, their settings, and the small contract every loader honours.

A dataset is a :class:`Dataset` object: its kind (``"cifar"``: small images held whole on the training
device; ``"imagenet"``: image folders streamed from disk), classes, channels, input size, mean/std,
where to get it, and three methods its kind implements (``common/data/cifar.py``, ``imagenet.py``):

  ``loaders(data_dir, batch_size, test_batch_size, **options)``  the train and test loaders
  ``train_labels(data_dir)``   the label of every training image, in order, without decoding images
  ``subset(data_dir, indices, batch_size, device)``  a loader over the training images ``indices``,
                               test-time transform

``register_dataset(MyDataset(...))`` adds one, from any file. :class:`DataSettings` are the data flags
of every training entry point.

**The loader contract** -- all the engine, the arms and the methods use of a loader:

  * iterating yields ``(x, y)`` batches: ``x`` float, normalised, ``[B, C, H, W]``; ``y`` int64
    labels; on any device (the engine moves them, ``non_blocking``);
  * ``len(loader)`` is the number of batches an epoch yields (in this process);
  * ``set_epoch(epoch)`` before each epoch fixes its data order (optional: a
    ``torch.utils.data.DataLoader`` whose sampler has ``set_epoch``, e.g. a ``DistributedSampler``,
    is served through :func:`set_epoch`);
  * ``num_samples``, the number of images in the split (optional: ``len(loader.dataset)``
    otherwise; :func:`num_samples`).

Under ``torchrun`` each process's loader yields its share of every batch (training) and of the
split (testing); the engine sums the figures over the processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from common.errors import UserError
from common.settings import Settings, derived, flag, non_negative_int, positive_int


@dataclass(frozen=True)
class Dataset:
    """A dataset (see the module docstring); a kind subclasses it and implements the three methods."""

    name: str
    kind: str                        # "cifar" | "imagenet": which archs fit (common.models.check_kind)
    num_classes: int
    in_channels: int
    image_size: int                  # the models' input is image_size x image_size
    mean: tuple
    std: tuple
    source: str                      # where to get it (printed when it is missing)

    @property
    def input_size(self) -> tuple[int, int, int]:
        return (self.in_channels, self.image_size, self.image_size)

    def loaders(self, data_dir, batch_size: int, test_batch_size: int, **options):
        """``(train, test)`` loaders (options: device, seed, subset, channels_last, download, test_subset,
        image_size, workers, gpu_decode, holdout)."""
        raise NotImplementedError

    def train_labels(self, data_dir) -> torch.Tensor:
        raise NotImplementedError

    def subset(self, data_dir, indices, batch_size: int, device="cpu", image_size=None):
        raise NotImplementedError


DATASETS: dict[str, Dataset] = {}


def register_dataset(dataset: Dataset) -> Dataset:
    if dataset.name in DATASETS:
        raise ValueError(f"dataset {dataset.name!r} registered twice")
    DATASETS[dataset.name] = dataset
    return dataset


@dataclass(frozen=True)
class ImageSettings(Settings):
    """Flags of image-folder (ImageNet-kind) datasets."""

    image_size: Optional[int] = flag(None, "train on SxS crops, test on the centre SxS of a (S*256/224) resize "
                                           "(default: the dataset's, 224 for ImageNet; a pruned model's: its "
                                           "training run's)", type=positive_int)
    workers: Optional[int] = flag(None, "image-folder datasets: decoding processes per training process "
                                        "(default: the CPUs, up to 8)", type=non_negative_int)
    gpu_decode: bool = flag(False, "image-folder datasets: decode the JPEGs on the GPU")
    mean: Optional[list] = flag(None, "--dataset folder: per-channel mean in [0, 1] (default: measured on 500 "
                                      "training images)", type=float, nargs=3, metavar="M")
    std: Optional[list] = flag(None, "--dataset folder: per-channel std (default: measured)", type=float, nargs=3,
                               metavar="S")

    def input_size(self, info: Dataset) -> tuple[int, int, int]:
        """``(C, S, S)`` of one model input: the dataset's size unless ``--image-size`` says otherwise."""
        size = self.image_size or info.image_size
        return (info.in_channels, size, size)


def resolve_dataset(s):
    """``s`` with ``--dataset folder`` made the folder's dataset (``folder:<DIR>``, see ``common.data.imagenet``)."""
    if s.dataset != "folder":
        return s
    from common.data.imagenet import folder_name
    name = folder_name(s.data_dir, s.mean, s.std)
    dataset_info(name)                 # the folder checked (classes of train/ and val/) before anything runs
    return s.replace(dataset=name)


@dataclass(frozen=True)
class DataSettings(ImageSettings):
    """The data flags of a training run."""

    dataset: Optional[str] = flag("cifar10", "dataset (default %(default)s; a pruned model's: its checkpoint's)")
    data_dir: str = flag("data", "folder holding cifar-10-batches-py/, cifar-100-python/, the Fashion-MNIST IDX "
                                 "files (also looked for in /usr/share/datasets/fashion-mnist) or an image folder's "
                                 "train/ and val/")
    subset: Optional[int] = flag(None, "train on the first N training images only (smoke runs)", type=positive_int)
    test_subset: Optional[int] = flag(None, "evaluate on the first N test images only (smoke runs; tables need the "
                                            "full split)", type=positive_int)
    holdout: Optional[int] = derived(None)   # training images held out of training (MetaPruning's search split)


def dataset_info(name: str) -> Dataset:
    if name.startswith("folder:"):               # any image folder, by its path (common.data.imagenet)
        from common.data.imagenet import folder_dataset
        return folder_dataset(name)
    if name == "folder":
        raise UserError("--dataset folder needs --data-dir DIR: the folder holding train/<class>/ and val/<class>/")
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name]


def make_loaders(dataset: str, data_dir, batch_size: int, test_batch_size: int, device="cpu", seed: int = 0,
                 subset: int | None = None, channels_last: bool = False, download: bool = True,
                 test_subset: int | None = None, **options):
    """``(train, test, dataset)``: the loaders of ``dataset`` (``subset`` training and ``test_subset``
    test images if given), through its kind's loader factory. ``options`` are the kind's own
    (image folders: ``image_size``, ``workers``, ``gpu_decode``); None means the default."""
    info = dataset_info(dataset)
    if subset is not None and subset < 2:
        raise UserError(f"--subset must be at least 2, got {subset}")
    train, test = info.loaders(data_dir, batch_size, test_batch_size, device=device, seed=seed,
                               subset=subset, channels_last=channels_last, download=download,
                               test_subset=test_subset, **{k: v for k, v in options.items() if v not in (None, False)})
    return train, test, info


def set_epoch(loader, epoch: int) -> None:
    """Tell ``loader`` (or its sampler) which epoch comes next; a loader with neither does nothing."""
    for obj in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        if callable(getattr(obj, "set_epoch", None)):
            obj.set_epoch(epoch)
            return


def num_samples(loader) -> int:
    """Images in the split ``loader`` draws from."""
    n = getattr(loader, "num_samples", None)
    return int(n) if n is not None else len(loader.dataset)


# --------------------------------------------------------------------------- samples for layer-wise methods

def balanced_indices(labels: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` random training images, as evenly spread over the classes as the split allows
    (ThiNet: "10 random images per class"); sorted indices into ``labels``."""
    n = labels.numel()
    if count > n:
        raise UserError(f"asked for {count} sample images but the training split has only {n}")
    perm = torch.randperm(n, generator=generator)
    onehot = torch.nn.functional.one_hot(labels[perm], int(labels.max()) + 1)
    rank = (onehot.cumsum(0) * onehot).sum(1) - 1          # position of each image within its class
    order = torch.sort(rank, stable=True).indices           # round-robin over the classes
    return perm[order[:count]].sort().values


def holdout_indices(info: Dataset, data_dir, count: int) -> torch.Tensor:
    """The ``count`` training images held out of training (``holdout=`` of the loaders): class-balanced,
    drawn with a fixed seed, so every run that holds out ``count`` holds out the same images
    (MetaPruning's sub-validation split, spec B.0)."""
    labels = info.train_labels(data_dir)
    if not 0 < count < labels.numel():
        raise UserError(f"--holdout {count}: the training split has {labels.numel()} images")
    return balanced_indices(labels, count, torch.Generator().manual_seed(0))


def without(n: int, indices: torch.Tensor) -> torch.Tensor:
    """``0..n-1`` without ``indices``, in order."""
    keep = torch.ones(n, dtype=torch.bool)
    keep[indices] = False
    return keep.nonzero().flatten()


def balanced_sample(dataset: str, data_dir, count: int, batch_size: int, seed: int, device, **options) -> list:
    """``count`` class-balanced training images of ``dataset``, with the test-time transform, as a
    list of ``(x, y)`` batches on ``device``: what a layer-wise or gradient criterion looks at. Only the labels
    of the split are read in full; only the ``count`` chosen images are loaded."""
    info = dataset_info(dataset)
    idx = balanced_indices(info.train_labels(data_dir), count, torch.Generator().manual_seed(seed))
    subset = info.subset(data_dir, idx, batch_size, device,
                         **{k: v for k, v in options.items() if v not in (None, False)})
    return [(x.to(device), y.to(device)) for x, y in subset]
