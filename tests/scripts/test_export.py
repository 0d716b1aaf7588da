"""scripts/export.py: a pruned (narrower) and a masked (zeros) checkpoint become a plain state dict with its cfg, a
torch.export program and -- when the packages are installed -- an ONNX file, each reproducing the logits."""

import json

import pytest
import torch
from helpers import assert_one_line_error, run_entry

from common.checkpoint import make_checkpoint, save_checkpoint
from common.masks import apply_mask_, prunable_weights
from common.models import build_model

NARROW = [4, "M", 8, "M", 8, 8, "M", 8, 8, "M", 8, 8]


@pytest.fixture
def checkpoints(tmp_path):
    torch.manual_seed(0)
    pruned = build_model("vgg11", 10, 1, NARROW).eval()
    save_checkpoint(make_checkpoint(pruned, "fashion-mnist", "l1-norm", "pruned", meta={"variant": "r0.5"}),
                    tmp_path / "pruned.pt")
    masked = build_model("vgg11", 10, 1, [8, "M", 16, "M", 16, 16, "M", 16, 16, "M", 16, 16]).eval()
    g = torch.Generator().manual_seed(1)
    mask = {name: torch.rand(w.shape, generator=g) > 0.5 for name, w in prunable_weights(masked).items()}
    apply_mask_(masked, mask)
    save_checkpoint(make_checkpoint(masked, "fashion-mnist", "weight-level", "pruned", mask=mask,
                                    meta={"variant": "p0.5"}), tmp_path / "masked.pt")
    return tmp_path


@pytest.mark.parametrize("name", ["pruned", "masked"])
def test_export_reproduces_the_checkpoints_logits(checkpoints, name):
    out = checkpoints / f"{name}-out"
    proc = run_entry("scripts/export.py", "--checkpoint", checkpoints / f"{name}.pt", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "each reproduces the checkpoint's logits" in proc.stdout
    plain = torch.load(out / "model.pt", weights_only=True)
    assert json.loads((out / "model.json").read_text())["cfg"] == plain["cfg"]
    model = build_model(plain["arch"], plain["num_classes"], plain["in_channels"], plain["cfg"]).eval()
    model.load_state_dict(plain["state_dict"])
    program = torch.export.load(out / "model.pt2").module()
    x = torch.randn(3, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(program(x), model(x), rtol=1e-4, atol=1e-5)
    if name == "masked":               # exported as zeros: as sparse as the mask, and dense to run
        weights = [v for k, v in plain["state_dict"].items() if k.endswith("weight") and v.dim() == 4]
        zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
        assert 0.4 < zeros < 0.6


@pytest.mark.slow                  # the ONNX exporter traces through torch.export: ~10 s
def test_onnx_when_its_packages_are_installed(checkpoints):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    proc = run_entry("scripts/export.py", "--checkpoint", checkpoints / "pruned.pt", "--out", checkpoints / "o",
                     "--onnx")
    assert proc.returncode == 0, proc.stderr
    assert (checkpoints / "o" / "model.onnx").is_file()


def test_semi_structured_on_a_cpu_is_one_line_and_leaves_nothing(checkpoints):
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine runs 2:4 weights")
    out = checkpoints / "s"
    assert_one_line_error(run_entry("scripts/export.py", "--checkpoint", checkpoints / "masked.pt", "--out", out,
                                    "--semi-structured", "--device", "cpu"),
                          "--semi-structured needs a CUDA GPU", "no 2:4 convolution kernel")
    assert not out.exists()
