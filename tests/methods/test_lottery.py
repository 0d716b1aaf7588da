"""Lottery Ticket pieces (common.pruning.lottery_ticket): theta_k recorded at the right iteration and
restored bit for bit under the mask, iterative sparsity, the structured L1 mask computing what
the physically pruned network computes, the random control differing from theta_0."""

import pytest
import torch
from helpers import KillAt, synthetic_loaders

from common.checkpoint import load_checkpoint
from common.engine import Hook, TrainConfig, Trainer
from common.errors import UserError
from common.flops import count_flops
from common.masks import apply_mask_, sparsity
from common.models import build_model
from common.pruning import lottery_ticket as lottery
from common.pruning.l1_norm import l1_prune, plan_keep_counts

TINY = [8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]


def tiny(seed=0):
    torch.manual_seed(seed)
    return build_model("vgg11", 10, 1, TINY)


class Snapshots(Hook):
    """Independent record of the model after every iteration."""

    def __init__(self):
        self.states = {}

    def on_train_start(self, trainer):
        self.states[0] = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    def after_step(self, trainer):
        self.states[trainer.step + 1] = {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_rewind_points_record_theta_k_and_reset_restores_it_bit_for_bit(tmp_path):
    model = tiny()
    train, test = synthetic_loaders()                       # 4 iterations per epoch
    snaps = Snapshots()
    Trainer(model, train, test, TrainConfig(epochs=2, lr=0.1, no_progress=True), tmp_path,
            {"dataset": "x", "method": "lottery-ticket", "arm": "baseline"},
            hooks=[lottery.RewindPoints([0, 3, 6]), snaps]).fit()
    for k in (0, 3, 6):
        theta = lottery.load_rewind(tmp_path, k)
        assert all(torch.equal(theta[n], snaps.states[k][n]) for n in theta), k
    assert not torch.equal(lottery.load_rewind(tmp_path, 3)["features.0.weight"],
                           lottery.load_rewind(tmp_path, 6)["features.0.weight"])
    # the winning ticket: theta_3 under a mask, exactly
    trained = tiny(5)
    mask = lottery.next_round_mask(trained, 0.5)
    ticket = lottery.reset_to(tiny(7), lottery.load_rewind(tmp_path, 3), mask)
    theta = snaps.states[3]
    for n, v in ticket.state_dict().items():
        expected = theta[n] * mask[n] if n in mask else theta[n]
        assert torch.equal(v, expected), n
    with pytest.raises(UserError, match="recorded no theta_5"):
        lottery.load_rewind(tmp_path, 5)


def test_rewound_ticket_trains_the_remaining_iterations_of_the_dense_run(tmp_path):
    """Weight rewinding: from theta_k the ticket trains iterations k..T with their lr and data order.
    Without momentum (nothing else carried) and with an all-ones mask, that *is* the rest of the
    dense run: the final weights agree bit for bit -- also when the rewound run is killed after
    its first, partial epoch and resumed."""
    config = TrainConfig(epochs=4, lr=0.1, momentum=0.0, no_progress=True)      # lr x0.1 at epochs 2, 3
    meta = {"dataset": "x", "method": "lottery-ticket", "arm": "baseline"}
    train, test = synthetic_loaders()                                         # 4 iterations per epoch
    Trainer(tiny(), train, test, config, tmp_path / "dense", meta, hooks=[lottery.RewindPoints([6])]).fit()
    dense = load_checkpoint(tmp_path / "dense" / "checkpoint.pt")["state_dict"]
    keep_all = {n: torch.ones_like(p, dtype=torch.bool) for n, p in tiny().named_parameters() if p.dim() == 4}

    ticket_meta = {**meta, "arm": "winning-ticket"}
    ticket = lottery.reset_to(tiny(9), lottery.load_rewind(tmp_path / "dense", 6), keep_all)
    steps = StepCounter()
    Trainer(ticket, train, test, config, tmp_path / "ticket", ticket_meta, mask=keep_all, start_step=6,
            hooks=[steps]).fit()
    assert steps.count == 16 - 6
    rewound = load_checkpoint(tmp_path / "ticket" / "checkpoint.pt")
    assert rewound["step"] == 16 and all(torch.equal(rewound["state_dict"][n], v) for n, v in dense.items())

    ticket = lottery.reset_to(tiny(9), lottery.load_rewind(tmp_path / "dense", 6), keep_all)
    with pytest.raises(KeyboardInterrupt):
        Trainer(ticket, train, test, config, tmp_path / "killed", ticket_meta, mask=keep_all, start_step=6,
                hooks=[KillAt(2)]).fit()
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["step"] == 8     # epoch 1: iterations 6, 7
    Trainer(tiny(3), train, test, config, tmp_path / "killed", ticket_meta, mask=keep_all, start_step=6,
            hooks=[KillAt(-1)], resume=True).fit()
    resumed = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["state_dict"]
    assert all(torch.equal(resumed[n], v) for n, v in dense.items())


class StepCounter(Hook):
    def __init__(self):
        self.count = 0

    def after_step(self, trainer):
        self.count += 1


def test_start_step_outside_the_run_is_refused(tmp_path):
    train, test = synthetic_loaders()
    with pytest.raises(UserError, match="start step 8 is outside the run's 8 iterations"):
        Trainer(tiny(), train, test, TrainConfig(epochs=2, lr=0.1, no_progress=True), tmp_path,
                {"dataset": "x", "method": "lottery-ticket", "arm": "winning-ticket"}, start_step=8)


def test_rewind_point_beyond_the_run_is_refused(tmp_path):
    train, test = synthetic_loaders()
    trainer = Trainer(tiny(), train, test, TrainConfig(epochs=1, lr=0.1, no_progress=True), tmp_path,
                      {"dataset": "x", "method": "lottery-ticket", "arm": "baseline"},
                      hooks=[lottery.RewindPoints([5])])
    with pytest.raises(UserError, match="beyond the run's length"):
        trainer.fit()


def test_iterative_rounds_remove_20_percent_of_the_remaining():
    model = tiny()
    mask = None
    for r in range(1, 5):
        mask = lottery.next_round_mask(model, 0.2, mask)
        apply_mask_(model, mask)
        assert sparsity(mask) == pytest.approx(1 - 0.8 ** r, abs=1e-4)
    assert set(mask) == {n for n, _ in model.named_parameters() if n.startswith("features") and n.endswith("weight")
                         and _.dim() == 4}


@pytest.mark.parametrize("arch,variant", [("resnet56", "B"), ("vgg16", "A")])
def test_l1_mask_computes_what_the_pruned_network_computes(arch, variant):
    torch.manual_seed(0)
    model = build_model(arch, 10, 3)
    with torch.no_grad():   # non-trivial BN statistics and affine parameters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.eval()
    mask = lottery.l1_filter_mask(model, variant)
    pruned, _ = l1_prune(model, plan_keep_counts(model, variant))
    masked = apply_mask_(model, mask)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(masked(x), pruned.eval()(x), atol=1e-4)
    assert count_flops(masked, (3, 32, 32), nonzero=True) == count_flops(pruned, (3, 32, 32))


def test_random_control_is_not_theta_0():
    assert lottery.reinit_seed(1, 1) != 1 and lottery.reinit_seed(1, 1) != lottery.reinit_seed(1, 2)
    torch.manual_seed(1)
    theta0 = build_model("vgg11", 10, 1, TINY).state_dict()
    torch.manual_seed(lottery.reinit_seed(1, 1))
    control = build_model("vgg11", 10, 1, TINY).state_dict()
    assert not torch.equal(theta0["features.0.weight"], control["features.0.weight"])
