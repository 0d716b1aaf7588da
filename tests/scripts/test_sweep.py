"""The table runner (common.sweep) behind scripts/cifar/<method>.sh: what a table expands into,
skipping done steps and re-running changed ones, several steps at once, and its bad-flag errors."""

import json
import subprocess

import pytest
from helpers import FASHION_SKIP, HAVE_FASHION, ROOT, assert_one_line_error, run_sweep

from common.methods import METHODS
from common.sweep import plan_of, step_name

TINY = '[8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]'


def plan(method, *flags):
    return list(plan_of(method, flags, ["--no-progress"]).steps.values())


def table(script, *flags, cwd=ROOT):
    """``scripts/cifar/<script>.sh FLAGS``, as a process."""
    return subprocess.run(["bash", f"scripts/cifar/{script}.sh", *flags], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def table_here(script, *flags):
    """What ``scripts/cifar/<script>.sh FLAGS`` does, in this process."""
    return run_sweep(script, "--tree", "cifar", *flags)


@pytest.mark.parametrize("script", sorted(m for m in METHODS if METHODS[m].has_table))
def test_every_table_script_rejects_an_unknown_flag_before_running_anything(script, tmp_path):
    proc = table_here(script, "--runs", str(tmp_path / "runs"), "--bogus", "1")
    assert proc.returncode == 2 and proc.stderr.strip() == f"{script}.sh: error: unrecognized arguments: --bogus 1"
    assert not (tmp_path / "runs").exists()


def test_the_table_script_is_the_runner_of_its_method(tmp_path):
    proc = table("slimming", "--runs", str(tmp_path / "runs"), "--bogus", "1")
    assert proc.returncode == 2 and proc.stderr.strip() == "slimming.sh: error: unrecognized arguments: --bogus 1"


@pytest.mark.parametrize("flags,message", [
    (["--seeds", "abc"], "argument --seeds: expected an integer, got 'abc'"),
    (["--archs", "vgg19"], "no paper variant of L1-norm pruning for vgg19"),
    (["--cfg", "[1,"], "--cfg is not valid JSON"),
])
def test_bad_table_flags_are_one_line_and_write_nothing(tmp_path, flags, message):
    proc = table_here("l1-norm", "--runs", str(tmp_path / "runs"), *flags)
    assert_one_line_error(proc, message)
    assert proc.returncode == 2 and not (tmp_path / "runs").exists()


def test_slimming_table_prunes_the_sparsity_run_at_the_paper_percents():
    steps = plan("slimming", "--dataset", "cifar100", "--archs", "vgg19 densenet40", "--seeds", "2")
    names = [s.name for s in steps]
    assert names[:7] == ["vgg19 seed1 baseline", "vgg19 seed1 sparsity", "vgg19 seed1 prune p0.5",
                         "vgg19 seed1 finetune p0.5-seed1", "vgg19 seed1 scratch-E p0.5-seed1",
                         "vgg19 seed1 scratch-B p0.5-seed1", "densenet40 seed1 baseline"]
    assert len(steps) == 2 * ((2 + 4) + (2 + 2 * 4))      # per seed: vgg19 at one percent, densenet40 at two
    prune = steps[2]
    assert prune.needs == [steps[1]] and prune.argv[prune.argv.index("--checkpoint") + 1] == \
        str(steps[1].folder / "checkpoint.pt")
    assert "--sparsity" in steps[0].argv and steps[0].argv[steps[0].argv.index("--sparsity") + 1] == "0"
    assert "--sparsity" not in steps[1].argv                # the paper's lambda, resolved by main.py
    assert all(s.folder.parts[-2] == arm for s, arm in zip(steps, ["baseline", "sparsity", "pruned", "finetune",
                                                                  "scratch-E", "scratch-B"]))


def test_thinet_and_regression_share_the_l1_norm_baseline():
    l1 = {s.folder for s in plan("l1-norm", "--archs", "resnet56", "--seeds", "1")}
    for method in ("thinet", "regression"):
        steps = plan(method, "--archs", "resnet56", "--seeds", "1")
        assert steps[0].folder in l1 and step_name(steps[0].argv[0]) == "cifar/l1-norm/main.py"
        assert all(step_name(s.argv[0]).startswith(f"cifar/{method}/") for s in steps[1:])


def test_a_changed_flag_changes_the_step_folder_and_nothing_upstream():
    a = plan("weight-level", "--archs", "vgg11", "--percents", "0.5", "--seeds", "1")
    b = plan("weight-level", "--archs", "vgg11", "--percents", "0.6", "--seeds", "1")
    c = plan("weight-level", "--archs", "vgg11", "--percents", "0.5", "--seeds", "1", "--epochs", "100")
    assert a[0].folder == b[0].folder and a[1].folder != b[1].folder
    assert all(x.folder != y.folder for x, y in zip(a, c))           # the baseline changed: everything did
    assert a[0].folder.name.startswith("seed1-") and a[1].folder.name.startswith("p0.5-seed1-")


def test_imp_table_rejects_a_retraining_budget_longer_than_the_dense_run(tmp_path):
    proc = table_here("imp", "--runs", str(tmp_path / "runs"), "--epochs", "20", "--phases", "2",
                      "--phase-epochs", "10")
    assert_one_line_error(proc, "--phases x --phase-epochs must be below --epochs")


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_FASHION, reason=FASHION_SKIP)
def test_runner_skips_done_steps_reruns_changed_ones_and_runs_jobs_at_once(tmp_path):
    flags = ["--dataset", "fashion-mnist", "--archs", "vgg11", "--cfg", TINY, "--seeds", "1", "--epochs", "1",
             "--ft-epochs", "0", "--subset", "128", "--test-subset", "64", "--runs", str(tmp_path / "runs")]
    first = table("weight-level", *flags, "--percents", "0.5", "--jobs", "2", "--", "--no-progress")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("== run:") == 4 and "[job 2/2]" in first.stdout      # scratch-E and -B together
    root = tmp_path / "runs" / "fashion-mnist" / "weight-level"
    assert (root / "table.md").is_file() and (root / "plot.png").is_file()
    assert len(list((root / "logs").glob("*.log"))) == 4

    again = table("weight-level", *flags, "--percents", "0.5", "--", "--no-progress")
    assert again.returncode == 0 and again.stdout.count("== skip (done)") == 4 and "== run:" not in again.stdout

    changed = table("weight-level", *flags, "--percents", "0.6", "--", "--no-progress")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.count("== skip (done)") == 1 and changed.stdout.count("== run:") == 3
    pruned = sorted(p.name for p in (root / "vgg11" / "pruned").iterdir())
    assert len(pruned) == 2 and pruned[0].startswith("p0.5-seed1-") and pruned[1].startswith("p0.6-seed1-")
    accuracy, compute = (root / "table.md").read_text().split("## Training compute")
    rows = [line for line in accuracy.splitlines() if line.startswith("|")]
    assert len(rows) == 3 and "| p0.6 |" in rows[2]              # the table shows this table's runs only
    assert sum(line.startswith("| fashion-mnist") for line in compute.splitlines()) == 1
    result = json.loads(next((root / "vgg11" / "scratch-B").glob("p0.6-*/result.json")).read_text())
    assert result["variant"] == "p0.6" and result["sparsity"] > 0.55


@pytest.mark.parametrize("flags,message", [
    (["--ft-epochs", "-1"], "argument --ft-epochs: must be >= 0, got -1"),
    (["--archs", "resnet34 resnet56"], "resnet34 is built for imagenet datasets and cifar10 is a cifar dataset"),
])
def test_a_bad_table_is_one_line_before_any_step(tmp_path, flags, message):
    proc = table_here("l1-norm", "--runs", str(tmp_path / "runs"), *flags)
    assert_one_line_error(proc, message)
    assert "==" not in proc.stdout and not (tmp_path / "runs").exists()


def _processes_naming(path) -> list[int]:
    """Processes (not this one) whose command line names ``path``, from /proc."""
    import os
    from pathlib import Path

    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if str(path) in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode() and \
                    int(proc.name) != os.getpid():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_FASHION, reason=FASHION_SKIP)
def test_a_stopped_table_stops_its_steps_and_a_rerun_resumes(tmp_path):
    """SIGTERM to the table runner (a scheduler's stop, a killed terminal): the running step stops too -- no orphan
    keeps training in the folder -- and the same command resumes it."""
    import signal
    import sys
    import time

    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "common.sweep", "weight-level", "--tree", "cifar", "--dataset", "fashion-mnist",
           "--archs", "vgg11", "--cfg", TINY, "--seeds", "1", "--epochs", "12", "--ft-epochs", "0", "--subset", "256",
           "--test-subset", "64", "--percents", "0.5", "--runs", str(runs), "--", "--no-progress"]
    runner = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = runs / "fashion-mnist" / "weight-level" / "vgg11" / "baseline"
    deadline = time.time() + 120
    while time.time() < deadline and not list(base.glob("*/checkpoint.pt")):
        time.sleep(0.2)
    assert list(base.glob("*/checkpoint.pt")), "the baseline never wrote a checkpoint"
    runner.send_signal(signal.SIGTERM)
    out, err = runner.communicate(timeout=60)
    assert runner.returncode == 130 and "run the same command again" in err, err
    assert "stopped 1 running step(s)" in out
    assert _processes_naming(runs) == [], "a step kept running after the runner stopped"
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "== resume:" in again.stdout and "in use" not in again.stderr


@pytest.mark.parametrize("script", ["quickstart.sh", "quickstart_imagenet.sh"])
def test_quickstart_help_prints_what_it_runs_and_runs_nothing(script, tmp_path):
    import shutil

    copy = tmp_path / "repo" / "scripts"
    copy.mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / script, copy / script)     # run from a copy: anything it made would show there
    proc = subprocess.run(["bash", str(copy / script), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "pipeline" in proc.stdout and "set -euo" not in proc.stdout
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == ["scripts"]


def test_a_dry_run_lists_the_steps_and_runs_nothing(tmp_path):
    proc = table_here("l1-norm", "--archs", "resnet56", "--seeds", "1", "--runs", str(tmp_path / "runs"), "--dry-run")
    assert proc.returncode in (0, None), proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["1.", "run", "resnet56"] and "cifar/l1-norm/main.py --arch resnet56" in lines[2]
    assert lines[-1] == "9 steps, 9 to run or resume, 0 made by other code (a dry run: nothing ran)"
    assert not (tmp_path / "runs").exists()
