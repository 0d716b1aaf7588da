"""Plot top-1 against how much the model was pruned, from the ``result.json`` files under a runs folder.

The figures of *Rethinking the Value of Network Pruning* for weight-level pruning and the
Lottery Ticket comparison, and of Zimmer et al. for IMP, have this shape: one panel per
(dataset, method, arch); one line per arm (fine-tuned, Scratch-E, Scratch-B, winning ticket,
random init, an IMP schedule ...), split by learning-rate series where a method has several
(the Lottery Ticket comparison at lr 0.1 and 0.01); mean ± std over seeds as error bars; the
baseline as a dashed line. Rows are those of the tables (``common.report``) (one per pruned variant).

x axis (``--x auto``): the sparsity of the pruned weights where pruning left the architecture
as it was (a mask: weight-level, lottery, IMP), else the FLOPs reduction of the smaller network.
Usage::

    python scripts/plot_results.py runs [--method weight-level] [--dataset cifar10]
                                        [--metric best|final] [--x auto|sparsity|flops|params]
                                        [--arms finetune,scratch-E,scratch-B] [--out plot.png]
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections import defaultdict
from pathlib import Path

from common.report import ARM_TITLES, load_results, mean_std, pruned_runs, results_parser, root_run, table_rows

X_LABELS = {"sparsity": "sparsity of the pruned weights (%)", "flops": "FLOPs reduction (%)",
            "params": "parameter reduction (%)",
            "compute": "training compute, FLOPs (fine-tuned: with its baseline's training)"}


def total_compute(r, by_dir) -> float | None:
    """What a run's result cost to train: its own training, and for fine-tuned weights the training of the model
    they were cut from (a model trained from scratch needs only its architecture)."""
    own = (r.get("cost") or {}).get("train_flops") if isinstance(r.get("cost"), dict) else None
    if own is None:
        return None
    root = root_run(r, by_dir)
    inherited = (root.get("cost") or {}).get("train_flops") if r["arm"] == "finetune" and root is not r else 0
    return own + (inherited or 0)


def _reduction(runs, field, base_runs):
    base = next((r.get(f"base_{field}") for r in runs if r.get(f"base_{field}")), None)
    base = base or next((b[field] for b in base_runs if b.get(field)), None)
    if not base:
        return None
    return 100.0 * (1.0 - sum(r[field] for r in runs) / len(runs) / base)


def row_x(arm_results, arms, kind):
    """The x of a row: its pruned model's sparsity or FLOPs / parameter reduction, in percent (for ``compute`` the
    x is each arm's own: None here)."""
    if kind == "compute":
        return 0.0
    runs = pruned_runs(arm_results, arms) or []
    if kind == "sparsity":
        values = [r["sparsity"] for r in runs if isinstance(r.get("sparsity"), (int, float))]
        return 100.0 * sum(values) / len(values) if values else None
    return _reduction(runs, kind, arm_results.get("baseline", [])) if runs else None


def _is_mask_row(arm_results, arms):
    runs = pruned_runs(arm_results, arms) or []
    base_cfg = next((r.get("base_cfg") for r in runs if r.get("base_cfg")), None)
    base_cfg = base_cfg or next((b.get("cfg") for b in arm_results.get("baseline", [])), None)
    return any((r.get("sparsity") or 0) > 0 for r in runs) and all(r.get("cfg") == base_cfg for r in runs)


SPLIT_FIELDS = (("rewind_iter", "k={}"), ("phases", "J={}"))


def _series(r, varying=()):
    """What tells a line apart beyond its arm: the lr series (Lottery Ticket), and the rewind point
    or the number of IMP phases where a panel has several."""
    parts = [r["series"]] if r.get("series") else []
    parts += [fmt.format(r[f]) for f, fmt in SPLIT_FIELDS if f in varying and r.get(f) is not None]
    return " ".join(parts)


def plot_data(rows, metric="best", x="auto", arms=None):
    """The numbers a plot shows: ``{(dataset, method, arch): panel}`` where a panel is
    ``{"x": kind, "lines": {label: [(x, mean, std, n), ...] by x}, "baselines": {label: (mean, std, n)}}``."""
    key_acc = "best_top1" if metric == "best" else "final_top1"
    all_arms, row_list = table_rows(rows, metric)
    by_dir = {str(Path(r["_path"]).resolve().parent): r for r in rows if "_path" in r}
    panels, experiments = defaultdict(list), defaultdict(list)
    for key, arm_results in row_list:
        if key[3] != "–":          # "–": an arch with a baseline and nothing pruned yet
            panels[key[:3]].append(arm_results)
            experiments[key[:3]].append(key[4])     # the settings that tell the model's experiments apart
    out = {}
    for pkey, panel_rows in panels.items():
        kind = x if x != "auto" else (
            "sparsity" if all(_is_mask_row(ar, all_arms) for ar in panel_rows) else "flops")
        runs_here = [r for ar in panel_rows for a, rs in ar.items() if a != "baseline" for r in rs]
        varying = [f for f, _ in SPLIT_FIELDS if len({r.get(f) for r in runs_here} - {None}) > 1]
        base_epochs = {b.get("epochs") for ar in panel_rows for b in ar.get("baseline", [])}
        points, base_runs = defaultdict(list), defaultdict(dict)
        for ar in panel_rows:
            for b in ar.get("baseline", []):
                label = " ".join(p for p in (_series(b), f"{b.get('epochs')} ep" if len(base_epochs) > 1 else "")
                                 if p)
                base_runs[label][b.get("_path", id(b))] = b
            xv = row_x(ar, all_arms, kind)
            if xv is None:
                continue
            experiment = experiments[pkey][panel_rows.index(ar)]
            for arm, runs in ar.items():
                # per-arch runs (a method's own training, no variant) are the same at every x
                per_arch = all(r.get("variant") is None for r in runs)
                runs = [r for r in runs if r.get(key_acc) is not None]     # a published architecture has none
                if arm == "baseline" or not runs or per_arch:
                    continue
                if (arm not in arms) if arms else arm == "pruned":
                    continue
                series = " ".join(p for p in (_series(runs[0], varying), experiment) if p)
                if kind == "compute":      # each arm at what it cost
                    costs = [c for c in (total_compute(r, by_dir) for r in runs) if c is not None]
                    if not costs:
                        continue
                    xv = sum(costs) / len(costs)
                label = " ".join(p for p in (ARM_TITLES.get(arm, arm), series) if p)
                points[(series, all_arms.index(arm), label)].append((xv, *mean_std([r[key_acc] for r in runs])))
        if not points:
            continue
        out[pkey] = {"x": kind,
                     "lines": {k[2]: sorted(v) for k, v in sorted(points.items())},   # by series, then arm
                     "baselines": {" ".join(p for p in ("Baseline", s) if p):
                                   mean_std([b[key_acc] for b in bs.values()])
                                   for s, bs in sorted(base_runs.items()) if bs}}
    return out


def render(data, path: Path, metric="best"):
    """Draw the panels of ``plot_data`` into ``path`` (PNG, SVG or PDF by its suffix), atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(data)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.0 * rows), squeeze=False)
    for ax, ((dataset, method, arch), panel) in zip(axes.flat, sorted(data.items())):
        colors = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4)
        for label, pts in panel["lines"].items():
            xs, means, stds = [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts]
            ax.errorbar(xs, means, yerr=stds, marker="o", markersize=4, capsize=3, label=label, color=next(colors))
        for i, (label, (m, s, _)) in enumerate(panel["baselines"].items()):
            ax.axhline(m, color="0.35", linestyle=("--", ":", "-.")[i % 3], linewidth=1, label=f"{label} ({m:.2f})")
        ax.set_title(f"{method} · {arch} · {dataset}")
        ax.set_xlabel(X_LABELS[panel["x"]])
        if panel["x"] == "compute":
            ax.set_xscale("log")
        ax.set_ylabel(f"top-1 (%), {metric}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def main(argv=None):
    p = results_parser(__doc__)
    p.add_argument("--x", choices=("auto", "sparsity", "flops", "params", "compute"), default="auto",
                   help="x axis: sparsity, FLOPs or parameter reduction of the pruned model (default: sparsity "
                        "for masks, FLOPs otherwise), or each arm's training compute (log scale)")
    p.add_argument("--arms", default=None,
                   help="comma-separated arms to draw (default: every arm but the baseline, drawn as a line, and "
                        "the pruned model before training), e.g. finetune,scratch-E,scratch-B")
    p.add_argument("--out", default=None, help="image file, .png/.svg/.pdf (default <runs>/plot.png)")
    args = p.parse_args(argv)
    root = Path(args.runs)
    if not root.is_dir():
        print(f"error: {root} is not a folder", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else root / "plot.png"
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        print(f"error: --out {out} must end in .png, .svg or .pdf", file=sys.stderr)
        return 2
    if importlib.util.find_spec("matplotlib") is None:
        print("error: plotting needs matplotlib: pip install -r requirements.txt", file=sys.stderr)
        return 2
    rows = load_results(root, args.method, args.dataset)
    arms = [a for a in args.arms.split(",") if a] if args.arms else None
    data = plot_data(rows, args.metric, args.x, arms) if rows else {}
    if not data:
        what = f" for method {args.method}" if args.method else ""
        print(f"error: nothing to plot under {root}{what}: no pruned runs with their reduction recorded"
              + (f" in arms {args.arms}" if arms else ""), file=sys.stderr)
        return 2
    render(data, out, args.metric)
    lines = sum(len(panel["lines"]) for panel in data.values())
    print(f"plot: {len(data)} panel(s), {lines} line(s), {len(rows)} runs -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
