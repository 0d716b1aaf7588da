"""ThiNet on layers whose answer is known: the channels that carry the output, exact scales."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from common.data import balanced_sample
from common.errors import UserError
from common.models import build_model
from common.pruning.layerwise import as_matrix, patches, run_until
from common.pruning.selection import kept_count
from common.pruning.thinet import (contribution_gram, greedy_removal, plan_layers, sample_gram,
                                   scale_least_squares, thinet_prune)

TINY_VGG11 = [6, "M", 6, "M", 6, 6, "M", 6, 6, "M", 6, 6]


def _batches(n=4, size=50, channels=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(size, channels, 32, 32, generator=g) for _ in range(n)]


def test_patches_match_unfold_and_reproduce_the_conv():
    conv = nn.Conv2d(5, 7, 3, stride=2, padding=1, bias=False)
    x = torch.randn(3, 5, 9, 9)
    out = conv(x)
    positions = out.shape[2] * out.shape[3]
    pos = torch.stack([torch.randperm(positions)[:6] for _ in range(3)])
    got = patches(x, conv, pos)                                                      # B, L, C, k
    cols = F.unfold(x, 3, padding=1, stride=2).view(3, 5, 9, positions)
    want = torch.stack([cols[b][:, :, pos[b]].permute(2, 0, 1) for b in range(3)])
    assert torch.equal(got, want)
    y = torch.einsum("blck,nck->bln", got, as_matrix(conv))
    y_ref = out.flatten(2).gather(2, pos[:, None, :].expand(-1, 7, -1)).transpose(1, 2)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-5)


def test_run_until_stops_after_the_wanted_layer():
    model = build_model("vgg11", 10, 1, TINY_VGG11).eval()
    calls = []
    handle = model.classifier[0].register_forward_hook(lambda *a: calls.append(1))
    got = run_until(model, torch.randn(2, 1, 32, 32), inputs=["features.4"], outputs=["features.4"])
    handle.remove()
    assert calls == []                                        # the head never ran
    torch.testing.assert_close(model.features[4](got[("in", "features.4")]), got[("out", "features.4")])


def test_greedy_finds_the_channels_that_carry_the_output_where_l1_norm_does_not():
    # channels 1, 4, 6 carry the output through small weights; the others have 10x larger
    # weights but (almost) no input, so filter L1 norm would keep exactly the wrong ones
    g = torch.Generator().manual_seed(0)
    m, c = 2000, 8
    true = torch.tensor([1, 4, 6])
    x = torch.randn(m, c, 9, generator=g) * 0.001
    x[:, true] = torch.randn(m, 3, 9, generator=g)
    weight = torch.randn(4, c, 9, generator=g)
    weight[:, true] *= 0.1
    gram = contribution_gram(x, weight, torch.randint(0, 4, (m,), generator=g))
    assert torch.equal(greedy_removal(gram, 3), true)
    l1_choice = weight.abs().sum((0, 2)).topk(3).indices.sort().values
    assert not set(l1_choice.tolist()) & set(true.tolist())


def test_least_squares_recovers_known_scales_and_zero_error():
    g = torch.Generator().manual_seed(2)
    base = torch.randn(1000, 4, generator=g)
    xhat = torch.cat([base, 0.5 * base[:, :1], 0.25 * base[:, 2:3]], 1)   # ch 4 = 0.5 ch 0, ch 5 = 0.25 ch 2
    gram = xhat.T @ xhat
    kept = greedy_removal(gram, 4)
    assert kept.tolist() == [0, 1, 2, 3]
    w, before, after = scale_least_squares(gram, kept)
    torch.testing.assert_close(w, torch.tensor([1.5, 1.0, 1.25, 1.0]), rtol=1e-5, atol=1e-5)
    y = xhat.sum(1)
    assert before == pytest.approx(float((y - base.sum(1)).square().sum() / y.square().sum()), rel=1e-4)
    assert after == pytest.approx(0.0, abs=1e-8)


def _plant_duplicates(model):
    """conv0 filters 4 and 5 copy filters 0 and 2 (with their BN); the next conv reads them with
    0.5x and 0.25x the weights of 0 and 2: ThiNet must drop 4 and 5 and scale 0, 2 by 1.5, 1.25."""
    conv, bn, nxt = model.features[0], model.features[1], model.features[4]
    with torch.no_grad():
        for src, dst, factor in ((0, 4, 0.5), (2, 5, 0.25)):
            conv.weight[dst] = conv.weight[src]
            for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
                t[dst] = t[src]
            nxt.weight[:, dst] = factor * nxt.weight[:, src]
        bn.bias.add_(0.5)                                       # keep every channel alive after ReLU
    return model


def test_thinet_layer_on_a_real_model_recovers_scales_and_the_output():
    torch.manual_seed(0)
    model = _plant_duplicates(build_model("vgg11", 10, 1, TINY_VGG11)).eval()
    original = [w.clone() for w in (model.features[4].weight,)]
    batches = _batches()
    with torch.no_grad():
        want = [model(x) for x in batches]
    pruned, report = thinet_prune(model, batches, r=0.7, layers=["features.0"], log=lambda s: None)
    assert torch.equal(model.features[4].weight, original[0])                   # the input is left alone
    assert pruned.cfg[0] == 4 and report[0]["kept"] == 4 and report[0]["of"] == 6
    scales = torch.tensor([1.5, 1.0, 1.25, 1.0]).view(1, 4, 1, 1)
    torch.testing.assert_close(pruned.features[4].weight, original[0][:, :4] * scales, rtol=1e-4, atol=1e-5)
    assert report[0]["error_after_ls"] < 1e-8 < report[0]["error_before_ls"]
    with torch.no_grad():
        for x, y in zip(batches, want):
            torch.testing.assert_close(pruned(x), y, rtol=1e-4, atol=1e-4)


def test_sample_gram_matches_a_direct_computation():
    torch.manual_seed(0)
    model = build_model("vgg11", 10, 1, TINY_VGG11).eval()
    batches = _batches(n=1, size=3)
    gram = sample_gram(model, "features.4", batches, 5, 16 * 16, torch.Generator().manual_seed(7))
    g = torch.Generator().manual_seed(7)
    pair = torch.rand(3, 6 * 256, generator=g).topk(5, dim=1).indices
    x = run_until(model, batches[0], inputs=["features.4"])[("in", "features.4")]
    w = model.features[4].weight
    xp = F.pad(x, (1, 1, 1, 1))
    rows = []
    for b in range(3):
        for p in pair[b].tolist():
            f, pos = divmod(p, 256)
            i, j = divmod(pos, 16)
            rows.append((xp[b, :, i:i + 3, j:j + 3] * w[f]).sum((1, 2)))
    xhat = torch.stack(rows).double()
    torch.testing.assert_close(gram, xhat.T @ xhat, rtol=1e-5, atol=1e-6)


def test_vgg16_plan_is_thinet_conv_and_resnet_prunes_inner_convs():
    vgg = build_model("vgg16_mlp", 10, 3)
    groups = plan_layers(vgg)
    assert [g.name for g in groups] == [vgg.conv_names()[i] for i in range(10)]       # conv1_1 .. conv4_3
    assert [kept_count(g.size, 0.5) for g in groups] == [32, 32, 64, 64, 128, 128, 128, 256, 256, 256]
    assert len(plan_layers(vgg, "all")) == 13
    resnet = build_model("resnet56", 10, 3)
    assert [g.name for g in plan_layers(resnet)] == [f"{b}.conv1" for b in resnet.block_names()]
    assert kept_count(16, 0.7) == 11 and kept_count(3, 0.1) == 1


def test_thinet_on_a_resnet_prunes_only_inner_channels():
    torch.manual_seed(0)
    model = build_model("resnet20", 10, 1, [4] * 9).eval()
    pruned, report = thinet_prune(model, _batches(n=2, size=20), r=0.5, log=lambda s: None)
    assert pruned.cfg == [2] * 9 and len(report) == 9
    assert all(row["error_after_ls"] <= row["error_before_ls"] + 1e-9 for row in report)
    assert pruned(torch.randn(2, 1, 32, 32)).shape == (2, 10)


def test_finetune_between_layers_trains_the_asked_steps_through_the_engine(tmp_path):
    from common.data import DeviceLoader
    from common.engine import TrainConfig, Trainer

    torch.manual_seed(0)
    model = build_model("vgg11", 10, 1, TINY_VGG11).eval()
    images = (torch.rand(100, 1, 32, 32) * 255).to(torch.uint8)
    train = DeviceLoader(images, torch.arange(100) % 10, 32, (0.5,), (0.25,), train=True)   # 4 steps an epoch
    steps = []

    def finetune(m):
        before = m.features[0].weight.clone()
        trainer = Trainer(m, train, train, TrainConfig(epochs=1, lr=0.01, no_progress=True), tmp_path, meta={})
        trainer.train_steps(6)
        steps.append((trainer.step, trainer.epoch, not torch.equal(before, m.features[0].weight)))
        return m

    thinet_prune(model, _batches(n=1, size=10), r=0.5, layers=["features.0", "features.4"], finetune=finetune,
                 log=lambda s: None)
    assert steps == [(6, 2, True), (6, 2, True)]           # 6 steps = one epoch of 4 and 2 of the next


def test_thinet_bad_input():
    model = build_model("vgg11", 10, 1, TINY_VGG11).eval()
    batches = _batches(n=1, size=2)
    with pytest.raises(UserError, match=r"must lie in \(0, 1\)"):
        thinet_prune(model, batches, r=1.0)
    with pytest.raises(UserError, match="3 compression rates"):
        thinet_prune(model, batches, r=[0.5, 0.5, 0.5])
    with pytest.raises(UserError, match="more than the 10 .filter, position. pairs per image that layer classifier.0"):
        thinet_prune(model, batches, layers="all", locations=11)    # the head: 10 outputs at 1 position
    with pytest.raises(UserError, match="no channel group 'features.1'"):
        plan_layers(model, ["features.1"])
    with pytest.raises(UserError, match="asked for 70000 sample images"):
        balanced_sample("fashion-mnist", "data", 70000, 64, 0, "cpu")
