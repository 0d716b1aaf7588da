"""The table runner: a method's paper table as steps, run to completion.

    python -m common.sweep [FILE.py] METHOD [--tree cifar] [--dataset cifar10] [--archs "vgg16_mlp resnet56"]
                                  [--seeds 5] [--epochs N] [--ft-epochs N] [--subset N] [--test-subset N]
                                  [--cfg JSON] [--runs runs] [--data-dir data] [--jobs N]
                                  [the method's table flags] [-- extra training flags]

The method's declaration (``Method.table`` in ``common/methods/<method>.py``, or in ``FILE.py`` for a method
declared in a folder of one's own) expands the table -- models x variants x seeds x arms -- into steps
(``common.steps``): training runs, prunings, fine-tuning, Scratch-E/B, sequences. Every step is one command
of the method's recipes (``cifar/<method>/*.py``, or the method's own folder) with its run folder
(``common.runs.run_folder``: named by the step's flags). Then each step runs once the steps it reads from
are done: a step whose folder holds its result is skipped, one with a checkpoint is resumed, and one
whose flags changed has another folder, so it runs. ``--jobs N`` runs up to N
steps at once (with several GPUs, each job on its own GPU; their output goes to
``<runs>/<dataset>/<method>/logs/``). At the end the table is printed and written, with its plot,
to ``<runs>/<dataset>/<method>/table.md`` and ``plot.png``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from common.arms import prune_entry
from common.cluster import EXECUTORS, check_executor, submit_steps
from common.data import DATASETS, dataset_info
from common.errors import UserError
from common.methods import METHODS, get_method, load_method_file
from common.models import check_kind, display_name, resolve_arch
from common.runs import argv_settings, dataset_dir, run_folder
from common.settings import (Part, Settings, check_argv, entry_point, flag, main_guard, non_negative_int, parse_cfg,
                             positive_int)
from common.steps import Step, run_steps, set_aside, stale_steps


class Plan:
    """What a method's ``Table.build(t)`` sees: the table's settings and the step builders."""

    def __init__(self, method, s, extra: list[str]):
        tree = s.tree
        if s.dataset == "folder":         # any image folder: named by its path (its classes checked here, once)
            from common.data.imagenet import folder_name
            s = s.replace(dataset=folder_name(s.data_dir))
            dataset_info(s.dataset)
        s = s.replace(dataset=s.dataset or DEFAULT_DATASET[tree],                   # the tree's defaults
                      epochs=s.epochs or method.default("epochs", tree),
                      ft_epochs=method.default("ft_epochs", tree) if s.ft_epochs is None else s.ft_epochs,
                      seeds=s.seeds or method.default("seeds", tree))
        self.method, self.tree, self.opts = method, tree, s
        self.dataset, self.runs = s.dataset, Path(s.runs)
        info = dataset_info(self.dataset)
        archs = s.archs.split() if s.archs else list(method.archs.get(tree, []))
        for arch in archs:                # once, before any step: not one error per step
            check_kind(arch, info.kind, self.dataset)
        self.archs = [resolve_arch(a, info.kind) for a in archs]      # vgg16 on ImageNet: torchvision's
        self.seeds = list(range(1, s.seeds + 1))
        self.epochs, self.ft_epochs = s.epochs, s.ft_epochs
        self.cfg = ["--cfg", s.cfg] if s.cfg else []
        subset = [*(["--subset", s.subset] if s.subset else []),
                  *(["--test-subset", s.test_subset] if s.test_subset else [])]
        named = "folder" if self.dataset.startswith("folder:") else self.dataset    # a recipe resolves the folder
        self.data = ["--dataset", named, "--data-dir", s.data_dir, *subset]
        self.extra = list(extra)
        device = [t for i, t in enumerate(extra) if t == "--device" or (i and extra[i - 1] == "--device")]
        self.prune_data = ["--data-dir", s.data_dir,
                           *(["--test-subset", s.test_subset] if s.test_subset else []), *device]
        self.baseline = Path(s.baseline) if s.baseline else None
        self.steps: dict[Path, Step] = {}

    def _step(self, name, method, arch, seed, arm, tag, argv, needs=(), **kw) -> Step:
        argv = [str(a) for a in argv]
        settings = {"step": step_name(argv[0]), **argv_settings(argv[1:], self.runs)}
        folder = run_folder(self.runs, self.dataset, method.name, arch, arm, tag, settings)
        if folder not in self.steps:           # a step two tables share (e.g. the L1-norm baseline) runs once
            self.steps[folder] = Step(name, argv, folder, arch, seed, list(needs), **kw)
        return self.steps[folder]

    def script(self, method, entry: str) -> str:
        """The recipe ``entry`` of ``method`` in this tree (a method declared elsewhere: in its own folder)."""
        return str(get_method(method).recipes(self.tree) / entry)

    def train(self, arch, seed, *, method=None, training="main", arm="baseline", variant=None, flags=(),
              epochs=None, cfg=True) -> Step:
        """A training run (``main.py`` or another training entry) of ``arch`` with ``seed``; with
        ``--baseline CKPT``, the baseline is that checkpoint instead."""
        if self.baseline is not None and arm == "baseline" and training == "main" and variant is None:
            return self.steps.setdefault(self.baseline, Step(f"{arch} baseline {self.baseline}", None,
                                                             self.baseline.parent, arch, seed,
                                                             done_file=self.baseline.name, output=self.baseline.name))
        m = get_method(method or self.method)
        argv = [self.script(m, m.trainings[training].entry), "--arch", arch, *(self.cfg if cfg else []),
                "--seed", seed, "--epochs", epochs or self.epochs, *flags, *self.data, *self.extra]
        tag = f"{variant}-seed{seed}" if variant else f"seed{seed}"
        return self._step(f"{arch} seed{seed} {arm} {variant or ''}".strip(), m, arch, seed, arm, tag, argv)

    def prune(self, source: Step, variant: str, flags=(), method=None) -> Step:
        """``prune.py`` of the model trained by ``source``."""
        m = get_method(method or self.method)
        argv = [self.script(m, "prune.py"), "--checkpoint", source.folder / source.output, *flags, *self.prune_data]
        check_argv(prune_entry(m)[0], argv[1:], f"the flags of {m.name}'s prune.py ({' '.join(map(str, flags))})")
        return self._step(f"{source.arch} seed{source.seed} prune {variant}", m, source.arch, source.seed, "pruned",
                          f"{variant}-seed{source.seed}", argv, [source], output="pruned.pt")

    def published(self, name: str, arch: str, seed: int, method=None) -> Step:
        """``prune.py --published NAME``: the method's published architecture, fresh weights (Scratch-E/B only)."""
        m = get_method(method or self.method)
        argv = [self.script(m, "prune.py"), "--published", name, "--dataset", self.dataset, "--seed", seed]
        return self._step(f"{arch} seed{seed} published {name}", m, arch, seed, "pruned", f"{name}-seed{seed}", argv,
                          output="pruned.pt")

    def published_rows(self, published: dict, names, seed: int, flags=()):
        """Scratch-E and Scratch-B of each of the method's published architectures ``names`` (a pruning's
        ``published``, ``{name: (arch, cfg)}``), on ImageNet."""
        if self.tree == "imagenet":
            for name in names:
                self.retrain(self.published(name, published[name][0], seed), flags=flags, finetune=False)

    def retrain(self, pruned: Step, method=None, flags=(), finetune=True) -> list[Step]:
        """Fine-tuning (when the table has fine-tuning epochs and ``finetune``), Scratch-E and Scratch-B of
        ``pruned``; ``flags`` go to the from-scratch runs (e.g. a model's own lr)."""
        m = get_method(method or self.method)
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
        m = self.method
        start = (["--checkpoint", source.folder / source.output] if source is not None else
                 ["--arch", arch, *(self.cfg if cfg else []), "--seed", seed, "--epochs", self.epochs])
        argv = [self.script(m, entry), *start, *flags, *self.data, *self.extra]
        return self._step(f"{arch} seed{seed} {kind} {variant}", m, arch, seed, kind, f"{variant}-seed{seed}", argv,
                          [source] if source is not None else [], done_file="sequence.json", partial_file=None)


def step_name(script: str) -> str:
    """A recipe as the table names it: relative to the repository for the shipped methods (so a table's folders do
    not depend on where the repository lies), the absolute path for a method declared elsewhere."""
    from common.methods.base import ROOT
    path = Path(script).resolve()
    return str(path.relative_to(ROOT)) if ROOT in path.parents else str(path)


# ----------------------------------------------------------------------------- command line

DEFAULT_DATASET = {"cifar": "cifar10", "imagenet": "imagenet"}


@dataclass(frozen=True)
class TableSettings(Settings):
    """The flags every table has (a method adds its own: ``Method.table_settings``)."""

    tree: str = flag("cifar", "which recipes (default cifar)")
    dataset: Optional[str] = flag(None, "default cifar10 (cifar tree), imagenet (imagenet tree)")
    archs: str = flag("", "models (default: the paper's)")
    seeds: Optional[int] = flag(None, "seeds 1..N", type=positive_int)
    epochs: Optional[int] = flag(None, "training epochs (default: the recipe's)", type=positive_int)
    ft_epochs: Optional[int] = flag(None, "fine-tuning epochs, 0 = no fine-tuning arm", type=non_negative_int)
    baseline: Optional[str] = flag(None, "start from this trained checkpoint (e.g. a downloaded one) instead of "
                                         "training the baseline")
    subset: Optional[int] = flag(None, "train on the first N images (smoke runs)", type=positive_int)
    test_subset: Optional[int] = flag(None, "test on the first N images", type=positive_int)
    cfg: Optional[str] = flag(None, "width config of the trained models (JSON list)")
    runs: str = flag("runs", "root of the run folders (default runs)")
    data_dir: str = flag("data", "the dataset's folder (as main.py's --data-dir)")
    jobs: int = flag(1, "steps run at once (default 1)", type=positive_int)
    executor: str = flag("local", "local: run the steps here (--jobs at once); slurm: submit them as Slurm jobs "
                                  "through submitit, requeued when preempted (submitit-local, submitit-debug: the "
                                  "same jobs here, for tests)", choices=EXECUTORS)
    slurm_partition: Optional[str] = flag(None, "--executor slurm: the partition")
    gpus_per_job: int = flag(0, "--executor slurm: GPUs of a training step's job (one process each, torchrun's "
                                "environment); default 0", type=non_negative_int)
    cpus_per_job: int = flag(8, "--executor slurm: CPUs per task (data-loading workers) (default %(default)s)",
                             type=positive_int)
    timeout_min: int = flag(24 * 60, "--executor slurm/submitit-local: a job's time limit in minutes; a job that "
                                     "reaches it is requeued and resumes (default %(default)s)", type=positive_int)
    slurm_array_parallelism: int = flag(64, "--executor slurm: jobs of an array running at once (default %(default)s)",
                                        type=positive_int)
    slurm_extra: list = flag([], "--executor slurm: more sbatch parameters, key=value (e.g. account=proj "
                                 "constraint=a100)", nargs="*", metavar="KEY=VALUE")
    latency: bool = flag(False, "time every model of the table on this device after it (batch 1 and 64, or 256 on a "
                                "GPU; eager and compiled; fp32 and bf16): latency.md beside table.md")
    dry_run: bool = flag(False, "list the table's steps (their folders, what each would do, their commands) and stop")
    rerun_changed: bool = flag(False, "finished steps whose code changed since (and the steps after them) run again; "
                                      "their old folders are kept as <folder>.stale-<time>")
    reuse_results: bool = flag(False, "take finished steps as done even when their code changed since")


def parser(method):
    """The table command line of ``method``: :class:`TableSettings` and the method's ``table_settings``."""
    trees = " / ".join(f"{t}: {' '.join(map(display_name, a))}" for t, a in method.archs.items())
    return entry_point(f"The table of {method.title}.\n\nFlags after -- go to every training step of the table "
                       f"(e.g. -- --device cuda --amp --channels-last).", [
        Part(TableSettings, choices={"tree": sorted(method.archs), "dataset": sorted(DATASETS)},
             helps={"archs": f"models (default {trees})", "seeds": f"seeds 1..N (default {method.seeds})",
                    "epochs": f"default the recipe's ({method.epochs})",
                    "ft_epochs": f"fine-tuning epochs, 0 = no fine-tuning arm (default {method.ft_epochs})"}),
        Part(method.table_settings, title=method.name)], name=f"{method.name}-table")


def plan_of(method, argv=(), extra=()) -> Plan:
    """The table of ``method`` (an object or a name) with the table flags ``argv`` as steps, without running them."""
    method = get_method(method)
    p, settings = parser(method)
    plan = Plan(method, settings.from_args(p.parse_args(list(argv))), list(extra))
    method.table(plan)
    return plan


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0].endswith(".py") and not argv[0].startswith("-"):
        load_method_file(argv.pop(0))        # a method declared in a file of one's own: its table
    tables = [m for m in METHODS if METHODS[m].has_table]
    if not argv or argv[0] not in METHODS:
        what = f"unknown method {argv[0]!r}" if argv and not argv[0].startswith("-") else "give a method first"
        sys.stderr.write(f"sweep: {what}; one of {', '.join(tables)} (or FILE.py METHOD)\n")
        sys.exit(2)
    method = METHODS[argv[0]]
    argv = argv[1:]
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    flags = argv[:argv.index("--")] if "--" in argv else argv
    p, settings = parser(method)
    p.prog = f"{method.name}.sh"

    def run(s):
        parse_cfg(s.cfg)
        if s.rerun_changed and s.reuse_results:
            raise UserError("give --rerun-changed or --reuse-results, not both")
        check_executor(s)
        plan = Plan(method, s, extra)
        method.table(plan)
        steps = list(plan.steps.values())
        if s.dry_run:
            return print_steps(steps)
        check_code(steps, s.rerun_changed, s.reuse_results)
        root = Path(plan.runs) / dataset_dir(plan.dataset) / method.name
        if s.executor == "local":
            failed = run_steps(steps, s.jobs, root / "logs")
        else:
            failed = submit_steps(steps, s, root / "logs" / "submitit", name=method.name)
        report(method, steps, plan.dataset, root)
        if s.latency:
            time_table(steps, method, plan.dataset, root, extra)
        if failed:
            raise UserError(f"{len(failed)} step(s) failed or could not run: {', '.join(f.name for f in failed)}")

    main_guard(run, p, flags, settings, interrupted="interrupted; every step it ran was stopped with its last "
                                                    "checkpoint intact: run the same command again to continue")


def print_steps(steps: list[Step]):
    """The table's steps in the order they run: what each would do now (skip, resume, run) and its command."""
    stale = stale_steps(steps)
    for i, step in enumerate(steps, 1):
        state = step.state()
        what = {"done": "skip (done)", "resume": "resume", "new": "run", "missing": "MISSING"}[state]
        if step in stale:
            what = "made by other code"
        print(f"{i:3d}. {what:18s} {step.name}\n     {step.folder}")
        if step.argv is not None:
            print("     " + " ".join(map(str, step.command()[1:])))
    todo = sum(s.state() != "done" for s in steps)
    print(f"{len(steps)} steps, {todo} to run or resume, {len(stale)} made by other code (a dry run: nothing ran)")


def check_code(steps: list[Step], rerun: bool, reuse: bool):
    """Refuse (one line) to take results made by other code as done, unless told to re-run or reuse them."""
    stale = stale_steps(steps)
    if not stale or reuse:
        if stale:
            print(f"== reusing {len(stale)} finished step(s) made by other code (--reuse-results)", flush=True)
        return
    files = sorted({f for fs in stale.values() for f in fs})
    if not rerun:
        raise UserError(f"{len(stale)} finished step(s) were made by other code ({', '.join(files[:4])}"
                        f"{' ...' if len(files) > 4 else ''} changed since): run them again with --rerun-changed, "
                        f"or take their results as they are with --reuse-results")
    for step in stale:
        print(f"== code changed ({', '.join(stale[step][:3])}): {step.name} runs again; its old folder is "
              f"{set_aside(step)}", flush=True)


def time_table(steps, method, dataset, root: Path, extra):
    """``--latency``: every network of the table's results, timed on the device its steps ran on."""
    from common.distributed import resolve_device
    from common.latency import measure, write
    from common.report import read_results

    rows = read_results([p for s in steps for p in s.results()], method.name, dataset)
    device = resolve_device(extra[extra.index("--device") + 1] if "--device" in extra[:-1] else None)
    records = measure(rows, (1, 256 if device.type == "cuda" else 64), device)
    print(f"latency: {write(records, root, device)[1]}")


def report(method, steps: list[Step], dataset: str, root: Path):
    """The table of the steps' results (this table's runs only), printed and in ``root/table.md`` (with its training
    compute) and ``root/table.csv`` (a row per run, then the aggregated rows), and its plot in ``root/plot.png``."""
    from common.plots import plot_data, render
    from common.report import read_results, write_table

    rows = read_results([p for s in steps for p in s.results()], method.name, dataset)
    if not rows:
        print("no results yet")
        return
    options = method.report
    metric = options.get("metric", "best")
    write_table(rows, metric, options.get("columns", ()), out=root / "table.md", csv_path=root / "table.csv")
    data = plot_data(rows, metric)
    if data:
        render(data, root / "plot.png", metric)
        print(f"plot: {root / 'plot.png'}")
    compute = plot_data(rows, metric, x="compute")
    if compute:
        render(compute, root / "compute.png", metric)
        print(f"top-1 against training compute: {root / 'compute.png'}")


if __name__ == "__main__":
    main()
