"""Datasets held on the training device (CIFAR-10/100, Fashion-MNIST)."""

from common.data.cifar import (DATASETS, DatasetInfo, DeviceLoader, dataset_info, load_split,
                               make_loaders)

__all__ = ["DATASETS", "DatasetInfo", "DeviceLoader", "dataset_info", "load_split", "make_loaders"]
