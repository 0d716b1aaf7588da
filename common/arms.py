"""The arms of the paper's comparison, for any declared method (``common.methods``).

  train      ``main.py``           the baseline, or the method's own training run
  prune      ``prune.py``          score, select and build the smaller model (the method's algorithm)
  finetune   ``main_finetune.py``  keep training the pruned weights, small lr
  scratch    ``main_scratch.py``   re-initialise the pruned (arch, cfg[, mask]) and train:
                                   E = same epochs, B = same compute (epochs x FLOPs(base) / FLOPs(pruned))

An entry point is a recipe: the paper's defaults and one call, e.g.
``train("slimming", arch="vgg19", epochs=160, lr=0.1)``. Each call parses the shared flags
(``common.cli``) and the method's own, resolves the defaults that depend on other flags, claims
its run folder (``common.runs``: named by the settings, one process, refused resume on other
settings) and runs the one engine. Its ``--help`` is the recipe file's docstring.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
import torch.nn as nn

from common import distributed
from common.checkpoint import (check_meta, code_revision, load_checkpoint, make_checkpoint, model_from_checkpoint,
                               save_checkpoint, write_json)
from common.cli import (ArgumentParser, add_data_args, add_image_args, add_model_args, add_run_args, add_train_args,
                        data_options, input_size, main_guard, non_negative_int, parse_cfg, positive_float,
                        positive_int, recipe_doc, resolve_device, train_config)
from common.data import balanced_sample, dataset_info, make_loaders, num_samples
from common.engine import Trainer, evaluate, seed_everything
from common.errors import UserError
from common.flops import count_flops, count_params
from common.masks import apply_mask_, kept_params
from common.masks import sparsity as mask_sparsity
from common.methods import get_method
from common.models import build_model, check_kind
from common.runs import RUNS_ROOT, RunFolder, checked_save, run_folder, settings_of


def model_for(dataset: str, arch: str, cfg=None) -> nn.Module:
    """``(arch, cfg)`` for ``dataset``: the arch must be of the dataset's kind."""
    info = dataset_info(dataset)
    check_kind(arch, info.kind, dataset)
    return build_model(arch, info.num_classes, info.in_channels, cfg)


def run_dir_of(args, dataset, method, arch, arm, tag) -> Path:
    """``--save`` if given, else the default folder named by the run's settings (``common.runs``)."""
    save = checked_save(args.save)
    return save if save is not None else run_folder(RUNS_ROOT, dataset, method, arch, arm, tag, settings_of(args))


def _check_batch(model, batch_size):
    if batch_size // distributed.world_size() < 2 and any(isinstance(m, nn.BatchNorm1d) for m in model.modules()):
        raise UserError(f"--batch-size {batch_size} gives one image per step, and {model.arch} has a BatchNorm1d "
                        f"layer that cannot train on one; use --batch-size 2 or more")


def run_training(args, model, *, dataset, method, arm, tag, meta=None, hooks=(), epochs=None, mask=None,
                 optimizer=None, lr_fn=None, config=None, loaders=None, start_step=0):
    """Claim the run folder, load the data (unless ``loaders=(train, test)`` are given), place the
    model and run the engine; returns the result dict. Under torchrun, one process per GPU."""
    local_rank = distributed.init_from_env()
    device = resolve_device(args.device)
    if distributed.world_size() > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
    _check_batch(model, args.batch_size)
    run_dir = run_dir_of(args, dataset, method, model.arch, arm, tag)
    info = dataset_info(dataset)
    claim = RunFolder(run_dir, args, resume=args.resume) if distributed.is_main() else _NoClaim()
    with claim:
        train, test = loaders or make_loaders(dataset, args.data_dir, args.batch_size, args.test_batch_size,
                                              device=device, seed=args.seed, subset=args.subset,
                                              channels_last=args.channels_last, test_subset=args.test_subset,
                                              **data_options(args))[:2]
        model.to(device)
        if mask is not None:
            mask = {k: v.to(device) for k, v in mask.items()}
        config = config or train_config(args, epochs)
        meta = {"dataset": dataset, "method": method, "arm": arm, "seed": args.seed, **(meta or {})}
        if distributed.is_main():
            procs = f", {distributed.world_size()} processes" if distributed.world_size() > 1 else ""
            print(f"{method} {arm}: {model.arch} on {dataset} ({num_samples(train)} train images{procs}), "
                  f"{config.epochs} epochs, lr {config.lr}, run dir {run_dir}", flush=True)
        trainer = Trainer(model, train, test, config, run_dir, meta, hooks=hooks, optimizer=optimizer, lr_fn=lr_fn,
                          args=args, mask=mask, resume=args.resume, device=device, start_step=start_step,
                          input_size=input_size(info, args))
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

def train(method: str, *, arch: str, dataset: str = "cifar10", training: str = "main", argv=None, **recipe):
    """``main.py``: train ``arch`` with the recipe (epochs, lr, batch_size, weight_decay, schedule,
    milestones, lr_decay, warmup_epochs, nesterov) and the method's training additions."""
    t = get_method(method).trainings[training]
    p = ArgumentParser(description=recipe_doc(f"{method}: train"))
    add_model_args(p, arch)
    add_data_args(p, dataset)
    add_train_args(p, **recipe)
    add_run_args(p)
    if t.flags:
        t.flags(p)

    def run(args):
        info = dataset_info(args.dataset)
        check_kind(args.arch, info.kind, args.dataset)
        if t.resolve:
            t.resolve(args)
        arm = t.arm(args) if callable(t.arm) else t.arm
        variant = t.variant(args) if t.variant else None
        seed_everything(args.seed)
        model = t.model(args, info) if t.model else build_model(args.arch, info.num_classes, info.in_channels,
                                                                 parse_cfg(args.cfg))
        hooks = t.hooks(args, model) if t.hooks else []
        tag = f"{variant}-seed{args.seed}" if variant else f"seed{args.seed}"
        return run_training(args, model, dataset=args.dataset, method=method, arm=arm, tag=tag,
                            meta={"variant": variant}, hooks=hooks)

    return main_guard(run, p, argv)


# ----------------------------------------------------------------------------- prune

@dataclass
class PruneData:
    """What a pruning function may read: the loaders, the input size, and class-balanced samples."""

    train: object
    test: object
    input_size: tuple
    sample: object          # (count) -> list of normalised training batches on the device
    folder: Path = None     # the run folder


PRETRAINED = "pretrained"      # a baseline trained elsewhere (a downloaded checkpoint): any method prunes it


def _check_source(ckpt, path, method, accepts=()):
    if ckpt["method"] != method and ckpt["method"] not in (*accepts, PRETRAINED):
        raise UserError(f"{path} was made by {ckpt['method']}, not {method}; use {ckpt['method']}'s entry points "
                        f"or a checkpoint from {method}")


def _dataset_of(args, ckpt, path):
    if args.dataset is not None and args.dataset != ckpt["dataset"]:
        raise UserError(f"{path} was trained on {ckpt['dataset']}, not {args.dataset}")
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
    result = {"dataset": dataset, "method": method, "arm": "pruned", "arch": model.arch, "cfg": list(model.cfg),
              **record, **figures}
    if meta.get("base_params"):
        result["params_reduction"] = 1 - figures["params"] / meta["base_params"]
        result["flops_reduction"] = 1 - figures["flops"] / meta["base_flops"]
    result["code_revision"] = code_revision()
    save_checkpoint(make_checkpoint(model.cpu(), dataset, method, "pruned", mask=mask, args=args, meta=meta),
                    folder / "pruned.pt")
    write_json(folder / "result.json", result)
    return result


def prune(method: str, *, batch_size: int = 64, dataset: str | None = None, argv=None):
    """``prune.py``: the method's pruning of a trained checkpoint, written as ``pruned.pt`` + ``result.json``;
    or, with ``--published NAME``, a published pruned architecture of the method, built from its widths
    without running the algorithm (for Scratch-E/B, as the original code trained them)."""
    m = get_method(method)
    pr = m.pruning
    p = ArgumentParser(description=recipe_doc(f"{method}: prune a trained model"))
    p.add_argument("--checkpoint", default=None, help="the trained model to prune (checkpoint.pt / best.pt)")
    if pr.published:
        p.add_argument("--published", choices=sorted(pr.published), default=None,
                       help="build this published architecture instead (fresh weights; for main_scratch.py)")
    p.add_argument("--dataset", default=None,
                   help=f"dataset (default: the checkpoint's{f', or {dataset}' if dataset else ''})")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--save", default=None, help="output folder (default runs/<dataset>/<method>/<arch>/pruned/"
                                                "<variant>-seed<seed>-<settings hash>)")
    p.add_argument("--device", default=None)
    p.add_argument("--test-batch-size", type=positive_int, default=256)
    p.add_argument("--batch-size", type=positive_int, default=batch_size,
                   help="batch size of the training samples a method reads")
    p.add_argument("--seed", type=non_negative_int, default=None, help="default: the checkpoint's seed")
    p.add_argument("--test-subset", type=positive_int, default=None,
                   help="evaluate on the first N test images only (smoke runs)")
    add_image_args(p)
    if pr.flags:
        pr.flags(p)

    def run(args):
        distributed.refuse_under_torchrun("prune.py")
        if getattr(args, "published", None):
            return _build_published(args, method, pr, dataset)
        if args.checkpoint is None:
            raise UserError("give --checkpoint, the trained model to prune"
                            + (f", or --published NAME ({', '.join(sorted(pr.published))})" if pr.published else ""))
        ckpt = load_checkpoint(args.checkpoint)
        _check_source(ckpt, args.checkpoint, method, pr.accepts)
        if ckpt["arm"] == "pruned":
            raise UserError(f"{args.checkpoint} is already a pruned model; prune a trained one")
        args.dataset = _dataset_of(args, ckpt, args.checkpoint)
        if args.seed is None:
            args.seed = ckpt["meta"].get("seed", 0)
        if args.image_size is None:
            args.image_size = ckpt["args"].get("image_size")
        if pr.resolve:
            pr.resolve(args, ckpt)
        variant = pr.variant(args, ckpt)
        info = dataset_info(args.dataset)
        model = pr.load(args, ckpt) if pr.load else model_from_checkpoint(ckpt)
        if pr.prepare:      # e.g. fold SSS's block scales, add the regression method's channel samplers
            model = pr.prepare(args, model, ckpt) or model
        if pr.check:
            pr.check(args, model, input_size(info, args))
        save = run_dir_of(args, args.dataset, method, model.arch, "pruned", f"{variant}-seed{args.seed}")
        with RunFolder(save, args, holds="result.json"):
            return _prune(args, method, pr, ckpt, model, variant, save, info)

    return main_guard(run, p, argv)


def _build_published(args, method, pr, default_dataset):
    """A published architecture of the method at its widths, freshly initialised, as a pruned checkpoint
    (meta ``published``: it has no trained weights, so only Scratch-E/B take it)."""
    if args.checkpoint is not None:
        raise UserError("give --checkpoint or --published, not both")
    args.dataset = args.dataset or default_dataset
    if args.dataset is None:
        raise UserError("--published needs --dataset")
    args.seed = 0 if args.seed is None else args.seed
    arch, cfg = pr.published[args.published]
    info = dataset_info(args.dataset)
    model = model_for(args.dataset, arch, cfg)
    base = model_for(args.dataset, arch)
    shape = input_size(info, args)
    save = run_dir_of(args, args.dataset, method, arch, "pruned", f"{args.published}-seed{args.seed}")
    with RunFolder(save, args, holds="result.json"):
        seed_everything(args.seed)
        base_params, base_flops = count_params(base), count_flops(base, shape)
        meta = {"variant": args.published, "seed": args.seed, "base_cfg": list(base.cfg), "base_flops": base_flops,
                "base_params": base_params, "published": True, "source": "published"}
        result = write_pruned(save, model, None, dataset=args.dataset, method=method, meta=meta, input_size=shape,
                              record={**{k: meta[k] for k in ("variant", "seed", "base_cfg", "published", "source")},
                                      "base_params": base_params, "base_flops": base_flops}, args=args)
    print(f"{method} {args.published} (published widths, fresh weights): params {base_params:,} -> "
          f"{result['params']:,}; FLOPs {base_flops:,} -> {result['flops']:,} "
          f"({base_flops / result['flops']:.3f}x fewer); train it with main_scratch.py --checkpoint "
          f"{save / 'pruned.pt'}")
    return result


def _prune(args, method, pr, ckpt, model, variant, save, info):
    seed_everything(args.seed)
    device = resolve_device(args.device)
    model.to(device)
    train_loader, test_loader, _ = make_loaders(args.dataset, args.data_dir, args.batch_size, args.test_batch_size,
                                                device=device, seed=args.seed, test_subset=args.test_subset,
                                                **data_options(args))
    shape = input_size(info, args)
    base_top1 = evaluate(model, test_loader, device)[1]
    base_cfg, base_mask = list(model.cfg), ckpt.get("mask")
    base = model.base_network() if hasattr(model, "base_network") else model    # a PruningNet: its widest network
    base_flops = count_flops(base, shape, base_mask is not None)
    base_params = count_params(base, base_mask is not None)
    sample = partial(balanced_sample, args.dataset, args.data_dir, batch_size=args.batch_size, seed=args.seed,
                     device=device, image_size=args.image_size)
    out = pr.run(args, model, ckpt, PruneData(train_loader, test_loader, shape, sample, save))
    pruned = out.model.to(device)
    top1 = evaluate(pruned, test_loader, device)[1]
    meta = {"variant": variant, "seed": args.seed, "base_cfg": base_cfg, "base_flops": base_flops,
            "base_params": base_params, "base_top1": base_top1, "source": str(args.checkpoint),
            "base_arm": ckpt["arm"]}
    record = {"variant": variant, "seed": args.seed, "base_cfg": base_cfg, "top1_before": base_top1,
              "top1_after": top1, "best_top1": top1, "final_top1": top1, "base_params": base_params,
              "base_flops": base_flops, "source": str(args.checkpoint), "base_arm": ckpt["arm"], "report": out.report}
    result = write_pruned(save, pruned, out.mask, dataset=args.dataset, method=method, meta=meta, record=record,
                          input_size=shape, args=args)
    print(f"{method} {variant}: top-1 {base_top1:.2f}% -> {top1:.2f}% (before fine-tuning); "
          f"params {base_params:,} -> {result['params']:,} ({100 * result['params_reduction']:.1f}% fewer); "
          f"FLOPs {base_flops:,} -> {result['flops']:,} ({100 * result['flops_reduction']:.1f}% fewer)")
    print(f"cfg {list(pruned.cfg)}")
    print(f"saved {save / 'pruned.pt'}")
    return result


# ----------------------------------------------------------------------------- fine-tune / scratch

def _load_pruned(args, method, accepts, arm):
    ckpt = load_checkpoint(args.checkpoint)
    _check_source(ckpt, args.checkpoint, method, accepts)
    if ckpt["arm"] != "pruned":
        raise UserError(f"{args.checkpoint} is a {ckpt['arm']} checkpoint; give the pruned.pt written by prune.py")
    check_meta(ckpt, args.checkpoint, ("variant", "base_cfg"))
    if arm == "finetune" and ckpt["meta"].get("published"):
        raise UserError(f"{args.checkpoint} is a published architecture with fresh weights: nothing to fine-tune; "
                        f"train it with main_scratch.py")
    args.dataset = _dataset_of(args, ckpt, args.checkpoint)
    if args.seed is None:
        args.seed = ckpt["meta"].get("seed", 1)
    if args.image_size is None:
        args.image_size = ckpt["args"].get("image_size")
    return ckpt


def scratch_epochs(budget: str, epochs: int, base_flops: int, flops: int,
                   cap: float | None = None) -> tuple[int, float]:
    """Scratch-E: ``epochs``; Scratch-B: ``int(epochs * base_flops / flops)`` (same compute), the ratio
    capped at ``cap`` if given (the original's ImageNet rule: at most 2x, i.e. 180 of 90 epochs)."""
    ratio = base_flops / flops
    return (epochs if budget == "E" else int(epochs * (ratio if cap is None else min(ratio, cap)))), ratio


def _retrain(method: str, arm: str, argv, recipe, description, budget_cap=None):
    m = get_method(method)
    r = m.finetune if arm == "finetune" else m.scratch
    accepts = m.pruning.accepts if m.pruning else ()
    p = ArgumentParser(description=recipe_doc(description))
    p.add_argument("--checkpoint", required=True, help="pruned checkpoint (pruned.pt from prune.py)")
    add_data_args(p, dataset=None)
    add_train_args(p, **recipe)
    add_run_args(p)
    p.set_defaults(seed=None)
    if arm == "scratch":
        p.add_argument("--budget", choices=("E", "B"), default="E",
                       help="E: the baseline's epochs; B: epochs x FLOPs(base)/FLOPs(pruned)")
        p.add_argument("--budget-cap", type=positive_float, default=budget_cap,
                       help=f"Scratch-B: at most this many times the epochs (default {budget_cap or 'none'})")
    if r.flags:
        r.flags(p)

    def run(args):
        ckpt = _load_pruned(args, method, accepts, arm)
        seed_everything(args.seed)
        variant, mask = ckpt["meta"]["variant"], ckpt.get("mask")
        meta = {"variant": variant, "source": args.checkpoint}
        if arm == "finetune":
            model, epochs, run_arm = model_from_checkpoint(ckpt), None, "finetune"
        else:
            model = model_from_checkpoint(ckpt, load_weights=False)       # fresh initialisation
            if mask is not None:  # the same sparse architecture: the keep-mask on the fresh weights
                if r.reinit is not None:
                    r.reinit(args, model, mask)
                apply_mask_(model, mask)
            shape = input_size(dataset_info(args.dataset), args)
            base = build_model(ckpt["arch"], ckpt["num_classes"], ckpt["in_channels"], ckpt["meta"]["base_cfg"])
            epochs, ratio = scratch_epochs(args.budget, args.epochs, count_flops(base, shape),
                                           count_flops(model, shape, nonzero=mask is not None), args.budget_cap)
            run_arm = f"scratch-{args.budget}"
            meta.update(budget=args.budget, flops_ratio=ratio, base_epochs=args.epochs)
        hooks = r.hooks(args, model, ckpt) if r.hooks else []
        return run_training(args, model, dataset=args.dataset, method=method, arm=run_arm,
                            tag=f"{variant}-seed{args.seed}", hooks=hooks, epochs=epochs, mask=mask, meta=meta)

    return main_guard(run, p, argv)


def finetune(method: str, *, argv=None, **recipe):
    """``main_finetune.py``: keep training the pruned weights (its keep-mask, if any, held)."""
    return _retrain(method, "finetune", argv, recipe, f"{method}: fine-tune the pruned weights")


def scratch(method: str, *, budget_cap: float | None = None, argv=None, **recipe):
    """``main_scratch.py``: the pruned architecture re-initialised and trained, ``--budget E|B``; the lr
    decays at the recipe's fractions of the run, so Scratch-B stretches every lr stage alike."""
    return _retrain(method, "scratch", argv, recipe, f"{method}: train the pruned architecture from scratch",
                    budget_cap)
