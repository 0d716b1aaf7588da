"""A table's steps as cluster jobs, through submitit (``facebookincubator/submitit``; an optional dependency).

``python -m common.sweep METHOD ... --executor slurm`` submits the steps instead of running them here: each wave of
steps whose inputs are done is one job array (``--slurm-array-parallelism`` of them at a time), and the next wave is
submitted when it has finished. A job runs the step's command in its run folder. When Slurm preempts it or its time
runs out, submitit calls the job's :meth:`StepJob.checkpoint`: the step is stopped (SIGTERM: its last checkpoint
intact) and the job requeued, and the requeued job continues the step with ``--resume`` -- exactly where it stopped.
A training step of several GPUs (``--gpus-per-job N``) is one job of N tasks on one node, each task one process of
the run with torchrun's environment (``submitit.helpers.TorchDistributedEnvironment``); prunings and sequences run
as one task. ``--executor submitit-local`` runs the same jobs as local processes (tests, a workstation), and
``submitit-debug`` in this process.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from common.distributed import die_with_parent
from common.errors import UserError
from common.steps import Step, stop_on_signals

EXECUTORS = ("local", "slurm", "submitit-local", "submitit-debug")


class StepJob:
    """What a job runs: one step's command, in its folder, resumed if the folder holds a checkpoint (a requeued
    job finds the one its stopped predecessor left)."""

    def __init__(self, step: Step, cwd: str):
        self.step, self.cwd = step, cwd
        self._proc = None

    def __call__(self) -> int:
        import submitit

        if self.step.state() == "done":      # requeued just as it finished
            return 0
        if int(os.environ.get("SLURM_NTASKS", os.environ.get("SUBMITIT_LOCAL_NTASKS", "1"))) > 1:
            submitit.helpers.TorchDistributedEnvironment().export()   # one DDP process per task, as torchrun
        # the step dies with its job (SIGTERM, its checkpoint intact), even when the job is killed outright
        self._proc = subprocess.Popen(self.step.command(), cwd=self.cwd, preexec_fn=die_with_parent)
        try:
            while (code := self._proc.poll()) is None:      # not wait(): its lock would block checkpoint()
                time.sleep(0.5)
        finally:                                             # the job cancelled: the step stops too
            if self._proc.poll() is None:
                _stop(self._proc.pid)
            self._proc = None
        if code != 0:
            raise RuntimeError(f"{self.step.folder}: the step exited with code {code}")
        return code

    def checkpoint(self, *args, **kwargs):
        """Preempted or out of time: stop the step (SIGTERM; its last checkpoint stays) and requeue the job, which
        continues it with --resume."""
        import submitit

        if self._proc is not None:      # called in __call__'s process, by submitit's signal handler
            _stop(self._proc.pid)
        return submitit.helpers.DelayedSubmission(StepJob(self.step, self.cwd))


def _stop(pid: int, grace_s: float = 120.0):
    """SIGTERM the step's process and reap it (waitpid itself: Popen's lock may be held by the interrupted poll)."""
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + grace_s
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.time() > deadline:
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
    except (ProcessLookupError, ChildProcessError):      # gone already
        pass


def check_executor(s) -> dict:
    """Refuse, before any step, an executor this machine cannot use; returns ``--slurm-extra`` as sbatch parameters."""
    if s.executor == "local":
        return {}
    if importlib.util.find_spec("submitit") is None:
        raise UserError(f"--executor {s.executor} needs submitit: pip install submitit")
    if s.executor == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
        raise UserError("--executor slurm: no Slurm here (sbatch/srun not on PATH); run the table on the cluster's "
                        "login node (--executor submitit-local runs the same jobs on this machine)")
    extra = {}
    for item in s.slurm_extra:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UserError(f"--slurm-extra {item!r}: give KEY=VALUE (an sbatch option without its dashes, "
                            "e.g. account=myproject)")
        extra[key.replace("-", "_")] = value
    return extra


def executor_of(s, log_dir: Path, name: str = "steps"):
    """The submitit executor ``--executor`` names, with the table's job parameters (logs in ``log_dir``)."""
    import submitit

    extra = check_executor(s)
    log_dir.mkdir(parents=True, exist_ok=True)
    if s.executor == "submitit-debug":
        return submitit.DebugExecutor(folder=str(log_dir))
    if s.executor == "submitit-local":
        executor = submitit.LocalExecutor(folder=str(log_dir))
        executor.update_parameters(timeout_min=s.timeout_min)
        return executor
    executor = submitit.AutoExecutor(folder=str(log_dir), cluster="slurm")
    executor.update_parameters(name=name, timeout_min=s.timeout_min, cpus_per_task=s.cpus_per_job, nodes=1,
                               slurm_array_parallelism=s.slurm_array_parallelism,
                               **({"slurm_partition": s.slurm_partition} if s.slurm_partition else {}),
                               **({"slurm_additional_parameters": extra} if extra else {}))
    return executor


def slurm_tasks(tasks: int, s) -> dict:
    """A job's processes and GPUs on its node: a training step one process per GPU (``--gpus-per-job``), a pruning
    or a sequence one process on one GPU (none with ``--gpus-per-job 0``)."""
    return {"tasks_per_node": tasks, "gpus_per_node": tasks if s.gpus_per_job else None}


def _tasks(step: Step, gpus: int) -> int:
    """A training step takes the job's GPUs, one process each; a pruning or a sequence runs in one process."""
    return max(1, gpus) if step.partial_file == "checkpoint.pt" and step.output == "checkpoint.pt" else 1


@contextlib.contextmanager
def _controllers_log(s, log_dir: Path):
    """submitit-local starts a controller process per job, which inherits our stderr (and prints a traceback there
    when its job is cancelled): give it ``controllers.log`` instead."""
    if s.executor != "submitit-local":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with open(log_dir / "controllers.log", "ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def submit_steps(steps: list[Step], s, log_dir: Path, name: str = "steps", cwd=None, poll: float = 2.0) -> list[Step]:
    """Run ``steps`` as jobs of the executor ``s.executor``, wave by wave; returns the steps that failed (or could
    not run because a step they need failed). Stopped (Ctrl-C, SIGTERM), it cancels the jobs it is waiting for:
    their last checkpoints stay, and the same command resubmits and resumes them."""
    executor = executor_of(s, log_dir, name)
    restore = stop_on_signals()
    try:
        return _submit_waves(steps, s, executor, log_dir, str(cwd or Path.cwd()), poll)
    finally:
        restore()


def _submit_waves(steps, s, executor, log_dir, cwd, poll):
    pending, done, failed = list(steps), set(), []
    while pending:
        wave = []
        for step in list(pending):
            if any(n in failed for n in step.needs):
                pending.remove(step)
                failed.append(step)
                print(f"== not run (a step it needs failed): {step.name}", flush=True)
            elif all(n in done for n in step.needs):
                pending.remove(step)
                state = step.state()
                if state == "done":
                    print(f"== skip (done): {step.folder}", flush=True)
                    done.add(step)
                elif state == "missing":
                    print(f"== FAILED: {step.folder / step.done_file} does not exist", flush=True)
                    failed.append(step)
                else:
                    wave.append(step)
        if not wave:
            if pending:
                raise RuntimeError(f"steps wait on steps that never run: {[p.name for p in pending]}")
            break
        jobs = []
        by_tasks: dict = {}
        for step in wave:
            by_tasks.setdefault(_tasks(step, s.gpus_per_job), []).append(step)
        for tasks, group in by_tasks.items():
            if s.executor == "slurm":
                executor.update_parameters(**slurm_tasks(tasks, s))
            with _controllers_log(s, log_dir), executor.batch():    # a job array per wave (and per task count)
                submitted = [executor.submit(StepJob(st, cwd)) for st in group]
            jobs += list(zip(group, submitted))
        for step, job in jobs:
            print(f"== submitted: {step.folder}  [job {job.job_id}]", flush=True)
        try:
            while not all(job.done() for _, job in jobs):
                time.sleep(poll)
        except KeyboardInterrupt:
            running = [job for _, job in jobs if not job.done()]
            for job in running:
                job.cancel(check=False)
            print(f"== cancelled {len(running)} submitted job(s); the same command resumes them", flush=True)
            raise
        for step, job in jobs:
            try:
                job.result()
                done.add(step)
            except Exception as e:      # the job's error is in its logs
                failed.append(step)
                print(f"== FAILED: {step.name} (job {job.job_id}: {str(e).strip().splitlines()[-1][:200]}); "
                      f"its logs: {log_dir}", flush=True)
    return failed
