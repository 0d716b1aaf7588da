"""Tables on a cluster (common.cluster, ``--executor``): the steps as submitit jobs, through submitit's local and
debug executors here (no Slurm needed); a job preempted mid-step is requeued and resumes to the same weights."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import FASHION_SKIP, HAVE_FASHION, ROOT, assert_one_line_error, run_sweep

TINY = '[8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]'
NUMBERS = ["best_top1", "final_top1", "best_epoch", "params", "flops", "cfg", "epochs", "sparsity", "top1_before"]


def slurm_settings(**changes):
    s = dict(executor="slurm", slurm_partition="gpu", gpus_per_job=4, cpus_per_job=8, timeout_min=60,
             slurm_array_parallelism=16, slurm_extra=["account=proj", "constraint=a100"])
    return SimpleNamespace(**{**s, **changes})


def fake_slurm(tmp_path, monkeypatch):
    """``sbatch`` and ``srun`` on PATH (they are only looked for, never run, here)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_an_executor_without_submitit_is_one_line_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)          # as if not installed
    proc = run_sweep("weight-level", "--tree", "cifar", "--executor", "submitit-local", "--runs", tmp_path / "runs")
    assert_one_line_error(proc, "--executor submitit-local needs submitit: pip install submitit")
    assert not (tmp_path / "runs").exists()


def test_slurm_where_there_is_none_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path))
    proc = run_sweep("l1-norm", "--tree", "cifar", "--executor", "slurm", "--runs", tmp_path / "runs")
    assert_one_line_error(proc, "--executor slurm: no Slurm here (sbatch/srun not on PATH)")
    assert not (tmp_path / "runs").exists()


def test_a_slurm_extra_without_a_value_is_one_line(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    fake_slurm(tmp_path, monkeypatch)
    proc = run_sweep("l1-norm", "--tree", "cifar", "--executor", "slurm", "--slurm-extra", "account",
                     "--runs", tmp_path / "runs")
    assert_one_line_error(proc, "--slurm-extra 'account': give KEY=VALUE")
    assert not (tmp_path / "runs").exists()


def test_the_sbatch_script_of_a_training_step_and_of_a_pruning(tmp_path, monkeypatch):
    """What Slurm is asked for: a training step one task per GPU on one node, a pruning one task on one GPU; both
    signalled (USR2) before their time runs out, so they are requeued and resume."""
    pytest.importorskip("submitit")
    from common.cluster import executor_of, slurm_tasks

    fake_slurm(tmp_path, monkeypatch)
    s = slurm_settings()
    executor = executor_of(s, tmp_path / "logs", name="l1-norm")
    scripts = {}
    for kind, tasks in (("train", 4), ("prune", 1)):
        executor.update_parameters(**slurm_tasks(tasks, s))
        scripts[kind] = executor._executor._make_submission_file_text("python -m x", "uid")   # the sbatch file
    train = scripts["train"].splitlines()
    for line in ("#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=4", "#SBATCH --ntasks-per-node=4",
                 "#SBATCH --nodes=1", "#SBATCH --cpus-per-task=8", "#SBATCH --time=60", "#SBATCH --account=proj",
                 "#SBATCH --constraint=a100", "#SBATCH --job-name=l1-norm", "#SBATCH --signal=USR2@90"):
        assert line in train, (line, train)
    assert "#SBATCH --gpus-per-node=1" in scripts["prune"] and "#SBATCH --ntasks-per-node=1" in scripts["prune"]
    no_gpu = slurm_tasks(1, slurm_settings(gpus_per_job=0))
    assert no_gpu == {"tasks_per_node": 1, "gpus_per_node": None}


def _numbers(root: Path) -> dict:
    out = {}
    for path in root.rglob("result.json"):
        result = json.loads(path.read_text())
        out[path.parent.parent.name + "/" + path.parent.name] = {k: result.get(k) for k in NUMBERS}
    return out


def _table(runs: Path, executor: str, epochs: int = 5):
    return [sys.executable, "-m", "common.sweep", "weight-level", "--tree", "cifar", "--dataset", "fashion-mnist",
            "--archs", "vgg11", "--cfg", TINY, "--seeds", "1", "--epochs", str(epochs), "--ft-epochs", "0",
            "--subset", "512", "--test-subset", "64", "--percents", "0.5", "--runs", str(runs),
            "--executor", executor, "--", "--no-progress"]


def _job_tasks(log_dir: Path) -> list[int]:
    """The processes running a submitit job of ``log_dir`` (the tasks, not their controller), from /proc."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "submitit.core._submit" in cmdline and str(log_dir) in cmdline:
            found.append(int(proc.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_FASHION, reason=FASHION_SKIP)
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the job's process in /proc")
def test_a_table_through_submitit_with_a_preempted_step_equals_the_local_runner(tmp_path):
    """The baseline's job is preempted after its first epoch (USR2, what Slurm sends before preempting or at the
    time limit): submitit calls the job's checkpoint(), the step stops with its checkpoint intact, the job is
    requeued and resumes. Every number, and the baseline's weights, equal the local runner's."""
    pytest.importorskip("submitit")
    import torch

    local = subprocess.run(_table(tmp_path / "local", "local"), cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert local.returncode == 0, local.stderr[-2000:]

    runs = tmp_path / "cluster"
    table = subprocess.Popen(_table(runs, "submitit-local"), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    root = runs / "fashion-mnist" / "weight-level"
    deadline = time.time() + 300
    while time.time() < deadline and not list((root / "vgg11" / "baseline").glob("*/checkpoint.pt")):
        time.sleep(0.05)
    tasks = _job_tasks(root / "logs" / "submitit")
    assert len(tasks) == 1, "the baseline's job is not running"
    os.kill(tasks[0], signal.SIGUSR2)
    out, err = table.communicate(timeout=600)
    assert table.returncode == 0, err[-2000:]
    assert out.count("== submitted:") == 4 and (root / "table.md").is_file()

    logs = "".join(p.read_text() for p in (root / "logs" / "submitit").glob("*_log.*"))
    assert "this job is preempted" in logs and "Requeued job" in logs
    assert "resumed after epoch" in logs
    assert _numbers(root) == _numbers(tmp_path / "local" / "fashion-mnist" / "weight-level")
    assert len(_numbers(root)) == 4

    def baseline_weights(base):
        path = next((base / "fashion-mnist" / "weight-level" / "vgg11" / "baseline").glob("*/checkpoint.pt"))
        return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]

    mine, theirs = baseline_weights(runs), baseline_weights(tmp_path / "local")
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_FASHION, reason=FASHION_SKIP)
def test_a_table_through_submitits_debug_executor_completes(tmp_path):
    pytest.importorskip("submitit")
    proc = subprocess.run(_table(tmp_path / "runs", "submitit-debug", epochs=1), cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    numbers = _numbers(tmp_path / "runs" / "fashion-mnist" / "weight-level")
    assert len(numbers) == 4 and all(n["params"] > 0 for n in numbers.values())


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_FASHION, reason=FASHION_SKIP)
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="looks for left processes in /proc")
def test_a_stopped_table_cancels_its_jobs_and_the_same_command_resumes(tmp_path):
    """SIGTERM to the table runner: the jobs it waits for are cancelled, no step keeps training in its folder, and the
    same command resubmits the step, which resumes from its checkpoint."""
    pytest.importorskip("submitit")
    from test_sweep import _processes_naming

    runs = tmp_path / "runs"
    table = subprocess.Popen(_table(runs, "submitit-local", epochs=12), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not list(runs.rglob("checkpoint.pt")):
        time.sleep(0.1)
    table.send_signal(signal.SIGTERM)
    out, err = table.communicate(timeout=120)
    assert table.returncode == 130 and "cancelled 1 submitted job(s)" in out, (out, err)
    assert "Traceback" not in err and "run the same command again" in err
    deadline = time.time() + 30
    while _processes_naming(runs) and time.time() < deadline:
        time.sleep(0.2)
    assert _processes_naming(runs) == [], "a step kept running after its job was cancelled"
    again = subprocess.run(_table(runs, "submitit-local", epochs=12), cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    logs = "".join(p.read_text() for p in runs.rglob("*_log.out"))
    assert "resumed after epoch" in logs


def _fake_cluster(tmp_path) -> dict:
    """The environment of a one-node Slurm job with 2 "GPUs" (gloo processes here): ``srun`` runs its command,
    ``scontrol`` names this host and records a requeue."""
    bin_dir = tmp_path / "slurm-bin"
    bin_dir.mkdir()
    tools = {"srun": '#!/bin/bash\nwhile [[ "$1" == --* ]]; do shift; done\nexec "$@"\n',
             "scontrol": f'#!/bin/bash\nif [[ "$1" == show ]]; then echo localhost; else echo "$@" >> '
                         f'"{tmp_path}/scontrol.log"; fi\n',
             "python": f'#!/bin/bash\nexec "{sys.executable}" "$@"\n'}
    for name, text in tools.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "7",
            "SLURM_NNODES": "1", "SLURM_GPUS_ON_NODE": "2", "SLURM_JOB_NODELIST": "localhost",
            "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1"}


def test_the_multinode_slurm_script_needs_the_run_folder(tmp_path):
    proc = subprocess.run(["bash", "scripts/slurm/train_multinode.sbatch", "cifar/l1-norm/main.py"], cwd=ROOT,
                          env=_fake_cluster(tmp_path), capture_output=True, text=True, timeout=60)
    assert_one_line_error(proc, "give the run folder, --save DIR")


@pytest.mark.slow
def test_the_multinode_slurm_script_requeues_near_its_limit_and_the_next_job_resumes(tmp_path):
    """scripts/slurm/train_multinode.sbatch under a stand-in Slurm: torchrun with 2 processes trains; USR1 (sent
    by Slurm five minutes before the limit) requeues the job; Slurm then stops it; the requeued job (the same
    script) continues the run with --resume to the end."""
    from helpers import write_fashion

    write_fashion(tmp_path / "data", n_train=256, n_test=32)
    env = _fake_cluster(tmp_path)
    run = tmp_path / "run"
    cmd = ["bash", "scripts/slurm/train_multinode.sbatch", "cifar/l1-norm/main.py", "--dataset", "fashion-mnist",
           "--data-dir", str(tmp_path / "data"), "--arch", "vgg11", "--cfg", TINY, "--epochs", "30",
           "--batch-size", "16", "--no-progress", "--save", str(run)]
    job = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    deadline = time.time() + 240
    while not (run / "checkpoint.pt").exists() and job.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert (run / "checkpoint.pt").exists(), job.communicate()[1][-2000:]
    os.kill(job.pid, signal.SIGUSR1)                       # the batch shell's signal, five minutes before the limit
    deadline = time.time() + 30
    while not (tmp_path / "scontrol.log").exists() and time.time() < deadline:
        time.sleep(0.1)
    assert (tmp_path / "scontrol.log").read_text().split() == ["requeue", "7"]
    os.killpg(job.pid, signal.SIGTERM)                     # what Slurm does to a requeued job's processes
    job.communicate(timeout=120)
    assert not (run / "result.json").exists()
    env["MASTER_PORT"] = str(int(env["MASTER_PORT"]) + 1)
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resumed after epoch" in again.stdout and again.stdout.count("done: best top-1") == 1
    assert json.loads((run / "result.json").read_text())["epochs"] == 30
