"""Soft Filter Pruning: the per-epoch zeroing, regrowth, removal, the recipe's lr, entry points."""

import json

import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers_prune_during_training import (assert_one_line_error, random_loaders, randomise_bn, run_entry,
                                           write_checkpoint, write_fashion_idx)

from common.engine import TrainConfig, Trainer, make_lr_fn
from common.flops import count_flops
from common.masks import MaskKeeper
from common.models import build_model
from common.pruning.criteria import filter_l2
from common.pruning.soft_filter import SoftFilterPruningHook, remove_zero_filters, sfp_layers, soft_prune_
from common.pruning.surgery import zero_channels


class _T:  # the parts of a Trainer the hooks read
    epoch, lr = 0, 0.1


def test_epoch_end_zeroes_exactly_the_lowest_norm_filters():
    torch.manual_seed(0)
    model = build_model("resnet20", 10)
    modules = dict(model.named_modules())
    before = {n: modules[n].weight.detach().clone() for n in sfp_layers(model)}
    SoftFilterPruningHook(model, 0.3).on_epoch_end(_T(), 0)
    counts = {}
    for name, w0 in before.items():
        w = modules[name].weight.detach()
        lowest = set(torch.argsort(w0.flatten(1).norm(dim=1))[:int(w0.shape[0] * 0.3)].tolist())
        zero = {j for j in range(w.shape[0]) if not w[j].any()}
        assert zero == lowest, name
        keep = [j for j in range(w.shape[0]) if j not in lowest]
        assert torch.equal(w[keep], w0[keep])                      # the others untouched
        counts[w.shape[0]] = len(zero)
    assert counts == {16: 4, 32: 9, 64: 19}                        # floor(N * 0.3), as the paper
    assert len(before) == 19                                       # stem + 2 convs x 9 blocks; no FC


def test_zeroed_filters_grow_back_after_a_step():
    """Soft: after one SGD step every zeroed filter is non-zero again -- as long as gradient
    reaches it. A zero filter before BN -> ReLU gets none while its BN shift is 0 (the ReLU's
    input is exactly 0), so the shifts are set positive here, as training makes many of them."""
    def step(beta):
        torch.manual_seed(0)
        model = build_model("resnet20", 10, 1)
        zeroed = soft_prune_(model, 0.5)
        with torch.no_grad():
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.bias.fill_(beta)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        F.cross_entropy(model(torch.randn(8, 1, 32, 32)), torch.arange(8)).backward()
        opt.step()
        modules = dict(model.named_modules())
        return {n: int((filter_l2(modules[n].weight)[idx] > 0).sum()) for n, idx in zeroed.items()}, zeroed

    regrown, zeroed = step(0.1)
    assert regrown == {n: len(i) for n, i in zeroed.items()}
    regrown, _ = step(0.0)               # beta = 0: the first convs' zero filters get no gradient
    assert regrown["conv1"] == 0 and regrown["layer1.0.conv1"] == 0


def test_removal_equals_masked_model_where_removal_is_exact():
    torch.manual_seed(0)
    model = randomise_bn(build_model("resnet20", 10))
    soft_prune_(model, 0.3)
    pruned, mask, report = remove_zero_filters(model)
    assert pruned.cfg == [12] * 3 + [23] * 3 + [45] * 3            # first convs lose their zero filters
    # the stem and the second convs keep theirs, masked
    assert set(mask) == {"conv1.weight"} | {f"layer{s}.{b}.conv2.weight" for s in (1, 2, 3) for b in range(3)}
    for k, m in mask.items():
        w = dict(pruned.named_parameters())[k]
        assert not w[~m].any() and w[m].all()
    # exact: the SFP network with the removed channels' BN output set to zero
    keep = {g.name: torch.nonzero(filter_l2(dict(model.named_modules())[g.producer].weight) > 0).flatten()
            for g in model.channel_groups()}
    zero_channels(model, keep)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(pruned.eval()(x), model(x), rtol=1e-4, atol=1e-5)
    # FLOPs of what the smaller network computes: removed channels gone, masked filters not produced
    full = count_flops(build_model("resnet20", 10))
    flops = count_flops(pruned, nonzero=True)
    expected = full
    for c, p in ((16, 12), (32, 23), (64, 45)):    # per block: conv1 and conv2 at H*W of the stage
        hw = {16: 1024, 32: 256, 64: 64}[c]
        for b in range(3):
            c_in = c if not (b == 0 and c > 16) else c // 2
            expected -= (c - p) * c_in * 9 * hw                    # conv1 filters removed
            expected -= (c - p) * c * 9 * hw                        # conv2 inputs removed
            expected -= int(c * 0.3) * p * 9 * hw                   # conv2 zero filters (masked)
    expected -= 4 * 3 * 9 * 1024                                    # stem zero filters
    assert flops == expected


def test_keep_mask_holds_zeros_through_momentum_and_weight_decay():
    torch.manual_seed(0)
    model = build_model("resnet20", 10, 1)
    soft_prune_(model, 0.3)
    pruned, mask, _ = remove_zero_filters(model)
    keeper = MaskKeeper(pruned, mask)        # what the engine runs around every step
    keeper.apply()
    opt = torch.optim.SGD(pruned.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4, nesterov=True)
    for i in range(3):
        opt.zero_grad()
        F.cross_entropy(pruned(torch.randn(8, 1, 32, 32)), torch.arange(8)).backward()
        keeper.mask_grads()
        opt.step()
        keeper.apply()
    params = dict(pruned.named_parameters())
    assert all(not params[k][~m].any() for k, m in mask.items())


def test_sfp_recipe_learning_rate():
    """200 epochs: 0.01 in epoch 0, then 0.1, x0.2 at epochs 60, 120, 160."""
    fn = make_lr_fn(TrainConfig(epochs=200, lr=0.1, milestones=(0.3, 0.6, 0.8), lr_decay=0.2, warmup_epochs=1))
    ipe = 391
    got = [fn(e * ipe + 5, ipe) for e in (0, 1, 59, 60, 119, 120, 160, 199)]
    want = [0.01, 0.1, 0.1, 0.02, 0.02, 0.004, 0.0008, 0.0008]
    assert all(abs(a - b) < 1e-12 for a, b in zip(got, want)), got


def test_engine_run_with_the_hook(tmp_path):
    """A real (tiny) engine run: the saved model has exactly floor(N * P) zero filters per layer,
    and the zero-filter fraction lands in result.json."""
    torch.manual_seed(0)
    model = build_model("resnet20", 10, 1)
    train, test = random_loaders()
    cfg = TrainConfig(epochs=2, lr=0.05, no_progress=True)
    result = Trainer(model, train, test, cfg, tmp_path, {"dataset": "x", "method": "soft-filter", "arm": "sfp"},
                     hooks=[SoftFilterPruningHook(model, 0.25)]).fit()
    modules = dict(model.named_modules())
    for n in sfp_layers(model):
        w = modules[n].weight
        assert int((filter_l2(w) == 0).sum()) == w.shape[0] // 4
    assert abs(result["method_metrics"]["sfp/zero_filter_fraction"] - 0.25) < 1e-9


def test_entry_points_bad_input(tmp_path):
    model = build_model("resnet20", 10, 1)
    base = write_checkpoint(tmp_path / "base.pt", model, "soft-filter", "baseline", args={"rate": 0.0},
                            meta={"seed": 1})
    other = write_checkpoint(tmp_path / "other.pt", model, "slimming", "pruned", meta={"variant": "p0.4"})
    proc = run_entry("cifar/soft-filter/main.py", "--dataset", "fashion-mnist", "--rate", "1",
                     "--save", tmp_path / "a", cwd=tmp_path)
    assert_one_line_error(proc, "--rate", "[0, 1)")
    proc = run_entry("cifar/soft-filter/prune.py", "--checkpoint", base, "--save", tmp_path / "b", cwd=tmp_path,
                     in_process=True)
    assert_one_line_error(proc, "not trained with soft filter pruning")
    proc = run_entry("cifar/soft-filter/main_scratch.py", "--checkpoint", other, "--save", tmp_path / "c",
                     cwd=tmp_path, in_process=True)
    assert_one_line_error(proc, "slimming", "not soft-filter")
    assert not any((tmp_path / d).exists() for d in "abc")


def test_prune_entry_point(tmp_path):
    torch.manual_seed(0)
    model = randomise_bn(build_model("resnet20", 10, 1))
    soft_prune_(model, 0.3)
    ckpt = write_checkpoint(tmp_path / "sfp.pt", model, "soft-filter", "sfp", args={"rate": 0.3},
                            meta={"seed": 1, "variant": "r0.3"})
    data = write_fashion_idx(tmp_path / "data")
    proc = run_entry("cifar/soft-filter/prune.py", "--checkpoint", ckpt, "--data-dir", data,
                     "--save", tmp_path / "p", cwd=tmp_path, in_process=True)
    assert proc.returncode == 0, proc.stderr
    r = json.loads((tmp_path / "p" / "result.json").read_text())
    assert r["variant"] == "r0.3" and r["cfg"] == [12] * 3 + [23] * 3 + [45] * 3
    assert r["flops"] < r["base_flops"] and len(r["report"]["masked"]) == 10
    pruned = torch.load(tmp_path / "p" / "pruned.pt", weights_only=True)
    assert set(pruned["mask"]) == {"conv1.weight"} | {f"layer{s}.{b}.conv2.weight" for s in (1, 2, 3)
                                                      for b in range(3)}


def test_a_removed_layer_never_reaches_zero_width():
    model = build_model("resnet20", 10)
    with torch.no_grad():
        model.layer1[0].conv1.weight.zero_()
    pruned, _, report = remove_zero_filters(model)
    assert pruned.cfg[0] == 1 and report["removed"]["layer1.0.conv1"]["kept"] == 1
    assert isinstance(pruned.layer1[0].conv1, nn.Conv2d)
