"""The ImageNet tree's methods: the published architectures at the papers' parameter and FLOP counts
and Scratch-B epochs, ThiNet and regression beating L1-norm selection on real images, the regression
method's channel samplers, exact SSS block removal on ResNet-50, slimming's floor on the BN1d head."""

import json

import pytest
import torch
import torch.nn as nn
from helpers import FASHION_SKIP, HAVE_FASHION, assert_one_line_error, run_cli, run_entry

from common.arms import scratch_epochs
from common.data import balanced_sample
from common.flops import count_flops
from common.models import build_model
from common.pruning.l1_norm import l1_prune
from common.pruning.regression import plan_widths, regression_prune
from common.pruning.slimming import slimming_prune
from common.pruning.sss import SparseStructureHook, lambdas_from_checkpoint, sss_prune
from common.pruning.thinet import thinet_prune

PUBLISHED = {  # name: (method, params, GFLOPs at 224, Scratch-B epochs)
    "thinet-conv": ("thinet", 131_452_552, 4.791, 180), "thinet-gap": ("thinet", 8_322_696, 4.668, 180),
    "thinet-tiny": ("thinet", 1_325_368, 1.005, 180), "thinet-70": ("thinet", 16_945_246, 2.601, 141),
    "thinet-50": ("thinet", 12_381_864, 1.822, 180), "thinet-30": ("thinet", 8_665_318, 1.166, 180),
    "vgg-5x": ("regression", 130_879_294, 3.515, 180), "resnet-2x": ("regression", 19_693_584, 2.730, 134),
    "resnet-41": ("sss", 25_358_120, 3.473, 117), "resnet-32": ("sss", 14_268_968, 2.818, 145),
    "resnet-26": ("sss", 14_919_464, 2.278, 179),
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_architectures_and_their_scratch_b_epochs(tmp_path, name):
    method, params, gflops, epochs_b = PUBLISHED[name]
    proc = run_entry(f"imagenet/{method}/prune.py", "--published", name, "--save", tmp_path / name)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / name / "result.json").read_text())
    assert result["params"] == params and result["flops"] == pytest.approx(gflops * 1e9, rel=2e-3)
    base, cap = (100, None) if method == "sss" else (90, 2.0)
    assert scratch_epochs("B", base, result["base_flops"], result["flops"], cap)[0] == epochs_b
    assert_one_line_error(run_entry(f"imagenet/{method}/main_finetune.py", "--checkpoint",
                                    tmp_path / name / "pruned.pt", "--save", tmp_path / "ft"),
                          "published architecture with fresh weights: nothing to fine-tune")


def test_the_imagenet_tables_include_the_published_rows():
    from common.sweep import plan_of

    for method, names in (("thinet", ["thinet-conv", "thinet-gap", "thinet-tiny"]), ("regression", ["vgg-5x"])):
        plan = plan_of(method, ["--tree", "imagenet", "--archs", "vgg16_nobn", "--seeds", "1"])
        published = [s for s in plan.steps.values() if "--published" in s.argv]
        assert [s.argv[s.argv.index("--published") + 1] for s in published] == names
        scratch = [s for s in plan.steps.values() if s.needs and s.needs[0] in published]
        assert len(scratch) == 2 * len(names) and all("--lr" in s.argv and "0.01" in s.argv for s in scratch)
        assert not any("main_finetune.py" in s.argv[0] for s in scratch)


@pytest.fixture(scope="module")
def fashion_jpeg(tmp_path_factory):
    if not HAVE_FASHION:
        pytest.skip(FASHION_SKIP)
    out = tmp_path_factory.mktemp("jpeg") / "fashion"
    made = run_cli("scripts/make_image_folder.py", "--out", out, "--train-per-class", "60", "--val-per-class", "20")
    assert made.returncode == 0, made.stderr
    return out


def _held_out_error(pruned, original, consumer, x):
    def output(model):
        got = {}
        handle = dict(model.named_modules())[consumer].register_forward_hook(lambda m, i, o: got.setdefault("y", o))
        with torch.no_grad():
            model(x)
        handle.remove()
        return got["y"]
    want = output(original)
    return float((output(pruned) - want).square().sum() / want.square().sum())


@pytest.mark.parametrize("arch,cfg,group,consumer", [
    ("vgg16_gap", [8, 8, "M", 16, 16, "M", 16, 16, 16, "M", 32, 32, 32, "M", 32, 32, 32], "features.17", "features.19"),
    ("resnet50_narrow", None, "layer2.1.conv1", "layer2.1.conv2"),
])
def test_thinet_and_regression_beat_l1_norm_on_real_images(fashion_jpeg, arch, cfg, group, consumer):
    torch.manual_seed(0)
    model = build_model(arch, 10, 3, cfg)
    samples = [x for x, _ in balanced_sample("fashion-mnist-jpeg", fashion_jpeg, 200, 50, seed=0, device="cpu")]
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()                # a few SGD steps on real images give the filters some structure
    for x in samples * 3:
        loss = model(x).logsumexp(1).mean() - model(x).mean()    # spread the logits: structure without labels
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    fit, held_out = samples[:2], torch.cat(samples[2:])
    keep = dict((g.name, g.size) for g in model.channel_groups())[group] // 2
    l1_model, _ = l1_prune(model, {group: keep})
    thinet_model, _ = thinet_prune(model, fit, r=0.5, layers=[group], log=lambda s: None)
    regression_model, _ = regression_prune(model, fit, widths={group: keep}, log=lambda s: None)
    l1 = _held_out_error(l1_model, model, consumer, held_out)
    assert _held_out_error(thinet_model, model, consumer, held_out) < l1
    assert _held_out_error(regression_model, model, consumer, held_out) < l1


def test_the_regression_method_prunes_resnet50_through_channel_samplers():
    from common.methods.regression import add_samplers

    torch.manual_seed(0)
    model = build_model("resnet50", 10, 3).eval()
    sampled = add_samplers(model)
    assert sampled.arch == "resnet50_sampled" and len(sampled.cfg) == 48 and sampled.cfg[:3] == [64, 64, 64]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(sampled(x), model(x))           # selecting every channel changes nothing
    names = [g.name for g in sampled.channel_groups()][:3]
    assert names == ["layer1.0.select", "layer1.0.conv1", "layer1.0.conv2"]
    plan = plan_widths(sampled, 2.0, (3, 224, 224))              # ResNet-50-2x: the samplers shrink too
    cfg = [plan.get(g.name, g.size) for g in sampled.channel_groups()]
    assert len(plan) == 48 and cfg[0] < 64
    smaller = build_model("resnet50_sampled", 10, 3, cfg)
    ratio = count_flops(sampled, (3, 224, 224)) / count_flops(smaller, (3, 224, 224))
    assert 2.0 <= ratio < 2.05
    widths = {"layer2.1.select": 300, "layer2.1.conv1": 64}
    pruned, report = regression_prune(sampled, [x.repeat(4, 1, 1, 1)], widths=widths, log=lambda s: None)
    assert pruned.cfg[12:15] == [300, 64, 128] and [r["layer"] for r in report] == list(widths)


def test_sss_removes_resnet50_blocks_without_changing_its_outputs():
    torch.manual_seed(0)
    model = build_model("resnet50_narrow", 10, 3).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2), m.bias.data.uniform_(-0.2, 0.2)
    hook = SparseStructureHook(model, gamma=0.01)
    with torch.no_grad():
        hook.lam.copy_(torch.tensor([0.0, 0.7, 0.0, 1.3, 0.0, 0.9, 1.0, 0.0, 1.0, 1.1, 0.0, 0.8, 1.0, 0.0, 1.0, 0.6]))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        want = model(x)
    hook.remove()
    smaller, report = sss_prune(model, *lambdas_from_checkpoint({"hooks": [hook.state_dict()]}))
    assert len(report["removed"]) == 6 and smaller.cfg[:6] == [0, 0, 16, 16, 0, 0]
    assert "layer2.0.downsample.0.weight" in smaller.state_dict()         # a removed first block keeps its shortcut
    with torch.no_grad():
        torch.testing.assert_close(smaller.eval()(x), want, rtol=1e-4, atol=1e-5)


def test_slimming_floor_holds_at_percent_099_on_the_bn1d_head():
    torch.manual_seed(0)
    model = build_model("vgg11_bn_slimming", 10, 3, [8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32, "M", 64, 64])
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            m.weight.data.uniform_(0, 1)
    pruned, report = slimming_prune(model, 0.99)
    widths = [c for c in pruned.cfg if c != "M"]
    assert min(widths) >= 1 and len(report["floor_hit"]) >= 4
    assert {"classifier.0", "classifier.3"} <= set(report["layers"])       # the BN1d scales are ranked too
    assert pruned(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert count_flops(pruned, (3, 32, 32)) < count_flops(model, (3, 32, 32)) / 20


def test_sss_scales_imagenet_blocks_inside_their_last_bn_exactly():
    """The block scales folded into the last BN's affine compute lambda x branch, with the same gradient
    for lambda, as multiplying the branch's output would."""
    import copy

    torch.manual_seed(0)
    model = build_model("resnet50_narrow", 10, 3).double()          # float64: equal up to rounding
    reference = copy.deepcopy(model)
    hook = SparseStructureHook(model, gamma=0.01)
    hook.lam = hook.lam.detach().double().requires_grad_()
    lam = torch.rand(16, dtype=torch.float64, requires_grad=True)
    with torch.no_grad():
        hook.lam.copy_(lam)
    modules = dict(reference.named_modules())
    for j, b in enumerate(reference.residual_branches()):
        modules[b.end].register_forward_hook(lambda m, i, out, j=j: out * lam[j])
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64)
    mine, theirs = model(x), reference(x)
    torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-10)
    mine.square().sum().backward()
    theirs.square().sum().backward()
    torch.testing.assert_close(hook.lam.grad, lam.grad, rtol=1e-8, atol=1e-8)
    assert model.layer1[0].bn3.num_batches_tracked == reference.layer1[0].bn3.num_batches_tracked == 1
    hook.remove()
    assert model.layer1[0].branch_scale is None              # removed: the plain block again
