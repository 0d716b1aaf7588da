"""scripts/plot_results.py: the numbers each plotted line carries (x = sparsity for masks, FLOPs
reduction for smaller networks; mean, std and n over seeds; baselines per lr series), the image
it writes, and its one-line errors."""

import csv
import json
import math

import pytest
from helpers import run_entry

pytest.importorskip("matplotlib")

from common.plots import plot_data  # noqa: E402
from common.report import load_results  # noqa: E402

CFG = [8, "M", 16]
SMALL = [4, "M", 8]


def write(root, arm, tag, **fields):
    d = root / fields["dataset"] / fields["method"] / fields["arch"] / arm / tag
    d.mkdir(parents=True, exist_ok=True)
    (d / "result.json").write_text(json.dumps({"arm": arm, **fields}))
    return d


def weight_level_runs(root):
    common = dict(dataset="fashion-mnist", method="weight-level", arch="vgg11", cfg=CFG, params=1000, flops=10_000)
    for seed, top1 in ((1, 90.0), (2, 92.0)):
        base = write(root, "baseline", f"seed{seed}", variant=None, seed=seed, best_top1=top1, final_top1=top1 - 1,
                     **common)
        for p, ft, se in ((0.5, 89.0 + seed, 88.0), (0.8, 85.0 + 2 * seed, 80.0)):
            pruned = write(root, "pruned", f"p{p}-seed{seed}", variant=f"p{p}", seed=seed, sparsity=p,
                           best_top1=10.0, final_top1=10.0, source=str(base / "checkpoint.pt"),
                           base_params=1000, base_flops=10_000, base_cfg=CFG,
                           **{**common, "flops": int(10_000 * (1 - p))})
            src = str(pruned / "pruned.pt")
            write(root, "finetune", f"p{p}-seed{seed}", variant=f"p{p}", seed=seed, sparsity=p, source=src,
                  best_top1=ft, final_top1=ft, **common)
            write(root, "scratch-E", f"p{p}-seed{seed}", variant=f"p{p}", seed=seed, sparsity=p, source=src,
                  best_top1=se, final_top1=se, **common)


def test_mask_method_plots_accuracy_against_sparsity(tmp_path):
    weight_level_runs(tmp_path)
    data = plot_data(load_results(tmp_path))
    panel = data[("fashion-mnist", "weight-level", "vgg11")]
    assert panel["x"] == "sparsity"
    assert set(panel["lines"]) == {"Fine-tuned", "Scratch-E"}          # the pruned model is left out by default
    (x1, m1, s1, n1), (x2, m2, s2, n2) = panel["lines"]["Fine-tuned"]
    assert (x1, m1, n1) == (50.0, 90.5, 2) and s1 == pytest.approx(math.sqrt(0.5))
    assert (x2, m2, n2) == (80.0, 88.0, 2) and s2 == pytest.approx(math.sqrt(2.0))
    assert [p[:2] for p in panel["lines"]["Scratch-E"]] == [(50.0, 88.0), (80.0, 80.0)]
    m, s, n = panel["baselines"]["Baseline"]
    assert (m, n) == (91.0, 2) and s == pytest.approx(math.sqrt(2.0))
    final = plot_data(load_results(tmp_path), metric="final")[("fashion-mnist", "weight-level", "vgg11")]
    assert final["baselines"]["Baseline"][0] == 90.0
    only = plot_data(load_results(tmp_path), arms=["pruned"])[("fashion-mnist", "weight-level", "vgg11")]
    assert list(only["lines"]) == ["Pruned (no FT)"]


def test_smaller_network_plots_accuracy_against_flops_reduction(tmp_path):
    base = write(tmp_path, "baseline", "seed1", dataset="cifar10", method="l1-norm", arch="vgg16", variant=None,
                 cfg=CFG, params=1000, flops=40_000, best_top1=93.0, final_top1=93.0)
    for variant, flops in (("A", 26_000), ("B", 10_000)):
        pruned = write(tmp_path, "pruned", f"{variant}-seed1", dataset="cifar10", method="l1-norm", arch="vgg16",
                       variant=variant, cfg=SMALL, base_cfg=CFG, params=500, flops=flops, base_params=1000,
                       base_flops=40_000, best_top1=50.0, final_top1=50.0, source=str(base / "checkpoint.pt"))
        write(tmp_path, "scratch-B", f"{variant}-seed1", dataset="cifar10", method="l1-norm", arch="vgg16",
              variant=variant, cfg=SMALL, params=500, flops=flops, best_top1=92.0, final_top1=92.0,
              source=str(pruned / "pruned.pt"))
    panel = plot_data(load_results(tmp_path))[("cifar10", "l1-norm", "vgg16")]
    assert panel["x"] == "flops"
    assert [p[:2] for p in panel["lines"]["Scratch-B"]] == [(35.0, 92.0), (75.0, 92.0)]
    params = plot_data(load_results(tmp_path), x="params")[("cifar10", "l1-norm", "vgg16")]
    assert [p[0] for p in params["lines"]["Scratch-B"]] == [50.0, 50.0]


def test_lottery_lines_and_baselines_are_split_by_lr_series(tmp_path):
    common = dict(dataset="cifar10", method="lottery-ticket", arch="vgg16", cfg=CFG, params=1000, flops=10_000)
    for lr, acc in (("lr0.1", 93.0), ("lr0.01", 91.0)):
        dense = write(tmp_path, "baseline", f"{lr}-seed1", variant=None, series=lr, best_top1=acc, final_top1=acc,
                      **common)
        for r, s in ((1, 0.2), (2, 0.36)):
            tag = f"{lr}-k0-p0.2-r0{r}-seed1"
            pruned = write(tmp_path, "pruned", tag, variant=tag[:-6], series=lr, sparsity=s, best_top1=acc,
                           final_top1=acc, base_cfg=CFG, source=str(dense / "checkpoint.pt"), rewind_iter=0, **common)
            for arm, delta in (("winning-ticket", 0.0), ("random-init", -1.0)):
                write(tmp_path, arm, tag, variant=tag[:-6], series=lr, sparsity=s, rewind_iter=0,
                      best_top1=acc + delta - r, final_top1=acc, source=str(pruned / "pruned.pt"), **common)
    panel = plot_data(load_results(tmp_path))[("cifar10", "lottery-ticket", "vgg16")]
    assert panel["x"] == "sparsity"
    assert set(panel["lines"]) == {"Winning ticket lr0.1", "Random init lr0.1",
                                   "Winning ticket lr0.01", "Random init lr0.01"}
    assert [p[:2] for p in panel["lines"]["Random init lr0.01"]] == [(20.0, 89.0), (36.0, 88.0)]
    assert {k: v[0] for k, v in panel["baselines"].items()} == {"Baseline lr0.1": 93.0, "Baseline lr0.01": 91.0}


def test_the_script_writes_the_image(tmp_path):
    weight_level_runs(tmp_path / "runs")
    out = tmp_path / "figs" / "wl.png"
    proc = run_entry("scripts/plot_results.py", tmp_path / "runs", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "1 panel(s), 2 line(s), 14 runs" in proc.stdout
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["wl.png"]           # no temporary file left


@pytest.mark.parametrize("make,args,message", [
    (False, [], "nothing to plot under"),
    (True, ["--method", "slimming"], "nothing to plot under"),
    (True, ["--out", "x.txt"], "must end in .png, .svg or .pdf"),
])
def test_bad_input_is_one_line(tmp_path, make, args, message):
    if make:
        weight_level_runs(tmp_path)
    proc = run_entry("scripts/plot_results.py", tmp_path, *args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "plot.png").exists()


def test_imp_lines_split_by_phase_count_and_baselines_by_length(tmp_path):
    common = dict(dataset="cifar10", method="imp", arch="resnet56", cfg=CFG, params=1000, flops=10_000)
    dense = write(tmp_path, "baseline", "seed1", variant=None, epochs=160, best_top1=93.0, final_top1=93.0, **common)
    short = write(tmp_path, "baseline", "linear-T130-seed1", variant=None, epochs=130, best_top1=92.0,
                  final_top1=92.0, **common)
    prev = dense / "checkpoint.pt"
    for j, s, acc in ((1, 0.684, 92.5), (2, 0.9, 91.0)):     # J = 2 phases to S = 0.9
        d = write(tmp_path, "LLR", f"S0.9-J2-T160-R10-p{j}-seed1", variant=f"S0.9-J2-T160-R10-p{j}", phases=2,
                  phase=j, sparsity=s, best_top1=acc, final_top1=acc, source=str(prev), epochs=10, **common)
        prev = d / "checkpoint.pt"
    write(tmp_path, "LLR", "S0.9-J1-T160-R20-p1-seed1", variant="S0.9-J1-T160-R20-p1", phases=1, phase=1,
          sparsity=0.9, best_top1=90.0, final_top1=90.0, source=str(dense / "checkpoint.pt"), epochs=20, **common)
    write(tmp_path, "BIMP", "S0.9-J2-T130-B30-p2-seed1", variant="S0.9-J2-T130-B30-p2", phases=2, phase=2,
          sparsity=0.9, best_top1=91.5, final_top1=91.5, source=str(short / "checkpoint.pt"), epochs=15, **common)
    panel = plot_data(load_results(tmp_path))[("cifar10", "imp", "resnet56")]
    assert panel["x"] == "sparsity"
    lines = {k: [p[:2] for p in v] for k, v in panel["lines"].items()}
    assert lines == {"LLR J=2": [(68.4, 92.5), (90.0, 91.0)], "LLR J=1": [(90.0, 90.0)], "BIMP J=2": [(90.0, 91.5)]}
    assert {k: v[0] for k, v in panel["baselines"].items()} == {"Baseline 160 ep": 93.0, "Baseline 130 ep": 92.0}


def _run(root, arm, tag, settings, **fields):
    """A run folder as the arms write it: result.json and the recorded settings (args.json)."""
    d = write(root, arm, tag, **fields)
    (d / "args.json").write_text(json.dumps(settings))
    return d


def test_the_table_never_averages_different_experiments_and_says_what_differs(tmp_path):
    """Two tables under one runs folder -- 1 and 6 epochs, other widths -- with seed 1 each: two rows, each its own
    numbers, told apart by a Settings column; a third seed of one of them is averaged into its row; the Params
    and FLOPs of a row are the mean over its seeds' pruned models."""
    from common.report import build_table

    common = dict(dataset="fashion-mnist", method="l1-norm", arch="vgg16_mlp")
    for epochs, cfg, accs, seeds in ((1, "[8]", (20.0, 15.0), (1,)), (6, "[16]", (80.0, 70.0), (1, 2))):
        for seed in seeds:
            settings = {"arch": "vgg16_mlp", "cfg": cfg, "epochs": epochs, "lr": 0.1, "seed": seed}
            base = _run(tmp_path, "baseline", f"seed{seed}-{epochs}", settings, **common, variant=None, seed=seed,
                        cfg=[1], params=1000, flops=10_000, best_top1=accs[0] + seed, final_top1=accs[0])
            pruned = _run(tmp_path, "pruned", f"A-seed{seed}-{epochs}", {**settings, "checkpoint": str(base)},
                          **common, variant="A", seed=seed, cfg=[1], params=400 + 100 * seed, flops=5_000,
                          base_params=1000, base_flops=10_000, best_top1=10.0, final_top1=10.0,
                          source=str(base / "checkpoint.pt"))
            _run(tmp_path, "finetune", f"A-seed{seed}-{epochs}", {**settings, "epochs": 1, "lr": 0.001,
                                                                   "checkpoint": str(pruned / "pruned.pt")},
                 **common, variant="A", seed=seed, cfg=[1], params=400 + 100 * seed, flops=5_000,
                 best_top1=accs[1] + seed, final_top1=accs[1], source=str(pruned / "pruned.pt"))
    header, table = build_table(load_results(tmp_path))
    rows = [dict(zip(header, row)) for row in table]
    assert header[:5] == ["Dataset", "Method", "Model", "Variant", "Settings"] and len(rows) == 2
    one, six = sorted(rows, key=lambda row: row["Settings"].split("epochs=")[1])
    assert one["Settings"] == "cfg=[8], epochs=1" and six["Settings"] == "cfg=[16], epochs=6"
    assert one["Baseline"].startswith("21.00") and one["Fine-tuned"].startswith("16.00")
    assert six["Baseline"].startswith("81.50 ± 0.71") and six["Fine-tuned"].startswith("71.50 ± 0.71")
    assert six["Params"] == "0.00M (↓45.0%)"              # (500 + 600) / 2 of 1000: the mean over seeds


def test_a_row_without_a_baseline_of_its_own_shows_the_nearest_not_every_one(tmp_path):
    """IMP's folder holds two dense runs (8 epochs step, 4 epochs linear, for BIMP); GMP trains from scratch (no
    source) with the 8-epoch settings plus its own: its Baseline column is the 8-epoch runs, not all six."""
    from common.report import build_table

    common = dict(dataset="fashion-mnist", method="imp", arch="vgg16", cfg=[1], params=1000, flops=10_000)
    step = {"arch": "vgg16", "epochs": 8, "schedule": "step"}
    for seed in (1, 2, 3):
        _run(tmp_path, "baseline", f"seed{seed}", step, **common, variant=None, seed=seed, best_top1=80.0 + seed,
             final_top1=80.0 + seed)
        _run(tmp_path, "baseline", f"linear-seed{seed}", {**step, "epochs": 4, "schedule": "linear"}, **common,
             variant=None, seed=seed, best_top1=70.0, final_top1=70.0)
        _run(tmp_path, "GMP", f"S0.9-seed{seed}", {**step, "prune_every": 2, "sparsity": 0.9}, **common,
             variant="S0.9-T8-GMP", seed=seed, sparsity=0.9, best_top1=79.0, final_top1=79.0)
    header, table = build_table(load_results(tmp_path))
    gmp = next(dict(zip(header, row)) for row in table if row[3] == "S0.9-T8-GMP")
    assert gmp["Baseline"] == "82.00 ± 1.00" and gmp["GMP"] == "79.00 ± 0.00"


def test_a_runs_cost_is_images_times_forward_macs_times_three(tmp_path):
    import torch
    from helpers import synthetic_loaders

    from common.engine import TrainConfig, Trainer
    from common.flops import count_flops
    from common.models import build_model

    train, test = synthetic_loaders(n=48, batch=16)
    model = build_model("vgg11", 10, 1, [8, "M", 16, "M", 16, 16, "M", 16, 16, "M", 16, 16])
    result = Trainer(model, train, test, TrainConfig(epochs=2, lr=0.05, no_progress=True), tmp_path,
                     {"dataset": "d", "method": "m", "arm": "baseline"}).fit()
    macs = count_flops(model, (1, 32, 32))
    cost = result["cost"]
    assert cost["images"] == 2 * 48 and cost["forward_macs"] == macs == result["flops"]
    assert cost["train_flops"] == 3 * macs * 96
    assert cost["device"].startswith("cpu-") and cost["processes"] == 1
    assert cost["device_hours"] == pytest.approx(cost["train_s"] / 3600, abs=3e-6)      # train_s: 2 decimals
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["images_seen"] == 96


def _costly_runs(root):
    """One baseline (cost 120) pruned two ways (k = 2), each fine-tuned (cost 10 and 20) and trained from scratch."""
    common = dict(dataset="cifar10", method="l1-norm", arch="resnet56", cfg=CFG, params=100, flops=1000)
    base = _run(root, "baseline", "seed1", {"epochs": 160, "seed": 1}, **common, variant=None, seed=1,
                best_top1=93.0, final_top1=93.0, cost={"train_flops": 120.0})
    for variant, ft in (("A", 10.0), ("B", 20.0)):
        pruned = _run(root, "pruned", f"{variant}-seed1", {"variant": variant, "seed": 1}, **common, variant=variant,
                      seed=1, best_top1=50.0, final_top1=50.0, base_params=200, base_flops=2000,
                      source=str(base / "checkpoint.pt"))
        _run(root, "finetune", f"{variant}-seed1", {"epochs": 40, "seed": 1}, **common, variant=variant, seed=1,
             best_top1=92.0, final_top1=92.0, source=str(pruned / "pruned.pt"), cost={"train_flops": ft})
        _run(root, "scratch-B", f"{variant}-seed1", {"epochs": 320, "seed": 1}, **common, variant=variant, seed=1,
             best_top1=92.5, final_top1=92.5, source=str(pruned / "pruned.pt"), cost={"train_flops": 240.0})


def test_the_amortised_column_shares_the_baseline_over_the_models_cut_from_it(tmp_path):
    from common.report import build_cost_table, table_rows

    _costly_runs(tmp_path)
    rows = load_results(tmp_path)
    header, table = build_cost_table(rows, table_rows(rows)[1])
    cells = {row[3]: dict(zip(header, row)) for row in table}
    assert cells["A"]["Fine-tuned + baseline/k"] == "70 FLOP" and cells["B"]["Fine-tuned + baseline/k"] == "80 FLOP"
    assert cells["A"]["k"] == "2" and cells["A"]["Baseline"] == "120 FLOP" and cells["B"]["Scratch-B"] == "240 FLOP"


def test_the_compute_table_shows_every_arm_that_trained(tmp_path):
    """IMP's arms (FT, SLR, ...) are neither fine-tuning nor scratch: their cost still gets a column each, in the
    accuracy table's order; the pruned model (no training) gets none."""
    from common.report import build_cost_table, table_rows

    common = dict(dataset="cifar10", method="imp", arch="vgg16", params=100, flops=1000)
    base = _run(tmp_path, "baseline", "seed1", {"epochs": 8, "seed": 1}, **common, variant=None, seed=1,
                best_top1=90.0, final_top1=90.0, cost={"train_flops": 300.0})
    for arm, cost in (("SLR", 30.0), ("FT", 20.0)):
        _run(tmp_path, arm, "S0.9-seed1", {"epochs": 8, "seed": 1}, **common, variant="S0.9", seed=1,
             best_top1=85.0, final_top1=85.0, source=str(base / "checkpoint.pt"), cost={"train_flops": cost})
    rows = load_results(tmp_path)
    header, table = build_cost_table(rows, table_rows(rows)[1])
    assert header[4:] == ["Baseline", "FT", "SLR", "Fine-tuned + baseline/k", "k"]
    assert table[0][4:7] == ["300 FLOP", "20 FLOP", "30 FLOP"]


def test_a_table_pruning_another_methods_baseline_shows_that_baselines_best_and_cost(tmp_path):
    """ThiNet, regression and Taylor prune the L1-norm baseline: their table (its folder alone) reads the baseline
    run from its folder -- its best top-1 (not the final weights' top-1 the pruned run recorded) and its cost."""
    from common.report import build_cost_table, build_table, table_rows

    base = _run(tmp_path / "l1-norm", "baseline", "seed1", {"epochs": 160, "seed": 1}, dataset="cifar10",
                method="l1-norm", arch="vgg16", variant=None, seed=1, best_top1=93.5, final_top1=93.0, params=100,
                flops=1000, cost={"train_flops": 120.0})
    common = dict(dataset="cifar10", method="taylor", arch="vgg16", variant="A", seed=1, params=50, flops=500)
    pruned = _run(tmp_path / "taylor", "pruned", "A-seed1", {"variant": "A", "seed": 1}, **common, best_top1=40.0,
                  final_top1=40.0, top1_before=93.0, base_params=100, base_flops=1000,
                  source=str(base / "checkpoint.pt"))
    _run(tmp_path / "taylor", "finetune", "A-seed1", {"epochs": 40, "seed": 1}, **common, best_top1=92.0,
         final_top1=92.0, source=str(pruned / "pruned.pt"), cost={"train_flops": 10.0})
    rows = load_results(tmp_path / "taylor")
    header, table = build_table(rows)
    assert dict(zip(header, table[0]))["Baseline"].startswith("93.50")
    header, table = build_cost_table(rows, table_rows(rows)[1])
    cells = dict(zip(header, table[0]))
    assert cells["Baseline"] == "120 FLOP" and cells["Fine-tuned + baseline/k"] == "130 FLOP" and cells["k"] == "1"


def test_a_baseline_that_another_row_shows_gets_no_row_of_its_own(tmp_path):
    """Slimming: the pruned models descend from the sparsity-trained run (other settings than the baseline's); the
    baseline is the row's Baseline, not a second row with a Settings column."""
    from common.report import build_table

    common = dict(dataset="cifar10", method="slimming", arch="vgg19", params=100, flops=1000)
    _run(tmp_path, "baseline", "seed1", {"sparsity": 0.0, "seed": 1}, **common, variant=None, seed=1,
         best_top1=93.0, final_top1=93.0)
    trained = _run(tmp_path, "sparsity", "seed1", {"sparsity": 1e-4, "seed": 1}, **common, variant=None, seed=1,
                   best_top1=92.0, final_top1=92.0)
    _run(tmp_path, "pruned", "p0.4-seed1", {"percent": 0.4, "seed": 1}, **{**common, "params": 40}, variant="p0.4",
         seed=1, best_top1=10.0, final_top1=10.0, source=str(trained / "checkpoint.pt"))
    header, table = build_table(load_results(tmp_path))
    assert "Settings" not in header and [row[3] for row in table] == ["p0.4"]
    assert dict(zip(header, table[0]))["Baseline"].startswith("93.00")


def test_the_csv_of_a_table_reads_back_into_the_same_table(tmp_path, capsys):
    from common.report import build_table, rows_from_csv, to_markdown, write_table

    _costly_runs(tmp_path / "runs")
    rows = load_results(tmp_path / "runs")
    write_table(rows, csv_path=tmp_path / "table.csv")
    again = rows_from_csv(tmp_path / "table.csv")
    assert len(again) == len(rows) == 7
    assert to_markdown(*build_table(again)) == to_markdown(*build_table(rows))
    with open(tmp_path / "table.csv", newline="") as f:
        means = {(r["variant"], r["arm"]): r for r in csv.DictReader(f) if r["seed"] == "mean"}
    assert means[("A", "finetune")]["best_top1"] == "92.0" and means[("A", "finetune")]["runs"] == "1"
    assert means[("A", "finetune")]["epochs"] == ""                  # a count of runs is not a number of epochs
    proc = run_entry("scripts/collect_results.py", tmp_path / "runs", "--format", "json")
    table = json.loads(proc.stdout)["table"]
    assert [row["Variant"] for row in table] == ["A", "B"] and table[0]["Fine-tuned"] == "92.00"


def test_the_compute_plot_puts_each_arm_at_what_it_cost(tmp_path):
    _costly_runs(tmp_path)
    panel = plot_data(load_results(tmp_path), x="compute")[("cifar10", "l1-norm", "resnet56")]
    lines = {k: [p[:2] for p in v] for k, v in panel["lines"].items()}
    assert lines["Fine-tuned"] == [(130.0, 92.0), (140.0, 92.0)]          # its own 10 / 20 + the baseline's 120
    assert lines["Scratch-B"] == [(240.0, 92.5), (240.0, 92.5)]             # A and B, each at its own 240


def test_latency_is_measured_finite_and_reported_with_its_settings(tmp_path):
    from common.data import dataset_info
    from common.flops import count_flops
    from common.latency import measure, table
    from common.latency import write as write_latency
    from common.models import build_model

    common = dict(dataset="fashion-mnist", method="weight-level", arch="vgg11", params=1, flops=1)
    for seed in (1, 2):                               # one network behind two baseline runs
        write(tmp_path, "baseline", f"seed{seed}", **common, variant=None, seed=seed,
              cfg=[8, "M", 16, "M", 16, 16, "M", 16, 16, "M", 16, 16], best_top1=90.0, final_top1=90.0)
    for percent, nonzero in ((0.5, 5e5), (0.8, 2e5)):   # two sparsities of one dense network
        write(tmp_path, "pruned", f"p{percent}-seed1", **{**common, "flops": nonzero}, variant=f"p{percent}",
              sparsity=percent, seed=1, cfg=[8, "M", 16, "M", 16, 16, "M", 16, 16, "M", 16, 16], best_top1=80.0,
              final_top1=80.0)
    records = measure(load_results(tmp_path), batches=(1, 4), compile=False, min_time=0.01, log=lambda *a: None)
    assert {(r["batch"], r["mode"], r["dtype"], r["masked"]) for r in records} == {
        (b, "eager", d, m) for b in (1, 4) for d in ("fp32", "bf16") for m in (False, True)}
    timed = [r for r in records if "median_ms" in r]
    assert timed and all(math.isfinite(r["median_ms"]) and r["median_ms"] > 0 and r["runs"] >= 1 for r in timed)
    text = table(records)
    assert "| weight-level p0.5 (seed 1), weight-level p0.8 (seed 1) (masked: runs dense) |" in text
    assert "b=1 eager fp32" in text
    info = dataset_info("fashion-mnist")
    dense = count_flops(build_model("vgg11", 10, info.in_channels, [8, "M", 16, "M", 16, 16, "M", 16, 16, "M", 16,
                                                                     16]), info.input_size)
    masked_row = next(line for line in text.splitlines() if "masked" in line)
    assert f"| {dense / 1e6:.1f}M dense; nonzero: 0.5M weight-level p0.5, 0.2M weight-level p0.8 |" in masked_row
    assert "| weight-level baseline (seeds 1, 2) |" in text
    json_path, md_path = write_latency(records, tmp_path, "cpu")
    saved = json.loads(json_path.read_text())
    assert saved["measured_on"]["device"].startswith("cpu-") and saved["measured_on"]["threads"] >= 1
    assert "Latency on cpu-" in md_path.read_text()


def test_a_published_tables_csv_is_timed_without_its_runs(tmp_path):
    """results/<tree>/<method>/ holds table.csv, not the runs: scripts/latency.py times its networks from the CSV's
    width configs -- the baseline, the structured pruned model, the masked one (run dense, at the baseline's
    widths). A CSV written before the cfg column still gives the baseline and the masked networks."""
    from common.report import write_table

    wide, narrow = [8, "M", 16, "M", 16, 16, "M", 16, 16, "M", 16, 16], [4, "M", 8, "M", 8, 8, "M", 8, 8, "M", 8, 8]
    common = dict(dataset="fashion-mnist", arch="vgg11", params=1, flops=1)
    base = _run(tmp_path / "runs", "baseline", "seed1", {"cfg": json.dumps(wide), "seed": 1}, method="l1-norm",
                **common, variant=None, seed=1, cfg=wide, best_top1=90.0, final_top1=90.0)
    write(tmp_path / "runs", "pruned", "A-seed1", method="l1-norm", **common, variant="A", seed=1, cfg=narrow,
          best_top1=50.0, final_top1=50.0, source=str(base / "checkpoint.pt"))
    write(tmp_path / "runs", "pruned", "p0.5-seed1", method="l1-norm", **common, variant="p0.5", seed=1, cfg=wide,
          sparsity=0.5, best_top1=80.0, final_top1=80.0, source=str(base / "checkpoint.pt"))
    published = tmp_path / "published"
    write_table(load_results(tmp_path / "runs"), csv_path=published / "table.csv")
    flags = ("--batches", "1", "--no-compile", "--no-bf16", "--min-time", "0.01")
    proc = run_entry("scripts/latency.py", published, *flags)
    assert proc.returncode == 0, proc.stderr
    timed = {(json.dumps(r["cfg"]), r["masked"])
             for r in json.loads((published / "latency.json").read_text())["records"]}
    assert timed == {(json.dumps(wide), False), (json.dumps(narrow), False), (json.dumps(wide), True)}

    with open(published / "table.csv", newline="") as f:           # the same CSV without its cfg column
        rows = list(csv.DictReader(f))
    with open(published / "table.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, [k for k in rows[0] if k != "cfg"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    proc = run_entry("scripts/latency.py", published, *flags)
    assert proc.returncode == 0, proc.stderr
    assert "1 rows of" in proc.stdout and "not timed" in proc.stdout
    timed = {(json.dumps(r["cfg"]), r["masked"])
             for r in json.loads((published / "latency.json").read_text())["records"]}
    assert timed == {(json.dumps(wide), False), (json.dumps(wide), True)}
    missing = run_entry("scripts/latency.py", tmp_path / "nothing-here")
    assert missing.returncode != 0 and "is not a folder" in missing.stderr and "Traceback" not in missing.stderr
    (published / "table.csv").write_text("dataset,arm,seed\nfashion-mnist,baseline,1\n")    # not one of ours
    proc = run_entry("scripts/latency.py", published, *flags)
    assert proc.returncode != 0 and "not a table CSV" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_the_papers_rows_name_shipped_architectures_and_show_beside_ours(tmp_path):
    from common.methods import METHODS
    from common.models import arch_spec
    from common.pruning.l1_norm import variants_for
    from common.report import PAPER, build_table

    rows = json.loads(PAPER.read_text())["rows"]
    assert len(rows) == 43 and all(r["source"].startswith("Eric-mingjie/rethinking-network-pruning, imagenet/")
                                   for r in rows)
    for r in rows:
        method = METHODS[r["method"]]
        assert arch_spec(r["arch"]).kind == "imagenet" and r["arm"] in ("finetune", "scratch-E", "scratch-B")
        if r["variant"] in method.published:                     # a published architecture of the method
            assert method.published[r["variant"]][0] == r["arch"], r
        elif r["method"] == "l1-norm":
            assert r["variant"] in variants_for(r["arch"])
        else:                                                    # a prune ratio the method's table runs
            assert r["variant"] in ("p0.5", "p0.3", "p0.6") and r["arch"] in method.archs["imagenet"], r
    common = dict(dataset="imagenet", method="l1-norm", arch="resnet34", cfg=CFG, params=1, flops=1)
    base = write(tmp_path, "baseline", "seed1", **common, variant=None, best_top1=73.3, final_top1=73.3)
    pruned = write(tmp_path, "pruned", "A-seed1", **common, variant="A", best_top1=1.0, final_top1=1.0,
                   source=str(base / "checkpoint.pt"))
    write(tmp_path, "finetune", "A-seed1", **common, variant="A", best_top1=72.06, final_top1=72.06,
          source=str(pruned / "pruned.pt"))
    header, table = build_table(load_results(tmp_path))
    assert dict(zip(header, table[0]))["Fine-tuned"] == "72.06 [paper 72.56, -0.50]"
