"""MobileNet V2 for CIFAR (32x32): the ImageNet network (``common.models.imagenet.mobilenet``) with
stride 1 in the stem and in stage 2, so the last feature map is 4x4 -- the stride adjustment
commonly used for CIFAR (e.g. kuangliu/pytorch-cifar). Same 25-entry cfg; 1.0x: 2,236,682
parameters and 88.0 M multiply-accumulates for 10 classes."""

from common.models.imagenet.mobilenet import V2_CIFAR_STRIDES, MobileNetV2, v2_default_cfg, validate_v2
from common.models.registry import register_arch

register_arch("mobilenet_v2_cifar", "cifar",
              lambda cfg, num_classes, in_channels: MobileNetV2(cfg, num_classes, in_channels, V2_CIFAR_STRIDES),
              v2_default_cfg, lambda cfg: validate_v2("mobilenet_v2_cifar", cfg),
              "MobileNet V2 (1.0x) with CIFAR strides, cfg = 25 widths (stem, 7 stage outputs, 16 hidden, last)")
