"""Soft Filter Pruning (He, Kang, Dong, Fu, Yang, IJCAI 2018): the declaration.
The algorithm is ``common/pruning/soft_filter.py``."""

from dataclasses import dataclass

from common.errors import UserError
from common.methods.base import Method, Pruned, Training, register_method
from common.pruning.soft_filter import SoftFilterPruningHook, remove_zero_filters
from common.settings import Settings, flag, fraction


@dataclass(frozen=True)
class Rate(Settings):
    rate: float = flag(0.3, "fraction of filters zeroed per conv layer, P in [0, 1) (default 0.3); 0 = baseline",
                       type=fraction)


class SoftFilterTraining(Training):
    """main.py: the lowest-L2 filters of every conv zeroed before training and after every epoch (Alg. 1)."""

    settings = Rate

    def arm(self, s):
        return "sfp" if s.rate > 0 else "baseline"

    def variant(self, s):
        return f"r{s.rate:g}" if s.rate > 0 else None

    def hooks(self, s, model):
        return [SoftFilterPruningHook(model, s.rate)] if s.rate > 0 else []


@dataclass(frozen=True)
class SoftFilterTable(Settings):
    rates: str = flag("", "SFP rates P (default 0.1 0.2 0.3, and 0.4 for ResNet-56)")


@register_method
class SoftFilterPruning(Method):
    name = "soft-filter"
    title = "Soft Filter Pruning for Accelerating Deep CNNs (He et al., IJCAI 2018)"
    training = SoftFilterTraining()
    table_settings = SoftFilterTable
    archs = {"cifar": ["sfp_resnet20", "sfp_resnet32", "sfp_resnet56", "sfp_resnet110"], "imagenet": ["resnet50"]}
    epochs = {"cifar": 200, "imagenet": 100}
    ft_epochs = 0

    def resolve_pruning(self, s, ckpt):
        if ckpt["arm"] != "sfp":
            raise UserError(f"{s.checkpoint} is a {ckpt['arm']} run, not trained with soft filter pruning; "
                            f"train with main.py --rate P first")
        return s

    def pruned_variant(self, s, ckpt):
        return ckpt["meta"]["variant"]

    def prune(self, s, model, ckpt, data):
        pruned, mask, report = remove_zero_filters(model)
        report["rate"] = ckpt["args"].get("rate")
        return Pruned(pruned, report, mask)

    def table(self, t):
        """Baseline, then SFP training at every rate (paper: 10/20/30%, and 40% for ResNet-56)."""
        for seed in t.seeds:
            for arch in t.archs:
                t.train(arch, seed, flags=["--rate", "0"])
                rates = (t.opts.rates.split() if t.opts.rates else ["0.3"] if t.tree == "imagenet" else
                         ["0.1", "0.2", "0.3"] + ["0.4"] * arch.endswith("resnet56"))
                for r in rates:
                    sfp = t.train(arch, seed, arm="sfp", variant=f"r{float(r):g}", flags=["--rate", r])
                    t.retrain(t.prune(sfp, f"r{float(r):g}"))
