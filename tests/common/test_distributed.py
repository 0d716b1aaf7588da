"""Data-parallel training (common.distributed): the processes' batch slices together are the
one-process batches; a real 2-process gloo run on the CPU keeps the processes' weights identical,
writes its files once, and reports the accuracy of the model it saved; torchrun end to end;
pruning refuses torchrun with one line."""

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from helpers import FASHION_SKIP, HAVE_FASHION, ROOT, assert_one_line_error, run_cli, write_fashion

from common.checkpoint import load_checkpoint, model_from_checkpoint
from common.data import DeviceLoader
from common.engine import TrainConfig, Trainer, evaluate
from common.errors import UserError
from common.models import build_model

TINY = [8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]


def images(n=70, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 1, 32, 32), dtype=torch.uint8, generator=g),
            torch.randint(0, 10, (n,), generator=g))


def loader(x, y, batch, train, rank=0, world=1):
    return DeviceLoader(x, y, batch, (0.5,), (0.25,), train=train, seed=3, rank=rank, world=world)


def test_process_slices_make_up_the_one_process_batches():
    x, y = images()
    one = loader(x, y, 16, True)
    parts = [loader(x, y, 16, True, r, 4) for r in range(4)]
    one.set_epoch(2)
    for p in parts:
        p.set_epoch(2)
    assert len(one) == 5 and all(len(p) == 4 for p in parts)      # 70 = 4 x 16 + 6: the 6 dropped
    for (xb, yb), *shares in zip(one, *parts):
        assert torch.equal(torch.cat([s[0] for s in shares]), xb)   # same images, crops and flips
        assert torch.equal(torch.cat([s[1] for s in shares]), yb)
        assert all(s[0].shape[0] == 4 for s in shares)


def test_test_split_is_shared_out_once():
    x, y = images(n=70)
    parts = [loader(x, y, 8, False, r, 3) for r in range(3)]
    assert [p.n for p in parts] == [24, 24, 22]
    assert torch.equal(torch.cat([yb for p in parts for _, yb in p]), y)


def test_a_global_batch_that_does_not_split_is_refused():
    x, y = images()
    with pytest.raises(UserError, match="--batch-size 10 cannot be split evenly over 4 processes"):
        loader(x, y, 10, True, 0, 4)


def _running_in(folder) -> bool:
    """Whether a process (from /proc, Linux) has ``folder`` on its command line."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if str(folder) in (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode():
                return True
        except OSError:
            continue
    return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, world, port, run_dir, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        x, y = images(n=96)
        train, test = loader(x, y, 32, True, rank, world), loader(x[:40], y[:40], 16, False, rank, world)
        torch.manual_seed(rank)                    # different inits: DDP starts every process from rank 0's
        model = build_model("vgg11", 10, 1, TINY)
        result = Trainer(model, train, test, TrainConfig(epochs=2, lr=0.05, no_progress=True), run_dir,
                         {"dataset": "fashion-mnist", "method": "test", "arm": "baseline"}).fit()
        torch.save({"params": {n: p.detach().clone() for n, p in model.named_parameters()},
                    "buffers": {n: b.clone() for n, b in model.named_buffers()}, "result": result},
                   os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_train_one_model_and_write_once(tmp_path):
    run_dir, out_dir = tmp_path / "run", tmp_path / "out"
    out_dir.mkdir()
    mp.spawn(_worker, args=(2, free_port(), str(run_dir), str(out_dir)), nprocs=2, join=True)
    r0, r1 = (torch.load(out_dir / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    for n, p in r0["params"].items():
        assert torch.equal(p, r1["params"][n]), n                 # gradients averaged: one model
    for n, b in r0["buffers"].items():                             # BN statistics: rank 0's, evaluated
        assert torch.equal(b, r1["buffers"][n]), n
    # files written once, by rank 0: its weights, and the accuracy of exactly that model
    assert sorted(p.name for p in run_dir.iterdir() if not p.name.startswith("events")) == [
        "best.pt", "checkpoint.pt", "result.json"]
    ckpt = load_checkpoint(run_dir / "checkpoint.pt")
    assert all(torch.equal(ckpt["state_dict"][n], p) for n, p in r0["params"].items())
    saved = json.loads((run_dir / "result.json").read_text())
    assert saved["final_top1"] == r0["result"]["final_top1"] == r1["result"]["final_top1"]
    x, y = images(n=96)
    alone = evaluate(model_from_checkpoint(ckpt), loader(x[:40], y[:40], 16, False))[1]
    assert alone == pytest.approx(saved["final_top1"])


@pytest.mark.slow
def test_torchrun_trains_an_entry_point_and_pruning_refuses_it(tmp_path):
    write_fashion(tmp_path / "data", n_train=64, n_test=32)
    env = {"OMP_NUM_THREADS": "1"}
    proc = run_cli("-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
                   ROOT / "cifar/l1-norm/main.py", "--dataset", "fashion-mnist", "--data-dir", tmp_path / "data",
                   "--arch", "vgg11", "--cfg", json.dumps(TINY), "--epochs", "1", "--batch-size", "16",
                   "--save", tmp_path / "run", "--no-progress", env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("done: best top-1") == 1 and "2 processes" in proc.stdout
    assert json.loads((tmp_path / "run" / "result.json").read_text())["epochs"] == 1
    proc = run_cli("-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
                   ROOT / "cifar/l1-norm/prune.py", "--checkpoint", tmp_path / "run" / "checkpoint.pt",
                   "--data-dir", tmp_path / "data", "--save", tmp_path / "pruned", env=env, timeout=240)
    assert proc.returncode != 0 and not (tmp_path / "pruned").exists()
    assert "prune.py runs in one process; start it with python, not torchrun" in proc.stderr


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_FASHION, reason=FASHION_SKIP)
def test_torchrun_on_an_image_folder_killed_and_resumed(tmp_path):
    """Two gloo processes train the ImageNet recipe on a real-image folder; the run is killed after its
    first checkpoint and resumed under torchrun to the end, rank 0 alone writing."""
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "jpeg"
    made = run_cli("scripts/make_image_folder.py", "--out", folder, "--train-per-class", "24", "--val-per-class", "6")
    assert made.returncode == 0, made.stderr
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
           str(ROOT / "imagenet/l1-norm/main.py"), "--dataset", "fashion-mnist-jpeg", "--data-dir", str(folder),
           "--arch", "resnet34_narrow", "--epochs", "4", "--batch-size", "16", "--workers", "1", "--no-progress",
           "--save", str(run)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
    deadline = time.time() + 240
    while not (run / "checkpoint.pt").exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)                   # the whole job, as a cluster's scheduler would
    first.wait()
    deadline = time.time() + 60       # torchrun's workers (sessions of their own) end on its death: wait for them
    while _running_in(run) and time.time() < deadline:
        time.sleep(0.1)
    done = load_checkpoint(run / "checkpoint.pt")["epoch"] + 1
    assert done < 4 and not (run / "result.json").exists()
    proc = run_cli("-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
                   *cmd[cmd.index(str(ROOT / "imagenet/l1-norm/main.py")):], "--resume", env={"OMP_NUM_THREADS": "1"},
                   timeout=300)
    assert proc.returncode == 0, [line for line in proc.stderr.splitlines() if line.startswith("error")] or proc.stderr
    result = json.loads((run / "result.json").read_text())
    assert result["epochs"] == 4 and proc.stdout.count("done: best top-1") == 1 and "2 processes" in proc.stdout
    assert [h[0] for h in load_checkpoint(run / "checkpoint.pt")["history"]] == [0, 1, 2, 3]
    assert result["best_top1"] > 10.0                     # 10 classes: above chance after 4 short epochs


@pytest.mark.slow
def test_a_killed_torchrun_leaves_no_workers_and_its_run_resumes_only_with_as_many_processes(tmp_path):
    """SIGKILL to torchrun alone (not its process group): its workers stop too, rather than training on as
    orphans; the run then resumes under torchrun with 2 processes, and is refused with 1."""
    import signal
    import subprocess
    import sys
    import time

    write_fashion(tmp_path / "data", n_train=64, n_test=32)
    run = tmp_path / "run"
    entry = [str(ROOT / "cifar/l1-norm/main.py"), "--arch", "vgg11", "--cfg", json.dumps(TINY), "--dataset",
             "fashion-mnist", "--data-dir", str(tmp_path / "data"), "--epochs", "200", "--batch-size", "16",
             "--no-progress", "--save", str(run)]
    torchrun = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                                 "--master_port", str(free_port()), *entry], cwd=ROOT,
                                env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    assert (run / "checkpoint.pt").exists()
    os.kill(torchrun.pid, signal.SIGKILL)
    torchrun.wait()
    deadline = time.time() + 30
    while _workers_of(run) and time.time() < deadline:
        time.sleep(0.2)
    assert _workers_of(run) == [], "workers kept training after torchrun was killed"
    alone = run_cli(*entry[:-2], "--save", run, "--resume")
    assert_one_line_error(alone, "with 1 process(es): it was trained by 2", "torchrun --nproc_per_node 2")
    assert not (run / "result.json").exists()


def _workers_of(run) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(run) in cmdline and int(proc.name) != os.getpid():
            found.append(int(proc.name))
    return found
