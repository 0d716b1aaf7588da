"""L1-norm filter pruning (Li, Kadav, Durdanovic, Samet, Graf, ICLR 2017): the declaration.
The algorithm is ``common/pruning/l1_norm.py``."""

from dataclasses import dataclass
from typing import Optional

from common.errors import UserError
from common.methods.base import Method, Pruned, register_method
from common.pruning.l1_norm import l1_prune, plan_keep_counts, variants_for
from common.settings import Settings, flag, fraction


@dataclass(frozen=True)
class L1Pruning(Settings):
    variant: Optional[str] = flag(None, "the paper's pruned-A / pruned-B configuration (default A)",
                                  choices=("A", "B"))
    ratio: Optional[float] = flag(None, "uniform fraction of filters to remove from every prunable layer, in [0, 1)",
                                  type=fraction)


@dataclass(frozen=True)
class L1Table(Settings):
    variants: str = flag("", "the paper's variants to run (default all of the model's: A, or A and B)")


@register_method
class L1Norm(Method):
    name = "l1-norm"
    title = "Pruning Filters for Efficient ConvNets (Li et al., ICLR 2017)"
    prune_settings = L1Pruning
    table_settings = L1Table
    archs = {"cifar": ["vgg16_mlp", "resnet56", "resnet110"], "imagenet": ["resnet34"]}
    epochs = {"cifar": 160, "imagenet": 90}
    ft_epochs = {"cifar": 40, "imagenet": 20}

    def resolve_pruning(self, s, ckpt):
        if s.variant is not None and s.ratio is not None:
            raise UserError("give --variant or --ratio, not both")
        return s.replace(variant="A") if s.variant is None and s.ratio is None else s

    def pruned_variant(self, s, ckpt):
        return s.variant if s.ratio is None else f"r{s.ratio:g}"

    def check(self, s, model, input_size):
        plan_keep_counts(model, s.variant, s.ratio)

    def prune(self, s, model, ckpt, data):
        pruned, kept = l1_prune(model, plan_keep_counts(model, s.variant, s.ratio))
        sizes = {g.name: g.size for g in model.channel_groups()}
        return Pruned(pruned, {"layers": {name: {"kept": len(idx), "of": sizes[name]} for name, idx in kept.items()}})

    def table(self, t):
        """Table 1 of Liu et al. (L1-norm rows): every paper variant of every model."""
        for arch in t.archs:
            if not variants_for(arch):
                raise UserError(f"no paper variant of L1-norm pruning for {arch}; choose from vgg16_mlp, resnet56, "
                                f"resnet110, resnet34")
        for seed in t.seeds:
            for arch in t.archs:
                base = t.train(arch, seed)
                for v in t.opts.variants.split() or variants_for(arch):
                    t.retrain(t.prune(base, v, ["--variant", v]))
