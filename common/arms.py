"""The arms of the paper's comparison, for any method (``common.methods``: a method object, or its name).

  train      ``main.py``           the baseline, or the method's own training run
  prune      ``prune.py``          score, select and build the smaller model (the method's algorithm)
  finetune   ``main_finetune.py``  keep training the pruned weights, small lr
  scratch    ``main_scratch.py``   re-initialise the pruned (arch, cfg[, mask]) and train:
                                   E = same epochs, B = same compute (epochs x FLOPs(base) / FLOPs(pruned))

An entry point is a recipe: the paper's defaults and one call, e.g.
``train("slimming", arch="vgg19", epochs=160, lr=0.1)``. The call makes the entry point's settings out of
typed parts (``common.settings``): the method's own flags, the model, the data, the training
(``common.engine.TrainConfig``, whose defaults the recipe's values replace) and the run folder. It parses
the command line into one frozen settings object, lets the method fill in what depends on other settings,
claims the run folder (``common.runs``: named by the settings, one process, a resume with other settings
refused) and runs the one engine with ``TrainConfig.of(settings)``. ``--help`` is the recipe's docstring.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

from common import distributed
from common.checkpoint import (check_meta, code_revision, load_checkpoint, make_checkpoint, model_from_checkpoint,
                               save_checkpoint, write_json)
from common.data import (DATASETS, DataSettings, ImageSettings, balanced_sample, dataset_info, make_loaders,
                         num_samples, resolve_dataset)
from common.distributed import resolve_device
from common.engine import TrainConfig, Trainer, evaluate, make_lr_fn, seed_everything
from common.errors import UserError
from common.flops import count_flops, count_params
from common.masks import apply_mask_, kept_params
from common.masks import sparsity as mask_sparsity
from common.methods import Training, get_method
from common.models import ModelSettings, build_model, check_kind, list_archs, resolve_arch
from common.runs import RUNS_ROOT, RunFolder, RunSettings, checked_save, run_folder, settings_of
from common.settings import (Part, Settings, derived, entry_point, flag, main_guard, non_negative_int, positive_float,
                             positive_int)


def model_for(dataset: str, arch: str, cfg=None) -> nn.Module:
    """``(arch, cfg)`` for ``dataset``: the arch (by the name users know on its kind) must be of the dataset's kind."""
    info = dataset_info(dataset)
    check_kind(arch, info.kind, dataset)
    return build_model(resolve_arch(arch, info.kind), info.num_classes, info.in_channels, cfg)


def run_dir_of(s, dataset, method: str, arch, arm, tag) -> Path:
    """``--save`` if given, else the default folder named by the run's settings (``common.runs``)."""
    save = checked_save(s.save)
    return save if save is not None else run_folder(RUNS_ROOT, dataset, method, arch, arm, tag, settings_of(s))


def _check_batch(model, batch_size):
    if batch_size // distributed.world_size() < 2 and any(isinstance(m, nn.BatchNorm1d) for m in model.modules()):
        raise UserError(f"--batch-size {batch_size} gives one image per step, and {model.arch} has a BatchNorm1d "
                        f"layer that cannot train on one; use --batch-size 2 or more")


def method_meta(method) -> dict:
    """What a checkpoint records of its method beyond the name: the declaring file of a method outside common/."""
    return {"method_source": method.source} if method.source else {}


def run_training(s, model, *, dataset, method, arm, tag, meta=None, hooks=(), epochs=None, mask=None,
                 optimizer=None, lr_fn=None, config=None, loaders=None, start_step=0, measured=None,
                 uses_method=True):
    """Claim the run folder, load the data (unless ``loaders=(train, test)`` are given), place the model and
    run the engine with ``config`` (default: the training part of ``s``, ``epochs`` if given); returns the
    result dict. ``measured``: the network counted in result.json (default the model); ``uses_method``: the
    run depends on the method's code (False: a plain baseline; ``common.code``). Under torchrun, one process
    per GPU."""
    local_rank = distributed.init_from_env()
    device = resolve_device(s.device)
    if distributed.world_size() > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
    _check_batch(model, s.batch_size)
    run_dir = run_dir_of(s, dataset, method.name, model.arch, arm, tag)
    info = dataset_info(dataset)
    claim = RunFolder(run_dir, s, resume=s.resume) if distributed.is_main() else _NoClaim()
    with claim:
        train, test = loaders or make_loaders(dataset, s.data_dir, s.batch_size, s.test_batch_size, device=device,
                                              seed=s.seed, subset=s.subset, channels_last=s.channels_last,
                                              test_subset=s.test_subset, image_size=s.image_size, workers=s.workers,
                                              gpu_decode=s.gpu_decode, holdout=s.holdout)[:2]
        model.to(device)
        if mask is not None:
            mask = {k: v.to(device) for k, v in mask.items()}
        config = config or TrainConfig.of(s).replace(**({} if epochs is None else {"epochs": epochs}))
        meta = {"dataset": dataset, "method": method.name, "arm": arm, "seed": s.seed, **method_meta(method),
                **(meta or {}), "code": method.code(uses_method)}
        if distributed.is_main():
            procs = f", {distributed.world_size()} processes" if distributed.world_size() > 1 else ""
            first = (lr_fn or make_lr_fn(config))(start_step, max(len(train), 1))     # what the first step uses
            lr = f"lr {config.base_lr:g}" + (f" ({first:g} from the first step)" if first != config.base_lr else "")
            print(f"{method.name} {arm}: {model.arch} on {dataset} ({num_samples(train)} train images{procs}), "
                  f"{config.epochs} epoch{'s' if config.epochs != 1 else ''}, {lr}, run dir {run_dir}", flush=True)
        trainer = Trainer(model, train, test, config, run_dir, meta, hooks=hooks, optimizer=optimizer, lr_fn=lr_fn,
                          args=s, mask=mask, resume=s.resume, device=device, start_step=start_step,
                          input_size=s.input_size(info), measured=measured)
        result = trainer.fit()
    if distributed.is_main():
        print(f"done: best top-1 {result['best_top1']:.2f}% (epoch {result['best_epoch']}), "
              f"final {result['final_top1']:.2f}%, params {result['params']:,}, FLOPs {result['flops']:,}; "
              f"{run_dir / 'result.json'}", flush=True)
    return result


class _NoClaim:
    """What a process other than rank 0 holds: nothing (rank 0 owns the folder)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ----------------------------------------------------------------------------- train

def train(method, *, arch: str, dataset: str = "cifar10", training: str = "main", argv=None, **recipe):
    """``main.py``: train ``arch`` with the recipe (any :class:`~common.engine.TrainConfig` field: epochs, lr,
    batch_size, weight_decay, schedule, milestones, lr_decay, warmup_epochs, nesterov, ...) and the method's
    training additions (its :class:`~common.methods.Training`)."""
    m = get_method(method)
    t = m.trainings[training]
    kind = DATASETS[dataset].kind if dataset in DATASETS else None
    parser, settings = entry_point(f"{m.name}: train", [
        Part(t.settings, title=m.name),
        Part(ModelSettings, {"arch": arch}, "model",
             helps={"arch": f"model (default {arch}); one of {', '.join(list_archs(kind))}"}),
        Part(DataSettings, {"dataset": dataset}, "data", choices={"dataset": sorted(DATASETS)}),
        Part(TrainConfig, recipe, "training"),
        Part(RunSettings, title="run folder")], name=f"{m.name}-train")

    def run(s):
        s = resolve_dataset(s)                                               # --dataset folder: the folder's
        info = dataset_info(s.dataset)
        check_kind(s.arch, info.kind, s.dataset)
        s = t.resolve(s.replace(arch=resolve_arch(s.arch, info.kind)))       # vgg16 on ImageNet: torchvision's
        arm, variant = t.arm(s), t.variant(s)
        seed_everything(s.seed)
        model = t.network(s, info) or s.build(info)
        tag = f"{variant}-seed{s.seed}" if variant else f"seed{s.seed}"
        return run_training(s, model, dataset=s.dataset, method=m, arm=arm, tag=tag, meta={"variant": variant},
                            hooks=t.hooks(s, model), measured=m.measured(model), uses_method=type(t) is not Training)

    return main_guard(run, parser, argv, settings)


# ----------------------------------------------------------------------------- prune

@dataclass
class PruneData:
    """What a pruning function may read: the loaders, the input size, and class-balanced samples."""

    train: object
    test: object
    input_size: tuple
    sample: object          # (count) -> list of (x, y) class-balanced training batches on the device
    folder: Path = None     # the run folder


@dataclass(frozen=True)
class PruneRun(ImageSettings):
    """The flags every ``prune.py`` has."""

    checkpoint: Optional[str] = flag(None, "the trained model to prune (checkpoint.pt / best.pt)")
    published: Optional[str] = flag(None, "build this published architecture instead (fresh weights; for "
                                          "main_scratch.py)")
    dataset: Optional[str] = flag(None, "dataset (default: the checkpoint's)")
    data_dir: str = flag("data", "the dataset's folder (as main.py's --data-dir)")
    save: Optional[str] = flag(None, "output folder (default runs/<dataset>/<method>/<arch>/pruned/"
                                     "<variant>-seed<seed>-<settings hash>)")
    device: Optional[str] = flag(None, "cuda, cuda:N or cpu (default: cuda when available)")
    test_batch_size: int = flag(256, "images per evaluation batch (no effect on results)", type=positive_int)
    batch_size: int = flag(64, "batch size of the training samples a method reads (default %(default)s)",
                           type=positive_int)
    seed: Optional[int] = flag(None, "default: the checkpoint's seed", type=non_negative_int)
    test_subset: Optional[int] = flag(None, "evaluate on the first N test images only (smoke runs)",
                                      type=positive_int)
    holdout: Optional[int] = derived(None)     # training images the checkpoint's run held out (MetaPruning)


PRETRAINED = "pretrained"      # a baseline trained elsewhere (a downloaded checkpoint): any method prunes it


def _check_source(ckpt, path, method, accepts=()):
    if ckpt["method"] != method and ckpt["method"] not in (*accepts, PRETRAINED):
        raise UserError(f"{path} was made by {ckpt['method']}, not {method}; use {ckpt['method']}'s entry points "
                        f"or a checkpoint from {method}")


def _dataset_of(s, ckpt, path):
    folder = s.dataset == "folder" and ckpt["dataset"].startswith("folder:")   # the folder named by the checkpoint
    if s.dataset is not None and s.dataset != ckpt["dataset"] and not folder:
        raise UserError(f"{path} was trained on {ckpt['dataset']}, not {s.dataset}")
    return ckpt["dataset"]


def model_figures(model, mask, input_size) -> dict:
    """Parameters and FLOPs of a (possibly masked) model, and its sparsity when masked."""
    nonzero = mask is not None
    figures = {"params": kept_params(model, mask) if nonzero else count_params(model),
               "flops": count_flops(model, input_size, nonzero)}
    if nonzero:
        figures["sparsity"] = mask_sparsity(mask)
    return figures


def write_pruned(folder: Path, model, mask, *, dataset, method, meta: dict, record: dict, input_size, args=None):
    """The one writer of a pruned model: ``pruned.pt`` (weights, cfg, mask, meta) and ``result.json``
    (``record`` plus the model's parameters, FLOPs, sparsity and their reduction against ``meta``'s
    ``base_params`` / ``base_flops``). Returns the result dict."""
    figures = model_figures(model, mask, input_size)
    result = {"dataset": dataset, "method": method.name, "arm": "pruned", "arch": model.arch, "cfg": list(model.cfg),
              **record, **figures}
    if meta.get("base_params"):
        result["params_reduction"] = 1 - figures["params"] / meta["base_params"]
        result["flops_reduction"] = 1 - figures["flops"] / meta["base_flops"]
    result["code_revision"], result["code"] = code_revision(), method.code()
    save_checkpoint(make_checkpoint(model.cpu(), dataset, method.name, "pruned", mask=mask, args=args,
                                    meta={**meta, **method_meta(method)}), folder / "pruned.pt")
    write_json(folder / "result.json", result)
    return result


def prune_entry(m, batch_size: int = 64):
    """The parser and settings class of ``prune.py`` of method ``m``."""
    return entry_point(f"{m.name}: prune a trained model", [
        Part(m.prune_settings, title=m.name),
        Part(PruneRun, {"batch_size": batch_size}, choices={"published": sorted(m.published)},
             omit=() if m.published else ("published",))], name=f"{m.name}-prune")


def prune(method, *, batch_size: int = 64, dataset: str | None = None, argv=None):
    """``prune.py``: the method's pruning of a trained checkpoint, written as ``pruned.pt`` + ``result.json``;
    or, with ``--published NAME``, a published pruned architecture of the method, built from its widths
    without running the algorithm (for Scratch-E/B, as the original code trained them)."""
    m = get_method(method)
    parser, settings = prune_entry(m, batch_size)

    def run(s):
        distributed.refuse_under_torchrun("prune.py")
        if s.published:
            return _build_published(s, m, dataset)
        if s.checkpoint is None:
            raise UserError("give --checkpoint, the trained model to prune"
                            + (f", or --published NAME ({', '.join(sorted(m.published))})" if m.published else ""))
        ckpt = load_checkpoint(s.checkpoint)
        _check_source(ckpt, s.checkpoint, m.name, m.accepts)
        if ckpt["arm"] == "pruned":
            raise UserError(f"{s.checkpoint} is already a pruned model; prune a trained one")
        if str(ckpt["meta"].get("source", "")).endswith("pruned.pt"):
            print(f"note: {s.checkpoint} is the {ckpt['arm']} run of a network {ckpt['method']} already pruned "
                  f"({ckpt['meta'].get('variant')}): pruning it again, with its cfg {ckpt['cfg']} as the base",
                  file=sys.stderr)
        s = s.replace(dataset=_dataset_of(s, ckpt, s.checkpoint),
                      seed=ckpt["meta"].get("seed", 0) if s.seed is None else s.seed,
                      image_size=s.image_size or ckpt["args"].get("image_size"))
        s = m.resolve_pruning(s, ckpt)
        variant = m.pruned_variant(s, ckpt)
        info = dataset_info(s.dataset)
        model = m.load(s, ckpt) or model_from_checkpoint(ckpt)
        model = m.prepare(s, model, ckpt) or model      # e.g. fold SSS's block scales, add channel samplers
        m.check(s, model, s.input_size(info))
        save = run_dir_of(s, s.dataset, m.name, model.arch, "pruned", f"{variant}-seed{s.seed}")
        with RunFolder(save, s, holds="result.json"):
            return _prune(s, m, ckpt, model, variant, save, info)

    return main_guard(run, parser, argv, settings)


def _build_published(s, m, default_dataset):
    """A published architecture of the method at its widths, freshly initialised, as a pruned checkpoint
    (meta ``published``: it has no trained weights, so only Scratch-E/B take it)."""
    if s.checkpoint is not None:
        raise UserError("give --checkpoint or --published, not both")
    s = s.replace(dataset=s.dataset or default_dataset, seed=0 if s.seed is None else s.seed)
    if s.dataset is None:
        raise UserError("--published needs --dataset")
    arch, cfg = m.published[s.published]
    info = dataset_info(s.dataset)
    model = model_for(s.dataset, arch, cfg)
    base = model_for(s.dataset, arch)
    shape = s.input_size(info)
    save = run_dir_of(s, s.dataset, m.name, arch, "pruned", f"{s.published}-seed{s.seed}")
    with RunFolder(save, s, holds="result.json"):
        seed_everything(s.seed)
        base_params, base_flops = count_params(base), count_flops(base, shape)
        meta = {"variant": s.published, "seed": s.seed, "base_cfg": list(base.cfg), "base_flops": base_flops,
                "base_params": base_params, "published": True, "source": "published"}
        result = write_pruned(save, model, None, dataset=s.dataset, method=m, meta=meta, input_size=shape,
                              record={**{k: meta[k] for k in ("variant", "seed", "base_cfg", "published", "source")},
                                      "base_params": base_params, "base_flops": base_flops}, args=s)
    print(f"{m.name} {s.published} (published widths, fresh weights): params {base_params:,} -> "
          f"{result['params']:,}; FLOPs {base_flops:,} -> {result['flops']:,} "
          f"({base_flops / result['flops']:.3f}x fewer); train it with main_scratch.py --checkpoint "
          f"{save / 'pruned.pt'}")
    return result


def _prune(s, m, ckpt, model, variant, save, info):
    started = time.perf_counter()
    seed_everything(s.seed)
    device = resolve_device(s.device)
    model.to(device)
    train_loader, test_loader, _ = make_loaders(s.dataset, s.data_dir, s.batch_size, s.test_batch_size,
                                                device=device, seed=s.seed, test_subset=s.test_subset,
                                                image_size=s.image_size, workers=s.workers, gpu_decode=s.gpu_decode,
                                                holdout=s.holdout)
    shape = s.input_size(info)
    base_top1 = evaluate(model, test_loader, device)[1]
    base_cfg, base_mask = list(model.cfg), ckpt.get("mask")
    base = m.measured(model)
    base_flops = count_flops(base, shape, base_mask is not None)
    base_params = count_params(base, base_mask is not None)
    sample = partial(balanced_sample, s.dataset, s.data_dir, batch_size=s.batch_size, seed=s.seed,
                     device=device, image_size=s.image_size)
    out = m.prune(s, model, ckpt, PruneData(train_loader, test_loader, shape, sample, save))
    pruned = out.model.to(device)
    top1 = evaluate(pruned, test_loader, device)[1]
    cost = {"prune_s": round(time.perf_counter() - started, 2), "device": distributed.device_name(device)}
    meta = {"variant": variant, "seed": s.seed, "base_cfg": base_cfg, "base_flops": base_flops,
            "base_params": base_params, "base_top1": base_top1, "source": str(s.checkpoint),
            "base_arm": ckpt["arm"], "source_cost": ckpt.get("cost")}
    record = {"variant": variant, "seed": s.seed, "base_cfg": base_cfg, "top1_before": base_top1,
              "top1_after": top1, "best_top1": top1, "final_top1": top1, "base_params": base_params,
              "base_flops": base_flops, "source": str(s.checkpoint), "base_arm": ckpt["arm"], "report": out.report,
              "cost": cost, "source_cost": ckpt.get("cost")}
    result = write_pruned(save, pruned, out.mask, dataset=s.dataset, method=m, meta=meta, record=record,
                          input_size=shape, args=s)
    print(f"{m.name} {variant}: top-1 {base_top1:.2f}% -> {top1:.2f}% (before fine-tuning); "
          f"params {base_params:,} -> {result['params']:,} ({100 * result['params_reduction']:.1f}% fewer); "
          f"FLOPs {base_flops:,} -> {result['flops']:,} ({100 * result['flops_reduction']:.1f}% fewer)")
    print(f"cfg {list(pruned.cfg)}")
    print(f"saved {save / 'pruned.pt'}")
    return result


# ----------------------------------------------------------------------------- fine-tune / scratch

@dataclass(frozen=True)
class Retraining(Settings):
    """The flags every ``main_finetune.py`` and ``main_scratch.py`` has beside the training ones."""

    checkpoint: Optional[str] = flag(None, "pruned checkpoint (pruned.pt from prune.py)", required=True)


@dataclass(frozen=True)
class ScratchBudget(Settings):
    """The flags of ``main_scratch.py``."""

    budget: str = flag("E", "E: the baseline's epochs; B: epochs x FLOPs(base)/FLOPs(pruned)", choices=("E", "B"))
    budget_cap: Optional[float] = flag(None, "Scratch-B: at most this many times the epochs (default %(default)s)",
                                       type=positive_float)


def _load_pruned(s, method, accepts, arm):
    ckpt = load_checkpoint(s.checkpoint)
    _check_source(ckpt, s.checkpoint, method, accepts)
    if ckpt["arm"] != "pruned":
        raise UserError(f"{s.checkpoint} is a {ckpt['arm']} checkpoint; give the pruned.pt written by prune.py")
    check_meta(ckpt, s.checkpoint, ("variant", "base_cfg"))
    if arm == "finetune" and ckpt["meta"].get("published"):
        raise UserError(f"{s.checkpoint} is a published architecture with fresh weights: nothing to fine-tune; "
                        f"train it with main_scratch.py")
    s = s.replace(dataset=_dataset_of(s, ckpt, s.checkpoint),
                  seed=ckpt["meta"].get("seed", 1) if s.seed is None else s.seed,
                  image_size=s.image_size or ckpt["args"].get("image_size"))
    return s, ckpt


def scratch_epochs(budget: str, epochs: int, base_flops: int, flops: int,
                   cap: float | None = None) -> tuple[int, float]:
    """Scratch-E: ``epochs``; Scratch-B: ``int(epochs * base_flops / flops)`` (same compute), the ratio
    capped at ``cap`` if given (the original's ImageNet rule: at most 2x, i.e. 180 of 90 epochs)."""
    ratio = base_flops / flops
    return (epochs if budget == "E" else int(epochs * (ratio if cap is None else min(ratio, cap)))), ratio


def _retrain(method, arm: str, argv, recipe, description, budget_cap=None):
    m = get_method(method)
    own = m.finetune_settings if arm == "finetune" else m.scratch_settings
    parser, settings = entry_point(description, [
        Part(own, title=m.name),
        Part(Retraining),
        *([Part(ScratchBudget, {"budget_cap": budget_cap})] if arm == "scratch" else []),
        Part(DataSettings, {"dataset": None}, "data", choices={"dataset": sorted(DATASETS)}),
        Part(TrainConfig, {**recipe, "seed": None}, "training", helps={"seed": "default: the pruned model's seed"}),
        Part(RunSettings, title="run folder")], name=f"{m.name}-{arm}")

    def run(s):
        s, ckpt = _load_pruned(s, m.name, m.accepts, arm)
        seed_everything(s.seed)
        variant, mask = ckpt["meta"]["variant"], ckpt.get("mask")
        meta = {"variant": variant, "source": s.checkpoint, "source_cost": ckpt["meta"].get("source_cost")}
        if arm == "finetune":
            model, epochs, run_arm = model_from_checkpoint(ckpt), None, "finetune"
        else:
            model = model_from_checkpoint(ckpt, load_weights=False)       # fresh initialisation
            if mask is not None:  # the same sparse architecture: the keep-mask on the fresh weights
                m.reinit(s, model, mask)
                apply_mask_(model, mask)
            shape = s.input_size(dataset_info(s.dataset))
            base = build_model(ckpt["arch"], ckpt["num_classes"], ckpt["in_channels"], ckpt["meta"]["base_cfg"])
            epochs, ratio = scratch_epochs(s.budget, s.epochs, count_flops(base, shape),
                                           count_flops(model, shape, nonzero=mask is not None), s.budget_cap)
            run_arm = f"scratch-{s.budget}"
            meta.update(budget=s.budget, flops_ratio=ratio, base_epochs=s.epochs)
        return run_training(s, model, dataset=s.dataset, method=m, arm=run_arm, tag=f"{variant}-seed{s.seed}",
                            hooks=m.retrain_hooks(arm, s, model, ckpt), epochs=epochs, mask=mask, meta=meta)

    return main_guard(run, parser, argv, settings)


def finetune(method, *, argv=None, **recipe):
    """``main_finetune.py``: keep training the pruned weights (its keep-mask, if any, held)."""
    return _retrain(method, "finetune", argv, recipe, f"{get_method(method).name}: fine-tune the pruned weights")


def scratch(method, *, budget_cap: float | None = None, argv=None, **recipe):
    """``main_scratch.py``: the pruned architecture re-initialised and trained, ``--budget E|B``; the lr
    decays at the recipe's fractions of the run, so Scratch-B stretches every lr stage alike."""
    return _retrain(method, "scratch", argv, recipe,
                    f"{get_method(method).name}: train the pruned architecture from scratch", budget_cap)
