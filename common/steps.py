"""Steps and the one loop that runs them: the table runner's (``common.sweep``) and a sequence's
(``common.sequences``: the Lottery Ticket rounds, the IMP phases).

A :class:`Step` is one run in its run folder: a command of a method's recipes (``argv``, run as a
process) or a call (``call``, run in this process, e.g. one round of a sequence). :func:`run_steps` runs
each once the steps it needs are done: a step whose folder holds its result is skipped, one with a
checkpoint is resumed, one whose flags changed has another folder, so it runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from common.code import changed
from common.runs import step_state


@dataclass(eq=False)
class Step:
    """One run of a table or a sequence, in its folder."""

    name: str                       # what the log says, e.g. "vgg19 seed1 prune p0.7"
    argv: Optional[list]            # script and flags, without --save / --resume (None: a call, or a file)
    folder: Path
    arch: str = ""
    seed: int = 0
    needs: list = field(default_factory=list)
    done_file: str = "result.json"
    partial_file: Optional[str] = "checkpoint.pt"   # present: resume; None: the step continues by itself
    output: str = "checkpoint.pt"                    # the file later steps read
    call: Optional[Callable] = None                  # (resume: bool) -> None: run in this process

    def state(self) -> str:
        if self.argv is None and self.call is None:     # a file made elsewhere (a downloaded baseline)
            return "done" if (self.folder / self.done_file).is_file() else "missing"
        return step_state(self.folder, self.done_file, self.partial_file)

    def command(self) -> list[str]:
        resume = ["--resume"] if self.state() == "resume" else []
        return [sys.executable, *map(str, self.argv), "--save", str(self.folder), *resume]

    def results(self) -> list[Path]:
        return [] if self.argv is None and self.call is None else sorted(self.folder.rglob("result.json"))


def made_by_other_code(step: Step) -> list[str]:
    """The project files whose code changed since ``step`` (done) made its results (``common.code``); [] when
    every result of it was made by the code as it is now."""
    files = []
    for path in [*step.results(), *([step.folder / step.done_file] if step.done_file != "result.json" else [])]:
        try:
            recorded = json.loads(path.read_text()).get("code")
        except (OSError, ValueError):
            recorded = None
        files += [f for f in changed(recorded) if f not in files]
    return files


def stale_steps(steps: list[Step]) -> dict:
    """The done steps whose results other code made, and the done steps that read them: ``{step: files}``."""
    stale: dict = {}
    for step in steps:                        # in order: a step follows the steps it needs
        if step.state() != "done" or (step.argv is None and step.call is None):
            continue
        files = made_by_other_code(step) or [f for n in step.needs if n in stale for f in stale[n]]
        if files:
            stale[step] = sorted(set(files))
    return stale


def set_aside(step: Step) -> Path:
    """Move a stale step's folder to ``<folder>.stale-<time>`` (kept, never deleted), so the step runs again."""
    target = step.folder.with_name(f"{step.folder.name}.stale-{time.strftime('%Y%m%d-%H%M%S')}")
    step.folder.rename(target)
    return target


def _gpus() -> int:
    try:
        import torch
        return torch.cuda.device_count()
    except Exception:      # no usable CUDA: every job on the CPU
        return 0


def run_steps(steps: list[Step], jobs: int = 1, log_dir: Path | None = None, cwd=None) -> list[Step]:
    """Run ``steps`` (in an order where every step follows the steps it needs), up to ``jobs`` commands at a
    time (calls run one at a time, here); returns the steps that failed (or could not run because a step they
    need failed). A failing call raises: its error is the caller's."""
    pending, running, done, failed = list(steps), {}, set(), []
    gpus = _gpus() if jobs > 1 else 0
    free_slots = list(range(jobs))
    restore = stop_on_signals()
    try:
        while pending or running:
            for step in list(pending):
                if len(running) >= jobs:
                    break
                if any(n in failed for n in step.needs):
                    pending.remove(step)
                    failed.append(step)
                    print(f"== not run (a step it needs failed): {step.name}", flush=True)
                    continue
                if any(n not in done for n in step.needs):
                    continue
                pending.remove(step)
                state = step.state()
                if state == "done":
                    print(f"== skip (done): {step.folder}", flush=True)
                    done.add(step)
                    continue
                if state == "missing":
                    print(f"== FAILED: {step.folder / step.done_file} does not exist", flush=True)
                    failed.append(step)
                    continue
                if step.call is not None:
                    if state == "resume":
                        print(f"== resume: {step.folder}", flush=True)
                    step.call(state == "resume")
                    done.add(step)
                    continue
                slot = free_slots.pop(0)
                running[_launch(step, state, slot, gpus, jobs, log_dir, cwd)] = (step, slot)
            if not running:
                if pending:      # cannot happen when steps follow the steps they need
                    raise RuntimeError(f"steps wait on steps that never run: {[s.name for s in pending]}")
                continue
            proc = _wait(running)
            step, slot = running.pop(proc)
            free_slots.append(slot)
            if proc.returncode == 0:
                done.add(step)
            else:
                failed.append(step)
                where = f"; its output: {proc.log}" if getattr(proc, "log", None) else ""
                print(f"== FAILED (exit {proc.returncode}): {step.name}{where}", flush=True)
    except KeyboardInterrupt:          # Ctrl-C or SIGTERM: the running steps stop too (their last checkpoint kept)
        for proc in running:
            proc.terminate()
        for proc in running:
            proc.wait()
        if running:
            print(f"== stopped {len(running)} running step(s); the same command resumes them", flush=True)
        raise
    finally:
        restore()
    return failed


def stop_on_signals():
    """Until the returned function is called, SIGTERM stops this process as Ctrl-C does (KeyboardInterrupt), so the
    steps it started are stopped and waited for rather than left running as orphans."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, stop)
    return lambda: signal.signal(signal.SIGTERM, old)


def _launch(step: Step, state: str, slot: int, gpus: int, jobs: int, log_dir, cwd):
    env = dict(os.environ)
    if gpus > 1:
        env["CUDA_VISIBLE_DEVICES"] = str(slot % gpus)
    verb = "resume" if state == "resume" else "run"
    print(f"== {verb}: {step.folder}" + (f"  [job {slot + 1}/{jobs}]" if jobs > 1 else ""), flush=True)
    if jobs == 1:
        proc = subprocess.Popen(step.command(), env=env, cwd=cwd)
        proc.log = None
        return proc
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{step.folder.parent.name}-{step.folder.name}-{step.arch}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(step.command(), env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    proc.log = log
    return proc


def _wait(running: dict):
    while True:
        for proc in running:
            if proc.poll() is not None:
                return proc
        time.sleep(0.2)
