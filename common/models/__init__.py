"""Model registry and the cfg-driven models (see ``registry`` for the conventions)."""

from common.models import cifar  # noqa: F401  (registers the CIFAR models)
from common.models.registry import (ChannelGroup, arch_spec, build_model, default_cfg,
                                    list_archs, register_arch)

__all__ = ["ChannelGroup", "arch_spec", "build_model", "default_cfg", "list_archs", "register_arch"]
