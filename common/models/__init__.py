"""Model registry and the cfg-driven models (see ``registry`` and ``protocol``)."""

from common.models import cifar, imagenet  # noqa: F401  (registers the CIFAR and ImageNet models)
from common.models.protocol import ChannelGroup, PrunableModel, ResidualBranch
from common.models.registry import (ModelSettings, arch_spec, build_model, build_shapes, check_kind, default_cfg,
                                    display_name, list_archs, register_arch, resolve_arch)

__all__ = ["ChannelGroup", "ModelSettings", "PrunableModel", "ResidualBranch", "arch_spec", "build_model",
           "build_shapes", "check_kind", "default_cfg", "display_name", "list_archs", "register_arch", "resolve_arch"]
