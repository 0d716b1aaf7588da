"""Network Slimming (Liu, Li, Shen, Huang, Yan, Zhang, ICCV 2017): the declaration.
The algorithm is ``common/pruning/slimming.py``."""

import sys
from dataclasses import dataclass
from typing import Optional

from common.data import dataset_info
from common.errors import UserError
from common.methods.base import Method, Pruned, Training, register_method
from common.pruning.slimming import SparsityHook, paper_lambda, paper_percents, slimming_prune
from common.settings import Settings, flag, fraction, non_negative_float


@dataclass(frozen=True)
class Sparsity(Settings):
    sparsity: Optional[float] = flag(None, "L1 penalty on BN scales (default: 1e-4 for VGG, 1e-5 for "
                                           "PreResNet/DenseNet); 0 = plain baseline", type=non_negative_float,
                                     names=("--lambda",), metavar="LAMBDA")


@dataclass(frozen=True)
class FinetuneSparsity(Settings):
    sparsity: float = flag(0.0, "L1 penalty on BN scales during fine-tuning (default 0)", type=non_negative_float,
                           names=("--lambda",), metavar="LAMBDA")


class SparsityTraining(Training):
    """main.py: training with the L1 penalty on the BN scales (Eq. 1), or the plain baseline at 0."""

    settings = Sparsity

    def resolve(self, s):
        return s.replace(sparsity=paper_lambda(s.arch, dataset_info(s.dataset).kind)) if s.sparsity is None else s

    def arm(self, s):
        return "sparsity" if s.sparsity > 0 else "baseline"

    def hooks(self, s, model):
        return [SparsityHook(model, s.sparsity)] if s.sparsity > 0 else []


@dataclass(frozen=True)
class SlimmingPruning(Settings):
    percent: Optional[float] = flag(None, "fraction of channels to remove, in [0, 1) (default: the paper's for the "
                                          "arch)", type=fraction)
    min_keep: float = flag(0.0, "every layer keeps at least this fraction of its channels (and at least one)",
                           type=fraction)
    force: bool = flag(False, "prune a checkpoint that was not sparsity-trained")


@dataclass(frozen=True)
class SlimmingTable(Settings):
    percents: str = flag("", "prune percents (default the paper's: VGG 0.7, 0.5 on CIFAR-100; PreResNet and "
                             "DenseNet 0.4 and 0.6)")
    sparsity: str = flag("", "lambda of the sparsity training (default the paper's per model)")


@register_method
class Slimming(Method):
    name = "slimming"
    title = "Learning Efficient Convolutional Networks through Network Slimming (Liu et al., ICCV 2017)"
    training = SparsityTraining()
    prune_settings = SlimmingPruning
    finetune_settings = FinetuneSparsity
    table_settings = SlimmingTable
    archs = {"cifar": ["vgg19", "preresnet164", "densenet40"], "imagenet": ["vgg11_bn_slimming"]}
    epochs = {"cifar": 160, "imagenet": 90}
    ft_epochs = {"cifar": 40, "imagenet": 5}

    def resolve_pruning(self, s, ckpt):
        lam = ckpt["args"].get("sparsity")
        if not (ckpt["arm"] == "sparsity" and lam):
            what = (f"{s.checkpoint} was not sparsity-trained ({ckpt['arm']} run, sparsity {lam or 0}): its BN "
                    f"scales carry no L1 penalty, so the global threshold is not the paper's")
            if not s.force:
                raise UserError(f"{what}; train it with main.py --sparsity LAMBDA, or pass --force")
            print(f"warning: {what}; pruning anyway (--force)", file=sys.stderr)
        if s.percent is None:
            s = s.replace(percent=paper_percents(ckpt["arch"], ckpt["dataset"], dataset_info(ckpt["dataset"]).kind)[0])
        return s

    def pruned_variant(self, s, ckpt):
        return f"p{s.percent:g}"

    def prune(self, s, model, ckpt, data):
        pruned, report = slimming_prune(model, s.percent, s.min_keep)
        if report["floor_hit"]:
            print(f"{len(report['floor_hit'])} layer(s) kept by the floor: {', '.join(report['floor_hit'])}")
        return Pruned(pruned, report)

    def retrain_hooks(self, arm, s, model, ckpt):
        return [SparsityHook(model, s.sparsity)] if arm == "finetune" and s.sparsity > 0 else []

    def table(self, t):
        """Baseline, sparsity training, then every paper percent (or --percents) of each model."""
        sparsity = ["--sparsity", t.opts.sparsity] if t.opts.sparsity else []
        for seed in t.seeds:
            for arch in t.archs:
                t.train(arch, seed, flags=["--sparsity", "0"])
                sparse = t.train(arch, seed, arm="sparsity", flags=sparsity)
                for p in t.opts.percents.split() or paper_percents(arch, t.dataset, dataset_info(t.dataset).kind):
                    t.retrain(t.prune(sparse, f"p{float(p):g}", ["--percent", str(p)]))
