"""CIFAR models: exact parameter counts derived by hand, cfg validation, stable keys."""

import pytest
import torch

from common.errors import UserError
from common.models import build_model, default_cfg, list_archs


def conv_bn(c_in, c_out, k=3):
    """A bias-free k x k conv followed by BatchNorm (gamma, beta)."""
    return c_in * c_out * k * k + 2 * c_out


def vgg_params(cfg, classes, in_ch=3, mlp=False):
    total, c = 0, in_ch
    for v in cfg:
        if v != "M":
            total += conv_bn(c, v)
            c = v
    if mlp:  # Linear(c, 512) + BN1d(512) + Linear(512, classes)
        return total + (c * 512 + 512) + 2 * 512 + (512 * classes + classes)
    return total + c * classes + classes


def resnet_params(n, classes, in_ch=3, inner=None):
    """Stem conv+BN, then per block conv1 (in->mid) + BN + conv2 (mid->planes) + BN, then fc."""
    total = conv_bn(in_ch, 16)
    inner = inner or [w for w in (16, 32, 64) for _ in range(n)]
    c, k = 16, 0
    for planes in (16, 32, 64):
        for _ in range(n):
            total += conv_bn(c, inner[k]) + conv_bn(inner[k], planes)
            c, k = planes, k + 1
    return total + 64 * classes + classes


VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_vgg16_parameter_counts_by_hand():
    # 14,710,464 conv+BN parameters: conv 3x3 weights sum to 14,710,464 - 2*4224 BN entries
    assert n_params(build_model("vgg16", 10)) == vgg_params(VGG16, 10) == 14_724_042
    assert n_params(build_model("vgg16_mlp", 10)) == vgg_params(VGG16, 10, mlp=True) == 14_987_722
    assert n_params(build_model("vgg16_mlp", 100)) == vgg_params(VGG16, 100, mlp=True)


def test_vgg19_and_fashion_mnist_input():
    cfg19 = default_cfg("vgg19")
    assert n_params(build_model("vgg19", 10)) == vgg_params(cfg19, 10) == 20_035_018
    assert n_params(build_model("vgg11", 10, in_channels=1)) == vgg_params(default_cfg("vgg11"), 10, in_ch=1)


@pytest.mark.parametrize("depth,expected", [(20, 269_722), (56, 853_018), (110, 1_727_962)])
def test_resnet_parameter_counts_by_hand(depth, expected):
    n = (depth - 2) // 6
    assert n_params(build_model(f"resnet{depth}", 10)) == resnet_params(n, 10) == expected


def test_pruned_cfg_builds_the_smaller_network():
    inner = [14] * 7 + [16, 14] + [32] + [28] * 8 + [64] + [57] * 7 + [64]   # ResNet-56-A (Li et al.)
    model = build_model("resnet56", 10, cfg=inner)
    assert n_params(model) == resnet_params(9, 10, inner=inner) == 773_336
    assert model.layer3[1].conv1.out_channels == 57 and model.layer3[1].conv2.in_channels == 57


def test_forward_shapes_and_stable_state_dict_keys():
    x = torch.randn(2, 3, 32, 32)
    vgg = build_model("vgg16_mlp", 10)
    assert vgg(x).shape == (2, 10)
    keys = set(vgg.state_dict())
    assert {"features.0.weight", "features.1.running_var", "classifier.0.weight", "classifier.1.weight",
            "classifier.3.bias"} <= keys
    res = build_model("resnet20", 100, in_channels=1)
    assert res(torch.randn(2, 1, 32, 32)).shape == (2, 100)
    assert {"conv1.weight", "layer1.0.conv1.weight", "layer3.2.bn2.running_mean", "fc.weight"} <= set(res.state_dict())


def test_downsampling_shortcut_passes_gradient():
    """The original detached the option-A shortcut; ours must carry gradient through it."""
    model = build_model("resnet20", 10)
    block = model.layer2[0]
    x = torch.randn(2, 16, 32, 32, requires_grad=True)
    block.shortcut(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("arch,cfg,fragment", [
    ("vgg16", [1, 2], "expected 17 entries"),
    ("vgg16", [64, "M", 128] + [64] * 14, "'M' at the pooling positions"),
    ("resnet56", [16] * 26, "expected 27 widths"),
    ("resnet20", [16] * 8 + [-1], "integer >= 0"),
    ("vgg16", [0] * 13 + ["M"] * 4, "pooling positions"),
    ("vgg11", [64, "M", 128, "M", 256, 0, "M", 512, 512, "M", 512, 512], "integer >= 1"),
    ("resnet20", {"a": 1}, "JSON list"),
])
def test_cfg_that_does_not_fit_is_a_user_error(arch, cfg, fragment):
    with pytest.raises(UserError, match=fragment.replace("(", r"\(")):
        build_model(arch, 10, cfg=cfg)


def test_unknown_arch_lists_the_known_ones():
    with pytest.raises(UserError, match="unknown arch 'resnet57'.*resnet56"):
        build_model("resnet57", 10)
    assert {"vgg16", "vgg16_mlp", "vgg19", "resnet56", "resnet110"} <= set(list_archs())
