"""ThiNet and regression pruning on a real (Fashion-MNIST-trained) network, and their entry points."""

import json
import os
import runpy
import subprocess
import sys

import pytest
import torch
from helpers import ROOT

from common.checkpoint import make_checkpoint, save_checkpoint
from common.data import DeviceLoader, balanced_sample, dataset_info, load_split
from common.engine import TrainConfig, Trainer
from common.models import build_model
from common.pruning.l1_norm import l1_prune
from common.pruning.layerwise import run_until
from common.pruning.regression import regression_prune
from common.pruning.thinet import thinet_prune

CFG = [8, 8, "M", 16, 16, "M", 32, 32, 32, "M", 64, 64, 64, "M", 64, 64, 64]
HALVED = [4, 4, "M", 8, 8, "M", 16, 16, 16, "M", 32, 32, 32, "M", 64, 64, 64]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """An eighth-width VGG-16 trained 2 epochs on 2,000 Fashion-MNIST images, saved as an L1-norm baseline."""
    info = dataset_info("fashion-mnist")
    x, y = load_split("fashion-mnist", "data", train=True)
    xt, yt = load_split("fashion-mnist", "data", train=False)
    train = DeviceLoader(x[:2000], y[:2000], 64, info.mean, info.std, train=True, seed=1)
    test = DeviceLoader(xt[:500], yt[:500], 250, info.mean, info.std, train=False)
    torch.manual_seed(1)
    model = build_model("vgg16_mlp", 10, 1, CFG)
    run = tmp_path_factory.mktemp("baseline")
    Trainer(model, train, test, TrainConfig(epochs=2, lr=0.05, no_progress=True), run,
            {"dataset": "fashion-mnist", "method": "l1-norm", "arm": "baseline"}).fit()
    path = run / "baseline.pt"
    save_checkpoint(make_checkpoint(model, "fashion-mnist", "l1-norm", "baseline", meta={"seed": 1}), path)
    samples = [x for x, _ in balanced_sample("fashion-mnist", "data", 500, 100, seed=0, device="cpu")]
    return model.eval(), path, samples[:3], torch.cat(samples[3:])


def _output_error(model, reference, consumer, images):
    """Relative error of ``consumer``'s output (every position) of ``model`` against ``reference``."""
    want = run_until(reference, images, outputs=[consumer])[("out", consumer)]
    got = run_until(model, images, outputs=[consumer])[("out", consumer)]
    return float((got - want).square().sum() / want.square().sum())


@pytest.mark.parametrize("group, consumer", [("features.3", "features.7"), ("features.14", "features.17"),
                                             ("features.27", "features.30")])
def test_reconstruction_beats_l1_norm_selection_at_the_same_width(trained, group, consumer):
    model, _, fit, held_out = trained
    keep = dict((g.name, g.size) for g in model.channel_groups())[group] // 2
    l1_model, _ = l1_prune(model, {group: keep})
    thinet_model, _ = thinet_prune(model, fit, r=0.5, layers=[group], log=lambda s: None)
    regression_model, _ = regression_prune(model, fit, widths={group: keep}, log=lambda s: None)
    l1 = _output_error(l1_model, model, consumer, held_out)
    thinet = _output_error(thinet_model, model, consumer, held_out)
    regression = _output_error(regression_model, model, consumer, held_out)
    assert thinet < l1 and regression < l1, (thinet, regression, l1)


def _run(script, *args, env_extra=None, code=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, str(ROOT / script), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


@pytest.mark.slow
def test_thinet_entry_points_end_to_end(trained, tmp_path):
    _, ckpt, _, _ = trained
    out = tmp_path / "thinet"
    r = _run("cifar/thinet/prune.py", "--checkpoint", str(ckpt), "--images", "100", "--finetune-iters", "2",
             "--save", str(out))
    assert r.returncode == 0, r.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["method"] == "thinet" and result["variant"] == "r0.5" and result["cfg"] == HALVED
    layers = result["report"]["layers"]
    assert [row["kept"] for row in layers] == [4, 4, 8, 8, 16, 16, 16, 32, 32, 32]
    assert all(row["error_after_ls"] <= row["error_before_ls"] + 1e-9 and row["seconds"] > 0 for row in layers)
    assert "kept    4/8" in r.stdout and "after least squares" in r.stdout
    assert r.stdout.count("fine-tuned 2 steps at lr 0.001") == 10 and result["report"]["finetune_iters"] == 2
    ft = tmp_path / "ft"
    r = _run("cifar/thinet/main_finetune.py", "--checkpoint", str(out / "pruned.pt"), "--epochs", "1",
             "--subset", "256", "--no-progress", "--save", str(ft))
    assert r.returncode == 0, r.stderr
    assert json.loads((ft / "result.json").read_text())["arm"] == "finetune"


@pytest.mark.slow
def test_regression_entry_points_end_to_end(trained, tmp_path):
    _, ckpt, _, _ = trained
    out = tmp_path / "regression"
    r = _run("cifar/regression/prune.py", "--checkpoint", str(ckpt), "--images", "100", "--save", str(out))
    assert r.returncode == 0, r.stderr
    result = json.loads((out / "result.json").read_text())
    assert result["variant"] == "2x" and 0.5 <= result["flops_reduction"] < 0.53
    assert result["cfg"][-3:] == [64, 64, 64]                             # conv5_x kept
    assert {"kept", "of", "error_before_ls", "error_after_ls", "ridge", "seconds"} <= set(result["report"]["layers"][0])
    sc = tmp_path / "scratch"
    r = _run("cifar/regression/main_scratch.py", "--checkpoint", str(out / "pruned.pt"), "--budget", "B",
             "--epochs", "1", "--subset", "256", "--no-progress", "--save", str(sc))
    assert r.returncode == 0, r.stderr
    scratch = json.loads((sc / "result.json").read_text())
    assert scratch["arm"] == "scratch-B" and scratch["epochs"] == 2          # int(1 x 2.0x)


UNSUPPORTED = """
import runpy, sys, torch.nn as nn
from common.models.registry import register_arch
class Tiny(nn.Module):
    def __init__(self, cfg, num_classes, in_channels):
        super().__init__(); self.fc = nn.Linear(in_channels * 32 * 32, num_classes)
    def forward(self, x): return self.fc(x.flatten(1))
    def channel_groups(self): return []
register_arch("tiny_mlp", "cifar", Tiny, lambda: [1], lambda cfg: None)
if len(sys.argv) > 2 and sys.argv[1] == "--make":
    from common.checkpoint import make_checkpoint, save_checkpoint
    from common.models import build_model
    model = build_model("tiny_mlp", 10, 1)
    save_checkpoint(make_checkpoint(model, "fashion-mnist", "l1-norm", "baseline"), sys.argv[2])
else:
    script = sys.argv[1]; sys.argv = sys.argv[1:]
    runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.parametrize("script, args, message", [
    ("cifar/thinet/prune.py", ["--r", "1.0"], "argument --r: the fraction of channels kept must lie in (0, 1), got 1"),
    ("cifar/thinet/prune.py", ["--r", "0.5,0"], "must lie in (0, 1), got 0"),
    ("cifar/regression/prune.py", ["--speedup", "1"], "argument --speedup: the target speed-up must be > 1"),
    ("cifar/regression/prune.py", ["--speedup", "0.5"], "the target speed-up must be > 1"),
    ("cifar/thinet/prune.py", ["--locations", "5000"],
     "--locations 5000 is more than the 4096 (filter, position) pairs per image that layer features.7 has"),
    ("cifar/regression/prune.py", ["--locations", "5"],
     "more than the 4 output positions (2x2) per image of layer features.34"),
    ("cifar/regression/prune.py", ["--speedup", "100"], "a 100x speed-up is out of reach"),
    ("cifar/thinet/prune.py", ["--r", "0.5,0.5"], "2 compression rates given for the 10 layers"),
])
def test_bad_input_is_one_line_and_writes_nothing(trained, tmp_path, monkeypatch, capsys, script, args, message):
    _, ckpt, _, _ = trained
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", [script, "--checkpoint", str(ckpt), "--save", str(out), *args])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(str(ROOT / script), run_name="__main__")    # the entry point itself, in this process
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
    assert not out.exists()


def test_unsupported_arch_is_one_line(tmp_path):
    ckpt = tmp_path / "tiny.pt"
    assert _run(None, "--make", str(ckpt), code=UNSUPPORTED).returncode == 0
    for method in ("thinet", "regression"):
        out = tmp_path / method
        r = _run(None, f"cifar/{method}/prune.py", "--checkpoint", str(ckpt), "--save", str(out), code=UNSUPPORTED)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert "needs a registered model" in lines[0]
        assert not out.exists()
