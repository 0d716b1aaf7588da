"""CIFAR models: exact parameter counts derived by hand, cfg validation, stable keys."""

import pytest
import torch
import torch.nn as nn

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


# ----------------------------------------------------------------------------- kinds and the protocol

class _TinyImageNet(nn.Module):
    def __init__(self, cfg, num_classes, in_channels):
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)


def test_arch_names_are_unique_across_kinds_and_a_wrong_kind_is_one_line():
    from common.models import check_kind, register_arch

    with pytest.raises(ValueError, match="registered twice"):
        register_arch("vgg16", "imagenet", _TinyImageNet, lambda: [], lambda cfg: None)
    if "test_imagenet_tiny" not in list_archs():
        register_arch("test_imagenet_tiny", "imagenet", _TinyImageNet, lambda: [], lambda cfg: None)
    assert "test_imagenet_tiny" in list_archs("imagenet") and "test_imagenet_tiny" not in list_archs("cifar")
    with pytest.raises(UserError, match="test_imagenet_tiny is built for imagenet datasets and cifar10 is a cifar "
                                        "dataset; choose one of: densenet40"):
        check_kind("test_imagenet_tiny", "cifar", "cifar10")
    check_kind("resnet56", "cifar", "fashion-mnist")


def test_a_wrong_kind_arch_on_the_command_line_is_one_line(tmp_path):
    from helpers import assert_one_line_error, run_entry

    from common.models import register_arch
    if "test_imagenet_tiny" not in list_archs():
        register_arch("test_imagenet_tiny", "imagenet", _TinyImageNet, lambda: [], lambda cfg: None)
    proc = run_entry("cifar/l1-norm/main.py", "--arch", "test_imagenet_tiny", "--save", tmp_path / "run")
    assert_one_line_error(proc, "test_imagenet_tiny is built for imagenet datasets and cifar10 is a cifar dataset")
    assert not (tmp_path / "run").exists()


def test_every_registered_model_follows_the_protocol():
    from common.models import PrunableModel

    for arch in list_archs("cifar"):
        model = build_model(arch, 10, 3)
        assert isinstance(model, PrunableModel), arch
        modules = dict(model.named_modules())
        for g in model.channel_groups():
            assert g.size == model.cfg[g.cfg_index] and all(c in modules for c in g.consumers), (arch, g)
            assert (g.producer in modules) != (g.selection in modules), (arch, g)
        for b in model.residual_branches():
            assert callable(modules[b.block].shortcut) and b.last_conv in modules and b.end in modules


class DepthwiseSeparable(nn.Module):
    """conv -> BN -> ReLU -> depthwise 3x3 -> BN -> ReLU -> 1x1 conv -> pool -> fc; cfg = [width]."""

    def __init__(self, cfg, num_classes=10, in_channels=3):
        super().__init__()
        w = cfg[0]
        self.conv1, self.bn1 = nn.Conv2d(in_channels, w, 3, padding=1, bias=False), nn.BatchNorm2d(w)
        self.dw, self.bn2 = nn.Conv2d(w, w, 3, padding=1, groups=w, bias=False), nn.BatchNorm2d(w)
        self.pw = nn.Conv2d(w, 8, 1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.dw(x)))
        return self.fc(self.pw(x).mean((2, 3)))

    def channel_groups(self):
        from common.models import ChannelGroup
        return [ChannelGroup("conv1", 0, self.cfg[0], "conv1", "bn1", ("pw",), depthwise=(("dw", "bn2"),))]

    def residual_branches(self):
        return []


def test_surgery_passes_channels_through_a_depthwise_conv():
    from common.models import register_arch
    from common.pruning.surgery import prune_channels, zero_channels

    if "test_dwsep" not in list_archs():
        register_arch("test_dwsep", "test", lambda cfg, num_classes, in_channels: DepthwiseSeparable(
            cfg, num_classes, in_channels), lambda: [12], lambda cfg: None)
    torch.manual_seed(0)
    model = build_model("test_dwsep", 10, 3)
    for bn in (model.bn1, model.bn2):       # non-trivial statistics and shifts
        bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.5, 2), bn.bias.data.uniform_(-1, 1)
    model.eval()
    keep = torch.tensor([0, 3, 4, 7, 11])
    small = prune_channels(model, {"conv1": keep}).eval()
    assert small.cfg == [5] and small.dw.groups == 5 and small.dw.weight.shape == (5, 1, 3, 3)
    assert torch.equal(small.bn2.running_var, model.bn2.running_var[keep])
    x = torch.randn(4, 3, 16, 16)
    torch.testing.assert_close(small(x), zero_channels(model, {"conv1": keep})(x))
