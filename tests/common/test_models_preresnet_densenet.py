"""Pre-activation ResNet and DenseNets: exact sizes, channel selection, surgery."""

import pytest
import torch
import torch.nn as nn

from common.errors import UserError
from common.flops import count_params
from common.models import build_model, default_cfg
from common.models.cifar.densenet import densenet_widths
from common.models.layers import ChannelSelection
from common.pruning.surgery import prune_channels, zero_channels

# ----------------------------------------------------------------------------- exact sizes

def preresnet_params(n, classes, in_ch=3):
    """Hand count: stem, 3 stages of n bottlenecks (BN = 2 params per channel), final BN, fc."""
    total = in_ch * 16 * 9
    c_in = 16
    for p in (16, 32, 64):
        for b in range(n):
            total += 2 * c_in + c_in * p + 2 * p + 9 * p * p + 2 * p + p * 4 * p
            if b == 0:
                total += c_in * 4 * p          # 1x1 projection shortcut, no BN
            c_in = 4 * p
    return total + 2 * 256 + 256 * classes + classes


def densenet40_params(classes, in_ch=3, k=12, n=12):
    total, c = in_ch * 2 * k * 9, 2 * k
    for b in range(3):
        for _ in range(n):
            total += 2 * c + c * k * 9
            c += k
        total += 2 * c + (c * c if b < 2 else 0)      # transition BN + 1x1 conv (or the final BN)
    return total + c * classes + classes


def densenet_bc100_params(classes, in_ch=3, k=12, n=16):
    total, c = in_ch * 2 * k * 9, 2 * k
    for b in range(3):
        for _ in range(n):
            total += 2 * c + c * 4 * k + 2 * 4 * k + 4 * k * k * 9
            c += k
        if b < 2:
            total += 2 * c + c * (c // 2)
            c //= 2
    return total + 2 * c + c * classes + classes


@pytest.mark.parametrize("arch,n,expected", [("preresnet164", 18, 1_703_258), ("preresnet110", 12, 1_146_842)])
def test_preresnet_parameter_count(arch, n, expected):
    assert count_params(build_model(arch, 10)) == preresnet_params(n, 10) == expected
    assert count_params(build_model(arch, 100)) == preresnet_params(n, 100)


def test_densenet_parameter_counts():
    assert count_params(build_model("densenet40", 10)) == densenet40_params(10) == 1_059_298
    assert count_params(build_model("densenet40", 100)) == densenet40_params(100)
    assert count_params(build_model("densenet_bc100", 10)) == densenet_bc100_params(10) == 769_162
    assert count_params(build_model("densenet_bc100", 100, in_channels=1)) == densenet_bc100_params(100, 1)


@pytest.mark.parametrize("arch,layers", [("preresnet110", 110), ("preresnet164", 164),
                                         ("densenet40", 40), ("densenet_bc100", 100)])
def test_depth_is_the_name(arch, layers):
    """Weighted layers on the main path (convs + classifier; 1x1 projection shortcuts not counted)."""
    m = build_model(arch, 10)
    convs = [n for n, x in m.named_modules() if isinstance(x, nn.Conv2d) and "downsample" not in n]
    assert len(convs) + 1 == layers


def test_default_cfgs_follow_the_spec():
    cfg = default_cfg("preresnet164")
    assert len(cfg) == 163
    assert cfg[:6] == [16, 16, 16, 64, 16, 16]
    assert cfg[54:60] == [64, 32, 32, 128, 32, 32] and cfg[108:114] == [128, 64, 64, 256, 64, 64]
    assert cfg[-1] == 256
    d = default_cfg("densenet40")
    assert len(d) == 39 and d[:3] == [24, 36, 48] and d[11:14] == [156, 168, 168]
    assert d[25] == 312 and d[37:] == [444, 456]
    assert default_cfg("densenet_bc100") == [48] * 48


def test_output_shapes_and_grayscale_input():
    for arch in ("preresnet20", "densenet40", "densenet_bc100"):
        m = build_model(arch, 7, in_channels=1).eval()
        assert m(torch.randn(2, 1, 32, 32)).shape == (2, 7)


# ----------------------------------------------------------------------------- channel selection

def test_selecting_every_channel_is_free():
    sel = ChannelSelection(8)
    x = torch.randn(2, 8, 4, 4)
    assert sel(x) is x                       # no indexing at all
    part = ChannelSelection(8, 3)
    part.index.copy_(torch.tensor([1, 4, 6]))
    assert torch.equal(part(x), x[:, [1, 4, 6]])


def test_every_bn_scores_one_group():
    """Network Slimming ranks all BN scales; each BN must belong to exactly one channel group."""
    for arch in ("preresnet20", "densenet40", "densenet_bc100"):
        m = build_model(arch, 10)
        bns = {n for n, x in m.named_modules() if isinstance(x, nn.BatchNorm2d)}
        in_groups = [g.bn for g in m.channel_groups()]
        if arch == "densenet_bc100":   # only the bottlenecks are removable there
            assert len(in_groups) == 48 and set(in_groups) < bns
        else:
            assert sorted(in_groups) == sorted(bns)


# ----------------------------------------------------------------------------- surgery

def _randomise(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
    return model.eval()


def _random_keep(model, frac, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {gr.name: torch.randperm(gr.size, generator=g)[:max(1, int(gr.size * frac))]
            for gr in model.channel_groups()}


@pytest.mark.parametrize("arch", ["preresnet20", "densenet40", "densenet_bc100"])
def test_pruned_model_computes_the_masked_model(arch):
    torch.manual_seed(0)
    model = _randomise(build_model(arch, 10))
    keep = _random_keep(model, 0.5)
    pruned = prune_channels(model, keep).eval()
    zero_channels(model, keep)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(pruned(x), model(x), rtol=1e-4, atol=1e-5)
    assert count_params(pruned) < count_params(model)
    for g in model.channel_groups():
        assert pruned.cfg[g.cfg_index] == len(keep[g.name])


def test_pruning_a_pruned_preresnet_again():
    """Selection indices compose: a second prune selects from the already-selected channels."""
    model = _randomise(build_model("preresnet20", 10), seed=1)
    once = prune_channels(model, _random_keep(model, 0.7, seed=1)).eval()
    keep2 = _random_keep(once, 0.5, seed=2)
    twice = prune_channels(once, keep2).eval()
    zero_channels(once, keep2)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(twice(x), once(x), rtol=1e-4, atol=1e-5)
    idx = twice.layer1[1].select.index
    assert torch.equal(idx, idx.sort().values) and idx.unique().numel() == idx.numel()


def test_block_without_branch_is_its_shortcut():
    cfg = default_cfg("preresnet20")
    cfg[3:6] = [0, 0, 0]          # stage 1, block 2: identity
    cfg[6:9] = [0, 0, 0]          # stage 2, block 1: downsampling -> the 1x1 shortcut conv stays
    m = build_model("preresnet20", 10, cfg=cfg).eval()
    x = torch.randn(2, 64, 32, 32)
    assert torch.equal(m.layer1[1](x), x)
    assert torch.equal(m.layer2[0](x), m.layer2[0].downsample(x))
    assert not any(g.name.startswith(("layer1.1.", "layer2.0.")) for g in m.channel_groups())
    full = count_params(build_model("preresnet20", 10))
    removed = sum(2 * c + c * p + 2 * p + 9 * p * p + 2 * p + 4 * p * p for c, p in ((64, 16), (64, 32)))
    assert count_params(m) == full - removed


@pytest.mark.parametrize("arch,cfg_edit,msg", [
    ("preresnet20", lambda c: c[:-1], "expected 19 widths"),
    ("preresnet20", lambda c: c[:3] + [80] + c[4:], "selects 80 channels of the 64"),
    ("preresnet20", lambda c: c[:3] + [0, 4, 0] + c[6:], "all 0 for a block without"),
    ("preresnet20", lambda c: c[:-1] + [0], "final selection"),
    ("densenet40", lambda c: c[:-1] + [457], "selects 457 channels of the 456"),
    ("densenet40", lambda c: c + [5], "expected 39 widths"),
    ("densenet_bc100", lambda c: c[:-1] + [0], "integer >= 1"),
])
def test_bad_cfgs_are_one_clear_error(arch, cfg_edit, msg):
    with pytest.raises(UserError, match=msg):
        build_model(arch, 10, cfg=cfg_edit(default_cfg(arch)))


def test_densenet_widths():
    assert densenet_widths(12)[-1] == 456 and len(densenet_widths(12)) == 39


def test_fresh_model_from_checkpoint_keeps_the_selection():
    """Scratch training re-initialises the weights of a pruned DenseNet but not which
    features each layer reads: that is its architecture."""
    from common.checkpoint import make_checkpoint, model_from_checkpoint

    model = _randomise(build_model("densenet40", 10), seed=3)
    pruned = prune_channels(model, _random_keep(model, 0.5, seed=3))
    ckpt = make_checkpoint(pruned, "cifar10", "slimming", "pruned")
    fresh = model_from_checkpoint(ckpt, load_weights=False)
    assert fresh.cfg == pruned.cfg
    for (name, a), b in zip(pruned.named_buffers(), fresh.buffers()):
        if name.endswith(".index"):
            assert torch.equal(a, b)
    assert not torch.equal(fresh.conv1.weight, pruned.conv1.weight)
    assert not torch.equal(fresh.dense3[0].select.index, torch.arange(fresh.cfg[26]))
