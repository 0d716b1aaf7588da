"""First-order Taylor pruning (Molchanov, Tyree, Karras, Aila, Kautz, ICLR 2017): the declaration. The
algorithm is one criterion, ``common.pruning.criteria.taylor`` (Eq. 8), with the selectors of
``common.pruning.selection``: the L1-norm paper's per-layer plans (so the two criteria can be compared on the
same widths), a uniform per-layer ratio, or one global threshold over the layer-normalised scores (Sec. 2.3)."""

from dataclasses import dataclass
from typing import Optional

from common.errors import UserError
from common.methods.base import Method, Pruned, register_method
from common.pruning.criteria import taylor
from common.pruning.l1_norm import plan_keep_counts, variants_for
from common.pruning.selection import keep_global, keep_top
from common.pruning.surgery import prune_channels
from common.settings import Settings, flag, fraction, positive_int


@dataclass(frozen=True)
class TaylorPruning(Settings):
    variant: Optional[str] = flag(None, "the L1-norm paper's per-layer plan of the arch (VGG-16-A, ResNet-56/110-A/B, "
                                        "ResNet-34-A/B)", choices=("A", "B"))
    ratio: Optional[float] = flag(None, "remove this fraction of every prunable layer's channels, in [0, 1)",
                                  type=fraction)
    percent: Optional[float] = flag(None, "remove this fraction of all channels by one threshold over the "
                                          "layer-normalised scores (the paper's ranking), in [0, 1)", type=fraction)
    min_keep: float = flag(0.0, "--percent: every layer keeps at least this fraction of its channels (and one)",
                           type=fraction)
    images: int = flag(512, "class-balanced training images the scores are summed over (default %(default)s)",
                       type=positive_int)


@dataclass(frozen=True)
class TaylorTable(Settings):
    variants: str = flag("", "the L1-norm paper's plans to prune to (default all of the model's: A, or A and B)")


@register_method
class Taylor(Method):
    name = "taylor"
    title = "Pruning Convolutional Neural Networks for Resource Efficient Inference (Molchanov et al., ICLR 2017)"
    prune_settings = TaylorPruning
    table_settings = TaylorTable
    accepts = ("l1-norm",)              # the table prunes the L1-norm recipe's baseline: the same weights
    archs = {"cifar": ["vgg16_mlp", "resnet56", "resnet110"], "imagenet": ["resnet34"]}
    epochs = {"cifar": 160, "imagenet": 90}
    ft_epochs = {"cifar": 40, "imagenet": 20}

    def resolve_pruning(self, s, ckpt):
        given = [k for k in ("variant", "ratio", "percent") if getattr(s, k) is not None]
        if len(given) > 1:
            raise UserError(f"give one of --variant, --ratio, --percent, not {' and '.join('--' + k for k in given)}")
        return s.replace(variant="A") if not given else s

    def pruned_variant(self, s, ckpt):
        return s.variant if s.variant else f"r{s.ratio:g}" if s.ratio is not None else f"p{s.percent:g}"

    def check(self, s, model, input_size):
        if s.percent is None:
            plan_keep_counts(model, s.variant, s.ratio)

    def prune(self, s, model, ckpt, data):
        scores = taylor(model, data.sample(s.images), normalise=s.percent is not None)
        if s.percent is None:
            kept, report = keep_top(scores, plan_keep_counts(model, s.variant, s.ratio)), {}
        else:
            kept, report = keep_global(scores, s.percent, s.min_keep)
        sizes = {g.name: g.size for g in model.channel_groups()}
        layers = {name: {"kept": len(idx), "of": sizes[name]} for name, idx in kept.items()}
        return Pruned(prune_channels(model, kept), {**report, "layers": layers, "images": s.images})

    def table(self, t):
        """The L1-norm table's rows with the Taylor criterion: the same baselines (shared with l1-norm), the same
        per-layer plans, then fine-tuning, Scratch-E and Scratch-B."""
        for arch in t.archs:
            if not variants_for(arch):
                raise UserError(f"no L1-norm plan for {arch}; choose from vgg16_mlp, resnet56, resnet110, resnet34")
        for seed in t.seeds:
            for arch in t.archs:
                base = t.train(arch, seed, method="l1-norm")
                for v in t.opts.variants.split() or variants_for(arch):
                    t.retrain(t.prune(base, v, ["--variant", v]))
