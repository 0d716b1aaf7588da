"""Sparse Structure Selection (Huang & Wang, ECCV 2018): the declaration.
The algorithm is ``common/pruning/sss.py``."""

import sys
from dataclasses import dataclass
from typing import Optional

from common.data import dataset_info
from common.errors import UserError
from common.methods.base import Method, Pruned, Training, register_method
from common.pruning.sss import (DEFAULT_GAMMA, SparseStructureHook, fold_lambdas_, lambdas_from_checkpoint,
                                remove_blocks, sss_report)
from common.settings import Settings, flag, non_negative_float


IMAGENET_GAMMA = 0.01      # the authors' (their model resnet-50-sss-0.01)


@dataclass(frozen=True)
class SSSTrainingSettings(Settings):
    gamma: Optional[float] = flag(None, f"L1 penalty on the block scales (default {DEFAULT_GAMMA}; ImageNet "
                                        f"{IMAGENET_GAMMA}); 0 = plain baseline", type=non_negative_float)
    lambda_momentum: float = flag(0.9, "momentum mu of the proximal update of the scales (default 0.9)",
                                  type=non_negative_float)


class SSSTraining(Training):
    """main.py: training with the sparse block scales (y = x + lambda F(x), APG on lambda), or the baseline at 0."""

    settings = SSSTrainingSettings

    def resolve(self, s):
        if s.gamma is not None:
            return s
        return s.replace(gamma=IMAGENET_GAMMA if dataset_info(s.dataset).kind == "imagenet" else DEFAULT_GAMMA)

    def arm(self, s):
        return "sss" if s.gamma > 0 else "baseline"

    def variant(self, s):
        return f"g{s.gamma:g}" if s.gamma > 0 else None

    def hooks(self, s, model):
        return [SparseStructureHook(model, s.gamma, s.lambda_momentum)] if s.gamma > 0 else []


def _resnet50(stages):
    """ResNet-50 with, per stage, ``(blocks kept, first block kept)`` (the rethinking README's notation):
    the kept blocks are the first of the stage, the downsampling one skipped when it is not kept."""
    cfg = []
    for (kept, first), n, w in zip(stages, (3, 4, 6, 3), (64, 128, 256, 512)):
        keep = set((range(n) if first else range(1, n))[:kept])
        cfg += [x for b in range(n) for x in ((w, w) if b in keep else (0, 0))]
    return cfg


# The pruned ResNet-50s of the SSS paper (ImageNet), as the rethinking repo describes them.
PUBLISHED = {"resnet-41": ("resnet50", _resnet50([(0, False), (4, True), (6, True), (3, True)])),
             "resnet-32": ("resnet50", _resnet50([(1, False), (4, True), (4, True), (1, True)])),
             "resnet-26": ("resnet50", _resnet50([(0, False), (2, False), (5, False), (1, True)]))}


@dataclass(frozen=True)
class SSSTable(Settings):
    gammas: str = flag("", "SSS penalties (default 0.02 0.05 0.1; ImageNet 0.01)")
    published: bool = flag(True, "ImageNet: leave out the paper's ResNet-41/32/26")


@register_method
class SparseStructureSelection(Method):
    name = "sss"
    title = "Data-Driven Sparse Structure Selection for Deep Neural Networks (Huang & Wang, ECCV 2018)"
    training = SSSTraining()
    table_settings = SSSTable
    published = PUBLISHED
    archs = {"cifar": ["resnet56", "preresnet164"], "imagenet": ["resnet50"]}
    epochs = {"cifar": 160, "imagenet": 100}
    ft_epochs = {"cifar": 40, "imagenet": 20}

    def resolve_pruning(self, s, ckpt):
        if ckpt["arm"] != "sss" or lambdas_from_checkpoint(ckpt) is None:
            raise UserError(f"{s.checkpoint} is a {ckpt['arm']} run without block scales; "
                            f"train with main.py --gamma G first")
        return s

    def pruned_variant(self, s, ckpt):
        return ckpt["meta"]["variant"]

    def prepare(self, s, model, ckpt):
        """Before the trained network is evaluated: put its block scales into its weights."""
        blocks, lam = lambdas_from_checkpoint(ckpt)
        if blocks != [b.block for b in model.residual_branches()]:
            raise UserError(f"the block scales in {s.checkpoint} do not match its model")
        fold_lambdas_(model, blocks, lam)
        return model

    def prune(self, s, model, ckpt, data):
        report = sss_report(*lambdas_from_checkpoint(ckpt))
        if not report["removed"]:
            print("warning: no block has lambda = 0, nothing removed (train with a larger --gamma)", file=sys.stderr)
        print(f"removed {len(report['removed'])} of {report['blocks']} blocks: {', '.join(report['removed']) or '-'}")
        return Pruned(remove_blocks(model, report["removed"]), report)

    def table(self, t):
        """Baseline, then SSS training at every gamma (CIFAR default 0.02, 0.05, 0.1: three strengths, as the
        paper's three depths; ImageNet default 0.01, the authors'), and on ImageNet the paper's ResNet-41/32/26."""
        default = str(IMAGENET_GAMMA) if t.tree == "imagenet" else "0.02 0.05 0.1"
        for seed in t.seeds:
            for arch in t.archs:
                t.train(arch, seed, flags=["--gamma", "0"])
                for g in (t.opts.gammas or default).split():
                    trained = t.train(arch, seed, arm="sss", variant=f"g{float(g):g}", flags=["--gamma", g])
                    t.retrain(t.prune(trained, f"g{float(g):g}"))
                if t.opts.published:
                    t.published_rows(PUBLISHED, PUBLISHED if arch == "resnet50" else (), seed)
