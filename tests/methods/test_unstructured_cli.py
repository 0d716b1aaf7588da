"""Unstructured pruning end to end: a real short Fashion-MNIST run (50 % sparse vs dense), the
Scratch-B budget of a masked model, and bad input to the entry points (one line, exit 2,
nothing written)."""

import os
import subprocess
import sys

import pytest
import torch
from helpers import ROOT

from common.checkpoint import make_checkpoint, save_checkpoint
from common.data import DeviceLoader, dataset_info, load_split
from common.engine import TrainConfig, Trainer
from common.flops import count_flops
from common.models import build_model
from common.pruning.weight_level import magnitude_prune

TINY = [8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]
TINY_JSON = '[8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]'


def have_fashion_mnist():
    try:
        load_split("fashion-mnist", "data", train=False, download=False)
        return True
    except Exception:
        return False


needs_data = pytest.mark.skipif(not have_fashion_mnist(), reason="Fashion-MNIST not installed")


def run(args, cwd=ROOT, **env):
    e = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=300)


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def tiny_pruned_checkpoint(path, percent=0.5, bad_mask=False):
    torch.manual_seed(0)
    model = build_model("vgg11", 10, 1, TINY)
    mask, _ = magnitude_prune(model, percent)
    if bad_mask:
        name = next(iter(mask))
        mask[name] = mask[name][:1]
    meta = {"variant": f"p{percent:g}", "seed": 1, "base_cfg": TINY}
    save_checkpoint(make_checkpoint(model, "fashion-mnist", "weight-level", "pruned", mask=mask, meta=meta), path)
    return model, mask


# ----------------------------------------------------------------------------- real data

@pytest.mark.slow
@needs_data
def test_half_sparse_network_keeps_accuracy_on_fashion_mnist(tmp_path):
    info = dataset_info("fashion-mnist")
    x, y = load_split("fashion-mnist", "data", train=True, download=False)
    xt, yt = load_split("fashion-mnist", "data", train=False, download=False)
    train = DeviceLoader(x[:3000], y[:3000], 64, info.mean, info.std, train=True, seed=1)
    test = DeviceLoader(xt[:2000], yt[:2000], 500, info.mean, info.std, train=False)
    torch.manual_seed(1)
    model = build_model("vgg11", 10, 1, [16, "M", 32, "M", 32, 32, "M", 64, 64, "M", 64, 64])
    meta = {"dataset": "fashion-mnist", "method": "weight-level", "arm": "baseline"}
    dense = Trainer(model, train, test, TrainConfig(epochs=3, lr=0.05, schedule="cosine", no_progress=True),
                    tmp_path / "dense", meta).fit()
    mask, report = magnitude_prune(model, 0.5)
    assert report["sparsity"] == pytest.approx(0.5, abs=1e-6)
    ft = Trainer(model, train, test, TrainConfig(epochs=1, lr=0.005, schedule="constant", no_progress=True),
                 tmp_path / "ft", {**meta, "arm": "finetune"}, mask=mask).fit()
    print(f"dense {dense['final_top1']:.2f}%  50%-sparse fine-tuned {ft['final_top1']:.2f}%")
    assert dense["final_top1"] > 70.0                       # it learned something real
    assert ft["final_top1"] > dense["final_top1"] - 3.0     # within a few points of dense
    assert ft["sparsity"] == pytest.approx(0.5, abs=1e-6)   # still exactly half of the conv weights


@needs_data
def test_scratch_b_budget_uses_the_masked_models_nonzero_flops(tmp_path):
    from common.arms import scratch
    model, mask = tiny_pruned_checkpoint(tmp_path / "pruned.pt", percent=0.5)
    dense_flops = count_flops(build_model("vgg11", 10, 1, TINY), (1, 32, 32))
    nonzero_flops = count_flops(model, (1, 32, 32), nonzero=True)
    result = scratch("weight-level", epochs=160, lr=0.1, argv=[
        "--checkpoint", str(tmp_path / "pruned.pt"), "--budget", "B", "--epochs", "0", "--no-progress",
        "--save", str(tmp_path / "scratch")])
    assert result["flops_ratio"] == pytest.approx(dense_flops / nonzero_flops)
    assert result["flops_ratio"] > 1.3                      # the original measured 1 here
    assert result["flops"] == nonzero_flops and result["sparsity"] > 0


# ----------------------------------------------------------------------------- bad input

def test_percent_outside_range_is_one_line(tmp_path):
    tiny_pruned_checkpoint(tmp_path / "x.pt")
    p = run(["cifar/weight-level/prune.py", "--checkpoint", str(tmp_path / "x.pt"), "--percent", "1.5",
             "--save", str(tmp_path / "out")])
    assert_one_line_error(p, "--percent", "[0, 1)")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flags,needle", [
    (["--sparsity", "1.0", "--phases", "2"], "--sparsity"),
    (["--sparsity", "0.9", "--phases", "0"], "--phases"),
    (["--sparsity", "0.9", "--retrain", "XLR", "--phase-epochs", "1"], "unknown retraining schedule 'XLR'"),
])
def test_imp_bad_input_is_one_line(tmp_path, flags, needle):
    tiny_pruned_checkpoint(tmp_path / "x.pt")
    p = run(["cifar/imp/main_imp.py", "--checkpoint", str(tmp_path / "x.pt"), "--save", str(tmp_path / "runs"),
             *flags])
    assert_one_line_error(p, needle)
    assert not (tmp_path / "runs").exists()


def test_a_mask_that_does_not_match_the_model_is_one_line(tmp_path):
    tiny_pruned_checkpoint(tmp_path / "bad.pt", bad_mask=True)
    p = run(["cifar/weight-level/main_finetune.py", "--checkpoint", str(tmp_path / "bad.pt"),
             "--save", str(tmp_path / "ft")])
    assert_one_line_error(p, "the mask does not match the model")
    assert not (tmp_path / "ft").exists()


@needs_data
def test_lottery_rewind_beyond_the_run_is_one_line(tmp_path):
    p = run(["cifar/lottery-ticket/main.py", "--arch", "vgg11", "--cfg", TINY_JSON, "--dataset", "fashion-mnist",
             "--subset", "64", "--epochs", "1", "--rewind-iters", "0", "500", "--save", str(tmp_path / "runs")])
    assert_one_line_error(p, "--rewind-iters 500 is not before the end of the dense run", "= 1)")
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@needs_data
def test_imp_and_lottery_single_steps_ask_the_papers_question_of_their_masks(tmp_path):
    """The four entry points of IMP and of the Lottery Ticket comparison outside their sequences: a
    one-shot IMP mask (conv and linear weights) and one magnitude round (conv weights only), then
    fine-tuning and Scratch-B of each."""
    import json

    from helpers import run_entry

    data = ["--dataset", "fashion-mnist", "--subset", "256", "--test-subset", "128", "--no-progress"]
    assert run_entry("cifar/imp/main.py", "--arch", "vgg11", "--cfg", TINY_JSON, "--epochs", "1", *data,
                     "--save", tmp_path / "dense").returncode == 0
    dense = tmp_path / "dense" / "checkpoint.pt"
    for method, flags, goal in (("imp", ["--sparsity", "0.8"], 0.8), ("lottery-ticket", ["--percent", "0.3"], 0.3)):
        proc = run_entry(f"cifar/{method}/prune.py", "--checkpoint", dense, *flags, "--test-subset", "128",
                         "--save", tmp_path / method / "pruned")
        assert proc.returncode == 0, proc.stderr
        pruned = json.loads((tmp_path / method / "pruned" / "result.json").read_text())
        assert pruned["report"]["sparsity"] == pytest.approx(goal, abs=1e-3)
        has_fc = any(name.startswith("classifier") for name in pruned["report"]["layers"])
        assert has_fc == (method == "imp")                 # IMP prunes linear weights too, the lottery round not
        for entry, extra in (("main_finetune.py", []), ("main_scratch.py", ["--budget", "B"])):
            proc = run_entry(f"cifar/{method}/{entry}", "--checkpoint", tmp_path / method / "pruned" / "pruned.pt",
                             "--epochs", "1", *data, *extra, "--save", tmp_path / method / entry)
            assert proc.returncode == 0, proc.stderr
        scratch = json.loads((tmp_path / method / "main_scratch.py" / "result.json").read_text())
        assert scratch["epochs"] == int(pruned["base_flops"] / pruned["flops"]) and scratch["sparsity"] > 0
