"""ThiNet (Luo, Wu, Lin, ICCV 2017): the declaration. The algorithm is ``common/pruning/thinet.py``."""

import argparse
import time
from dataclasses import dataclass
from typing import Optional

from common.engine import TrainConfig, train_steps
from common.methods.base import Method, Pruned, register_method
from common.pruning.thinet import thinet_plan, thinet_prune
from common.settings import Settings, flag, non_negative_int, positive_float, positive_int


def rates(text):
    """One compression rate, or one per pruned layer (comma-separated), each in (0, 1)."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers in (0, 1), got {text!r}") from None
    bad = [v for v in values if not 0.0 < v < 1.0]
    if bad:
        raise argparse.ArgumentTypeError(f"the fraction of channels kept must lie in (0, 1), got {bad[0]:g}")
    return values


@dataclass(frozen=True)
class ThiNetPruning(Settings):
    r: list = flag([0.5], "compression rate r = fraction of channels kept, in (0, 1): one value for every pruned "
                          "layer or one per layer, comma-separated (default 0.5: ThiNet-Conv / ThiNet-50)", type=rates)
    layers: str = flag("paper", "paper: VGG convs outside the last stage (VGG-16: conv1_1..conv4_3), ResNet inner "
                                "convs; all: every VGG conv", choices=("paper", "all"))
    images: int = flag(1000, "training images sampled, class-balanced (default 1000: 100 per CIFAR-10 class, the "
                             "paper's 10 per class on CIFAR-100)", type=positive_int)
    locations: Optional[int] = flag(None, "random (filter, position) pairs per image and layer (default 10, as the "
                                          "paper)", type=positive_int)
    finetune_iters: int = flag(0, "SGD steps after each pruned layer (paper: ~1 epoch; default 0 = none)",
                               type=non_negative_int)
    finetune_lr: float = flag(1e-3, "lr of those steps (paper 1e-3)", type=positive_float)


def rate(s):
    return s.r[0] if len(s.r) == 1 else s.r


M = "M"


def _resnet50(widths):
    """ResNet-50 cfg with conv1 and conv2 of every block of stage s at ``widths[s]``."""
    return [w for w, n in zip(widths, (3, 4, 6, 3)) for _ in range(n) for w in (w, w)]


# The paper's pruned architectures (the original code's imagenet/thinet/models).
PUBLISHED = {
    "thinet-conv": ("vgg16_nobn", [32, 32, M, 64, 64, M, 128, 128, 128, M, 256, 256, 256, M, 512, 512, 512, M]),
    "thinet-gap": ("vgg16_gap", [32, 32, M, 64, 64, M, 128, 128, 128, M, 256, 256, 256, M, 512, 512, 512]),
    "thinet-tiny": ("vgg16_gap", [16, 16, M, 32, 32, M, 64, 64, 64, M, 128, 128, 128, M, 128, 128, 256]),
    "thinet-70": ("resnet50", _resnet50((44, 89, 179, 358))),
    "thinet-50": ("resnet50", _resnet50((32, 64, 128, 256))),
    "thinet-30": ("resnet50", _resnet50((19, 38, 76, 153))),
}
PUBLISHED_FROM = {"vgg16_nobn": ("thinet-conv", "thinet-gap", "thinet-tiny"),
                  "resnet50": ("thinet-70", "thinet-50", "thinet-30")}


def model_lr(t, arch):
    """The ImageNet recipe's lr for a VGG without BN is 0.01 (the original's README), else the recipe's."""
    return ["--lr", "0.01"] if t.tree == "imagenet" and arch.startswith("vgg") and "_bn" not in arch else []


@dataclass(frozen=True)
class ThiNetTable(Settings):
    rs: str = flag("0.5", "compression rates r, one variant each (paper: 0.5; 0.7 and 0.3 are ThiNet-70 / -30)")
    images: str = flag("1000", "sample images per pruning (default 1000)")
    finetune_iters: str = flag("0", "SGD steps between layers (default 0)")
    published: bool = flag(True, "ImageNet: leave out the paper's pruned architectures")


@register_method
class ThiNet(Method):
    name = "thinet"
    title = "ThiNet: A Filter Level Pruning Method (Luo et al., ICCV 2017)"
    prune_settings = ThiNetPruning
    table_settings = ThiNetTable
    accepts = ("l1-norm", "regression")
    published = PUBLISHED
    archs = {"cifar": ["vgg16_mlp", "resnet56"], "imagenet": ["vgg16_nobn", "resnet50"]}
    epochs = {"cifar": 160, "imagenet": 90}
    ft_epochs = {"cifar": 40, "imagenet": 12}

    def pruned_variant(self, s, ckpt):
        return "r" + "-".join(f"{v:g}" for v in s.r) + ("-all" if s.layers == "all" else "")

    def check(self, s, model, input_size):
        thinet_plan(model, rate(s), s.layers, s.locations, input_size)

    def prune(self, s, model, ckpt, data):
        t0 = time.perf_counter()
        batches = [x for x, _ in data.sample(s.images)]
        # ThiNet's short fine-tune between layers (momentum 0.9, wd 5e-4, constant lr), on fresh batches each time
        config = TrainConfig(epochs=1, lr=s.finetune_lr, weight_decay=5e-4, schedule="constant", no_progress=True)
        losses = []

        def finetune(m):
            first_epoch = len(losses) * s.finetune_iters // len(data.train)
            losses.append(train_steps(m, data.train, config, s.finetune_iters, first_epoch))
            print(f"  fine-tuned {s.finetune_iters} steps at lr {s.finetune_lr:g}, mean loss {losses[-1]:.4f}")
            return m

        pruned, layers = thinet_prune(model, batches, r=rate(s), layers=s.layers, locations=s.locations,
                                      seed=s.seed, finetune=finetune if s.finetune_iters else None)
        return Pruned(pruned, {"layers": layers, "images": s.images, "locations": s.locations or "default",
                               "finetune_iters": s.finetune_iters, "seconds": round(time.perf_counter() - t0, 2)})

    def table(self, t):
        """ThiNet at each --rs rate from the L1-norm recipe's baseline (shared); on ImageNet also the paper's
        pruned architectures of the models, trained from scratch as the original did."""
        for seed in t.seeds:
            for arch in t.archs:
                lr = model_lr(t, arch)
                base = t.train(arch, seed, method="l1-norm", flags=lr)
                for r in t.opts.rs.split():
                    t.retrain(t.prune(base, f"r{r}", ["--r", r, "--images", t.opts.images,
                                                      "--finetune-iters", t.opts.finetune_iters]), flags=lr)
                if t.opts.published:
                    t.published_rows(PUBLISHED, PUBLISHED_FROM.get(arch, ()), seed, flags=lr)
