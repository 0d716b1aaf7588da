"""The arms of the paper's comparison, shared by every method's entry points.

  baseline   train the large model                         ``baseline_main``
  prune      score, select, build the smaller model         ``prune_main`` (+ the method's algorithm)
  fine-tune  keep training the pruned weights, small lr     ``finetune_main``
  scratch    re-initialise the pruned (arch, cfg[, mask])   ``scratch_main``
             and train: E = same epochs, B = same compute
             (epochs x FLOPs(base) / FLOPs(pruned))

Each ``*_main`` parses the shared flags (``common.cli``), takes the method's paper
defaults as keyword arguments, and runs the one engine. A method adds flags with
``add_args(parser)`` and training hooks with ``make_hooks(args, model[, ckpt])``.
Run directory: ``$RUNS_DIR/<dataset>/<method>/<arch>/<arm>/<tag>/`` (``RUNS_DIR`` defaults to
``runs``) unless ``--save`` is given.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from common import distributed
from common.checkpoint import (code_revision, jsonable, load_checkpoint, make_checkpoint,
                               model_from_checkpoint, save_checkpoint)
from common.cli import (ArgumentParser, add_data_args, add_train_args, main_guard, non_negative_int,
                        parse_cfg, positive_int)
from common.data import dataset_info, make_loaders
from common.engine import Trainer, TrainConfig, evaluate, seed_everything
from common.errors import UserError
from common.flops import count_flops, count_params
from common.models import build_model, list_archs
from common.masks import apply_mask_, kept_params
from common.masks import sparsity as mask_sparsity

RUNS_ROOT = Path(os.environ.get("RUNS_DIR", "runs"))  # scripts point RUNS_DIR elsewhere


def resolve_device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown --device {name!r} (cpu, cuda, cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is available")
    return device


def default_run_dir(dataset, method, arch, arm, tag) -> Path:
    return RUNS_ROOT / dataset / method / arch / arm / tag


def model_input_size(dataset: str):
    info = dataset_info(dataset)
    return (info.in_channels, info.image_size, info.image_size)


def train_config(args, epochs=None, schedule=None, **overrides) -> TrainConfig:
    cfg = TrainConfig(epochs=args.epochs if epochs is None else epochs, lr=args.lr, momentum=args.momentum,
                      weight_decay=args.weight_decay, nesterov=args.nesterov,
                      schedule=schedule or args.schedule, amp=args.amp, channels_last=args.channels_last,
                      compile=args.compile, progress=not args.no_progress and sys.stderr.isatty(),
                      milestones=tuple(getattr(args, "milestones", (0.5, 0.75))),
                      gamma=getattr(args, "lr_decay", 0.1), warmup_epochs=getattr(args, "warmup_epochs", 0))
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg


def run_training(args, model, *, dataset, method, arm, tag, meta=None, hooks=(), epochs=None, mask=None,
                 optimizer=None, lr_fn=None, config=None, loaders=None, start_step=0):
    """Load the data (unless ``loaders=(train, test)`` are given), place the model, and run the
    engine; returns the result dict. Under torchrun, one process per GPU (``common.distributed``)."""
    local_rank = distributed.init_from_env()
    device = resolve_device(args.device)
    if distributed.world_size() > 1 and device.type == "cuda":
        device = torch.device("cuda", local_rank)
    run_dir = Path(args.save) if args.save else default_run_dir(dataset, method, model.arch, arm, tag)
    if not args.resume and (run_dir / "checkpoint.pt").exists():
        raise UserError(f"{run_dir} already holds a run; continue it with --resume or choose --save DIR")
    if args.resume and not (run_dir / "checkpoint.pt").is_file():
        raise UserError(f"nothing to resume: {run_dir / 'checkpoint.pt'} does not exist")
    train, test = loaders or make_loaders(dataset, args.data_dir, args.batch_size, args.test_batch_size,
                                          device=device, seed=args.seed, subset=args.subset,
                                          channels_last=args.channels_last, test_subset=args.test_subset)[:2]
    model.to(device)
    if mask is not None:
        mask = {k: v.to(device) for k, v in mask.items()}
    config = config or train_config(args, epochs)
    meta = {"dataset": dataset, "method": method, "arm": arm, "seed": args.seed, **(meta or {})}
    if distributed.is_main():
        procs = f", {distributed.world_size()} processes" if distributed.world_size() > 1 else ""
        print(f"{method} {arm}: {model.arch} on {dataset} ({train.n} train images{procs}), {config.epochs} epochs, "
              f"lr {config.lr}, run dir {run_dir}", flush=True)
    trainer = Trainer(model, train, test, config, run_dir, meta, hooks=hooks(model) if callable(hooks) else hooks,
                      optimizer=optimizer, lr_fn=lr_fn, args=args, mask=mask, resume=args.resume, device=device,
                      start_step=start_step)
    result = trainer.fit()
    if distributed.is_main():
        print(f"done: best top-1 {result['best_top1']:.2f}% (epoch {result['best_epoch']}), "
              f"final {result['final_top1']:.2f}%, params {result['params']:,}, FLOPs {result['flops']:,}; "
              f"{run_dir / 'result.json'}", flush=True)
    return result


def _check_method(ckpt, path, method, accept=()):
    if ckpt["method"] != method and ckpt["method"] not in accept:
        raise UserError(f"{path} was made by {ckpt['method']}, not {method}; use cifar/{ckpt['method']}/ "
                        f"or a checkpoint from cifar/{method}/")


def _dataset_from(args, ckpt, path):
    if args.dataset is None:
        return ckpt["dataset"]
    if args.dataset != ckpt["dataset"]:
        raise UserError(f"{path} was trained on {ckpt['dataset']}, not {args.dataset}")
    return args.dataset


# ----------------------------------------------------------------------------- baseline

def baseline_main(method: str, *, arch: str, epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4,
                  schedule="step", dataset="cifar10", add_args=None, make_hooks=None, arm="baseline",
                  variant=None, description=None, argv=None, **train_defaults):
    """``arm`` and ``variant`` may be functions of the parsed args (e.g. a method's training run
    is its ``baseline`` when its strength flag is 0); ``train_defaults`` go to ``add_train_args``
    (milestones, lr_decay, warmup_epochs, nesterov)."""
    p = ArgumentParser(description=description or f"{method}: train the unpruned baseline")
    p.add_argument("--arch", default=arch, help=f"model (default {arch}); one of {', '.join(list_archs())}")
    p.add_argument("--cfg", default=None, help="width config as a JSON list (default: the arch's full widths)")
    add_data_args(p, dataset)
    add_train_args(p, epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, schedule=schedule,
                   **train_defaults)
    if add_args:
        add_args(p)

    def run(args):
        info = dataset_info(args.dataset)
        seed_everything(args.seed)
        model = build_model(args.arch, info.num_classes, info.in_channels, parse_cfg(args.cfg))
        hooks = make_hooks(args, model) if make_hooks else []
        run_arm = arm(args) if callable(arm) else arm
        run_variant = variant(args) if callable(variant) else variant
        tag = f"{run_variant}-seed{args.seed}" if run_variant else f"seed{args.seed}"
        return run_training(args, model, dataset=args.dataset, method=method, arm=run_arm, tag=tag,
                            meta={"variant": run_variant}, hooks=hooks)

    return main_guard(run, p, argv)


# ----------------------------------------------------------------------------- prune

def prune_main(method: str, *, prune_fn, add_args=None, description=None, accept_methods=(), prepare_fn=None,
               check_fn=None, argv=None):
    """``prune_fn(args, model, ckpt, loaders) -> dict`` with keys ``model`` (the pruned model),
    ``variant`` (a short name for the run tag), ``report`` (JSON-able details) and optionally
    ``mask``. The pruned checkpoint lands in ``<save>/pruned.pt`` with ``result.json``.
    ``check_fn(args, model, input_size)``, if given, runs before any data is loaded: it raises a
    ``UserError`` for flags that do not fit the model, so a bad flag costs no evaluation pass.
    ``prepare_fn(args, model, ckpt)``, if given, runs next (before the unpruned model is
    evaluated): checks on the checkpoint, or folding a method's training state into the model."""
    p = ArgumentParser(description=description or f"{method}: prune a trained model")
    p.add_argument("--checkpoint", required=True, help="the trained model to prune (checkpoint.pt / best.pt)")
    p.add_argument("--dataset", default=None, help="dataset (default: the checkpoint's)")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--save", default=None, help="output folder (default runs/<dataset>/<method>/<arch>/pruned/<variant>-seed<seed>)")
    p.add_argument("--device", default=None)
    p.add_argument("--test-batch-size", type=positive_int, default=256)
    p.add_argument("--batch-size", type=positive_int, default=64,
                   help="batch size of the training samples a method reads")
    p.add_argument("--seed", type=non_negative_int, default=None, help="default: the checkpoint's seed")
    p.add_argument("--test-subset", type=positive_int, default=None,
                   help="evaluate on the first N test images only (smoke runs)")
    if add_args:
        add_args(p)

    def run(args):
        distributed.refuse_under_torchrun("prune.py")
        ckpt = load_checkpoint(args.checkpoint)
        _check_method(ckpt, args.checkpoint, method, accept_methods)
        if ckpt["arm"] == "pruned":
            raise UserError(f"{args.checkpoint} is already a pruned model; prune a trained one")
        dataset = _dataset_from(args, ckpt, args.checkpoint)
        seed = ckpt["meta"].get("seed", 0) if args.seed is None else args.seed
        seed_everything(seed)
        device = resolve_device(args.device)
        model = model_from_checkpoint(ckpt)
        if check_fn is not None:
            check_fn(args, model, model_input_size(dataset))
        if prepare_fn is not None:
            prepare_fn(args, model, ckpt)
        model.to(device)
        train, test, _ = make_loaders(dataset, args.data_dir, args.batch_size, args.test_batch_size,
                                      device=device, seed=seed, test_subset=args.test_subset)
        base_top1 = evaluate(model, test, device)[1]
        base_cfg = list(model.cfg)
        shape = model_input_size(dataset)
        base_mask = ckpt.get("mask")
        base_flops = count_flops(model, shape, base_mask is not None)
        base_params = count_params(model, base_mask is not None)
        out = prune_fn(args, model, ckpt, (train, test))
        pruned, variant, mask = out["model"].to(device), out["variant"], out.get("mask")
        nonzero = mask is not None
        top1 = evaluate(pruned, test, device)[1]
        flops, params = count_flops(pruned, shape, nonzero), (kept_params(pruned, mask) if nonzero
                                                               else count_params(pruned))
        save = Path(args.save) if args.save else default_run_dir(dataset, method, pruned.arch, "pruned",
                                                                   f"{variant}-seed{seed}")
        meta = {"variant": variant, "seed": seed, "base_cfg": base_cfg, "base_flops": base_flops,
                "base_params": base_params, "base_top1": base_top1, "source": str(args.checkpoint),
                "base_arm": ckpt["arm"]}
        result = {"dataset": dataset, "method": method, "arm": "pruned", "variant": variant, "seed": seed,
                  "arch": pruned.arch, "cfg": list(pruned.cfg), "base_cfg": base_cfg,
                  "top1_before": base_top1, "top1_after": top1, "best_top1": top1, "final_top1": top1,
                  "params": params, "flops": flops, "base_params": base_params, "base_flops": base_flops,
                  "params_reduction": 1 - params / base_params, "flops_reduction": 1 - flops / base_flops,
                  **({"sparsity": mask_sparsity(mask)} if nonzero else {}),
                  "source": str(args.checkpoint), "report": out.get("report", {}),
                  "code_revision": code_revision()}
        payload = make_checkpoint(pruned.cpu(), dataset, method, "pruned", mask=mask, args=args, meta=meta)
        save_checkpoint(payload, save / "pruned.pt")
        tmp = save / "result.json.tmp"
        tmp.write_text(json.dumps(jsonable(result), indent=2) + "\n")
        tmp.replace(save / "result.json")
        print(f"{method} {variant}: top-1 {base_top1:.2f}% -> {top1:.2f}% (before fine-tuning); "
              f"params {base_params:,} -> {params:,} ({100 * result['params_reduction']:.1f}% fewer); "
              f"FLOPs {base_flops:,} -> {flops:,} ({100 * result['flops_reduction']:.1f}% fewer)")
        print(f"cfg {list(pruned.cfg)}")
        print(f"saved {save / 'pruned.pt'}")
        return result

    return main_guard(run, p, argv)


# ----------------------------------------------------------------------------- fine-tune / scratch

def _pruned_parser(method, description, epochs, lr, batch_size, weight_decay, schedule, add_args, train_defaults):
    p = ArgumentParser(description=description)
    p.add_argument("--checkpoint", required=True, help="pruned checkpoint (pruned.pt from prune.py)")
    add_data_args(p, dataset=None)
    add_train_args(p, epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, schedule=schedule,
                   **train_defaults)
    p.set_defaults(seed=None)
    if add_args:
        add_args(p)
    return p


def _load_pruned(args, method, accept_methods):
    ckpt = load_checkpoint(args.checkpoint)
    _check_method(ckpt, args.checkpoint, method, accept_methods)
    if ckpt["arm"] != "pruned":
        raise UserError(f"{args.checkpoint} is a {ckpt['arm']} checkpoint; give the pruned.pt written by prune.py")
    dataset = _dataset_from(args, ckpt, args.checkpoint)
    if args.seed is None:
        args.seed = ckpt["meta"].get("seed", 1)
    return ckpt, dataset


def finetune_main(method: str, *, epochs=40, lr=0.001, batch_size=64, weight_decay=1e-4, schedule="constant",
                  add_args=None, make_hooks=None, accept_methods=(), description=None, argv=None,
                  **train_defaults):
    p = _pruned_parser(method, description or f"{method}: fine-tune the pruned weights",
                       epochs, lr, batch_size, weight_decay, schedule, add_args, train_defaults)

    def run(args):
        ckpt, dataset = _load_pruned(args, method, accept_methods)
        seed_everything(args.seed)
        model = model_from_checkpoint(ckpt)
        hooks = make_hooks(args, model, ckpt) if make_hooks else []
        variant = ckpt["meta"]["variant"]
        return run_training(args, model, dataset=dataset, method=method, arm="finetune",
                            tag=f"{variant}-seed{args.seed}", hooks=hooks, mask=ckpt.get("mask"),
                            meta={"variant": variant, "source": args.checkpoint})

    return main_guard(run, p, argv)


def scratch_epochs(budget: str, epochs: int, base_flops: int, flops: int) -> tuple[int, float]:
    """Scratch-E: ``epochs``; Scratch-B: ``int(epochs * base_flops / flops)`` (same compute, uncapped)."""
    ratio = base_flops / flops
    return (epochs if budget == "E" else int(epochs * ratio)), ratio


def scratch_main(method: str, *, epochs=160, lr=0.1, batch_size=64, weight_decay=1e-4, schedule="step",
                 add_args=None, make_hooks=None, accept_methods=(), reinit=None, description=None, argv=None,
                 **train_defaults):
    """``reinit(args, model, mask)`` re-initialises the fresh model of a masked (unstructured) checkpoint
    for its sparsity (default: the arch's own initialisation); the mask is applied either way.
    ``train_defaults`` go to ``add_train_args`` (milestones, lr_decay, warmup_epochs, nesterov)."""
    def extra(p):
        p.add_argument("--budget", choices=("E", "B"), default="E",
                       help="E: the baseline's epochs; B: epochs x FLOPs(base)/FLOPs(pruned)")
        if add_args:
            add_args(p)

    p = _pruned_parser(method, description or f"{method}: train the pruned architecture from scratch",
                       epochs, lr, batch_size, weight_decay, schedule, extra, train_defaults)

    def run(args):
        ckpt, dataset = _load_pruned(args, method, accept_methods)
        seed_everything(args.seed)
        model = model_from_checkpoint(ckpt, load_weights=False)       # fresh initialisation
        mask = ckpt.get("mask")
        shape = model_input_size(dataset)
        if mask is not None:  # the same sparse architecture: apply the keep-mask to the fresh weights
            if reinit is not None:
                reinit(args, model, mask)
            apply_mask_(model, mask)
        base = build_model(ckpt["arch"], ckpt["num_classes"], ckpt["in_channels"], ckpt["meta"]["base_cfg"])
        base_flops = count_flops(base, shape)
        flops = count_flops(model, shape, nonzero=mask is not None)
        n_epochs, ratio = scratch_epochs(args.budget, args.epochs, base_flops, flops)
        hooks = make_hooks(args, model, ckpt) if make_hooks else []
        variant = ckpt["meta"]["variant"]
        arm = f"scratch-{args.budget}"
        return run_training(args, model, dataset=dataset, method=method, arm=arm, tag=f"{variant}-seed{args.seed}",
                            hooks=hooks, epochs=n_epochs, mask=mask,
                            meta={"variant": variant, "source": args.checkpoint, "budget": args.budget,
                                  "flops_ratio": ratio, "base_epochs": args.epochs})

    return main_guard(run, p, argv)
