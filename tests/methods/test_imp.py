"""IMP with retraining schedules (common.pruning.imp): phase fractions, every schedule's values at
chosen iterations against hand-computed ones, ALLR's bounds, the norm drop, GMP, the lr trace."""

import math

import pytest
import torch
import torch.nn as nn
from helpers import synthetic_loaders

from common.engine import TrainConfig, Trainer
from common.errors import UserError
from common.masks import prunable_weights, sparsity
from common.models import build_model
from common.pruning import imp

# a dense run of T = 4 epochs x I = 5 iterations: 0.1 for 2 epochs, 0.01 for 1, 0.001 for 1
TRACE = imp.DenseTrace([0.1] * 10 + [0.01] * 5 + [0.001] * 5, iters_per_epoch=5)


def test_phase_fraction_and_cumulative_sparsity():
    s = imp.phase_fraction(0.9, 3)
    assert s == pytest.approx(1 - 0.1 ** (1 / 3))          # 0.5358
    assert 1 - (1 - s) ** 3 == pytest.approx(0.9)
    assert imp.phase_fraction(0.9, 1) == pytest.approx(0.9)
    with pytest.raises(UserError):
        imp.phase_fraction(1.0, 3)
    with pytest.raises(UserError):
        imp.phase_fraction(0.5, 0)


def test_phase_epochs_split_a_budget():
    assert imp.phase_epochs(3, epochs=10) == [10, 10, 10]
    assert imp.phase_epochs(3, budget=40) == [13, 13, 14]
    assert imp.phase_epochs(1, budget=7) == [7]


def test_trace_statistics():
    assert (TRACE.T, TRACE.I, TRACE.eta_max, TRACE.eta_min) == (4, 5, 0.1, 0.001)


def test_ft_is_constant_eta_min():
    assert imp.retrain_lrs("FT", TRACE, 10) == [0.001] * 10


def test_lrw_replays_the_end_of_the_dense_schedule():
    assert imp.retrain_lrs("LRW", TRACE, 10) == [0.01] * 5 + [0.001] * 5
    assert imp.retrain_lrs("LRW", TRACE, 6) == [0.01] + [0.001] * 5
    longer = imp.retrain_lrs("LRW", TRACE, 25)                 # longer than the dense run: clamped
    assert longer[:6] == [0.1] * 6 and longer[-1] == 0.001 and len(longer) == 25


def test_llr_warmup_then_linear_to_zero():
    lrs = imp.retrain_lrs("LLR", TRACE, 20)                    # w = 2 warm-up, L = 18
    assert lrs[0] == 0.0
    assert lrs[1] == pytest.approx(0.1 * (1 - math.cos(math.pi / 2)) / 2)      # 0.05
    assert lrs[2] == pytest.approx(0.1)                                        # main part starts at eta_max
    assert lrs[2 + 9] == pytest.approx(0.1 * (1 - 9 / 17))
    assert lrs[-1] == 0.0 and len(lrs) == 20


def test_clr_cosine_from_eta_max_to_eta_min():
    lrs = imp.retrain_lrs("CLR", TRACE, 20)
    assert lrs[:2] == [0.0, pytest.approx(0.05)]
    assert lrs[2] == pytest.approx(0.1)
    assert lrs[2 + 6] == pytest.approx(0.001 + 0.099 * (1 + math.cos(math.pi * 6 / 17)) / 2)
    assert lrs[-1] == pytest.approx(0.001)


def test_slr_compresses_the_whole_dense_schedule():
    lrs = imp.retrain_lrs("SLR", TRACE, 20)                    # main[k] = eta(floor(k * 20 / 18))
    assert lrs[2 + 0] == 0.1 and lrs[2 + 8] == 0.1             # floor(8.9) = 8
    assert lrs[2 + 9] == 0.01                                  # floor(10.0) = 10
    assert lrs[2 + 14] == 0.001 and lrs[-1] == 0.001           # floor(15.6), floor(18.9)
    warm = imp.DenseTrace([0.02] * 5 + [0.1] * 10 + [0.001] * 5, 5, warmup_epochs=1)
    assert imp.retrain_lrs("SLR", warm, 20)[2] == 0.1          # warm-up entries replaced by eta_max
    assert warm.eta_min == 0.001


def test_allr_schedule_and_bounds():
    lrs = imp.retrain_lrs("ALLR", TRACE, 20, eta_init=0.04)
    assert lrs[1] == pytest.approx(0.02) and lrs[2] == pytest.approx(0.04) and lrs[-1] == 0.0
    # d / sqrt(s) * eta_max inside the bounds
    assert imp.allr_start(0.3, 0.36, 0.1, 1, 4) == pytest.approx(0.05)          # 0.3/0.6 = 0.5
    # below the lower bound min(T_j / T, 1) * eta_max
    assert imp.allr_start(0.03, 0.36, 0.1, 1, 4) == pytest.approx(0.025)
    assert imp.allr_start(0.03, 0.36, 0.1, 8, 4) == pytest.approx(0.1)          # T_j > T: lower = eta_max
    # above the upper bound eta_max
    assert imp.allr_start(0.9, 0.36, 0.1, 1, 4) == pytest.approx(0.1)
    with pytest.raises(UserError, match="unknown retraining schedule"):
        imp.retrain_lrs("XLR", TRACE, 10)


def test_phase_lr_is_the_engine_lr_fn():
    f = imp.PhaseLR([0.5, 0.25, 0.0])
    assert [f(i, 3) for i in range(3)] == [0.5, 0.25, 0.0]


def test_prune_phase_norm_drop_by_hand():
    net = nn.Sequential(nn.Linear(2, 2, bias=True), nn.BatchNorm1d(2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -2.0], [3.0, 0.5]]))
        net[0].bias.copy_(torch.tensor([1.0, 1.0]))
        net[1].weight.fill_(1.0)
        net[1].bias.zero_()
    mask, d = imp.prune_phase(net, 0.5, None)          # removes 0.5 and 1.0 (2 of 4 linear weights)
    assert mask["0.weight"].tolist() == [[False, True], [True, False]]
    total = 1 + 4 + 9 + 0.25 + 1 + 1 + 1 + 1        # all parameters, biases and BN included
    assert d == pytest.approx(math.sqrt((1 + 0.25) / total))


def tiny():
    torch.manual_seed(0)
    return build_model("vgg11", 10, 1, [8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32])


def test_gmp_cubic_targets_and_final_sparsity(tmp_path):
    hook = imp.GMP(0.9, interval=2, epochs=10)                # n = 4 prunes at epochs 2, 4, 6, 8
    assert hook.n == 4
    assert hook.target(2) == pytest.approx(0.9 * (1 - 0.75 ** 3))
    assert hook.target(8) == pytest.approx(0.9)
    model = tiny()
    train, test = synthetic_loaders()
    gmp = imp.GMP(0.8, interval=1, epochs=3)                  # prunes after epochs 1 and 2
    trainer = Trainer(model, train, test, TrainConfig(epochs=3, lr=0.05, no_progress=True), tmp_path,
                      {"dataset": "x", "method": "imp", "arm": "GMP"}, hooks=[gmp])
    result = trainer.fit()
    n = sum(w.numel() for w in prunable_weights(model, ("conv", "linear")).values())
    assert result["sparsity"] == pytest.approx(round(0.8 * n) / n)
    params = dict(model.named_parameters())
    assert all(torch.count_nonzero(params[k][~m]) == 0 for k, m in trainer.mask.items())
    with pytest.raises(UserError, match="at least two"):
        imp.GMP(0.9, interval=5, epochs=8)


def test_lr_trace_records_every_iteration_and_rebuilds(tmp_path):
    train, test = synthetic_loaders()
    trace_hook = imp.LRTrace()
    Trainer(tiny(), train, test, TrainConfig(epochs=4, lr=0.1, no_progress=True), tmp_path,
            {"dataset": "x", "method": "imp", "arm": "baseline"}, hooks=[trace_hook]).fit()
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    trace = imp.dense_trace(ckpt, len(train))
    assert len(trace.lrs) == 4 * 4 and trace.lrs == [0.1] * 8 + [pytest.approx(0.01)] * 4 + [pytest.approx(0.001)] * 4
    rebuilt = imp.dense_trace({"args": {"epochs": 4, "lr": 0.1, "schedule": "step"}, "epoch": 3}, 4)
    assert rebuilt.lrs == pytest.approx(trace.lrs)
    with pytest.raises(UserError, match="no learning-rate trace"):
        imp.dense_trace({"args": {}}, 4)


def test_imp_phases_reach_the_goal_sparsity():
    model = tiny()
    s = imp.phase_fraction(0.9, 3)
    mask = None
    for j in range(1, 4):
        mask, _ = imp.prune_phase(model, s, mask)
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n in mask:
                    p.mul_(mask[n])
        assert sparsity(mask) == pytest.approx(1 - (1 - s) ** j, abs=1e-4)
    assert sparsity(mask) == pytest.approx(0.9, abs=1e-4)
    assert "features.0.weight" in mask and "classifier.0.weight" in mask      # stem and head pruned too


def test_linear_dense_schedule_for_bimp():
    from common.engine import LinearLR, TrainConfig, make_lr_fn
    f = make_lr_fn(TrainConfig(epochs=2, lr=0.1, schedule="linear"))
    assert isinstance(f, LinearLR)
    assert [f(i, 5) for i in (0, 5, 9)] == [pytest.approx(0.1), pytest.approx(0.05), pytest.approx(0.01)]
