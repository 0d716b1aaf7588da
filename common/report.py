"""Turn the ``result.json`` files under a runs folder into the paper's table.

One row per (dataset, method, arch, variant); columns: the baseline, the pruned model
before any training, fine-tuned, Scratch-E, Scratch-B (and any other arm a method
writes), each as mean ± std of top-1 over seeds (n in brackets when n != the most common
count), then parameters and FLOPs of the pruned model with the reduction against the
baseline, then any ``--columns`` fields. The baseline of a row is the run its results were
pruned from (followed through their ``source`` checkpoints) when those runs are found, else
the arch's baselines of the same settings, else those of the nearest settings. Usage::

    python scripts/collect_results.py runs [--method l1-norm] [--dataset cifar10]
                                           [--metric best|final] [--out table.md] [--csv table.csv]
                                           [--columns sparsity,epochs_total]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

from common.runs import settings_of

ARM_ORDER = ["baseline", "sparsity", "sfp", "sss", "pruned", "finetune", "scratch-E", "scratch-B",
             "winning-ticket", "random-init"]
ARM_TITLES = {"baseline": "Baseline", "pruned": "Pruned (no FT)", "finetune": "Fine-tuned",
              "scratch-E": "Scratch-E", "scratch-B": "Scratch-B",
              "sparsity": "Sparsity-trained", "sfp": "SFP-trained", "sss": "SSS-trained",
              "winning-ticket": "Winning ticket", "random-init": "Random init"}


def load_results(root: Path, method=None, dataset=None):
    """Every run's result under ``root`` (of ``method`` and ``dataset`` if given)."""
    return read_results(sorted(Path(root).rglob("result.json")), method, dataset)


def read_results(paths, method=None, dataset=None):
    """The results in the ``result.json`` files ``paths`` (of ``method`` and ``dataset`` if given)."""
    rows = []
    for path in paths:
        try:
            r = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"warning: skipping {path}: {e}", file=sys.stderr)
            continue
        if not isinstance(r, dict) or "arm" not in r or "arch" not in r:
            continue
        if method and r.get("method") != method or dataset and r.get("dataset") != dataset:
            continue
        r["_path"] = str(path)
        rows.append(r)
    return rows


def mean_std(values):
    n = len(values)
    m = sum(values) / n
    s = math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return m, s, n


def fmt_acc(values, usual_n):
    if not values:
        return "–"
    m, s, n = mean_std(values)
    text = f"{m:.2f} ± {s:.2f}" if n > 1 else f"{m:.2f}"
    return text + (f" (n={n})" if n != usual_n else "")


def fmt_count(value, base, unit):
    scaled = f"{value / 1e6:.2f}M" if unit == "params" else f"{value / 1e6:.1f}M"
    if not base:
        return scaled
    return f"{scaled} (↓{100 * (1 - value / base):.1f}%)"


def run_of(checkpoint, by_dir):
    """The result of the run folder holding ``checkpoint``: from ``by_dir`` (``{resolved folder: result}``), else
    read from the folder (a baseline another method's table trained, as ThiNet, regression and Taylor prune) and
    remembered in ``by_dir``; None when the folder holds no result."""
    folder = str(Path(checkpoint).resolve().parent)
    if folder not in by_dir:
        found = read_results([Path(folder) / "result.json"]) if (Path(folder) / "result.json").is_file() else []
        by_dir[folder] = found[0] if found else None
    return by_dir[folder]


def source_baseline(r, by_dir, depth=0):
    """The baseline result a run descends from, following ``source`` checkpoints through their run
    folders (pruned -> fine-tuned -> pruned again ...), read from disk where they are not among the runs loaded;
    None where the chain ends elsewhere."""
    src = r.get("source")
    if not src or depth > 64:
        return None
    parent = run_of(src, by_dir)
    if parent is None:
        return None
    if parent["arm"] == "baseline":
        return parent
    if parent.get("variant") is None:   # a method's own training run (e.g. sparsity training)
        return None
    return source_baseline(parent, by_dir, depth + 1)


def fmt_value(values, name=""):
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not nums:
        return str(values[0]) if values else "–"
    m = sum(nums) / len(nums)
    if name.endswith("sparsity"):
        return f"{100 * m:.1f}%"
    return f"{int(m):,}" if float(m).is_integer() else f"{m:.4g}"


def _baselines_of_pruned(pruned, key_acc):
    """Baseline entries read off pruned runs (``top1_before``), for a method that prunes a baseline
    trained under another method's folder (e.g. ThiNet and regression reuse the L1-norm baseline); not
    for a model pruned from something else (MetaPruning's PruningNet, shown in its own column)."""
    return [{key_acc: r["top1_before"], "params": r["base_params"], "flops": r["base_flops"]}
            for r in pruned if r.get("top1_before") is not None and "base_params" in r
            and r.get("base_arm", "baseline") == "baseline"]


# Settings that tell two runs of one experiment apart, not two experiments: the seed, and the checkpoint a run
# starts from (another folder for every seed); ``runs.NOT_SETTINGS`` never enter a run's settings.
NOT_EXPERIMENT = ("seed", "checkpoint", "step")


def run_settings(r) -> dict:
    """The settings of the run behind result ``r``: its folder's ``args.json`` (the recorded flags) if there is one,
    else the training settings its result recorded; without the seed and the checkpoint it started from."""
    if isinstance(r.get("_settings"), dict):          # a run read back from a table's CSV
        return r["_settings"]
    path = Path(r["_path"]).parent / "args.json" if "_path" in r else None
    recorded = None
    if path is not None and path.is_file():
        try:
            recorded = json.loads(path.read_text())
        except (OSError, ValueError):
            recorded = None
    if not isinstance(recorded, dict):
        recorded = r.get("train_config") if isinstance(r.get("train_config"), dict) else {}
    return {k: v for k, v in settings_of(recorded).items() if k not in NOT_EXPERIMENT}


def _text(settings: dict) -> str:
    return json.dumps(settings, sort_keys=True)


def root_run(r, by_dir, depth=0):
    """The run at the start of ``r``'s lineage (its baseline, or its method's own training run): ``source``
    checkpoints followed through their run folders (``run_of``); ``r`` itself when it has no source with a result."""
    src = r.get("source")
    parent = run_of(src, by_dir) if src and depth < 64 else None
    return r if parent is None else root_run(parent, by_dir, depth + 1)


def experiment_labels(signatures) -> dict:
    """``{signature text: label}``: the settings that differ between the signatures, as ``k=v`` (empty when one)."""
    parsed = {t: json.loads(t) for t in signatures}
    keys = sorted({k for d in parsed.values() for k in d})
    differing = [k for k in keys if len({json.dumps(d.get(k), sort_keys=True) for d in parsed.values()}) > 1]
    return {t: ", ".join(f"{k}={json.dumps(d.get(k)) if not isinstance(d.get(k), (int, float, str)) else d.get(k)}"
                         for k in differing) for t, d in parsed.items()}


def nearest_baselines(key, per_arch) -> list:
    """The arch's baselines whose settings differ from row ``key``'s lineage in the fewest fields (e.g. GMP, trained
    from scratch, is shown beside the dense run of its epochs and schedule, not beside every baseline of the
    folder); those of several experiments only when they are equally near."""
    mine = json.loads(key[4])
    by_root = {k[3]: a["baseline"] for k, a in per_arch.items() if k[:3] == key[:3] and a.get("baseline")}
    distance = {root: sum(json.dumps(mine.get(f), sort_keys=True) != json.dumps(theirs.get(f), sort_keys=True)
                          for f in set(mine) | set(theirs))
                for root, theirs in ((root, json.loads(root)) for root in by_root)}
    nearest = min(distance.values(), default=None)
    return [b for root, runs in by_root.items() if distance[root] == nearest for b in runs]


def table_rows(rows, metric="best"):
    """The table's rows before formatting: ``(arms, [(row key, {arm: [result]})])``, a row key being
    ``(dataset, method, arch, variant, experiment)``.

    A row is one experiment: runs of one dataset, method, arch and variant whose settings differ only by their
    seed, as are the runs their lineage started from (``source`` links followed to the baseline or the method's
    own training run) -- runs with other epochs, widths or lrs under one runs folder are other rows, never
    averaged together. ``experiment`` names the settings that tell a row from the others of its model (empty when
    there is one). Runs without a variant (the baseline, or a method's own training run such as slimming's
    sparsity training) belong to the rows that descend from them. A row's baseline is the runs it was pruned from
    when its ``source`` links lead there; else the arch's baselines of the same settings, else those of the nearest
    settings (:func:`nearest_baselines`), else the ``top1_before`` its pruned runs recorded."""
    key_acc = "best_top1" if metric == "best" else "final_top1"
    by_dir = {str(Path(r["_path"]).resolve().parent): r for r in rows if "_path" in r}
    root_sig = {id(r): _text(r["_lineage"] if isinstance(r.get("_lineage"), dict)
                             else run_settings(root_run(r, by_dir))) for r in rows}
    own_sig = {id(r): _text(run_settings(r)) for r in rows}
    per_arch = defaultdict(lambda: defaultdict(list))  # (dataset, method, arch, root) -> arm -> results
    groups = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))  # row -> arm -> own settings -> results
    own_base = defaultdict(dict)      # row key -> {baseline path: baseline result} found via sources
    for r in rows:
        model = (r["dataset"], r["method"], r["arch"])
        if r["arm"] == "baseline" or r.get("variant") is None:
            per_arch[(*model, root_sig[id(r)])][r["arm"]].append(r)
        else:
            key = (*model, str(r["variant"]), root_sig[id(r)])
            groups[key][r["arm"]][own_sig[id(r)]].append(r)
            base = source_baseline(r, by_dir)
            if base is not None:
                own_base[key][base["_path"]] = base
    for key in per_arch:  # a baseline with no pruned run still gets a row -- unless it is another row's baseline
        if any(k[:3] == key[:3] and k[4] == key[3] for k in groups):
            continue
        borrowed = any(k[:3] == key[:3] and not own_base.get(k) and not per_arch.get((*k[:3], k[4]), {}).get("baseline")
                       for k in groups)         # (a row whose lineage has no baseline shows the arch's: slimming's)
        if not borrowed:
            groups[(*key[:3], "–", key[3])]
    # a row per combination of its arms' settings (one, unless an arm was run with several)
    expanded = []
    for key in groups:
        combos = [{}]
        for arm, by_sig in groups[key].items():
            combos = [{**c, arm: (sig, runs)} for c in combos for sig, runs in by_sig.items()]
        for combo in combos:
            signature = _text({**json.loads(key[4]),
                               **{f"{arm} {k}": v for arm, (sig, _) in combo.items() if len(groups[key][arm]) > 1
                                  for k, v in json.loads(sig).items()}})
            expanded.append((key, signature, {arm: runs for arm, (_, runs) in combo.items()}))
    labels = {}
    for model in {k[:3] for k, _, _ in expanded}:
        mine = [sig for k, sig, _ in expanded if k[:3] == model]
        labels.update({(model, t): label for t, label in experiment_labels(set(mine)).items()})
    out = []
    for key, signature, arms in sorted(expanded, key=lambda e: (e[0][:4], labels[(e[0][:3], e[1])])):
        model_root = (*key[:3], key[4])
        arm_results = {**per_arch.get(model_root, {}), **arms}
        candidates = per_arch.get(model_root, {}).get("baseline", []) or nearest_baselines(key, per_arch)
        arm_results["baseline"] = (list(own_base[key].values()) or candidates
                                   or _baselines_of_pruned(arms.get("pruned", []), key_acc))
        out.append(((*key[:4], labels[(key[:3], signature)]), arm_results))
    present = {a for _, ar in out for a in ar}
    arms_shown = [a for a in ARM_ORDER if a == "baseline" or a in present] + sorted(present - set(ARM_ORDER))
    return arms_shown, out


def pruned_runs(arm_results, arms):
    """The runs that describe a row's pruned model (for its params, FLOPs and sparsity)."""
    return (arm_results.get("pruned") or arm_results.get("finetune") or arm_results.get("scratch-E")
            or next((arm_results[a] for a in arms if a != "baseline" and arm_results.get(a)), None))


PAPER = Path(__file__).resolve().parent.parent / "results" / "paper.json"


def paper_results(path=PAPER) -> dict:
    """``{(dataset, method, arch, variant, arm): top-1}`` of the published numbers (``results/paper.json``)."""
    try:
        rows = json.loads(Path(path).read_text())["rows"]
    except (OSError, ValueError, KeyError):
        return {}
    return {(r["dataset"], r["method"], r["arch"], r["variant"], r["arm"]): r["top1"] for r in rows}


def with_paper(text: str, ours, paper) -> str:
    """A cell with the published number beside ours and the difference."""
    if paper is None or text == "–":
        return text
    return f"{text} [paper {paper:.2f}, {ours - paper:+.2f}]"


def build_table(rows, metric="best", columns=()):
    key_acc = "best_top1" if metric == "best" else "final_top1"
    arms, row_list = table_rows(rows, metric)
    runs_per_cell = defaultdict(int)
    for r in rows:
        variant = None if r["arm"] == "baseline" else r.get("variant")
        runs_per_cell[(r["dataset"], r["method"], r["arch"], str(variant), r["arm"])] += 1
    counts = list(runs_per_cell.values())
    usual_n = max(set(counts), key=counts.count) if counts else 1

    experiments = any(key[4] for key, _ in row_list)
    header = ["Dataset", "Method", "Model", "Variant", *(["Settings"] if experiments else [])]
    header += [ARM_TITLES.get(a, a) for a in arms] + ["Params", "FLOPs"]
    header += [c.replace("_", " ").capitalize() for c in columns]
    table = []
    paper = paper_results()
    for (dataset, method, arch, variant, experiment), arm_results in row_list:
        cells = [dataset, method, arch, variant, *([experiment or "–"] if experiments else [])]
        for a in arms:
            accs = [r[key_acc] for r in arm_results.get(a, []) if r.get(key_acc) is not None]
            cells.append(with_paper(fmt_acc(accs, usual_n), sum(accs) / len(accs) if accs else None,
                                    paper.get((dataset, method, arch, variant, a))))
        pruned = pruned_runs(arm_results, arms)
        base = arm_results["baseline"]
        ref = pruned if pruned else base
        if ref:       # the mean over the seeds' models (a method may prune each seed's model to other widths)
            of_base = [r.get(f"base_{k}") for r in pruned for k in ("params", "flops")] if pruned else []
            base_params = _mean([r.get("base_params") for r in pruned]) if pruned else None
            base_flops = _mean([r.get("base_flops") for r in pruned]) if pruned else None
            if pruned and not all(of_base) and base:
                base_params, base_flops = _mean([b["params"] for b in base]), _mean([b["flops"] for b in base])
            cells += [fmt_count(_mean([r["params"] for r in ref]), base_params, "params"),
                      fmt_count(_mean([r["flops"] for r in ref]), base_flops, "flops")]
        else:
            cells += ["–", "–"]
        row_results = [r for a in arms if a != "baseline" for r in arm_results.get(a, [])]
        for c in columns:
            cells.append(fmt_value([r[c] for r in row_results if c in r], c))
        table.append(cells)
    return header, table


def _mean(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return sum(values) / len(values) if values else None


def to_markdown(header, table):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in table]
    return "\n".join(lines)


def results_parser(doc: str) -> argparse.ArgumentParser:
    """The flags that choose which results a table or a plot shows."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("runs", help="folder to search for result.json files")
    p.add_argument("--method", default=None)
    p.add_argument("--dataset", default=None)
    p.add_argument("--metric", choices=("best", "final"), default="best",
                   help="best = best test top-1 over epochs (the paper's number), final = last epoch")
    return p


def main(argv=None):
    p = results_parser(__doc__)
    p.add_argument("--out", default=None, help="also write the markdown table here")
    p.add_argument("--csv", default=None, help="also write the table as CSV (a row per run, then the aggregated rows)")
    p.add_argument("--format", choices=("md", "csv", "json"), default="md", help="what is printed (default md)")
    p.add_argument("--columns", default="",
                   help="comma-separated result.json fields to add as columns (mean over the row's runs), "
                        "e.g. sparsity,epochs_total")
    args = p.parse_args(argv)
    root = Path(args.runs)
    if not root.is_dir():
        print(f"error: {root} is not a folder", file=sys.stderr)
        return 2
    rows = load_results(root, args.method, args.dataset)
    if not rows:
        print(f"error: no result.json under {root}" + (f" for method {args.method}" if args.method else ""),
              file=sys.stderr)
        return 2
    write_table(rows, args.metric, [c for c in args.columns.split(",") if c], root, args.out, args.csv, args.format)
    return 0


def _train_flops(r):
    cost = r.get("cost")
    return cost.get("train_flops") if isinstance(cost, dict) else None


def fmt_flops(value) -> str:
    """Training compute with an SI prefix (``3.1 TFLOP``)."""
    if value is None:
        return "–"
    for scale, unit in ((1e18, "EFLOP"), (1e15, "PFLOP"), (1e12, "TFLOP"), (1e9, "GFLOP"), (1e6, "MFLOP")):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} FLOP"


def amortised(runs, pruned_of_root, by_dir):
    """Mean over ``runs`` of (the cost of the run their lineage started from / the k pruned models cut from it)
    + their own cost: the large model's training shared by every model it yielded."""
    values = []
    for r in runs:
        root, own = root_run(r, by_dir), _train_flops(r)
        k = pruned_of_root.get(root.get("_path"), 0)
        if own is None or root is r or _train_flops(root) is None or not k:
            continue
        values.append(_train_flops(root) / k + own)
    return (sum(values) / len(values), values) if values else (None, [])


def build_cost_table(rows, row_list):
    """The training compute of every row: each arm's own (mean over seeds; every arm that trained, in the table's
    order -- IMP's FT/LRW/SLR/CLR, the Lottery Ticket's tickets --), the fine-tuned model's with its baseline's
    cost shared over the k pruned models cut from that baseline, and k."""
    by_dir = {str(Path(r["_path"]).resolve().parent): r for r in rows if "_path" in r}
    pruned_of_root = defaultdict(int)
    for r in rows:
        if r["arm"] == "pruned":
            pruned_of_root[root_run(r, by_dir).get("_path")] += 1
    experiments = any(key[4] for key, _ in row_list)
    trained = {a for _, arm_results in row_list for a, runs in arm_results.items()
               if any(_train_flops(r) is not None for r in runs)}
    arms = [a for a in ARM_ORDER if a in trained] + sorted(trained - set(ARM_ORDER))
    header = ["Dataset", "Method", "Model", "Variant", *(["Settings"] if experiments else []),
              *(ARM_TITLES.get(a, a) for a in arms), "Fine-tuned + baseline/k", "k"]
    table = []
    for (dataset, method, arch, variant, experiment), arm_results in row_list:
        cells = [dataset, method, arch, variant, *([experiment or "–"] if experiments else [])]
        for a in arms:
            cells.append(fmt_flops(_mean([_train_flops(r) for r in arm_results.get(a, [])])))
        ft = arm_results.get("finetune", [])
        mean, _ = amortised(ft, pruned_of_root, by_dir)
        ks = [pruned_of_root.get(root_run(r, by_dir).get("_path"), 0) for r in ft if root_run(r, by_dir) is not r]
        cells += [fmt_flops(mean), f"{_mean(ks):g}" if ks else "–"]
        table.append(cells)
    return header, table


CSV_FIELDS = ["dataset", "method", "arch", "variant", "settings", "arm", "seed", "best_top1", "final_top1", "params",
              "flops", "base_params", "base_flops", "sparsity", "epochs", "train_flops", "device_hours", "device",
              "runs", "cfg", "run_settings", "lineage"]


def long_rows(rows, metric="best"):
    """One row per run (model x variant x arm x seed; a baseline shared by several table rows once), with the row
    label the table gives it, and after each cell's runs its aggregated rows (``seed`` = ``mean`` / ``std``, over
    ``runs`` runs)."""
    _, row_list = table_rows(rows, metric)
    out, key_acc, written = [], "best_top1" if metric == "best" else "final_top1", set()
    by_dir = {str(Path(r["_path"]).resolve().parent): r for r in rows if "_path" in r}
    for (dataset, method, arch, variant, experiment), arm_results in row_list:
        for arm, runs in arm_results.items():
            for r in runs:
                if id(r) in written:       # a baseline shared by several rows: one line
                    continue
                written.add(id(r))
                cost = r.get("cost") if isinstance(r.get("cost"), dict) else {}
                out.append({"dataset": dataset, "method": method, "arch": arch, "variant": variant,
                            "settings": experiment, "arm": arm, "seed": r.get("seed", ""),
                            **{f: r.get(f, "") for f in ("best_top1", "final_top1", "params", "flops", "base_params",
                                                         "base_flops", "sparsity", "epochs")},
                            "train_flops": cost.get("train_flops", ""), "device_hours": cost.get("device_hours", ""),
                            "device": cost.get("device", ""),
                            "cfg": json.dumps(r["cfg"]) if r.get("cfg") is not None else "",
                            "run_settings": json.dumps(run_settings(r)),
                            "lineage": json.dumps(run_settings(root_run(r, by_dir)))})
            accs = [r[key_acc] for r in runs if isinstance(r.get(key_acc), (int, float))]
            if accs:
                m, sd, n = mean_std(accs)
                for stat, value in (("mean", m), ("std", sd)):
                    out.append({"dataset": dataset, "method": method, "arch": arch, "variant": variant,
                                "settings": experiment, "arm": arm, "seed": stat, key_acc: round(value, 4), "runs": n})
    return out


def rows_from_csv(path):
    """The per-run rows of a table's CSV as results ``build_table`` (and ``common.latency.measure``: each run's
    width config, ``cfg``) take; the aggregated rows are skipped."""
    results = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["seed"] in ("mean", "std"):
                continue
            r = {k: v for k, v in row.items() if v != ""}
            for k in ("best_top1", "final_top1", "sparsity"):
                if k in r:
                    r[k] = float(r[k])
            for k in ("params", "flops", "base_params", "base_flops", "epochs"):
                if k in r:
                    r[k] = int(float(r[k]))
            if "train_flops" in r:
                r["cost"] = {"train_flops": float(r.pop("train_flops"))}
            if "cfg" in r:
                r["cfg"] = json.loads(r["cfg"])
            r["variant"] = None if row["arm"] == "baseline" or row["variant"] == "–" else row["variant"]
            r["_settings"], r["_lineage"] = json.loads(row["run_settings"]), json.loads(row["lineage"])
            results.append(r)
    return results


def write_table(rows, metric="best", columns=(), where="", out=None, csv_path=None, fmt="md"):
    """Print the table of ``rows`` (``fmt``: markdown -- accuracy and training compute --, csv or json: one row
    per run and the aggregated rows), and write the markdown to ``out`` and the CSV to ``csv_path`` if given."""
    header, table = build_table(rows, metric, columns)
    md = to_markdown(header, table)
    cost_header, cost_table = build_cost_table(rows, table_rows(rows, metric)[1])
    cost_md = to_markdown(cost_header, cost_table)
    note = (f"top-1 (%) = {metric} test accuracy, mean ± std over seeds; FLOPs = conv+linear multiply-accumulates; "
            f"{len(rows)} runs" + (f" from {where}" if where else ""))
    cost_note = ("training compute = 3 x forward MACs x training images seen (forward + backward, the usual "
                 "estimate); fine-tuned + baseline/k: the baseline's training shared over the k models pruned from it")
    long = long_rows(rows, metric)
    if fmt == "md":
        print(md + f"\n\n{note}\n\nTraining compute\n\n" + cost_md + f"\n\n{cost_note}")
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(long)
    else:
        print(json.dumps({"table": [dict(zip(header, row)) for row in table],
                          "compute": [dict(zip(cost_header, row)) for row in cost_table], "runs": long}, indent=1))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(md + f"\n\n{note}\n\n## Training compute\n\n{cost_md}\n\n{cost_note}\n")
    if csv_path:
        Path(csv_path).parent.mkdir(parents=True, exist_ok=True)
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, CSV_FIELDS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(long)


if __name__ == "__main__":
    sys.exit(main())
