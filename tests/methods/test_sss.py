"""Sparse Structure Selection: the proximal update, exact block removal, the hook, entry points."""

import json

import pytest
import torch
import torch.nn.functional as F
from helpers_prune_during_training import (assert_one_line_error, random_loaders, randomise_bn, run_entry,
                                           write_checkpoint, write_fashion_idx)

from common.engine import TrainConfig, Trainer
from common.flops import count_flops
from common.models import build_model
from common.pruning.sss import SparseStructureHook, apg_step, remove_blocks, sss_prune


def test_apg_step_by_hand():
    lam = torch.tensor([1.0, 0.05, 0.3, 0.0, 0.02])
    grad = torch.tensor([0.5, 0.1, -1.0, 0.0, 0.0])
    v = torch.tensor([0.0, 0.0, 0.0, 0.0, 0.5])
    new, v_new = apg_step(lam, grad, v, lr=0.1, gamma=1.0, momentum=0.9)
    # z = lam - 0.1 grad = [0.95, 0.04, 0.4, 0, 0.02]; soft threshold 0.1 -> [0.85, 0, 0.3, 0, 0]
    # v = 0.9 v + z - lam = [-0.15, -0.05, 0, 0, 0.43]; lam = max(z + 0.9 v, 0)
    torch.testing.assert_close(v_new, torch.tensor([-0.15, -0.05, 0.0, 0.0, 0.43]))
    torch.testing.assert_close(new, torch.tensor([0.715, 0.0, 0.3, 0.0, 0.387]))
    assert new[1].item() == 0.0 and new[3].item() == 0.0          # exact zeros, not tiny numbers
    assert new[4].item() > 0                                       # momentum can carry a zero z forward
    # with no penalty and no momentum it is plain gradient descent, clipped at 0
    plain, _ = apg_step(lam, grad, torch.zeros(5), lr=0.1, gamma=0.0, momentum=0.0)
    torch.testing.assert_close(plain, (lam - 0.1 * grad).clamp_min(0))


@pytest.mark.parametrize("arch", ["resnet56", "preresnet164"])
def test_removing_zero_lambda_blocks_keeps_the_outputs(arch):
    torch.manual_seed(0)
    model = randomise_bn(build_model(arch, 10))
    hook = SparseStructureHook(model, gamma=0.1)
    n = len(hook.branches)
    lam = torch.rand(n) + 0.2
    lam[torch.tensor([0, 1, n // 3, n // 3 + 2, n - 1])] = 0.0      # incl. the first (downsampling) block of stage 2
    with torch.no_grad():
        hook.lam.copy_(lam)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        scaled = model(x)
    hook.remove()
    blocks = [b.block for b in hook.branches]
    smaller, report = sss_prune(model, blocks, lam)
    with torch.no_grad():
        out = smaller.eval()(x)           # 164 layers of float32 sums: compare relative to the output scale
        torch.testing.assert_close(out, scaled, rtol=1e-4, atol=1e-5 * scaled.abs().max().item())
    assert report["kept"] == n - 5 and len(smaller.residual_branches()) == n - 5
    assert count_flops(smaller) < count_flops(model)
    stage2_first = "layer2.0"
    assert stage2_first in report["removed"]
    if arch == "preresnet164":   # the downsampling block keeps its 1x1 shortcut conv
        assert smaller.layer2[0].downsample is not None and not smaller.layer2[0].has_branch


def test_hook_trains_lambda_and_survives_resume(tmp_path):
    torch.manual_seed(0)
    model = build_model("resnet20", 10, 1)
    train, test = random_loaders()
    cfg = TrainConfig(epochs=2, lr=0.1, no_progress=True)
    meta = {"dataset": "x", "method": "sss", "arm": "sss"}
    hook = SparseStructureHook(model, gamma=0.5)
    result = Trainer(model, train, test, cfg, tmp_path, meta, hooks=[hook]).fit()
    lam = hook.lam.detach()
    assert (lam >= 0).all() and not torch.equal(lam, torch.ones_like(lam))
    assert result["method_metrics"]["sss/blocks"] == 9
    assert result["method_metrics"]["sss/blocks_zero"] == int((lam == 0).sum())
    # the scales and their momentum come back exactly with --resume
    model2 = build_model("resnet20", 10, 1)
    hook2 = SparseStructureHook(model2, gamma=0.5)
    Trainer(model2, train, test, cfg, tmp_path, meta, hooks=[hook2], resume=True)
    assert torch.equal(hook2.lam.detach(), lam) and torch.equal(hook2.velocity, hook.velocity)
    assert hook.lam.grad is None


def test_lambda_gets_the_gradient_of_the_loss():
    torch.manual_seed(0)
    model = build_model("resnet20", 10, 1)
    hook = SparseStructureHook(model, gamma=0.0)
    x, y = torch.randn(4, 1, 32, 32), torch.arange(4)
    F.cross_entropy(model(x), y).backward()
    g = hook.lam.grad[4].item()
    eps = 1e-3                                     # finite difference on block 4's scale
    with torch.no_grad():
        hook.lam[4] += eps
        up = F.cross_entropy(model(x), y).item()
        hook.lam[4] -= 2 * eps
        down = F.cross_entropy(model(x), y).item()
    assert abs((up - down) / (2 * eps) - g) < 1e-2 * max(1.0, abs(g))


def test_remove_blocks_cfg():
    model = build_model("resnet56", 10)
    smaller = remove_blocks(model, ["layer1.3", "layer3.0"])
    assert smaller.cfg[3] == 0 and smaller.cfg[18] == 0 and sum(c == 0 for c in smaller.cfg) == 2


def test_entry_points(tmp_path):
    torch.manual_seed(0)
    model = randomise_bn(build_model("resnet20", 10, 1))
    hook = SparseStructureHook(model, gamma=0.1)
    with torch.no_grad():
        hook.lam.copy_(torch.tensor([0.0, 1.0, 0.5, 0.0, 1.0, 1.0, 1.0, 0.0, 0.7]))
    state = hook.state_dict()
    hook.remove()
    sss = write_checkpoint(tmp_path / "sss.pt", model, "sss", "sss", args={"gamma": 0.1},
                           meta={"seed": 1, "variant": "g0.1"}, hooks=[state])
    base = write_checkpoint(tmp_path / "base.pt", model, "sss", "baseline", meta={"seed": 1}, hooks=[])
    data = write_fashion_idx(tmp_path / "data")

    proc = run_entry("cifar/sss/main.py", "--dataset", "fashion-mnist", "--gamma=-0.1", "--save", tmp_path / "a",
                     cwd=tmp_path)
    assert_one_line_error(proc, "--gamma", ">= 0")
    proc = run_entry("cifar/sss/prune.py", "--checkpoint", base, "--save", tmp_path / "b", cwd=tmp_path,
                     in_process=True)
    assert_one_line_error(proc, "without block scales")
    assert not any((tmp_path / d).exists() for d in "ab")

    proc = run_entry("cifar/sss/prune.py", "--checkpoint", sss, "--data-dir", data, "--save", tmp_path / "p",
                     cwd=tmp_path, in_process=True)
    assert proc.returncode == 0, proc.stderr
    r = json.loads((tmp_path / "p" / "result.json").read_text())
    assert r["cfg"] == [0, 16, 16, 0, 32, 32, 64, 0, 64] and r["variant"] == "g0.1"
    assert r["top1_before"] == r["top1_after"]                    # removal is exact
    assert r["report"]["removed"] == ["layer1.0", "layer2.0", "layer3.1"]
