"""Network Slimming: sparsity sub-gradient, global threshold, floor, exact surgery, entry points."""

import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from helpers_prune_during_training import (TINY_VGG, assert_one_line_error, randomise_bn, run_entry, write_checkpoint,
                                           write_fashion_idx)

from common.data import make_loaders
from common.models import build_model
from common.pruning.selection import global_threshold
from common.pruning.slimming import SparsityHook, slimming_keep, slimming_prune


def _tiny_vgg(gammas):
    """vgg11 with two convs per group of interest; BN scales set to ``gammas`` (list per layer)."""
    cfg = [len(gammas[0]), "M", len(gammas[1]), "M", 4, 4, "M", 4, 4, "M", 4, 4]
    model = build_model("vgg11", 10, 1, cfg)
    with torch.no_grad():
        for bn, g in zip([m for m in model.modules() if isinstance(m, nn.BatchNorm2d)], gammas):
            bn.weight.copy_(torch.tensor(g))
    return model


def test_threshold_on_hand_made_gammas():
    gammas = [[0.5, -0.01, 0.3, 0.02], [0.1, -0.4, 0.05], [1.0] * 4, [1.0] * 4, [1.0] * 4, [1.0] * 4,
              [1.0] * 4, [1.0] * 4]
    model = _tiny_vgg(gammas)
    # 31 channels; percent 0.1 -> k = 3 -> the 3rd smallest |gamma| (0.01, 0.02, 0.05) is the threshold
    keep, report = slimming_keep(model, 0.1)
    assert report["threshold"] == pytest.approx(0.05)
    assert keep["features.0"].tolist() == [0, 2]          # 0.5 and 0.3 survive; -0.01 and 0.02 go
    assert keep["features.4"].tolist() == [0, 1]          # |-0.4| survives, 0.05 (= threshold) goes
    assert all(len(keep[g.name]) == 4 for g in model.channel_groups()[2:])
    assert report["channels_removed_fraction"] == pytest.approx(3 / 31) and not report["floor_hit"]
    keep0, report0 = slimming_keep(model, 0.0)           # percent 0 removes nothing
    assert report0["threshold"] == float("-inf") and report0["channels_kept"] == 31


def test_global_threshold_counts():
    s = torch.tensor([0.3, 0.1, 0.2, 0.4, 0.5])
    assert global_threshold(s, 0.4) == pytest.approx(0.2)   # k = 2: removes 0.1 and 0.2
    assert global_threshold(s, 0.39) == pytest.approx(0.1)  # k = int(1.95) = 1
    assert (s > global_threshold(s, 0.8)).sum() == 1


def test_floor_at_percent_099():
    torch.manual_seed(0)
    model = randomise_bn(build_model("preresnet20", 10))
    pruned, report = slimming_prune(model, 0.99)
    assert all(v["kept"] >= 1 for v in report["layers"].values())
    assert len(report["floor_hit"]) > 0
    assert all(v["kept"] == 1 and v["above_threshold"] == 0 for v in report["floor_hit"].values())
    # min-keep: at least ceil(0.25 * width) per layer, the largest |gamma| ones
    keep, report = slimming_keep(model, 0.99, min_keep=0.25)
    modules = dict(model.named_modules())
    for g in model.channel_groups():
        assert len(keep[g.name]) >= -(-g.size // 4)
        gamma = modules[g.bn].weight.detach().abs()
        if g.name in report["floor_hit"]:
            assert set(keep[g.name].tolist()) == set(gamma.topk(len(keep[g.name])).indices.tolist())
    out = pruned.eval()(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)


def _sparse_gammas(n, g):
    """Half the scales near zero, as after sparsity training."""
    v = torch.rand(n, generator=g) + 0.2
    v[torch.rand(n, generator=g) < 0.5] *= 1e-3
    return v * torch.where(torch.rand(n, generator=g) < 0.2, -1.0, 1.0)


@pytest.mark.parametrize("arch,in_ch", [("vgg19", 3), ("preresnet164", 3), ("densenet40", 3)])
def test_pruned_network_equals_bn_zeroed_network(arch, in_ch):
    """The smaller network computes what the full one computes with the dropped channels' BN
    outputs set to zero (gamma = beta = 0), for the three architectures of the paper."""
    torch.manual_seed(0)
    model = randomise_bn(build_model(arch, 10, in_ch), seed=1, gamma=_sparse_gammas)
    pruned, report = slimming_prune(model, 0.4)
    assert not report["floor_hit"]
    t = report["threshold"]
    with torch.no_grad():
        for m in model.modules():           # every BN channel at or under the threshold -> output 0
            if isinstance(m, nn.BatchNorm2d):
                drop = m.weight.abs() <= t
                m.weight[drop] = 0
                m.bias[drop] = 0
    x = torch.randn(2, in_ch, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(pruned.eval()(x), model(x), rtol=1e-4, atol=1e-4)
    assert report["channels_total"] - report["channels_kept"] == int(report["channels_total"] * 0.4)


def test_sparsity_hook_adds_the_l1_subgradient():
    torch.manual_seed(0)
    model = build_model("vgg11", 10, 1, TINY_VGG)
    with torch.no_grad():
        model.features[1].weight[:3] = torch.tensor([-0.2, 0.0, 0.7])
    F.cross_entropy(model(torch.randn(4, 1, 32, 32)), torch.tensor([0, 1, 2, 3])).backward()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    before = [bn.weight.grad.clone() for bn in bns]
    SparsityHook(model, 1e-2).after_backward(None)
    for bn, g in zip(bns, before):
        torch.testing.assert_close(bn.weight.grad, g + 1e-2 * torch.sign(bn.weight.detach()))
        assert bn.bias.grad is not None
    assert bns[0].weight.grad[1] == before[0][1]           # sign(0) = 0: no push


@pytest.fixture(scope="module")
def fashion_train():
    return make_loaders("fashion-mnist", "data", 32, 256, seed=0, subset=320)[0]


def _train_gammas(train, lam, steps=20):
    torch.manual_seed(0)
    model = build_model("vgg11", 10, 1, TINY_VGG)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    hook = SparsityHook(model, lam)
    step = 0
    while step < steps:
        train.set_epoch(step)
        for x, y in train:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            hook.after_backward(None)
            opt.step()
            step += 1
    return torch.cat([bn.weight.detach().abs() for bn in
                      (m for m in model.modules() if isinstance(m, nn.BatchNorm2d))])


def test_sparsity_training_drives_gammas_to_zero_on_real_data(fashion_train):
    """20 steps on Fashion-MNIST from gamma = 0.5: the penalty moves the scales toward zero."""
    plain, sparse = _train_gammas(fashion_train, 0.0), _train_gammas(fashion_train, 1e-2)
    assert sparse.mean() < 0.85 * plain.mean() and sparse.median() < 0.85 * plain.median()
    assert (sparse < 0.45).float().mean() > (plain < 0.45).float().mean() + 0.5


# ----------------------------------------------------------------------------- entry points

def test_prune_entry_point_and_bad_input(tmp_path):
    torch.manual_seed(0)
    model = randomise_bn(build_model("vgg11", 10, 1, TINY_VGG), gamma=_sparse_gammas)
    sparse = write_checkpoint(tmp_path / "sparse.pt", model, "slimming", "sparsity",
                              args={"sparsity": 1e-4}, meta={"seed": 1})
    plain = write_checkpoint(tmp_path / "plain.pt", model, "slimming", "baseline",
                             args={"sparsity": 0.0}, meta={"seed": 1})
    other = write_checkpoint(tmp_path / "other.pt", model, "l1-norm", "pruned", meta={"variant": "A"})

    proc = run_entry("cifar/slimming/prune.py", "--checkpoint", sparse, "--percent", "1.0",
                     "--save", tmp_path / "a", cwd=tmp_path)
    assert_one_line_error(proc, "--percent", "[0, 1)")
    proc = run_entry("cifar/slimming/prune.py", "--checkpoint", plain, "--percent", "0.3",
                     "--save", tmp_path / "b", cwd=tmp_path, in_process=True)
    assert_one_line_error(proc, "not sparsity-trained", "--force")
    proc = run_entry("cifar/slimming/prune.py", "--checkpoint", other, "--save", tmp_path / "c", cwd=tmp_path,
                     in_process=True)
    assert_one_line_error(proc, "l1-norm", "not slimming")
    proc = run_entry("cifar/slimming/main_finetune.py", "--checkpoint", other, "--save", tmp_path / "d",
                     cwd=tmp_path, in_process=True)
    assert_one_line_error(proc, "l1-norm", "not slimming")
    proc = run_entry("cifar/slimming/main.py", "--dataset", "fashion-mnist", "--sparsity=-1e-4",
                     "--save", tmp_path / "e", cwd=tmp_path, in_process=True)
    assert_one_line_error(proc, "--sparsity", ">= 0")
    assert not any((tmp_path / d).exists() for d in "abcde")

    data = write_fashion_idx(tmp_path / "data")
    proc = run_entry("cifar/slimming/prune.py", "--checkpoint", plain, "--percent", "0.3", "--force",
                     "--data-dir", data, "--save", tmp_path / "f", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warning" in proc.stderr and "not sparsity-trained" in proc.stderr
    proc = run_entry("cifar/slimming/prune.py", "--checkpoint", sparse, "--percent", "0.95",
                     "--data-dir", data, "--save", tmp_path / "g", cwd=tmp_path, in_process=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "g" / "result.json").read_text())
    assert result["variant"] == "p0.95" and result["report"]["floor_hit"]
    assert all(c == "M" or c >= 1 for c in result["cfg"])
    assert (tmp_path / "g" / "pruned.pt").is_file()


def test_table_keeps_sparsity_runs_apart_from_baselines(tmp_path):
    from common.report import build_table

    def r(arm, acc, variant=None):
        return {"dataset": "cifar10", "method": "slimming", "arch": "vgg19", "arm": arm, "variant": variant,
                "best_top1": acc, "final_top1": acc, "params": 10, "flops": 100, "base_params": 20,
                "base_flops": 200}
    header, table = build_table([r("baseline", 93.0), r("sparsity", 92.0), r("pruned", 90.0, "p0.7"),
                                 r("finetune", 93.5, "p0.7")])
    row = dict(zip(header, table[0]))
    assert row["Baseline"] == "93.00" and row["Sparsity-trained"] == "92.00"
    assert row["Fine-tuned"] == "93.50" and header.index("Sparsity-trained") < header.index("Pruned (no FT)")
