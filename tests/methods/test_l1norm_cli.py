"""The L1-norm entry points end to end, on real data, and every bad input as one clear line."""

import json
import math
import shutil

import pytest
from helpers import FASHION_SKIP, HAVE_FASHION, assert_one_line_error, run_cli, run_entry, write_cifar10

M = "cifar/l1-norm"
TINY = '[8, 8, "M", 16, 16, "M", 16, 16, 16, "M", 32, 32, 32, "M", 32, 32, 32]'
fashion = pytest.mark.skipif(not HAVE_FASHION, reason=FASHION_SKIP)


def _pipeline(root, common, epochs, test_subset):
    """baseline -> prune -> fine-tune -> scratch-E -> scratch-B with the data flags ``common``."""
    steps = {
        "baseline": [f"{M}/main.py", "--arch", "vgg16_mlp", "--cfg", TINY, "--epochs", epochs, *common],
        "pruned": [f"{M}/prune.py", "--checkpoint", root / "baseline" / "checkpoint.pt", "--variant", "A",
                   "--test-subset", test_subset, *common[common.index("--data-dir"):][:2]],
        "finetune": [f"{M}/main_finetune.py", "--checkpoint", root / "pruned" / "pruned.pt", "--epochs", "1", *common],
        "scratch-E": [f"{M}/main_scratch.py", "--checkpoint", root / "pruned" / "pruned.pt", "--budget", "E",
                      "--epochs", epochs, *common],
        "scratch-B": [f"{M}/main_scratch.py", "--checkpoint", root / "pruned" / "pruned.pt", "--budget", "B",
                      "--epochs", epochs, *common],
    }
    results = {}
    for arm, cmd in steps.items():
        proc = run_entry(*cmd, "--save", root / arm)
        assert proc.returncode == 0, f"{arm} failed:\n{proc.stderr[-2000:]}"
        results[arm] = json.loads((root / arm / "result.json").read_text())
    return root, results


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The whole pipeline on 3,000 Fashion-MNIST images (the slow tier: it must learn)."""
    if not HAVE_FASHION:
        pytest.skip(FASHION_SKIP)
    common = ["--dataset", "fashion-mnist", "--data-dir", "data", "--subset", "3000", "--test-subset", "2000",
              "--no-progress"]
    return _pipeline(tmp_path_factory.mktemp("l1"), common, "3", "2000")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """The whole pipeline on 80 CIFAR-10 images written in the real format: files to read back, quickly."""
    root = tmp_path_factory.mktemp("l1-small")
    write_cifar10(root / "data", n_per_batch=16, n_test=32)
    common = ["--dataset", "cifar10", "--data-dir", root / "data", "--no-progress"]
    return _pipeline(root, common, "2", "32")


@pytest.mark.slow
@fashion
def test_pipeline_learns_and_prunes(pipeline):
    root, r = pipeline
    assert r["baseline"]["best_top1"] > 60.0             # 10 classes: chance is 10%
    assert r["finetune"]["best_top1"] > 60.0 and r["scratch-B"]["best_top1"] > 50.0
    pruned = r["pruned"]
    assert pruned["cfg"] == [4, 8, "M", 16, 16, "M", 16, 16, 16, "M", 16, 16, 16, "M", 16, 16, 16]
    assert pruned["flops"] < pruned["base_flops"] and math.isclose(
        pruned["flops_reduction"], 1 - pruned["flops"] / pruned["base_flops"])
    # Scratch-B: int(3 * FLOPs(base)/FLOPs(pruned)) epochs
    ratio = pruned["base_flops"] / pruned["flops"]
    assert r["scratch-B"]["epochs"] == int(3 * ratio) > 3 and r["scratch-E"]["epochs"] == 3
    assert math.isclose(r["scratch-B"]["flops_ratio"], ratio)
    assert r["finetune"]["cfg"] == pruned["cfg"] and r["finetune"]["train_config"]["schedule"] == "constant"


def test_collect_results_prints_the_table(small):
    root, r = small
    proc = run_entry("scripts/collect_results.py", root, "--method", "l1-norm")
    assert proc.returncode == 0, proc.stderr
    row = [ln for ln in proc.stdout.splitlines() if ln.startswith("| cifar10")][0]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["cifar10", "l1-norm", "vgg16_mlp", "A"]
    assert cells[4] == f"{r['baseline']['best_top1']:.2f}" and cells[6] == f"{r['finetune']['best_top1']:.2f}"
    assert cells[-1].endswith(f"(↓{100 * r['pruned']['flops_reduction']:.1f}%)")


def test_resume_of_a_finished_run_and_refusal_to_overwrite(small, tmp_path):
    root, r = small
    copy = tmp_path / "ft"
    shutil.copytree(root / "finetune", copy)
    same = [f"{M}/main_finetune.py", "--checkpoint", root / "pruned" / "pruned.pt", "--epochs", "1",
            "--dataset", "cifar10", "--data-dir", root / "data", "--save", copy]
    assert_one_line_error(run_entry(*same), "already holds a run", "--resume")
    proc = run_entry(*same, "--epochs", "2", "--resume")
    assert_one_line_error(proc, "cannot resume", "other settings (--epochs differ)")
    proc = run_entry(*same, "--resume")
    assert proc.returncode == 0, proc.stderr
    assert json.loads((copy / "result.json").read_text())["best_top1"] == r["finetune"]["best_top1"]


def test_bad_checkpoints_and_flags_on_the_pruning_side(small, tmp_path):
    root, _ = small
    base = root / "baseline" / "checkpoint.pt"
    out = tmp_path / "out"
    cases = [
        ([f"{M}/prune.py", "--checkpoint", base, "--variant", "C"], ["invalid choice: 'C'"]),
        ([f"{M}/prune.py", "--checkpoint", base, "--ratio", "1.0"], ["[0, 1)"]),
        ([f"{M}/prune.py", "--checkpoint", base, "--ratio", "-0.1"], ["[0, 1)"]),
        ([f"{M}/prune.py", "--checkpoint", tmp_path / "missing.pt"], ["checkpoint not found"]),
        ([f"{M}/main_finetune.py", "--checkpoint", base], ["baseline checkpoint", "pruned.pt"]),
        ([f"{M}/main_scratch.py", "--checkpoint", root / "pruned" / "pruned.pt", "--dataset", "cifar100"],
         ["trained on cifar10, not cifar100"]),
        ([f"{M}/prune.py", "--checkpoint", root / "pruned" / "pruned.pt"], ["already a pruned model"]),
    ]
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(base.read_bytes()[:1000])
    cases.append(([f"{M}/prune.py", "--checkpoint", truncated], ["truncated or not a checkpoint"]))
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint\n")
    cases.append(([f"{M}/main_scratch.py", "--checkpoint", garbage], ["truncated or not a checkpoint"]))
    for cmd, fragments in cases:
        assert_one_line_error(run_entry(*cmd, "--save", out), *fragments)
        assert not out.exists(), f"{cmd} wrote {out}"


def test_bad_flags_are_one_line_and_write_nothing(tmp_path):
    write_cifar10(tmp_path / "data", n_per_batch=8, n_test=8)
    out = tmp_path / "run"
    data = ["--data-dir", tmp_path / "data"]
    cases = [
        (["--arch", "resnet57"], ["unknown arch 'resnet57'"]),
        (["--dataset", "imagenet"], ["vgg16_mlp is built for cifar datasets and imagenet is an imagenet dataset"]),
        (["--dataset", "imagenet2"], ["invalid choice: 'imagenet2'"]),
        (["--epochs", "-1"], ["--epochs", "must be >= 0"]),
        (["--arch", "resnet20", "--cfg", "[16, 16]"], ["cfg does not fit resnet20"]),
        (["--cfg", "[1, 2"], ["--cfg is not valid JSON"]),
        (["--lr", "0"], ["--lr", "must be > 0"]),
        (["--resume"], ["nothing to resume"]),
        (["--device", "cuda"] if not __import__("torch").cuda.is_available() else ["--device", "tpu"],
         ["--device"]),
    ]
    for flags, fragments in cases:
        proc = run_entry(f"{M}/main.py", *data, *flags, "--save", out)
        assert_one_line_error(proc, *fragments)
        assert not out.exists(), f"{flags} wrote {out}"


def test_checkpoint_of_another_method_is_refused(tmp_path):
    from common.checkpoint import make_checkpoint, save_checkpoint
    from common.models import build_model
    path = tmp_path / "slim.pt"
    save_checkpoint(make_checkpoint(build_model("resnet20", 10), "cifar10", "slimming", "pruned",
                                    meta={"variant": "p0.4", "base_cfg": [16] * 9}), path)
    proc = run_entry(f"{M}/main_finetune.py", "--checkpoint", path, "--save", tmp_path / "out")
    assert_one_line_error(proc, "made by slimming, not l1-norm")
    assert not (tmp_path / "out").exists()


def test_flops_command_on_a_checkpoint_of_another_arch(tmp_path):
    from common.checkpoint import make_checkpoint, save_checkpoint
    from common.models import build_model
    path = tmp_path / "r20.pt"
    save_checkpoint(make_checkpoint(build_model("resnet20", 10), "cifar10", "l1-norm", "baseline"), path)
    assert_one_line_error(run_entry("scripts/count_flops.py", "--checkpoint", path, "--arch", "vgg16"),
                          "holds a resnet20 model, not vgg16")
    proc = run_cli("scripts/count_flops.py", "--checkpoint", path, "--json")
    assert json.loads(proc.stdout)["params"] == 269_722


def test_pruning_a_pruned_and_fine_tuned_model_again_says_so(small, tmp_path):
    root, r = small
    proc = run_entry(f"{M}/prune.py", "--checkpoint", root / "finetune" / "checkpoint.pt", "--ratio", "0.5",
                     "--data-dir", root / "data", "--save", tmp_path / "again")
    assert proc.returncode == 0, proc.stderr
    notes = [ln for ln in proc.stderr.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "already pruned (A)" in notes[0] and str(r["pruned"]["cfg"]) in notes[0]
    first = run_entry(f"{M}/prune.py", "--checkpoint", root / "baseline" / "checkpoint.pt", "--ratio", "0.5",
                      "--data-dir", root / "data", "--save", tmp_path / "first")
    assert first.returncode == 0 and "note:" not in first.stderr


def test_help_lists_the_models_of_the_recipes_kind_and_the_header_the_lr_used(tmp_path):
    help_text = " ".join(run_entry(f"{M}/main.py", "--help").stdout.split())
    assert "one of densenet40," in help_text and "resnet56" in help_text and "resnet50," not in help_text
    for flag, words in (("--momentum MOMENTUM", "SGD momentum (default 0.9)"),
                        ("--seed SEED", "seed of the initialisation and the data order (default 1)"),
                        ("--data-dir DATA_DIR", "folder holding cifar-10-batches-py/"),
                        ("--test-batch-size TEST_BATCH_SIZE", "images per evaluation batch (default 256; no effect"),
                        ("--device DEVICE", "cuda, cuda:N or cpu")):
        assert f"{flag} {words}" in help_text, flag
    write_cifar10(tmp_path / "data", n_per_batch=8, n_test=8)
    proc = run_entry(f"{M}/main.py", "--arch", "vgg16_mlp", "--cfg", TINY, "--data-dir", tmp_path / "data", "--epochs",
                     "1", "--no-progress", "--save", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    header = proc.stdout.splitlines()[0]
    assert "1 epoch, lr 0.1 (0.001 from the first step)" in header     # the step schedule decays at int(0.5 x 1) = 0
