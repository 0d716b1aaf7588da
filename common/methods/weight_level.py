"""Weight-level magnitude pruning (Han et al., NeurIPS 2015, as in Liu et al. 2019): the declaration.
The algorithm is ``common/pruning/weight_level.py``."""

from dataclasses import dataclass

from common.masks import sparse_kaiming_init_
from common.methods.base import Method, Pruned, register_method
from common.pruning.weight_level import magnitude_prune
from common.settings import Settings, flag, fraction


@dataclass(frozen=True)
class WeightLevelPruning(Settings):
    percent: float = flag(None, "fraction of the conv weights to remove, in [0, 1) (the paper: 0.3 ... 0.95)",
                          type=fraction, required=True)
    layerwise: bool = flag(False, "prune every layer by --percent instead of globally")
    include_linear: bool = flag(False, "also prune linear weights")


@dataclass(frozen=True)
class SparseScratch(Settings):
    dense_init: bool = flag(False, "keep the arch's initialisation instead of rescaling it for the surviving weights")


class MaskMethod(Method):
    """A method whose pruned models are keep-masks: Scratch-E/B re-initialise the surviving connections with He
    init for their fan (the original's Scratch-E/B; ``--dense-init``: the arch's own initialisation)."""

    scratch_settings = SparseScratch

    def reinit(self, s, model, mask):
        if not s.dense_init:
            sparse_kaiming_init_(model, mask)


@dataclass(frozen=True)
class WeightLevelTable(Settings):
    percents: str = flag("", "prune ratios (default 0.3 0.8; ImageNet 0.3 0.6)")


@register_method
class WeightLevel(MaskMethod):
    name = "weight-level"
    title = "Learning both Weights and Connections (Han et al., NeurIPS 2015)"
    prune_settings = WeightLevelPruning
    table_settings = WeightLevelTable
    archs = {"cifar": ["vgg19", "preresnet110", "densenet_bc100"], "imagenet": ["vgg16_bn", "resnet50"]}
    epochs = {"cifar": 160, "imagenet": 90}
    ft_epochs = {"cifar": 40, "imagenet": 10}
    report = {"columns": ["sparsity"]}

    def pruned_variant(self, s, ckpt):
        return f"p{s.percent:g}" + ("-layer" if s.layerwise else "") + ("-fc" if s.include_linear else "")

    def prune(self, s, model, ckpt, data):
        kinds = ("conv", "linear") if s.include_linear else ("conv",)
        mask, report = magnitude_prune(model, s.percent, kinds, "layer" if s.layerwise else "global",
                                       mask=ckpt.get("mask"))
        if report["emptied"]:
            print(f"warning: every weight of {', '.join(report['emptied'])} was pruned")
        return Pruned(model, report, mask)

    def table(self, t):
        """Every --percents ratio of every model (one global threshold over the conv weights; default 0.3 and
        0.8 on CIFAR, the original's 0.3 and 0.6 on ImageNet)."""
        for seed in t.seeds:
            for arch in t.archs:
                base = t.train(arch, seed)
                for p in (t.opts.percents or ("0.3 0.6" if t.tree == "imagenet" else "0.3 0.8")).split():
                    t.retrain(t.prune(base, f"p{float(p):g}", ["--percent", p]))
