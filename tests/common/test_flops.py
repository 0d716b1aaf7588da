"""FLOPs (conv + linear multiply-accumulates) against hand computations and Li et al. Table 1."""

import json

import pytest
import torch
import torch.nn as nn
from helpers import run_cli

from common.flops import count_flops, count_params
from common.models import build_model
from common.pruning.l1_norm import l1_prune, plan_keep_counts


def test_small_vgg_by_hand():
    cfg = [4, "M", 8, "M", 8, 8, "M", 8, 8, "M", 8, 8]          # a vgg11-shaped net, narrow
    model = build_model("vgg11", 10, cfg=cfg)
    # conv MACs = C_out * C_in * 3*3 * H_out*W_out at 32, 16, 8, 8, 4, 4, 2, 2 pixels square
    expected = (4 * 3 * 9 * 32 * 32 + 8 * 4 * 9 * 16 * 16 + 2 * (8 * 8 * 9 * 8 * 8)
                + 2 * (8 * 8 * 9 * 4 * 4) + 2 * (8 * 8 * 9 * 2 * 2)
                + 8 * 10)                                        # the linear classifier
    assert count_flops(model) == expected == 110_592 + 73_728 + 73_728 + 18_432 + 4_608 + 80


def test_strided_conv_and_linear_by_hand():
    model = nn.Sequential(nn.Conv2d(2, 6, 3, stride=2, padding=1), nn.Flatten(), nn.Linear(6 * 4 * 4, 5))
    # 6 filters x (2*3*3) MACs at 4x4 output positions; the linear 96 x 5
    assert count_flops(model, (2, 8, 8)) == 6 * 2 * 9 * 16 + 96 * 5


def test_nonzero_mode_on_a_masked_net():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].weight[0, 0, 1, 1] = 1.0      # one live weight in the conv, 16 output positions
        model[2].weight.zero_()
        model[2].weight[:, :5] = 1.0           # 15 live weights in the linear
    assert count_flops(model, (1, 4, 4), nonzero=True) == 1 * 16 + 15
    assert count_flops(model, (1, 4, 4)) == 2 * 9 * 16 + 32 * 3
    assert count_params(model, nonzero=True) == 1 + 15 + 3            # + the linear's 3 biases


@pytest.mark.parametrize("arch,variant,flops,reduction", [
    # Li et al. 2017, Table 1 (CIFAR-10): FLOPs of the original and the pruned network, % reduction
    ("vgg16_mlp", "A", (3.13e8, 2.06e8), 34.2),
    ("resnet56", "A", (1.25e8, 1.12e8), 10.4),
    ("resnet56", "B", (1.25e8, 9.09e7), 27.6),
    ("resnet110", "A", (2.53e8, 2.13e8), 15.9),
    ("resnet110", "B", (2.53e8, 1.55e8), 38.6),
])
def test_l1norm_paper_flops(arch, variant, flops, reduction):
    model = build_model(arch, 10)
    pruned, _ = l1_prune(model, plan_keep_counts(model, variant))
    f0, f1 = count_flops(model), count_flops(pruned)
    assert f"{f0:.2e}" == f"{flops[0]:.2e}" and f"{f1:.2e}" == f"{flops[1]:.2e}"
    assert abs(100 * (1 - f1 / f0) - reduction) < 0.15


def test_flops_command_json():
    proc = run_cli("scripts/count_flops.py", "--dataset", "cifar10", "--arch", "resnet56", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["params"] == 853_018 and out["flops"] == 125_485_696
    proc = run_cli("scripts/count_flops.py", "--dataset", "fashion-mnist", "--arch", "vgg11",
                   "--cfg", '[4, "M", 8, "M", 8, 8, "M", 8, 8, "M", 8, 8]', "--json")
    assert json.loads(proc.stdout)["flops"] == 110_592 // 3 + 73_728 + 73_728 + 18_432 + 4_608 + 80
