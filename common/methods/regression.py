"""Channel pruning by LASSO regression + least squares (He, Zhang, Sun, ICCV 2017): the declaration.
The algorithm is ``common/pruning/regression.py``."""

import time
from dataclasses import dataclass
from typing import Optional

from common.methods.base import Method, Pruned, register_method
from common.methods.thinet import model_lr
from common.models import build_model, default_cfg
from common.pruning.regression import LASSO_ROWS, check_locations, plan_widths, regression_prune
from common.settings import Settings, flag, number_type, positive_float, positive_int

speedup_value = number_type(float, lambda v: v > 1.0, "the target speed-up must be > 1 (FLOPs divided by it)")
_ridge_value = number_type(float, lambda v: v >= 0, "the ridge penalty must be >= 0")


def ridge_value(text):
    """'auto' (chosen on held-out samples) or a penalty >= 0."""
    return text if text == "auto" else _ridge_value(text)


@dataclass(frozen=True)
class RegressionPruning(Settings):
    speedup: float = flag(2.0, "target FLOPs reduction of the whole network, > 1 (default 2, the paper's 2x)",
                          type=speedup_value)
    layers: str = flag("paper", "paper: VGG convs outside the last stage (VGG-16: conv1_1..conv4_3), ResNet inner "
                                "convs; all: every VGG conv", choices=("paper", "all"))
    deep_ratio: float = flag(1.5, "VGG: fraction kept in the deepest pruned stage / fraction kept before it "
                                  "(paper 1.5)", type=positive_float)
    images: int = flag(1000, "training images sampled, class-balanced (default 1000; the paper: 5000 ImageNet "
                             "images)", type=positive_int)
    locations: Optional[int] = flag(None, "random output positions per image and layer (default 10, as the paper; "
                                          "a smaller map gives all its positions)", type=positive_int)
    lasso_rows: int = flag(LASSO_ROWS, "sample rows the LASSO is fitted on (default %(default)s, as the original "
                                       "code)", type=positive_int)
    ridge: object = flag("auto", "penalty pulling the reconstructed weights toward the original ones, x mean "
                                 "diag(X^T X): auto = chosen on held-out sample images (default), 0 = the paper's "
                                 "plain least squares", type=ridge_value)


M = "M"
# The paper's pruned architectures, as the original code defines them (imagenet/regression-pruning/models).
PUBLISHED = {
    "vgg-5x": ("vgg16_nobn", [24, 22, M, 41, 51, M, 108, 89, 111, M, 184, 276, 228, M, 512, 512, 512, M]),
    "resnet-2x": ("resnet50_sampled", [35, 64, 55, 101, 51, 39, 97, 50, 37, 144, 128, 106, 205, 105, 72, 198, 105, 72,
                                       288, 128, 110, 278, 256, 225, 418, 209, 147, 407, 204, 158, 423, 212, 155,
                                       412, 211, 148, 595, 256, 213, 606, 512, 433, 1222, 512, 437, 1147, 512, 440]),
}
PUBLISHED_FROM = {"vgg16_nobn": ("vgg-5x",), "resnet50": ("resnet-2x",)}
SPEEDUP = {"vgg16_nobn": "5", "resnet50": "2"}          # the paper's ImageNet targets


def add_samplers(model):
    """A ResNet-50 is pruned with a channel sampler in front of every bottleneck's first conv (Sec. 3.3):
    the same network as ``resnet50_sampled`` selecting every channel, which the LASSO then prunes."""
    if model.arch != "resnet50":
        return None
    full = default_cfg("resnet50_sampled")
    cfg = [w for k in range(16) for w in (full[3 * k], model.cfg[2 * k], model.cfg[2 * k + 1])]
    sampled = build_model("resnet50_sampled", model.num_classes, model.in_channels, cfg)
    missing = sampled.load_state_dict(model.state_dict(), strict=False).missing_keys
    assert all(k.endswith("select.index") for k in missing), missing
    return sampled.to(next(model.parameters()).device).train(model.training)


@dataclass(frozen=True)
class RegressionTable(Settings):
    speedups: str = flag("", "target FLOPs reductions, one variant each (default 2; ImageNet: 5 for VGG-16, 2 for "
                             "ResNet-50, the paper's)")
    images: str = flag("1000", "sample images per pruning (default 1000)")
    published: bool = flag(True, "ImageNet: leave out the paper's pruned architectures")


@register_method
class Regression(Method):
    name = "regression"
    title = "Channel Pruning for Accelerating Very Deep Neural Networks (He et al., ICCV 2017)"
    prune_settings = RegressionPruning
    table_settings = RegressionTable
    accepts = ("l1-norm", "thinet")
    published = PUBLISHED
    archs = {"cifar": ["vgg16_mlp", "resnet56"], "imagenet": ["vgg16_nobn", "resnet50"]}
    epochs = {"cifar": 160, "imagenet": 90}
    ft_epochs = {"cifar": 40, "imagenet": 20}

    def pruned_variant(self, s, ckpt):
        return f"{s.speedup:g}x" + ("-all" if s.layers == "all" else "")

    def prepare(self, s, model, ckpt):
        return add_samplers(model)

    def check(self, s, model, input_size):
        check_locations(model, plan_widths(model, s.speedup, input_size, s.layers, s.deep_ratio), s.locations,
                        input_size)

    def prune(self, s, model, ckpt, data):
        widths = plan_widths(model, s.speedup, data.input_size, s.layers, s.deep_ratio)
        t0 = time.perf_counter()
        batches = [x for x, _ in data.sample(s.images)]
        pruned, layers = regression_prune(model, batches, widths=widths, locations=s.locations,
                                          lasso_rows=s.lasso_rows, ridge=s.ridge, seed=s.seed)
        return Pruned(pruned, {"layers": layers, "speedup_target": s.speedup, "images": s.images,
                               "locations": s.locations or "default", "seconds": round(time.perf_counter() - t0, 2)})

    def table(self, t):
        """LASSO channel pruning at each --speedups target from the L1-norm recipe's baseline (shared); on
        ImageNet at the paper's targets (VGG-16 5x, ResNet-50 2x), and the paper's pruned architectures."""
        for seed in t.seeds:
            for arch in t.archs:
                lr = model_lr(t, arch)
                base = t.train(arch, seed, method="l1-norm", flags=lr)
                speedups = t.opts.speedups or (SPEEDUP.get(arch, "2") if t.tree == "imagenet" else "2")
                for x in speedups.split():
                    t.retrain(t.prune(base, f"{x}x", ["--speedup", x, "--images", t.opts.images]), flags=lr)
                if t.opts.published:
                    t.published_rows(PUBLISHED, PUBLISHED_FROM.get(arch, ()), seed, flags=lr)
