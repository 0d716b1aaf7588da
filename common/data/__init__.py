"""Datasets: one registry (``registry.py``: kind, classes, size, mean/std, the loader contract)
and the loaders of each kind (``cifar.py``: CIFAR-10/100 and Fashion-MNIST held on the device;
``imagenet.py``: image folders streamed from disk, decoded by workers)."""

from common.data import cifar, imagenet  # noqa: F401  (registers the datasets of both kinds)
from common.data.cifar import DeviceLoader, load_split
from common.data.registry import (DATASETS, DataSettings, Dataset, ImageSettings, balanced_indices, balanced_sample,
                                   dataset_info, holdout_indices, make_loaders, num_samples, register_dataset,
                                   resolve_dataset, set_epoch)

__all__ = ["DATASETS", "DataSettings", "Dataset", "DeviceLoader", "ImageSettings", "balanced_indices",
           "balanced_sample", "dataset_info", "holdout_indices", "load_split", "make_loaders", "num_samples",
           "register_dataset", "resolve_dataset", "set_epoch"]
