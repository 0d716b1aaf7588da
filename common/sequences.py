"""Methods that are a *sequence* of engine runs: the Lottery Ticket rounds and the IMP phases.

A sequence is declared as steps (``common.steps``: the same :class:`~common.steps.Step` and
:func:`~common.steps.run_steps` as the table runner): every training in it is an ordinary engine run in a
sub-folder of the sequence's folder (``result.json`` at the end), every pruning a ``pruned.pt`` written by
the same writer as ``prune.py`` (``common.arms.write_pruned``). Running the same command again skips the
steps that are done and resumes the one that was interrupted; ``sequence.json`` marks the whole sequence
done. Its settings are the typed settings of the arms (``common.settings``) plus the method's own, shared
with the method's ``prune.py`` (``common.methods``). The algorithms are in ``common.pruning.lottery_ticket``
and ``common.pruning.imp``; this module only sequences them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from common import distributed
from common.arms import model_for, run_training, write_pruned
from common.checkpoint import code_revision, load_checkpoint, model_from_checkpoint, write_json
from common.data import DATASETS, DataSettings, dataset_info, make_loaders, resolve_dataset
from common.distributed import resolve_device
from common.engine import TrainConfig, evaluate, seed_everything
from common.errors import UserError
from common.masks import apply_mask_, sparse_kaiming_init_, sparsity
from common.methods import get_method
from common.methods.imp import IMPPhases
from common.methods.lottery_ticket import LotterySequence
from common.models import ModelSettings, resolve_arch
from common.pruning import imp, lottery_ticket
from common.pruning.l1_norm import variants_for
from common.runs import RUNS_ROOT, RunFolder, RunSettings, checked_save, run_folder, settings_of
from common.settings import Part, entry_point, flag, main_guard, parse_cfg
from common.steps import Step, run_steps

DONE = "sequence.json"
INTERRUPTED = "interrupted; the last checkpoint is intact: run the same command again to continue the sequence"


def _root(s, dataset, method, arch, kind, tag) -> Path:
    save = checked_save(s.save)
    return save if save is not None else run_folder(RUNS_ROOT, dataset, method, arch, kind, tag, settings_of(s))


def _run(s, root: Path, method, arch: str, dataset: str, steps):
    """Claim the sequence's folder, run its steps (``steps(root)`` builds them), mark it done."""
    if (root / DONE).is_file():
        print(f"== skip (done): {root}", flush=True)
        return
    with RunFolder(root, s, resume=None):
        run_steps(steps(root))
        runs = sorted(str(p.parent.relative_to(root)) for p in root.rglob("result.json"))
        write_json(root / DONE, {"method": method.name, "arch": arch, "dataset": dataset, "runs": runs,
                                 "code_revision": code_revision(), "code": method.code()})
        print(f"done: {root}", flush=True)


def _training(s, name, folder: Path, build, mask=None, **kw) -> Step:
    """A step that builds its model with ``build()`` and trains it in ``folder`` (resumed when interrupted),
    keeping the keep-mask ``mask()`` (read when the step runs) if given."""
    def call(resume):
        model = build()
        run_training(s.replace(save=str(folder), resume=resume), model, mask=mask() if mask else None, **kw)
    return Step(name, None, folder, call=call)


# ----------------------------------------------------------------------------- Lottery Ticket

def lottery_sequence(method="lottery-ticket", *, arch="vgg16", dataset="cifar10", rewind_iters=0, argv=None,
                     **recipe):
    """The one command of a Lottery Ticket sequence: the dense run (recording theta_k), then per rewind point
    and round: prune, the winning ticket, the random re-initialisation."""
    m = get_method(method)
    parser, settings = entry_point(f"{m.name}: winning ticket vs random re-init", [
        Part(LotterySequence, {"rewind_iters": [rewind_iters]}, m.name),
        Part(ModelSettings, {"arch": arch}, "model"),
        Part(DataSettings, {"dataset": dataset}, "data", choices={"dataset": sorted(DATASETS)}),
        Part(TrainConfig, recipe, "training"),
        Part(SequenceFolder, title="sequence folder", omit=("resume",))], name="lottery-sequence")

    def run(s):
        distributed.refuse_under_torchrun("the Lottery Ticket sequence")
        s = resolve_dataset(s)
        s.build(dataset_info(s.dataset))     # arch/cfg errors first
        s = s.replace(arch=resolve_arch(s.arch, dataset_info(s.dataset).kind))
        if s.prune == "l1" and s.variant not in variants_for(s.arch):
            raise UserError(f"no L1-norm variant {s.variant} for {s.arch}; "
                            f"choose an arch with one: vgg16, vgg16_mlp, resnet56, resnet110")
        s = s.replace(reinit=s.reinit or ("sparse" if s.prune == "magnitude" else "dense"))
        series = f"lr{s.lr:g}"
        root = _root(s, s.dataset, m.name, s.arch, s.prune, f"{series}-seed{s.seed}")
        _run(s, root, m, s.arch, s.dataset, lambda root: _lottery_steps(s, m, root, series))

    return main_guard(run, parser, argv, settings, interrupted=INTERRUPTED)


@dataclass(frozen=True)
class SequenceFolder(RunSettings):
    save: Optional[str] = flag(None, "the sequence's folder (default runs/<dataset>/<method>/<arch>/<kind>/"
                                     "<tag>-<settings hash>)")


def _lottery_steps(s, m, root: Path, series: str) -> list[Step]:
    device = resolve_device(s.device)
    kinds = ("conv", "linear") if s.prune_linear else ("conv",)
    rounds = s.rounds if s.prune == "magnitude" else 1
    loaders = make_loaders(s.dataset, s.data_dir, s.batch_size, s.test_batch_size, device=device, seed=s.seed,
                           subset=s.subset, channels_last=s.channels_last, test_subset=s.test_subset,
                           image_size=s.image_size, workers=s.workers, gpu_decode=s.gpu_decode)[:2]
    total = s.epochs * len(loaders[0])
    for k in s.rewind_iters:
        if k >= total:
            raise UserError(f"--rewind-iters {k} is not before the end of the dense run "
                            f"({s.epochs} epochs x {len(loaders[0])} iterations = {total})")
    model_cfg = parse_cfg(s.cfg)
    common = dict(dataset=s.dataset, method=m, loaders=loaders)
    shape = s.input_size(dataset_info(s.dataset))
    dense_dir = root / "baseline"

    def dense_model():
        seed_everything(s.seed)
        return model_for(s.dataset, s.arch, model_cfg)

    # the dense run: records theta_k for every rewind point
    steps = [_training(s, "dense", dense_dir, dense_model, arm="baseline", tag="",
                       meta={"variant": None, "series": series},
                       hooks=[lottery_ticket.RewindPoints(s.rewind_iters)], **common)]
    for k in s.rewind_iters:
        prev = dense_dir / "checkpoint.pt"
        for r in range(1, rounds + 1):
            variant = (f"{series}-k{k}-p{s.percent:g}{'-fc' if s.prune_linear else ''}-r{r:02d}"
                       if s.prune == "magnitude" else f"{series}-k{k}-l1{s.variant}")
            tag = f"{variant}-seed{s.seed}"
            pruned_dir = root / "pruned" / tag
            steps.append(Step(f"prune {tag}", None, pruned_dir, partial_file=None, call=_lottery_prune(
                s, m, prev, pruned_dir, variant, series, r, k, kinds, loaders[1], shape, device)))
            meta = {"variant": variant, "series": series, "round": r, "rewind_iter": k,
                    "source": str(pruned_dir / "pruned.pt")}
            masked = _mask_of(pruned_dir)

            def ticket(k=k, masked=masked):
                net = model_for(s.dataset, s.arch, model_cfg)
                lottery_ticket.reset_to(net, lottery_ticket.load_rewind(dense_dir, k), masked())
                return net

            def control(r=r, masked=masked):
                seed_everything(lottery_ticket.reinit_seed(s.seed, r))
                net = model_for(s.dataset, s.arch, model_cfg)
                (sparse_kaiming_init_ if s.reinit == "sparse" else apply_mask_)(net, masked())
                seed_everything(s.seed)
                return net

            # rewound to iteration k, the ticket trains iterations k..T of the dense schedule (Frankle et al.
            # 2020); the random control gets the same iterations
            steps.append(_training(s, f"winning ticket {tag}", root / "winning-ticket" / tag, ticket,
                                   arm="winning-ticket", tag=tag, mask=masked, meta={**meta, "init": f"theta_{k}"},
                                   start_step=k, **common))
            steps.append(_training(s, f"random re-init {tag}", root / "random-init" / tag, control,
                                   arm="random-init", tag=tag, mask=masked,
                                   meta={**meta, "init": f"random ({s.reinit})"},
                                   start_step=k, **common))
            prev = root / "winning-ticket" / tag / "checkpoint.pt"
    return steps


class _mask_of:
    """The keep-mask a pruning step wrote (read when a later step runs, after the pruning step is done)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def __call__(self) -> dict:
        return load_checkpoint(self.folder / "pruned.pt")["mask"]


def _lottery_prune(s, m, prev: Path, folder: Path, variant, series, r, k, kinds, test_loader, shape, device):
    def call(resume):
        trained_ckpt = load_checkpoint(prev, expect_arch=s.arch)
        trained = model_from_checkpoint(trained_ckpt).to(device)
        if s.prune == "magnitude":
            mask = lottery_ticket.next_round_mask(trained, s.percent, trained_ckpt.get("mask"), kinds)
        else:
            mask = lottery_ticket.l1_filter_mask(trained, s.variant)
        apply_mask_(trained, mask)
        top1 = evaluate(trained, test_loader, device)[1]
        dense = json.loads((folder.parent.parent / "baseline" / "result.json").read_text())
        meta = {"variant": variant, "seed": s.seed, "base_cfg": list(trained.cfg), "series": series,
                "round": r, "rewind_iter": k, "source": str(prev),
                "base_flops": dense["flops"], "base_params": dense["params"]}
        write_pruned(folder, trained, mask, dataset=s.dataset, method=m, meta=meta,
                     record={**meta, "top1_after": top1, "best_top1": top1, "final_top1": top1}, input_size=shape)
        print(f"round {r}: pruned to {100 * sparsity(mask):.2f}% sparsity, top-1 {top1:.2f}% before "
              f"retraining; {folder / 'pruned.pt'}", flush=True)
    return call


# ----------------------------------------------------------------------------- IMP

@dataclass(frozen=True)
class IMPStart(DataSettings):
    """What an IMP sequence starts from."""

    checkpoint: Optional[str] = flag(None, "the trained dense model (cifar/imp/main.py)", required=True)


# The training flags an IMP sequence takes: its lr and epochs come from the dense run and the schedule.
_IMP_OMIT = ("epochs", "lr", "lr_batch", "schedule", "milestones", "lr_decay", "warmup_epochs", "nesterov", "sync_bn")


def imp_sequence(method="imp", *, argv=None, **recipe):
    """The one command of an IMP sequence: ``--phases`` prune-retrain phases from a dense checkpoint."""
    m = get_method(method)
    parser, settings = entry_point(f"{m.name}: Iterative Magnitude Pruning with a retraining schedule", [
        Part(IMPPhases, title=m.name),
        Part(IMPStart, {"dataset": None}, "data", choices={"dataset": sorted(DATASETS)}),
        Part(TrainConfig, {**recipe, "seed": None}, "training", omit=_IMP_OMIT),
        Part(SequenceFolder, title="sequence folder", omit=("resume",))], name="imp-sequence")

    def run(s):
        distributed.refuse_under_torchrun("the IMP sequence")
        name = s.retrain.upper()
        if name not in imp.SCHEDULES + ("BIMP",):
            raise UserError(f"unknown retraining schedule {s.retrain!r}; choose one of "
                            f"{', '.join(imp.SCHEDULES)}, BIMP")
        if name == "BIMP" and s.budget is None:
            raise UserError("BIMP splits a total retraining budget: give --budget (T - T0 epochs)")
        if s.phase_epochs is None and s.budget is None:
            raise UserError("give --phase-epochs (per phase) or --budget (in total)")
        if s.phase_epochs is not None and s.budget is not None:
            raise UserError("give --phase-epochs (per phase) or --budget (in total), not both")
        fraction = imp.phase_fraction(s.sparsity, s.phases)
        epochs = imp.phase_epochs(s.phases, s.phase_epochs, s.budget)
        dense_ckpt = load_checkpoint(s.checkpoint)
        if dense_ckpt.get("mask") is not None:
            raise UserError(f"{s.checkpoint} is already pruned; IMP starts from a dense model")
        if s.dataset not in (None, "folder") and s.dataset != dense_ckpt["dataset"]:
            raise UserError(f"{s.checkpoint} was trained on {dense_ckpt['dataset']}, not {s.dataset}")
        s = s.replace(dataset=dense_ckpt["dataset"], seed=dense_ckpt["meta"].get("seed", 1) if s.seed is None
                      else s.seed, image_size=s.image_size or dense_ckpt["args"].get("image_size"))
        device = resolve_device(s.device)
        loaders = make_loaders(s.dataset, s.data_dir, s.batch_size, s.test_batch_size, device=device, seed=s.seed,
                               subset=s.subset, channels_last=s.channels_last, test_subset=s.test_subset,
                               image_size=s.image_size, workers=s.workers, gpu_decode=s.gpu_decode)[:2]
        trace = imp.dense_trace(dense_ckpt, len(loaders[0]))
        if trace.I != len(loaders[0]):
            raise UserError(f"the dense run had {trace.I} iterations per epoch, this run {len(loaders[0])}; "
                            f"use the dense run's --batch-size and --subset")
        split = f"B{s.budget}" if s.budget is not None else f"R{s.phase_epochs}"
        base = f"S{s.sparsity:g}-J{s.phases}-T{trace.T}-{split}"
        root = _root(s, s.dataset, m.name, dense_ckpt["arch"], name, f"{base}-seed{s.seed}")
        print(f"IMP {name}: S = {s.sparsity:g} in {s.phases} phases of s = {fraction:.4f}, retraining epochs "
              f"{epochs}; dense run: {trace.T} epochs, eta_max {trace.eta_max:g}, eta_min {trace.eta_min:g}",
              flush=True)
        _run(s, root, m, dense_ckpt["arch"], s.dataset,
             lambda root: _imp_steps(s, m, name, root, base, trace, fraction, epochs, loaders, device))

    return main_guard(run, parser, argv, settings, interrupted=INTERRUPTED)


def _imp_steps(s, m, name, root, base, trace, fraction, epochs, loaders, device) -> list[Step]:
    steps, prev, spent = [], Path(s.checkpoint), trace.T
    for j, T_j in enumerate(epochs, 1):
        variant = f"{base}-p{j}"
        tag = f"{variant}-seed{s.seed}"
        spent += T_j
        steps.append(Step(f"phase {j}", None, root / tag,
                          call=_imp_phase(s, m, name, root / tag, prev, j, T_j, spent, variant, tag, trace, fraction,
                                          loaders, device)))
        prev = root / tag / "checkpoint.pt"
    return steps


def _imp_phase(s, m, name, folder, prev, j, T_j, spent, variant, tag, trace, fraction, loaders, device):
    """Phase j: prune ``fraction`` of the remaining weights of ``prev``'s model, retrain ``T_j`` epochs."""
    schedule = "ALLR" if name == "BIMP" else name

    def call(resume):
        ckpt = load_checkpoint(prev)
        model = model_from_checkpoint(ckpt).to(device)
        mask, d = imp.prune_phase(model, fraction, ckpt.get("mask"))
        apply_mask_(model, mask)
        pruned_top1 = evaluate(model, loaders[1], device)[1]
        eta_init = imp.allr_start(d, fraction, trace.eta_max, T_j, trace.T) if schedule == "ALLR" else None
        lrs = imp.retrain_lrs(schedule, trace, T_j * len(loaders[0]), eta_init)
        nesterov = s.weight_decay > 0 and s.momentum > 0
        optimizer = torch.optim.SGD(model.parameters(), lr=lrs[0] if lrs else 0.0, momentum=s.momentum,
                                    weight_decay=s.weight_decay, nesterov=nesterov)
        if j > 1:   # one optimizer for all phases: momentum carries over (Zimmer et al.'s code)
            optimizer.load_state_dict(ckpt["optimizer"])
        config = TrainConfig.of(s).replace(epochs=T_j, lr=round(max(lrs, default=0.0), 6), nesterov=nesterov)
        print(f"phase {j}/{s.phases}: sparsity {100 * sparsity(mask):.2f}%, top-1 after pruning "
              f"{pruned_top1:.2f}%, norm drop d = {d:.4f}"
              + (f", ALLR start lr {eta_init:.4g}" if eta_init is not None else ""), flush=True)
        run_training(s.replace(save=str(folder), resume=resume), model, dataset=s.dataset, method=m, arm=name,
                     tag=tag, mask=mask, optimizer=optimizer, lr_fn=imp.PhaseLR(lrs), config=config, loaders=loaders,
                     meta={"variant": variant, "phase": j, "phases": s.phases, "goal_sparsity": s.sparsity,
                           "schedule": name, "retrain_epochs": T_j, "epochs_total": spent, "pruned_top1": pruned_top1,
                           "norm_drop": d, "eta_init": eta_init, "source": str(prev)})
    return call

