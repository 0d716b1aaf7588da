"""Engine: exact resume, schedules, hooks, non-finite loss, result.json, checkpoints."""

import json
import math

import pytest
import torch
from helpers import KillAt

from common.checkpoint import load_checkpoint
from common.data import DeviceLoader
from common.engine import ConstantLR, CosineLR, Hook, StepLR, TrainConfig, Trainer, TrainingDiverged, make_lr_fn
from common.flops import count_flops
from common.models import build_model

TINY_VGG = [8, "M", 8, "M", 16, 16, "M", 16, 16, "M", 16, 16]
META = {"dataset": "cifar10", "method": "test", "arm": "baseline"}


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    mean, std = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)
    train = DeviceLoader(x, y, 32, mean, std, train=True, seed=5)
    test = DeviceLoader(x[:48], y[:48], 48, mean, std, train=False)
    return train, test


def _model(seed):
    torch.manual_seed(seed)
    return build_model("vgg11", 10, cfg=TINY_VGG)


class CountingHook(Hook):
    """Counts calls; its count must survive a resume through state_dict."""

    def __init__(self):
        self.calls = {"start": 0, "backward": 0, "step": 0, "epoch_end": 0}

    def on_train_start(self, trainer):
        self.calls["start"] += 1

    def after_backward(self, trainer):
        assert all(p.grad is not None for p in trainer.model.parameters())
        self.calls["backward"] += 1

    def after_step(self, trainer):
        self.calls["step"] += 1

    def on_epoch_end(self, trainer, epoch):
        self.calls["epoch_end"] += 1

    def state_dict(self):
        return dict(self.calls)

    def load_state_dict(self, state):
        self.calls = dict(state)


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    config = TrainConfig(epochs=4, lr=0.05, no_progress=True)
    train, test = _data()
    hook_a = CountingHook()
    Trainer(_model(1), train, test, config, tmp_path / "a", META, hooks=[hook_a]).fit()

    train, test = _data()
    with pytest.raises(KeyboardInterrupt):
        Trainer(_model(1), train, test, config, tmp_path / "b", META, hooks=[CountingHook(), KillAt(2)]).fit()
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt")["epoch"] == 1     # epochs 0 and 1 saved
    hook_b = CountingHook()
    resumed = _model(99)   # different init: everything must come from the checkpoint
    Trainer(resumed, train, test, config, tmp_path / "b", META, hooks=[hook_b, KillAt(-1)], resume=True).fit()

    a = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "b" / "checkpoint.pt")
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    assert a["epoch"] == b["epoch"] == 3 and a["step"] == b["step"] == 12
    ra = json.loads((tmp_path / "a" / "result.json").read_text())
    rb = json.loads((tmp_path / "b" / "result.json").read_text())
    assert ra["best_top1"] == rb["best_top1"] and ra["final_top1"] == rb["final_top1"]
    assert hook_a.calls == {"start": 1, "backward": 12, "step": 12, "epoch_end": 4}
    # the killed run saw 3 epochs of steps (the third was lost), the resumed one redid epochs 2 and 3
    assert hook_b.calls["step"] == 12 + 0 and hook_b.calls["epoch_end"] == 4


def test_result_json_and_best_checkpoint(tmp_path):
    train, test = _data()
    result = Trainer(_model(0), train, test, TrainConfig(epochs=2, lr=0.05, no_progress=True), tmp_path,
                     {**META, "variant": "A", "seed": 7}).fit()
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk == result
    for key in ("dataset", "arch", "cfg", "arm", "epochs", "best_top1", "final_top1", "params", "flops",
                "wall_time_s", "code_revision", "variant", "seed"):
        assert key in result, key
    assert result["arch"] == "vgg11" and result["cfg"] == TINY_VGG and result["epochs"] == 2
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["best_acc"] == result["best_top1"] and best["epoch"] == result["best_epoch"] - 1
    assert list(tmp_path.glob("events.out.tfevents.*"))
    assert not list(tmp_path.glob("*.tmp"))


def test_non_finite_loss_stops_with_one_clear_error_and_keeps_the_last_good_checkpoint(tmp_path):
    train, test = _data()

    class Explode(Hook):
        def on_train_start(self, trainer):
            self.armed = False

        def on_epoch_end(self, trainer, epoch):
            self.armed = True

        def after_step(self, trainer):
            if self.armed:
                with torch.no_grad():
                    next(trainer.model.parameters()).fill_(float("nan"))

    config = TrainConfig(epochs=3, lr=0.05, no_progress=True, log_every=1)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at epoch 2 .*checkpoint\.pt \(saved after epoch 1\)"):
        Trainer(_model(0), train, test, config, tmp_path, META, hooks=[Explode()]).fit()
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt["epoch"] == 0 and all(torch.isfinite(v).all() for v in ckpt["state_dict"].values()
                                      if v.is_floating_point())


def test_step_schedule_is_the_papers():
    lr = make_lr_fn(TrainConfig(epochs=160, lr=0.1))
    ipe = 782
    assert lr(0, ipe) == 0.1 and lr(80 * ipe - 1, ipe) == 0.1
    assert math.isclose(lr(80 * ipe, ipe), 0.01) and math.isclose(lr(120 * ipe - 1, ipe), 0.01)
    assert math.isclose(lr(120 * ipe, ipe), 0.001) and math.isclose(lr(160 * ipe - 1, ipe), 0.001)
    # Scratch-B of VGG-16-A: 243 epochs, drops at int(0.5 * 243) = 121 and int(0.75 * 243) = 182
    lr_b = make_lr_fn(TrainConfig(epochs=243, lr=0.1))
    assert math.isclose(lr_b(120 * 10, 10), 0.1) and math.isclose(lr_b(121 * 10, 10), 0.01)
    assert math.isclose(lr_b(182 * 10, 10), 0.001)


def test_constant_and_cosine_schedules():
    assert ConstantLR(0.001)(12345, 100) == 0.001
    cos = CosineLR(0.1, 10)
    assert cos(0, 100) == 0.1 and math.isclose(cos(500, 100), 0.05) and math.isclose(cos(1000, 100), 0.0, abs_tol=1e-12)
    assert StepLR(1.0, [2, 4], 0.5)(4 * 3, 3) == 0.25


def test_lr_is_set_on_the_optimizer_each_step(tmp_path):
    train, test = _data()
    seen = []

    class RecordLR(Hook):
        def after_step(self, trainer):
            seen.append(trainer.optimizer.param_groups[0]["lr"])

    Trainer(_model(0), train, test, TrainConfig(epochs=4, lr=0.2, no_progress=True), tmp_path, META,
            hooks=[RecordLR()]).fit()
    # 3 steps per epoch; x0.1 at epoch int(0.5*4)=2 and int(0.75*4)=3
    assert seen == pytest.approx([0.2] * 6 + [0.02] * 3 + [0.002] * 3)


class LayoutSeen(Hook):
    """Records whether the first conv's weight is channels-last while training."""

    def after_step(self, trainer):
        w = trainer.model.features[0].weight
        self.channels_last = w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()


def _trained_state(tmp_path, name, **flags):
    train, test = _data()
    seen = LayoutSeen()
    Trainer(_model(1), train, test, TrainConfig(epochs=2, lr=0.05, no_progress=True, **flags), tmp_path / name,
            META, hooks=[seen]).fit()
    assert seen.channels_last == flags.get("channels_last", False)
    return load_checkpoint(tmp_path / name / "checkpoint.pt")["state_dict"]


def test_channels_last_and_bf16_autocast_train_the_same_model(tmp_path):
    plain = _trained_state(tmp_path, "plain")
    nhwc = _trained_state(tmp_path, "nhwc", channels_last=True)
    amp = _trained_state(tmp_path, "amp", amp=True)
    for k, w in plain.items():
        assert nhwc[k].dtype == amp[k].dtype == w.dtype                       # checkpoints stay float32
        assert torch.allclose(nhwc[k], w, rtol=1e-3, atol=1e-4), k            # same math, other layout
    # bf16 keeps ~3 significant digits: the weights move the same way, not to the same bits
    first = "features.0.weight"
    start = _model(1).state_dict()[first]
    cos = torch.nn.functional.cosine_similarity((amp[first] - start).flatten(), (plain[first] - start).flatten(), 0)
    assert cos > 0.9 and not torch.equal(amp[first], plain[first])


def test_a_plain_dataloader_with_workers_feeds_the_engine():
    """The loader contract (common.data): (x, y) batches, len, optional set_epoch -- a torch DataLoader
    with worker processes trains exactly as the same batches from a list do."""
    from torch.utils.data import DataLoader, Sampler, TensorDataset

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 1, 32, 32, generator=g), torch.randint(0, 10, (64,), generator=g)

    class EpochOrder(Sampler):
        """A sampler whose order depends on the epoch the engine announces (like DistributedSampler)."""

        def __init__(self):
            self.epochs = []

        def set_epoch(self, epoch):
            self.epochs.append(epoch)

        def __iter__(self):
            return iter(torch.randperm(64, generator=torch.Generator().manual_seed(self.epochs[-1])).tolist())

        def __len__(self):
            return 64

    class ListLoader:
        """The same batches, precomputed: the smallest object the contract allows."""

        def __init__(self):
            self.epoch = 0

        def set_epoch(self, epoch):
            self.epoch = epoch

        def __iter__(self):
            order = torch.randperm(64, generator=torch.Generator().manual_seed(self.epoch))
            return iter([(x[order[i:i + 16]], y[order[i:i + 16]]) for i in range(0, 64, 16)])

        def __len__(self):
            return 4

    def train(loader):
        torch.manual_seed(0)
        model = build_model("vgg11", 10, 1, TINY_VGG)
        test = DataLoader(TensorDataset(x[:32], y[:32]), batch_size=16)
        config = TrainConfig(epochs=2, lr=0.05, no_progress=True)
        result = Trainer(model, loader, test, config, ".", meta={}).train_steps(8)
        return model, result

    sampler = EpochOrder()
    streamed, loss = train(DataLoader(TensorDataset(x, y), batch_size=16, sampler=sampler, num_workers=2))
    listed, listed_loss = train(ListLoader())
    assert sampler.epochs == [0, 1] and loss == listed_loss
    assert all(torch.equal(a, b) for a, b in zip(streamed.state_dict().values(), listed.state_dict().values()))


def test_a_dataloader_fits_writes_results_with_the_given_input_size(tmp_path):
    from torch.utils.data import DataLoader, TensorDataset

    x, y = torch.randn(32, 1, 32, 32), torch.randint(0, 10, (32,))
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    config = TrainConfig(epochs=1, lr=0.05, no_progress=True)
    result = Trainer(build_model("vgg11", 10, 1, TINY_VGG), loader, loader, config,
                     tmp_path, {"dataset": "fashion-mnist", "method": "test", "arm": "baseline"},
                     input_size=(1, 32, 32)).fit()
    assert result["flops"] == count_flops(build_model("vgg11", 10, 1, TINY_VGG), (1, 32, 32))
