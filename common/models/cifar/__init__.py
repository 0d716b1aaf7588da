"""CIFAR-sized (32x32) models; importing this package registers them."""

from common.models.cifar import densenet, mobilenet, preresnet, resnet, vgg  # noqa: F401  (registration side effects)
