"""The table runner: a method's paper table as steps, run to completion.

    python -m common.sweep METHOD [--tree cifar] [--dataset cifar10] [--archs "vgg16_mlp resnet56"]
                                  [--seeds 5] [--epochs N] [--ft-epochs N] [--subset N] [--test-subset N]
                                  [--cfg JSON] [--runs runs] [--data-dir data] [--jobs N]
                                  [the method's table flags] [-- extra training flags]

The method's declaration (``Table.build`` in ``common/methods/<method>.py``) expands the table --
models x variants x seeds x arms -- into steps: training runs, prunings, fine-tuning, Scratch-E/B,
sequences. Every step is one command of the tree's recipes (``cifar/<method>/*.py``) with its run
folder (``common.runs.run_folder``: named by the step's flags). Then each step runs once the steps
it reads from are done: a step whose folder holds its result is skipped, one with a checkpoint is
resumed, and one whose flags changed has another folder, so it runs. ``--jobs N`` runs up to N
steps at once (with several GPUs, each job on its own GPU; their output goes to
``<runs>/<dataset>/<method>/logs/``). At the end the table is printed and written, with its plot,
to ``<runs>/<dataset>/<method>/table.md`` and ``plot.png``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common.cli import ArgumentParser, main_guard, parse_cfg, positive_int
from common.data import DATASETS
from common.errors import UserError
from common.methods import METHODS, get_method
from common.runs import argv_settings, run_folder, step_state


@dataclass(eq=False)
class Step:
    """One command of the table, in its run folder."""

    name: str                       # what the log says, e.g. "vgg19 seed1 prune p0.7"
    argv: list                      # script and flags, without --save / --resume
    folder: Path
    arch: str
    seed: int
    needs: list = field(default_factory=list)
    done_file: str = "result.json"
    partial_file: str | None = "checkpoint.pt"   # present: resume; None: the step continues by itself
    output: str = "checkpoint.pt"                # the file later steps read

    def state(self) -> str:
        if self.argv is None:           # a file made elsewhere (a downloaded baseline)
            return "done" if (self.folder / self.done_file).is_file() else "missing"
        return step_state(self.folder, self.done_file, self.partial_file)

    def command(self) -> list[str]:
        resume = ["--resume"] if self.state() == "resume" else []
        return [sys.executable, *map(str, self.argv), "--save", str(self.folder), *resume]

    def results(self) -> list[Path]:
        return [] if self.argv is None else sorted(self.folder.rglob("result.json"))


class Plan:
    """What a method's ``Table.build(t)`` sees: the table's settings and the step builders."""

    def __init__(self, method, tree: str, args, extra: list[str]):
        self.method, self.tree = method, tree
        args.dataset = args.dataset or DEFAULT_DATASET[tree]                  # the tree's defaults
        args.epochs = args.epochs or method.table.default("epochs", tree)
        args.ft_epochs = method.table.default("ft_epochs", tree) if args.ft_epochs is None else args.ft_epochs
        args.seeds = args.seeds or method.table.default("seeds", tree)
        self.dataset, self.runs = args.dataset, Path(args.runs)
        self.archs = args.archs.split() if args.archs else list(method.table.archs.get(tree, []))
        self.seeds = list(range(1, args.seeds + 1))
        self.epochs, self.ft_epochs, self.opts = args.epochs, args.ft_epochs, args
        self.cfg = ["--cfg", args.cfg] if args.cfg else []
        subset = [*(["--subset", args.subset] if args.subset else []),
                  *(["--test-subset", args.test_subset] if args.test_subset else [])]
        self.data = ["--dataset", self.dataset, "--data-dir", args.data_dir, *subset]
        self.extra = list(extra)
        device = [t for i, t in enumerate(extra) if t == "--device" or (i and extra[i - 1] == "--device")]
        self.prune_data = ["--data-dir", args.data_dir,
                           *(["--test-subset", args.test_subset] if args.test_subset else []), *device]
        self.baseline = Path(args.baseline) if args.baseline else None
        self.steps: dict[Path, Step] = {}

    def _step(self, name, method, arch, seed, arm, tag, argv, needs=(), **kw) -> Step:
        argv = [str(a) for a in argv]
        settings = {"step": argv[0], **argv_settings(argv[1:])}
        folder = run_folder(self.runs, self.dataset, method, arch, arm, tag, settings)
        if folder not in self.steps:           # a step two tables share (e.g. the L1-norm baseline) runs once
            self.steps[folder] = Step(name, argv, folder, arch, seed, list(needs), **kw)
        return self.steps[folder]

    def script(self, method: str, entry: str) -> str:
        return f"{self.tree}/{method}/{entry}"

    def train(self, arch, seed, *, method=None, training="main", arm="baseline", variant=None, flags=(),
              epochs=None, cfg=True) -> Step:
        """A training run (``main.py`` or another training entry) of ``arch`` with ``seed``; with
        ``--baseline CKPT``, the baseline is that checkpoint instead."""
        if self.baseline is not None and arm == "baseline" and training == "main" and variant is None:
            return self.steps.setdefault(self.baseline, Step(f"{arch} baseline {self.baseline}", None,
                                                             self.baseline.parent, arch, seed,
                                                             done_file=self.baseline.name, output=self.baseline.name))
        m = get_method(method or self.method.name)
        argv = [self.script(m.name, m.trainings[training].entry), "--arch", arch, *(self.cfg if cfg else []),
                "--seed", seed, "--epochs", epochs or self.epochs, *flags, *self.data, *self.extra]
        tag = f"{variant}-seed{seed}" if variant else f"seed{seed}"
        return self._step(f"{arch} seed{seed} {arm} {variant or ''}".strip(), m.name, arch, seed, arm, tag, argv)

    def prune(self, source: Step, variant: str, flags=(), method=None) -> Step:
        """``prune.py`` of the model trained by ``source``."""
        m = method or self.method.name
        argv = [self.script(m, "prune.py"), "--checkpoint", source.folder / source.output, *flags, *self.prune_data]
        return self._step(f"{source.arch} seed{source.seed} prune {variant}", m, source.arch, source.seed, "pruned",
                          f"{variant}-seed{source.seed}", argv, [source], output="pruned.pt")

    def published(self, name: str, arch: str, seed: int, method=None) -> Step:
        """``prune.py --published NAME``: the method's published architecture, fresh weights (Scratch-E/B only)."""
        m = method or self.method.name
        argv = [self.script(m, "prune.py"), "--published", name, "--dataset", self.dataset, "--seed", seed]
        return self._step(f"{arch} seed{seed} published {name}", m, arch, seed, "pruned", f"{name}-seed{seed}", argv,
                          output="pruned.pt")

    def published_rows(self, published: dict, names, seed: int, flags=()):
        """Scratch-E and Scratch-B of each of the method's published architectures ``names`` (a pruning's
        ``published``, ``{name: (arch, cfg)}``), on ImageNet, unless the table says ``--no-published``."""
        if self.tree == "imagenet" and getattr(self.opts, "published", True):
            for name in names:
                self.retrain(self.published(name, published[name][0], seed), flags=flags, finetune=False)

    def retrain(self, pruned: Step, method=None, flags=(), finetune=True) -> list[Step]:
        """Fine-tuning (when the table has fine-tuning epochs and ``finetune``), Scratch-E and Scratch-B of
        ``pruned``; ``flags`` go to the from-scratch runs (e.g. a model's own lr)."""
        m = method or self.method.name
        tag = pruned.folder.name.rsplit("-", 1)[0]
        ckpt = ["--checkpoint", pruned.folder / pruned.output]
        steps = []
        if self.ft_epochs > 0 and finetune:
            steps.append(self._step(f"{pruned.arch} seed{pruned.seed} finetune {tag}", m, pruned.arch, pruned.seed,
                                    "finetune", tag, [self.script(m, "main_finetune.py"), *ckpt, "--epochs",
                                                      self.ft_epochs, *self.data, *self.extra], [pruned]))
        for budget in ("E", "B"):
            steps.append(self._step(f"{pruned.arch} seed{pruned.seed} scratch-{budget} {tag}", m, pruned.arch,
                                    pruned.seed, f"scratch-{budget}", tag,
                                    [self.script(m, "main_scratch.py"), *ckpt, "--budget", budget, "--epochs",
                                     self.epochs, *flags, *self.data, *self.extra], [pruned]))
        return steps

    def sequence(self, arch, seed, kind, variant, flags, *, source: Step | None = None, entry="main.py",
                 cfg=True) -> Step:
        """A sequence command (Lottery Ticket rounds, IMP phases): trains ``arch`` from scratch, or
        continues from ``source``'s model; it skips and resumes its own sub-runs."""
        m = self.method.name
        start = (["--checkpoint", source.folder / source.output] if source is not None else
                 ["--arch", arch, *(self.cfg if cfg else []), "--seed", seed, "--epochs", self.epochs])
        argv = [self.script(m, entry), *start, *flags, *self.data, *self.extra]
        return self._step(f"{arch} seed{seed} {kind} {variant}", m, arch, seed, kind, f"{variant}-seed{seed}", argv,
                          [source] if source is not None else [], done_file="sequence.json", partial_file=None)


# ----------------------------------------------------------------------------- running

def _gpus() -> int:
    try:
        import torch
        return torch.cuda.device_count()
    except Exception:      # no usable CUDA: every job on the CPU
        return 0


def run_steps(steps: list[Step], jobs: int = 1, log_dir: Path | None = None, cwd=None) -> list[Step]:
    """Run ``steps`` (in an order where every step follows the steps it needs), up to ``jobs`` at a
    time; returns the steps that failed (or could not run because a step they need failed)."""
    pending, running, done, failed = list(steps), {}, set(), []
    gpus = _gpus() if jobs > 1 else 0
    free_slots = list(range(jobs))
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
    except KeyboardInterrupt:
        for proc in running:
            proc.terminate()
        for proc in running:
            proc.wait()
        raise
    return failed


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


# ----------------------------------------------------------------------------- command line

DEFAULT_DATASET = {"cifar": "cifar10", "imagenet": "imagenet"}

def parser(method) -> argparse.ArgumentParser:
    table = method.table
    p = ArgumentParser(prog=f"{method.name}.sh", description=f"The table of {method.title}.")
    trees = " / ".join(f"{t}: {' '.join(a)}" for t, a in table.archs.items())
    p.add_argument("--tree", default="cifar", choices=sorted(table.archs), help="which recipes (default cifar)")
    p.add_argument("--dataset", default=None, choices=sorted(DATASETS),
                   help="default cifar10 (cifar tree), imagenet (imagenet tree)")
    p.add_argument("--archs", default="", help=f"models (default {trees})")
    p.add_argument("--seeds", type=positive_int, default=None, help=f"seeds 1..N (default {table.seeds})")
    p.add_argument("--epochs", type=positive_int, default=None, help=f"default the recipe's ({table.epochs})")
    p.add_argument("--ft-epochs", type=int, default=None,
                   help=f"fine-tuning epochs, 0 = no fine-tuning arm (default {table.ft_epochs})")
    p.add_argument("--baseline", default=None,
                   help="start from this trained checkpoint (e.g. a downloaded one) instead of training the baseline")
    p.add_argument("--subset", type=positive_int, default=None, help="train on the first N images (smoke runs)")
    p.add_argument("--test-subset", type=positive_int, default=None, help="test on the first N images")
    p.add_argument("--cfg", default=None, help="width config of the trained models (JSON list)")
    p.add_argument("--runs", default="runs", help="root of the run folders (default runs)")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--jobs", type=positive_int, default=1, help="steps run at once (default 1)")
    if table.flags:
        table.flags(p)
    return p


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in METHODS:
        what = f"unknown method {argv[0]!r}" if argv and not argv[0].startswith("-") else "give a method first"
        sys.stderr.write(f"sweep: {what}; one of {', '.join(m for m in METHODS if METHODS[m].table)}\n")
        sys.exit(2)
    method = METHODS[argv[0]]
    argv = argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    flags = argv[:argv.index("--")] if "--" in argv else argv
    p = parser(method)

    def run(args):
        parse_cfg(args.cfg)
        plan = Plan(method, args.tree, args, extra)
        method.table.build(plan)
        steps = list(plan.steps.values())
        root = Path(args.runs) / args.dataset / method.name
        failed = run_steps(steps, args.jobs, root / "logs")
        report(method, steps, args.dataset, root)
        if failed:
            raise UserError(f"{len(failed)} step(s) failed or could not run: {', '.join(s.name for s in failed)}")

    main_guard(run, p, flags)


def report(method, steps: list[Step], dataset: str, root: Path):
    """The table of the steps' results (this table's runs only), printed and in ``root/table.md``,
    and its plot in ``root/plot.png``."""
    from common.plots import plot_data, render
    from common.report import read_results, write_table

    rows = read_results([p for s in steps for p in s.results()], method.name, dataset)
    if not rows:
        print("no results yet")
        return
    options = method.table.report
    metric = options.get("metric", "best")
    write_table(rows, metric, options.get("columns", ()), out=root / "table.md")
    data = plot_data(rows, metric)
    if data:
        render(data, root / "plot.png", metric)
        print(f"plot: {root / 'plot.png'}")


if __name__ == "__main__":
    main()
