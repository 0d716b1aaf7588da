"""ImageNet models: torchvision's state dicts load strictly and give the same logits (random weights,
no download), the paper's parameter and FLOP counts, ResNet-34-A/B of L1-norm pruning, and surgery
through the 7x7-flattened classifier and the BN1d head."""

import pytest
import torch
import torch.nn as nn
import torchvision

from common.errors import UserError
from common.flops import count_flops, count_params
from common.models import build_model, check_kind, list_archs
from common.pruning.l1_norm import l1_prune, plan_keep_counts
from common.pruning.surgery import prune_channels, zero_channels


@pytest.mark.parametrize("ours,theirs", [("resnet18", "resnet18"), ("resnet34", "resnet34"), ("resnet50", "resnet50"),
                                         ("vgg11_bn", "vgg11_bn"), ("vgg16_nobn", "vgg16"), ("vgg16_bn", "vgg16_bn")])
def test_full_width_models_are_torchvisions(ours, theirs):
    torch.manual_seed(0)
    reference = getattr(torchvision.models, theirs)().eval()
    model = build_model(ours, 1000, 3).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
    assert count_params(model) == sum(p.numel() for p in reference.parameters())


def test_resnet34_counts_and_the_papers_pruned_variants():
    model = build_model("resnet34", 1000, 3)
    assert count_params(model) == 21_797_672
    assert count_flops(model, (3, 224, 224)) == pytest.approx(3.664e9, rel=2e-3)
    expected = {"A": ([64, 44, 44, 128, 89, 89, 128, 256, 179, 179, 179, 179, 256, 512, 512, 512], 20_151_764, 3.100e9),
                "B": ([64, 32, 32, 128, 51, 51, 128, 256, 153, 153, 153, 153, 256, 512, 512, 512], 19_469_372, 2.782e9)}
    for variant, (cfg, params, flops) in expected.items():
        pruned, _ = l1_prune(model, plan_keep_counts(model, variant))
        assert pruned.cfg == cfg and count_params(pruned) == params
        assert count_flops(pruned, (3, 224, 224)) == pytest.approx(flops, rel=2e-3)


def test_a_pruned_imagenet_resnet_computes_what_the_zeroed_one_computes():
    torch.manual_seed(0)
    model = build_model("resnet50", 10, 3, [8, 8] * 16).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.bias.data.uniform_(-1, 1)
    keep = {g.name: torch.arange(0, g.size, 2) for g in model.channel_groups()}
    small = prune_channels(model, keep).eval()
    assert small.cfg == [4, 4] * 16
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(small(x), zero_channels(model, keep)(x))


def test_vgg_surgery_through_the_flattened_classifier_and_the_slimming_head():
    torch.manual_seed(0)
    model = build_model("vgg11_bn_slimming", 10, 3, [8, "M", 8, "M", 8, 8, "M", 8, 8, "M", 8, 6, "M", 16, 12]).eval()
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.running_mean.uniform_(-1, 1), m.bias.data.uniform_(-1, 1)
    keep = {"features.25": torch.tensor([0, 2, 5]), "classifier.0": torch.tensor([1, 3, 4, 8, 9]),
            "classifier.3": torch.tensor([0, 11])}
    small = prune_channels(model, keep).eval()
    assert small.cfg[-4:] == [3, "M", 5, 2] and small.classifier[0].in_features == 3 * 49
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(small(x), zero_channels(model, keep)(x))


def test_imagenet_archs_are_refused_with_cifar_data_and_the_other_way():
    assert {"resnet18", "resnet34", "resnet50", "vgg16", "vgg16_bn", "vgg11_bn_slimming"} <= set(
        list_archs("imagenet"))
    with pytest.raises(UserError, match="resnet50 is built for imagenet datasets and cifar10 is a cifar dataset"):
        check_kind("resnet50", "cifar", "cifar10")
    with pytest.raises(UserError, match="resnet56 is built for cifar datasets and imagenet is an imagenet dataset"):
        check_kind("resnet56", "imagenet", "imagenet")


def test_imagenet_names_are_torchvisions_and_old_names_still_build_the_same_models():
    """On an ImageNet dataset ``vgg16`` is torchvision's VGG-16 -- the registered ``vgg16_nobn``, whose state dict and
    logits are torchvision's (test above) -- and on CIFAR the CIFAR model; the old name still builds it. Lists show the
    names of a kind only."""
    from common.data import dataset_info
    from common.models import ModelSettings, list_archs, resolve_arch

    import torchvision

    from common.models import build_shapes

    assert resolve_arch("vgg16", "imagenet") == "vgg16_nobn" and resolve_arch("vgg16", "cifar") == "vgg16"
    ours = build_shapes(resolve_arch("vgg16", "imagenet"), 1000, 3)     # --arch vgg16 --dataset imagenet
    with torch.device("meta"):
        reference = torchvision.models.vgg16()
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
    cifar = ModelSettings(arch="vgg16").build(dataset_info("cifar10"))
    assert cifar.arch == "vgg16" and cifar.num_classes == 10
    assert "vgg16" in list_archs("imagenet") and "vgg16_nobn" not in list_archs("imagenet")
    assert "resnet56" in list_archs("cifar") and "resnet50" not in list_archs("cifar")
    for name in ("resnet18", "resnet34", "resnet50", "vgg11_bn", "vgg16_bn", "mobilenet_v2"):
        assert resolve_arch(name, "imagenet") == name and name in list_archs("imagenet")


def test_the_imagenet_vgg16_by_its_torchvision_name_trains_from_a_recipe(tmp_path):
    from helpers import run_entry

    proc = run_entry("imagenet/l1-norm/main.py", "--arch", "vgg16", "--dataset", "cifar10", "--epochs", "1")
    assert proc.returncode == 2 and "vgg16 is built for cifar datasets" not in proc.stderr    # CIFAR's own vgg16
    bad = run_entry("imagenet/l1-norm/main.py", "--arch", "vgg16_nobn", "--dataset", "cifar10", "--epochs", "1")
    assert "vgg16_nobn is built for imagenet datasets and cifar10 is a cifar dataset" in bad.stderr
    assert "vgg16_nobn" not in bad.stderr.split("choose one of:")[1] and "resnet56" in bad.stderr
