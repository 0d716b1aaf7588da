"""Run folders (common.runs): named by their settings, owned by one process, resumed only with the
same settings, consistent after a kill, and left clean by a run that fails before its first checkpoint."""

import json
import os
import time

import pytest
import torch
from helpers import ROOT, KillAt, assert_one_line_error, run_cli, run_entry, synthetic_loaders, write_fashion

from common.checkpoint import load_checkpoint
from common.engine import TrainConfig, Trainer
from common.models import build_model
from common.errors import UserError
from common.runs import RunFolder, argv_settings, run_folder, settings_hash

TINY = '[8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]'
M = "cifar/l1-norm/main.py"


@pytest.fixture
def flags(tmp_path):
    write_fashion(tmp_path / "data", n_train=64, n_test=32)
    return ["--arch", "vgg11", "--cfg", TINY, "--dataset", "fashion-mnist", "--data-dir", tmp_path / "data",
            "--epochs", "1", "--batch-size", "16", "--no-progress"]


def test_resume_with_a_changed_flag_is_refused_naming_the_flag(tmp_path, flags):
    run = tmp_path / "run"
    assert run_entry(M, *flags, "--save", run).returncode == 0
    assert_one_line_error(run_entry(M, *flags, "--save", run, "--lr", "0.05", "--resume"),
                          f"cannot resume {run}", "other settings (--lr differ)")
    assert_one_line_error(run_entry(M, *flags, "--save", run, "--dataset", "cifar10", "--resume"),
                          "(--dataset differ)")
    assert_one_line_error(run_entry(M, *flags, "--save", run), "already holds a run", "--resume")
    resumed = run_entry(M, *flags, "--save", run, "--resume", "--device", "cpu")     # --device: not a setting
    assert resumed.returncode == 0 and f"resumed after epoch 1 of 1 ({run / 'checkpoint.pt'})" in resumed.stdout


def test_default_folders_are_named_by_the_settings(tmp_path, flags, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_entry(M, *flags).returncode == 0
    assert run_entry(M, *flags, "--lr", "0.05").returncode == 0
    folders = sorted((tmp_path / "runs" / "fashion-mnist" / "l1-norm" / "vgg11" / "baseline").iterdir())
    assert len(folders) == 2 and all(f.name.startswith("seed1-") and len(f.name) == len("seed1-") + 8
                                     for f in folders)
    recorded = [json.loads((f / "args.json").read_text()) for f in folders]
    assert sorted(r["lr"] for r in recorded) == [0.05, 0.1]
    assert_one_line_error(run_entry(M, *flags), "already holds a run")


def test_the_hash_covers_results_not_where_or_how_fast():
    a = argv_settings(["--lr", "0.1", "--data-dir", "x", "--no-progress", "--device", "cpu", "--milestones", "0.5",
                       "0.75"])
    assert a == {"lr": "0.1", "milestones": ["0.5", "0.75"]}
    assert settings_hash(a) != settings_hash({**a, "lr": "0.2"})
    assert run_folder("runs", "cifar10", "slimming", "vgg19", "sparsity", "seed1", a).parent == \
        ROOT.joinpath("runs", "cifar10", "slimming", "vgg19", "sparsity").relative_to(ROOT)


def test_a_second_process_into_a_busy_folder_is_refused(tmp_path, flags):
    run = tmp_path / "run"
    with RunFolder(run, {"owner": "this test"}):
        proc = run_cli(M, *flags, "--save", run)
        assert_one_line_error(proc, f"{run} is in use by another process")
        assert not (run / "checkpoint.pt").exists()
    assert run_entry(M, *flags, "--save", run).returncode == 2      # free again: other settings recorded
    assert run_entry(M, *flags, "--save", tmp_path / "other").returncode == 0


class _Rising(Trainer):
    """Each epoch is better than the last (the test accuracy is the epoch number)."""

    def evaluate(self, loader=None):
        return 1.0, float(self.epoch + 1)


def test_a_kill_between_the_two_checkpoint_writes_leaves_a_consistent_pair(tmp_path, monkeypatch):
    import common.engine as engine

    real = engine.save_checkpoint

    def killed_before_best_of_epoch_2(payload, path):
        if path.name == "best.pt" and payload["epoch"] == 1:
            raise KeyboardInterrupt
        real(payload, path)

    def trainer(resume):
        torch.manual_seed(0)
        train, test = synthetic_loaders()
        return _Rising(build_model("vgg11", 10, 1, [8, "M", 16, "M", 16, 16, "M", 16, 16, "M", 16, 16]), train, test,
                       TrainConfig(epochs=2, lr=0.05, no_progress=True), tmp_path, {"dataset": "fashion-mnist",
                       "method": "test", "arm": "baseline"}, resume=resume)

    monkeypatch.setattr(engine, "save_checkpoint", killed_before_best_of_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        trainer(False).fit()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 1          # the newer epoch
    assert load_checkpoint(tmp_path / "best.pt")["epoch"] == 0                # an older best
    monkeypatch.undo()
    result = trainer(True).fit()
    best = load_checkpoint(tmp_path / "best.pt")
    assert result["best_epoch"] == 2 and best["epoch"] == 1
    assert all(torch.equal(v, load_checkpoint(tmp_path / "checkpoint.pt")["state_dict"][k])
               for k, v in best["state_dict"].items())


def test_a_run_that_fails_before_its_first_checkpoint_leaves_nothing(tmp_path, flags):
    run = tmp_path / "run"
    assert_one_line_error(run_entry(M, *flags, "--lr", "1e30", "--save", run), "loss became")
    assert not run.exists()
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    assert_one_line_error(run_entry(M, *flags, "--lr", "1e30", "--save", run), "loss became")
    assert [p.name for p in run.iterdir()] == ["notes.txt"]            # what was there stays, nothing else


def test_a_run_killed_after_a_checkpoint_keeps_its_folder(tmp_path):
    train, test = synthetic_loaders()
    model = build_model("vgg11", 10, 1, [8, "M", 16, "M", 16, 16, "M", 16, 16, "M", 16, 16])
    with pytest.raises(KeyboardInterrupt):
        with RunFolder(tmp_path / "run", {"x": 1}):
            Trainer(model, train, test, TrainConfig(epochs=3, lr=0.05, no_progress=True), tmp_path / "run",
                    {"dataset": "d", "method": "m", "arm": "baseline"}, hooks=[KillAt(1)]).fit()
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and (tmp_path / "run" / "args.json").is_file()


@pytest.mark.parametrize("save,message", [("file", "is a file"), ("file/run", "lies under the file"),
                                          ("", "--save is empty")])
def test_a_save_folder_that_cannot_be_is_one_line(tmp_path, flags, save, message):
    (tmp_path / "file").write_text("x")
    target = str(tmp_path / save) if save else ""
    assert_one_line_error(run_entry(M, *flags, "--save", target), message)
    assert (tmp_path / "file").read_text() == "x"


# ----------------------------------------------------------------------------- a second process, at every point

class SecondClaim(RunFolder):
    """A second process's claim of a folder another one owns; ``meanwhile`` is what the owner does just before the
    second one tries the lock (after it made and listed the folder, in the old order)."""

    def __init__(self, path, args, meanwhile=None, **kw):
        super().__init__(path, args, **kw)
        self.meanwhile = meanwhile

    def _lock(self):
        if self.meanwhile:
            self.meanwhile()
        super()._lock()


@pytest.mark.parametrize("point", ["before claiming", "after listing", "after the owner's first checkpoint"])
def test_a_refused_second_process_deletes_nothing_of_the_owners(tmp_path, point):
    run = tmp_path / "run"
    owner = RunFolder(run, {"lr": 0.1})
    owner.__enter__()

    def checkpoint():
        for name in ("checkpoint.pt", "best.pt"):
            (run / name).write_bytes(b"weights")

    if point == "after the owner's first checkpoint":
        checkpoint()
    second = SecondClaim(run, {"lr": 0.1}, meanwhile=checkpoint if point == "after listing" else None)
    with pytest.raises(UserError, match="in use by another process"):
        second.__enter__()
    kept = sorted(p.name for p in run.iterdir())
    assert kept == [".lock", "args.json"] + (["best.pt", "checkpoint.pt"] if point != "before claiming" else [])
    assert json.loads((run / "args.json").read_text()) == {"lr": 0.1}
    owner.__exit__(None, None, None)
    if point != "before claiming":       # the run's identity survived: a resume with another lr is refused
        with pytest.raises(UserError, match=r"other settings \(--lr differ\)"):
            with RunFolder(run, {"lr": 0.05}, resume=True):
                pass


def test_a_table_copied_to_another_runs_folder_has_the_same_step_folders(tmp_path):
    from common.sweep import plan_of

    def folders(runs):
        plan = plan_of("l1-norm", ["--archs", "resnet56", "--seeds", "1", "--runs", str(runs)])
        return [s.folder.relative_to(runs) for s in plan.steps.values()]

    here, there = folders(tmp_path / "a"), folders(tmp_path / "elsewhere" / "b")
    assert here == there and len(here) == 9           # baseline, then A and B: prune, fine-tune, E, B


def _start_then_sleep(started):
    started.set()
    time.sleep(30)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork: POSIX")
def test_a_forked_worker_does_not_keep_the_run_folder_locked(tmp_path):
    """A DataLoader worker (a fork of the owner) inherits the lock's descriptor; the folder must be free once the
    owner lets go, even while such a worker lives on."""
    import multiprocessing

    run = tmp_path / "run"
    owner = RunFolder(run, {"lr": 0.1})
    owner.__enter__()
    context = multiprocessing.get_context("fork")
    started = context.Event()
    worker = context.Process(target=_start_then_sleep, args=(started,))
    worker.start()
    try:
        assert started.wait(30)                        # the worker runs: the fork's handlers have run in it
        owner.__exit__(None, None, None)
        with RunFolder(run, {"lr": 0.1}):
            pass
    finally:
        worker.kill()
        worker.join()
