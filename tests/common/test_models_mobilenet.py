"""MobileNet V1/V2 and ResNet-50 with stage widths (MetaPruning's search spaces): the published
parameter and multiply-accumulate counts, torchvision's state dicts load strictly with the same logits,
and surgery through depthwise convs and residual additions computes what the zeroed model computes."""

import pytest
import torch
import torch.nn as nn
import torchvision

from common.errors import UserError
from common.flops import count_flops, count_params
from common.models import build_model, check_kind
from common.pruning.surgery import prune_channels, zero_channels


@pytest.mark.parametrize("arch,classes,size,params,macs", [
    ("mobilenet_v1", 1000, 224, 4_231_976, 568_740_352),         # 4.23M / 569M (Howard et al. Table 8)
    ("mobilenet_v2", 1000, 224, 3_504_872, 300_774_272),         # 3.5M / 300M (Sandler et al. Table 4)
    ("resnet50_stages", 1000, 224, 25_557_032, 4_089_184_256),   # 25.56M / 4.09G
    ("mobilenet_v2_cifar", 10, 32, 2_236_682, 87_976_448),
])
def test_full_width_counts(arch, classes, size, params, macs):
    model = build_model(arch, classes)
    assert count_params(model) == params
    assert count_flops(model, (3, size, size)) == macs


@pytest.mark.parametrize("ours,theirs", [("mobilenet_v2", "mobilenet_v2"), ("resnet50_stages", "resnet50")])
def test_full_width_models_are_torchvisions(ours, theirs):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, theirs)().eval()
    model = build_model(ours, 1000).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


@pytest.mark.parametrize("arch,size", [("mobilenet_v1", 64), ("mobilenet_v2", 64), ("mobilenet_v2_cifar", 32),
                                       ("resnet50_stages", 64)])
def test_surgery_through_depthwise_convs_and_residual_additions(arch, size):
    torch.manual_seed(0)
    model = build_model(arch, 10).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.bias.data.uniform_(-1, 1)
    keep = {g.name: torch.randperm(g.size)[:max(1, g.size // 3)] for g in model.channel_groups()}
    small = prune_channels(model, keep).eval()
    assert small.cfg == [max(1, w // 3) for w in model.cfg]
    assert count_params(small) < count_params(model) / 5
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        torch.testing.assert_close(small(x), zero_channels(model, keep)(x), rtol=1e-4, atol=1e-5)


def test_every_cfg_entry_is_one_channel_group_and_stage_widths_are_shared():
    for arch in ("mobilenet_v1", "mobilenet_v2", "resnet50_stages"):
        model = build_model(arch, 10)
        assert sorted(g.cfg_index for g in model.channel_groups()) == list(range(len(model.cfg)))
    stage4 = next(g for g in build_model("mobilenet_v2", 10).channel_groups() if g.cfg_index == 4)
    assert len(stage4.summed) == 3 and len(stage4.consumers) == 4      # 4 blocks write it, 4 convs read it


def test_the_cifar_mobilenet_is_refused_on_imagenet():
    with pytest.raises(UserError, match="mobilenet_v2_cifar is built for cifar"):
        check_kind("mobilenet_v2_cifar", "imagenet", "imagenet")
    with pytest.raises(UserError, match="expected 25 widths"):
        build_model("mobilenet_v2", 10, cfg=[8] * 24)
