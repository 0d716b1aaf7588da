"""The sequences (common.sequences): a Lottery Ticket sequence or an IMP sequence killed in
the middle of a step and started again skips the finished steps, resumes the interrupted one, and
ends with the same weights as a sequence that was never interrupted."""

import pytest
import torch
from helpers import KillAt, write_fashion

from common import sequences
from common.arms import train
from common.checkpoint import load_checkpoint

TINY_JSON = '[8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]'


def kill_one_run(monkeypatch, run_dir_part, epoch=1):
    """Make the engine run whose directory contains ``run_dir_part`` die during ``epoch``."""
    real = sequences.run_training

    def patched(args, model, **kw):
        if run_dir_part in str(args.save):
            kw["hooks"] = [*kw.get("hooks", ()), KillAt(epoch)]
        return real(args, model, **kw)

    monkeypatch.setattr(sequences, "run_training", patched)


def run_main(main, argv, capsys):
    try:
        main(argv=argv)
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def same_weights(a, b):
    sa, sb = load_checkpoint(a)["state_dict"], load_checkpoint(b)["state_dict"]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), (a, k)


@pytest.fixture
def data_dir(tmp_path):
    write_fashion(tmp_path / "data" / "fashion-mnist", n_train=48, n_test=16)
    return tmp_path / "data"


def lottery_argv(data_dir, runs):
    return ["--arch", "vgg11", "--cfg", TINY_JSON, "--dataset", "fashion-mnist", "--data-dir", str(data_dir),
            "--epochs", "2", "--batch-size", "16", "--lr", "0.05", "--rounds", "2", "--rewind-iters", "2",
            "--save", str(runs), "--seed", "3", "--no-progress"]


def test_lottery_sequence_killed_mid_round_resumes_to_the_same_weights(tmp_path, data_dir, capsys, monkeypatch):
    code, out, _ = run_main(sequences.lottery_sequence, lottery_argv(data_dir, tmp_path / "a"), capsys)
    assert code == 0, out
    root_a = tmp_path / "a"
    assert (root_a / "sequence.json").is_file()

    kill_one_run(monkeypatch, "winning-ticket/lr0.05-k2-p0.2-r02")
    code, out, err = run_main(sequences.lottery_sequence, lottery_argv(data_dir, tmp_path / "b"), capsys)
    assert code == 130 and "run the same command again" in err
    root_b = tmp_path / "b"
    assert not (root_b / "sequence.json").exists()
    killed = root_b / "winning-ticket" / "lr0.05-k2-p0.2-r02-seed3"
    assert load_checkpoint(killed / "checkpoint.pt")["epoch"] == 0 and not (killed / "result.json").exists()
    assert not (root_b / "random-init" / "lr0.05-k2-p0.2-r02-seed3").exists()

    monkeypatch.undo()
    kill_one_run(monkeypatch, "winning-ticket/lr0.05-k2-p0.2-r02", epoch=-1)   # same hooks, no kill
    code, out, err = run_main(sequences.lottery_sequence, lottery_argv(data_dir, tmp_path / "b"), capsys)
    assert code == 0, err
    assert out.count("== skip (done)") == 5          # the dense run, both prunings, round 1's two runs
    assert f"== resume: {killed}" in out
    for arm in ("baseline", "winning-ticket/lr0.05-k2-p0.2-r01-seed3",
                "winning-ticket/lr0.05-k2-p0.2-r02-seed3", "random-init/lr0.05-k2-p0.2-r02-seed3"):
        same_weights(root_a / arm / "checkpoint.pt", root_b / arm / "checkpoint.pt")
    for d in ("r01", "r02"):
        ma = load_checkpoint(root_a / "pruned" / f"lr0.05-k2-p0.2-{d}-seed3" / "pruned.pt")["mask"]
        mb = load_checkpoint(root_b / "pruned" / f"lr0.05-k2-p0.2-{d}-seed3" / "pruned.pt")["mask"]
        assert all(torch.equal(ma[k], mb[k]) for k in ma)


def test_imp_sequence_killed_mid_phase_resumes_to_the_same_weights(tmp_path, data_dir, capsys, monkeypatch):
    dense = tmp_path / "dense"
    code, out, _ = run_main(lambda argv: train("imp", arch="vgg11", epochs=2, lr=0.05, argv=argv),
                            ["--cfg", TINY_JSON, "--dataset", "fashion-mnist", "--data-dir", str(data_dir),
                             "--epochs", "2", "--batch-size", "16", "--lr", "0.05", "--seed", "3",
                             "--save", str(dense), "--no-progress"], capsys)
    assert code == 0, out

    def argv(runs):
        return ["--checkpoint", str(dense / "checkpoint.pt"), "--data-dir", str(data_dir), "--sparsity", "0.75",
                "--phases", "2", "--phase-epochs", "2", "--retrain", "CLR", "--batch-size", "16",
                "--save", str(runs), "--no-progress"]

    code, out, _ = run_main(sequences.imp_sequence, argv(tmp_path / "a"), capsys)
    assert code == 0, out
    kill_one_run(monkeypatch, "-p2-seed3")
    code, _, _ = run_main(sequences.imp_sequence, argv(tmp_path / "b"), capsys)
    assert code == 130
    monkeypatch.undo()
    kill_one_run(monkeypatch, "-p2-seed3", epoch=-1)
    code, out, err = run_main(sequences.imp_sequence, argv(tmp_path / "b"), capsys)
    assert code == 0, err
    assert out.count("== skip (done)") == 1 and out.count("== resume:") == 1
    for phase in (1, 2):
        tag = f"S0.75-J2-T2-R2-p{phase}-seed3"
        a = tmp_path / "a" / tag / "checkpoint.pt"
        b = tmp_path / "b" / tag / "checkpoint.pt"
        same_weights(a, b)
        mask = load_checkpoint(b)["mask"]
        kept = sum(int(m.sum()) for m in mask.values()) / sum(m.numel() for m in mask.values())
        assert kept == pytest.approx(0.5 if phase == 1 else 0.25, abs=1e-3)
