"""Methods that are a *sequence* of engine runs: the Lottery Ticket rounds and the IMP phases.

A sequence owns one folder (``--save``; default ``runs/<dataset>/<method>/<arch>/<kind>/<tag>-<hash>``,
named by its settings as every run folder, ``common.runs``). Every training in it is an ordinary
engine run in a sub-folder (``result.json`` at the end), every pruning a ``pruned.pt`` written by the
same writer as ``prune.py`` (``common.arms.write_pruned``). Running the same command again skips the
steps that are done and resumes the one that was interrupted (``common.runs.step_state``), so a
killed sequence continues where it stopped; ``sequence.json`` marks the whole sequence done. The
algorithms are in ``common.pruning.lottery`` and ``common.pruning.imp``; this module only
sequences them.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

from common import distributed
from common.arms import model_for, run_training, write_pruned
from common.checkpoint import code_revision, load_checkpoint, model_from_checkpoint, write_json
from common.cli import (ArgumentParser, add_data_args, add_image_args, add_model_args, add_speed_args,
                        add_train_args, data_options, fraction, input_size, main_guard, non_negative_float,
                        non_negative_int, parse_cfg, positive_int, recipe_doc, resolve_device)
from common.data import dataset_info, make_loaders
from common.engine import TrainConfig, evaluate, seed_everything
from common.errors import UserError
from common.masks import apply_mask_, sparse_kaiming_init_, sparsity
from common.pruning import imp, lottery
from common.runs import RUNS_ROOT, RunFolder, checked_save, run_folder, settings_of, step_state

DONE = "sequence.json"


def _root(args, dataset, method, arch, kind, tag) -> Path:
    save = checked_save(args.save)
    return save if save is not None else run_folder(RUNS_ROOT, dataset, method, arch, kind, tag, settings_of(args))


def _finish(root: Path, args, method, arch, dataset):
    runs = sorted(str(p.parent.relative_to(root)) for p in root.rglob("result.json"))
    write_json(root / DONE, {"method": method, "arch": arch, "dataset": dataset, "runs": runs,
                             "code_revision": code_revision()})
    print(f"done: {root}", flush=True)


def _train(args, run_dir: Path, model, **kw):
    """One engine run in ``run_dir`` (skipped when done, resumed when interrupted)."""
    state = step_state(run_dir)
    if state == "done":
        print(f"== skip (done): {run_dir}", flush=True)
        return json.loads((run_dir / "result.json").read_text())
    if state == "resume":
        print(f"== resume: {run_dir}", flush=True)
    a = copy.copy(args)
    a.save, a.resume = str(run_dir), state == "resume"
    return run_training(a, model, **kw)


# ----------------------------------------------------------------------------- Lottery Ticket

def lottery_sequence(method: str = "lottery-ticket", *, arch="vgg16", dataset="cifar10", epochs=160, lr=0.1,
                     batch_size=64, weight_decay=1e-4, rewind_iters=0, description=None, argv=None, **recipe):
    p = ArgumentParser(description=recipe_doc(description or "Lottery Ticket: winning ticket vs random re-init"))
    add_model_args(p, arch)
    add_data_args(p, dataset)
    add_train_args(p, epochs=epochs, lr=lr, batch_size=batch_size, weight_decay=weight_decay, **recipe)
    p.add_argument("--save", default=None, help="the sequence's folder (default runs/<dataset>/lottery-ticket/<arch>/"
                                                "<magnitude|l1>/lr<LR>-seed<S>-<settings hash>)")
    p.add_argument("--prune", choices=("magnitude", "l1"), default="magnitude",
                   help="magnitude: iterative global magnitude pruning of the conv weights; "
                        "l1: one-shot L1-norm filter pruning (Li et al.) as a mask")
    p.add_argument("--rounds", type=positive_int, default=5, help="magnitude pruning rounds (default 5)")
    p.add_argument("--percent", type=fraction, default=0.2,
                   help="fraction of the remaining weights pruned per round, in [0, 1) (default 0.2)")
    p.add_argument("--prune-linear", action="store_true", help="also prune linear weights (open_lth)")
    p.add_argument("--variant", choices=("A", "B"), default="A", help="L1-norm configuration (--prune l1)")
    p.add_argument("--rewind-iters", type=non_negative_int, nargs="+", default=[rewind_iters], metavar="K",
                   help="reset tickets to theta_K, the weights after K iterations of the dense run, and "
                        "train them from iteration K on (0 = the original initialisation; several values run "
                        "several sequences)")
    p.add_argument("--reinit", choices=("sparse", "dense"), default=None,
                   help="random re-init: He init for the surviving connections (sparse, default for "
                        "magnitude) or the arch's init times the mask (dense, default for l1)")

    def run(args):
        distributed.refuse_under_torchrun("the Lottery Ticket sequence")
        device = resolve_device(args.device)
        model_cfg = parse_cfg(args.cfg)
        model_for(args.dataset, args.arch, model_cfg)     # arch/cfg errors first
        if args.prune == "l1":
            from common.pruning.l1norm import variants_for
            if args.variant not in variants_for(args.arch):
                raise UserError(f"no L1-norm variant {args.variant} for {args.arch}; "
                                f"choose an arch with one: vgg16, vgg16_mlp, resnet56, resnet110")
        reinit = args.reinit or ("sparse" if args.prune == "magnitude" else "dense")
        series = f"lr{args.lr:g}"
        root = _root(args, args.dataset, method, args.arch, args.prune, f"{series}-seed{args.seed}")
        if (root / DONE).is_file():
            print(f"== skip (done): {root}", flush=True)
            return
        with RunFolder(root, args, resume=None):
            _lottery(args, method, root, series, device, model_cfg, reinit)

    return main_guard(run, p, argv)


def _lottery(args, method, root, series, device, model_cfg, reinit):
    kinds = ("conv", "linear") if args.prune_linear else ("conv",)
    rounds = args.rounds if args.prune == "magnitude" else 1
    loaders = make_loaders(args.dataset, args.data_dir, args.batch_size, args.test_batch_size, device=device,
                           seed=args.seed, subset=args.subset, channels_last=args.channels_last,
                           test_subset=args.test_subset, **data_options(args))[:2]
    total = args.epochs * len(loaders[0])
    for k in args.rewind_iters:
        if k >= total:
            raise UserError(f"--rewind-iters {k} is not before the end of the dense run "
                            f"({args.epochs} epochs x {len(loaders[0])} iterations = {total})")
    common = dict(dataset=args.dataset, method=method, loaders=loaders)

    # the dense run: records theta_k for every rewind point
    dense_dir = root / "baseline"
    seed_everything(args.seed)
    dense = model_for(args.dataset, args.arch, model_cfg)
    dense_result = _train(args, dense_dir, dense, arm="baseline", tag="", meta={"variant": None, "series": series},
                          hooks=[lottery.RewindPoints(args.rewind_iters)], **common)
    shape = input_size(dataset_info(args.dataset), args)

    for k in args.rewind_iters:
        theta = lottery.load_rewind(dense_dir, k)
        prev = dense_dir / "checkpoint.pt"
        for r in range(1, rounds + 1):
            variant = (f"{series}-k{k}-p{args.percent:g}{'-fc' if args.prune_linear else ''}-r{r:02d}"
                       if args.prune == "magnitude" else f"{series}-k{k}-l1{args.variant}")
            tag = f"{variant}-seed{args.seed}"
            pruned_dir = root / "pruned" / tag
            if (pruned_dir / "pruned.pt").is_file() and (pruned_dir / "result.json").is_file():
                mask = load_checkpoint(pruned_dir / "pruned.pt")["mask"]
            else:
                trained_ckpt = load_checkpoint(prev, expect_arch=args.arch)
                trained = model_from_checkpoint(trained_ckpt).to(device)
                if args.prune == "magnitude":
                    mask = lottery.next_round_mask(trained, args.percent, trained_ckpt.get("mask"), kinds)
                else:
                    mask = lottery.l1_filter_mask(trained, args.variant)
                apply_mask_(trained, mask)
                top1 = evaluate(trained, loaders[1], device)[1]
                meta = {"variant": variant, "seed": args.seed, "base_cfg": list(trained.cfg), "series": series,
                        "round": r, "rewind_iter": k, "source": str(prev),
                        "base_flops": dense_result["flops"], "base_params": dense_result["params"]}
                write_pruned(pruned_dir, trained, mask, dataset=args.dataset, method=method, meta=meta,
                             record={**meta, "top1_after": top1, "best_top1": top1, "final_top1": top1},
                             input_size=shape)
                print(f"round {r}: pruned to {100 * sparsity(mask):.2f}% sparsity, top-1 {top1:.2f}% before "
                      f"retraining; {pruned_dir / 'pruned.pt'}", flush=True)
            meta = {"variant": variant, "series": series, "round": r, "rewind_iter": k,
                    "source": str(pruned_dir / "pruned.pt")}

            ticket = model_for(args.dataset, args.arch, model_cfg)
            lottery.reset_to(ticket, theta, mask)
            # rewound to iteration k, the ticket trains iterations k..T of the dense schedule
            # (Frankle et al. 2020); the random control gets the same iterations
            _train(args, root / "winning-ticket" / tag, ticket, arm="winning-ticket", tag=tag, mask=mask,
                   meta={**meta, "init": f"theta_{k}"}, start_step=k, **common)

            seed_everything(lottery.reinit_seed(args.seed, r))
            control = model_for(args.dataset, args.arch, model_cfg)
            (sparse_kaiming_init_ if reinit == "sparse" else apply_mask_)(control, mask)
            seed_everything(args.seed)
            _train(args, root / "random-init" / tag, control, arm="random-init", tag=tag, mask=mask,
                   meta={**meta, "init": f"random ({reinit})"}, start_step=k, **common)
            prev = root / "winning-ticket" / tag / "checkpoint.pt"
    _finish(root, args, method, args.arch, args.dataset)


# ----------------------------------------------------------------------------- IMP

def imp_sequence(method: str = "imp", *, batch_size=64, weight_decay=1e-4, momentum=0.9, description=None, argv=None):
    p = ArgumentParser(description=recipe_doc(description or "Iterative Magnitude Pruning with a retraining schedule"))
    p.add_argument("--checkpoint", required=True, help="the trained dense model (cifar/imp/main.py)")
    p.add_argument("--dataset", default=None, help="dataset (default: the checkpoint's)")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--subset", type=positive_int, default=None, help="train on the first N training images only")
    p.add_argument("--test-subset", type=positive_int, default=None,
                   help="evaluate on the first N test images only (smoke runs)")
    add_image_args(p)
    p.add_argument("--sparsity", type=fraction, required=True, help="goal sparsity S in [0, 1)")
    p.add_argument("--phases", type=positive_int, default=1, help="prune-retrain phases J (1 = One Shot)")
    p.add_argument("--retrain", default="LLR", help=f"schedule: {', '.join(imp.SCHEDULES)} or BIMP (= ALLR "
                   "with --budget, for a dense run trained with --schedule linear)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--phase-epochs", type=non_negative_int, default=None, help="retraining epochs per phase")
    g.add_argument("--budget", type=non_negative_int, default=None,
                   help="total retraining epochs, split floor(B/J) per phase, the rest in the last")
    p.add_argument("--save", default=None, help="the sequence's folder (default runs/<dataset>/imp/<arch>/<SCHEDULE>/"
                                                "S<S>-J<J>-T<T>-R<R>-seed<S>-<settings hash>)")
    t = p.add_argument_group("training")
    t.add_argument("--batch-size", type=positive_int, default=batch_size)
    t.add_argument("--test-batch-size", type=positive_int, default=256)
    t.add_argument("--weight-decay", "--wd", type=non_negative_float, default=weight_decay)
    t.add_argument("--momentum", type=non_negative_float, default=momentum)
    t.add_argument("--seed", type=non_negative_int, default=None, help="default: the checkpoint's")
    add_speed_args(t)

    def run(args):
        distributed.refuse_under_torchrun("the IMP sequence")
        name = args.retrain.upper()
        if name not in imp.SCHEDULES + ("BIMP",):
            raise UserError(f"unknown retraining schedule {args.retrain!r}; choose one of "
                            f"{', '.join(imp.SCHEDULES)}, BIMP")
        if name == "BIMP" and args.budget is None:
            raise UserError("BIMP splits a total retraining budget: give --budget (T - T0 epochs)")
        if args.phase_epochs is None and args.budget is None:
            raise UserError("give --phase-epochs (per phase) or --budget (in total)")
        s = imp.phase_fraction(args.sparsity, args.phases)
        epochs = imp.phase_epochs(args.phases, args.phase_epochs, args.budget)
        dense_ckpt = load_checkpoint(args.checkpoint)
        if dense_ckpt.get("mask") is not None:
            raise UserError(f"{args.checkpoint} is already pruned; IMP starts from a dense model")
        dataset = args.dataset or dense_ckpt["dataset"]
        if dataset != dense_ckpt["dataset"]:
            raise UserError(f"{args.checkpoint} was trained on {dense_ckpt['dataset']}, not {dataset}")
        args.dataset = dataset
        if args.seed is None:
            args.seed = dense_ckpt["meta"].get("seed", 1)
        device = resolve_device(args.device)
        if args.image_size is None:
            args.image_size = dense_ckpt["args"].get("image_size")
        loaders = make_loaders(dataset, args.data_dir, args.batch_size, args.test_batch_size, device=device,
                               seed=args.seed, subset=args.subset, channels_last=args.channels_last,
                               test_subset=args.test_subset, **data_options(args))[:2]
        trace = imp.dense_trace(dense_ckpt, len(loaders[0]))
        if trace.I != len(loaders[0]):
            raise UserError(f"the dense run had {trace.I} iterations per epoch, this run {len(loaders[0])}; "
                            f"use the dense run's --batch-size and --subset")
        split = f"B{args.budget}" if args.budget is not None else f"R{args.phase_epochs}"
        base = f"S{args.sparsity:g}-J{args.phases}-T{trace.T}-{split}"
        root = _root(args, dataset, method, dense_ckpt["arch"], name, f"{base}-seed{args.seed}")
        if (root / DONE).is_file():
            print(f"== skip (done): {root}", flush=True)
            return
        with RunFolder(root, args, resume=None):
            _imp(args, method, name, root, base, trace, s, epochs, loaders, device, dataset)
            _finish(root, args, method, dense_ckpt["arch"], dataset)

    return main_guard(run, p, argv)


def _imp(args, method, name, root, base, trace, s, epochs, loaders, device, dataset):
    schedule = "ALLR" if name == "BIMP" else name
    prev, spent = Path(args.checkpoint), trace.T
    print(f"IMP {name}: S = {args.sparsity:g} in {args.phases} phases of s = {s:.4f}, retraining epochs "
          f"{epochs}; dense run: {trace.T} epochs, eta_max {trace.eta_max:g}, eta_min {trace.eta_min:g}",
          flush=True)
    for j, T_j in enumerate(epochs, 1):
        variant = f"{base}-p{j}"
        tag = f"{variant}-seed{args.seed}"
        if step_state(root / tag) == "done":
            print(f"== skip (done): {root / tag}", flush=True)
            prev, spent = root / tag / "checkpoint.pt", spent + T_j
            continue
        ckpt = load_checkpoint(prev)
        model = model_from_checkpoint(ckpt).to(device)
        mask, d = imp.prune_phase(model, s, ckpt.get("mask"))
        apply_mask_(model, mask)
        pruned_top1 = evaluate(model, loaders[1], device)[1]
        eta_init = imp.allr_start(d, s, trace.eta_max, T_j, trace.T) if schedule == "ALLR" else None
        lrs = imp.retrain_lrs(schedule, trace, T_j * len(loaders[0]), eta_init)
        spent += T_j
        nesterov = args.weight_decay > 0 and args.momentum > 0
        optimizer = torch.optim.SGD(model.parameters(), lr=lrs[0] if lrs else 0.0, momentum=args.momentum,
                                    weight_decay=args.weight_decay, nesterov=nesterov)
        if j > 1:   # one optimizer for all phases: momentum carries over (Zimmer et al.'s code)
            optimizer.load_state_dict(ckpt["optimizer"])
        config = TrainConfig(epochs=T_j, lr=round(max(lrs, default=0.0), 6), momentum=args.momentum,
                             weight_decay=args.weight_decay, nesterov=nesterov, amp=args.amp,
                             channels_last=args.channels_last, compile=args.compile,
                             progress=not args.no_progress)
        print(f"phase {j}/{args.phases}: sparsity {100 * sparsity(mask):.2f}%, top-1 after pruning "
              f"{pruned_top1:.2f}%, norm drop d = {d:.4f}"
              + (f", ALLR start lr {eta_init:.4g}" if eta_init is not None else ""), flush=True)
        _train(args, root / tag, model, dataset=dataset, method=method, arm=name, tag=tag, mask=mask,
               optimizer=optimizer, lr_fn=imp.PhaseLR(lrs), config=config, loaders=loaders,
               meta={"variant": variant, "phase": j, "phases": args.phases, "goal_sparsity": args.sparsity,
                     "schedule": name, "retrain_epochs": T_j, "epochs_total": spent, "pruned_top1": pruned_top1,
                     "norm_drop": d, "eta_init": eta_init, "source": str(prev)})
        prev = root / tag / "checkpoint.pt"
