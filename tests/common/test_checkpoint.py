"""Checkpoints: round trip, atomic writes, and one clear error for every bad file."""

import pytest
import torch

from common.checkpoint import load_checkpoint, make_checkpoint, model_from_checkpoint, save_checkpoint
from common.errors import UserError
from common.models import build_model


def _saved(tmp_path, arch="resnet20", cfg=None):
    torch.manual_seed(0)
    model = build_model(arch, 10, cfg=cfg)
    path = tmp_path / "model.pt"
    save_checkpoint(make_checkpoint(model, "cifar10", "l1-norm", "pruned", meta={"variant": "A"}), path)
    return model, path


def test_round_trip_rebuilds_arch_cfg_and_weights(tmp_path):
    cfg = [4, 8, 16, 16, 32, 32, 8, 64, 64]
    model, path = _saved(tmp_path, cfg=cfg)
    ckpt = load_checkpoint(path, expect_arch="resnet20", expect_dataset="cifar10")
    assert ckpt["cfg"] == cfg and ckpt["meta"]["variant"] == "A" and ckpt["arm"] == "pruned"
    rebuilt = model_from_checkpoint(ckpt)
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(rebuilt.eval()(x), model.eval()(x))
    fresh = model_from_checkpoint(ckpt, load_weights=False)
    assert fresh.cfg == cfg and not torch.equal(fresh.conv1.weight, model.conv1.weight)
    assert not list(tmp_path.glob("*.tmp"))


def test_missing_truncated_and_foreign_files(tmp_path):
    _, path = _saved(tmp_path)
    with pytest.raises(UserError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(UserError, match="not a file"):
        load_checkpoint(tmp_path)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(UserError, match="truncated or not a checkpoint file"):
        load_checkpoint(truncated)
    text = tmp_path / "notes.txt"
    text.write_text("hello\n")
    with pytest.raises(UserError, match="truncated or not a checkpoint file"):
        load_checkpoint(text)
    plain = tmp_path / "plain_state_dict.pt"
    torch.save(build_model("resnet20", 10).state_dict(), plain)
    with pytest.raises(UserError, match="not a checkpoint of this codebase"):
        load_checkpoint(plain)


def test_arbitrary_objects_are_refused_by_the_safe_loader(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "rethinking-pruning/1", "payload": _Anything()}, evil)
    with pytest.raises(UserError, match="cannot read checkpoint"):
        load_checkpoint(evil)


class _Anything:
    pass


def test_checkpoint_of_another_arch_or_cfg(tmp_path):
    _, path = _saved(tmp_path)
    with pytest.raises(UserError, match="holds a resnet20 model, not vgg16"):
        load_checkpoint(path, expect_arch="vgg16")
    ckpt = load_checkpoint(path)
    ckpt["cfg"] = [16] * 8 + [15]
    with pytest.raises(UserError, match="do not fit resnet20"):
        model_from_checkpoint(ckpt)
