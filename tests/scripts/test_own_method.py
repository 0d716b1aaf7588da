"""A method declared in a folder of one's own -- outside the repository, nothing edited under common/ -- runs
through every arm and the table runner; editing its algorithm makes the table refuse (or re-run) the steps
made by the old code, and only those."""

import json
import subprocess
import sys

import pytest
from helpers import ROOT, assert_one_line_error, run_entry, write_fashion

from common import code

METHOD = '''
"""Filter L2-norm pruning at a per-layer ratio: a method of our own, beside the library."""
from dataclasses import dataclass

from common.methods import Method, Pruned, register_method
from common.pruning.selection import keep_top, per_layer_ratio
from common.pruning.surgery import prune_channels
from common.settings import Settings, flag, fraction

from criterion import l2_scores


@dataclass(frozen=True)
class Ratio(Settings):
    ratio: float = flag(0.5, "fraction of every layer's channels removed", type=fraction)


@register_method
class L2Filters(Method):
    name, title = "l2-filters", "Filter L2 norm at a per-layer ratio"
    prune_settings = Ratio
    archs = {"cifar": ["vgg16_mlp"]}
    epochs, ft_epochs, seeds = 2, 1, 1

    def pruned_variant(self, s, ckpt):
        return f"r{s.ratio:g}"

    def prune(self, s, model, ckpt, data):
        kept = keep_top(l2_scores(model), per_layer_ratio(model, s.ratio))
        return Pruned(prune_channels(model, kept), {"kept": {k: len(v) for k, v in kept.items()}})

    def table(self, t):
        for seed in t.seeds:
            for arch in t.archs:
                t.retrain(t.prune(t.train(arch, seed), "r0.5", ["--ratio", "0.5"]))
'''

CRITERION = '''
def l2_scores(model):
    """||W_j||_2 of every filter of every prunable group."""
    modules = dict(model.named_modules())
    return {g.name: modules[g.producer].weight.detach().flatten(1).norm(dim=1) for g in model.channel_groups()}
'''

RECIPES = {
    "main.py": 'train(L2Filters, arch="vgg16_mlp", dataset="fashion-mnist", epochs=2, lr=0.05, batch_size=16)',
    "prune.py": "prune(L2Filters)",
    "main_finetune.py": 'finetune(L2Filters, epochs=1, lr=0.001, batch_size=16, schedule="constant")',
    "main_scratch.py": "scratch(L2Filters, epochs=2, lr=0.05, batch_size=16)",
}
CFG = '[8, 8, "M", 16, 16, "M", 16, 16, 16, "M", 16, 16, 16, "M", 16, 16, 16]'


@pytest.fixture
def folder(tmp_path):
    """The method's folder: its declaration, its criterion, its four recipes; and a small dataset."""
    own = tmp_path / "my_method"
    own.mkdir()
    (own / "l2_filters.py").write_text(METHOD)
    (own / "criterion.py").write_text(CRITERION)
    for name, call in RECIPES.items():
        arm = call.split("(")[0]
        (own / name).write_text(f'"""{name} of l2-filters."""\nfrom l2_filters import L2Filters\n'
                                f"from common.arms import {arm}\n\nif __name__ == \"__main__\":\n    {call}\n")
    write_fashion(tmp_path / "data" / "fashion-mnist", n_train=64, n_test=32)
    return own


def test_a_method_of_ones_own_runs_every_arm(folder, tmp_path):
    data = ["--data-dir", tmp_path / "data", "--no-progress"]
    runs = tmp_path / "runs"
    steps = [("main.py", "base", ["--cfg", CFG, *data]),
             ("prune.py", "pruned", ["--checkpoint", runs / "base" / "checkpoint.pt", "--ratio", "0.5",
                                     "--data-dir", tmp_path / "data"]),
             ("main_finetune.py", "ft", ["--checkpoint", runs / "pruned" / "pruned.pt", *data]),
             ("main_scratch.py", "E", ["--checkpoint", runs / "pruned" / "pruned.pt", "--budget", "E", *data]),
             ("main_scratch.py", "B", ["--checkpoint", runs / "pruned" / "pruned.pt", "--budget", "B", *data])]
    results = {}
    for script, name, flags in steps:
        proc = run_entry(folder / script, *flags, "--save", runs / name)
        assert proc.returncode == 0, proc.stderr[-2000:]
        results[name] = json.loads((runs / name / "result.json").read_text())
    assert {r["method"] for r in results.values()} == {"l2-filters"}
    assert results["pruned"]["cfg"] == [4, 4, "M", 8, 8, "M", 8, 8, 8, "M", 8, 8, 8, "M", 8, 8, 8]
    assert results["ft"]["cfg"] == results["E"]["cfg"] == results["pruned"]["cfg"]
    ratio = results["pruned"]["base_flops"] / results["pruned"]["flops"]
    assert results["E"]["epochs"] == 2 and results["B"]["epochs"] == int(2 * ratio) > 2
    # the runs record the method's own files as their code; the baseline, a plain training, does not depend on them
    assert any(f.endswith("my_method/criterion.py") for f in results["pruned"]["code"])
    assert not any("my_method/criterion.py" in f for f in results["base"]["code"])
    assert any(f.endswith("my_method/main.py") for f in results["base"]["code"])
    # a pruned model of another method is refused in one line
    other = run_entry("cifar/l1-norm/main_finetune.py", "--checkpoint", runs / "pruned" / "pruned.pt", *data,
                      "--save", runs / "other")
    assert_one_line_error(other, "was made by l2-filters, not l1-norm")


def test_code_hashes_ignore_docstrings_and_layout_but_not_code(tmp_path):
    path = tmp_path / "algo.py"
    path.write_text('"""A module."""\ndef f(x):\n    """Double."""\n    return 2 * x\n')
    before = code.file_hash(path)
    path.write_text('"""Another text."""\n\n\ndef f(x):   # a comment\n    """Twice x."""\n    return 2*x\n')
    assert code.file_hash(path) == before
    path.write_text('"""A module."""\ndef f(x):\n    return 3 * x\n')
    assert code.file_hash(path) != before
    assert code.changed({str(path): before}) == [str(path)] and code.changed(None) == ["(not recorded)"]


def _table(folder, tmp_path, *flags):
    return subprocess.run([sys.executable, "-m", "common.sweep", str(folder / "l2_filters.py"), "l2-filters",
                           "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "data"), "--cfg", CFG,
                           "--runs", str(tmp_path / "runs"), *flags, "--", "--batch-size", "16", "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_table_of_a_method_of_ones_own_and_an_edit_of_its_algorithm(folder, tmp_path):
    first = _table(folder, tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    table = (tmp_path / "runs" / "fashion-mnist" / "l2-filters" / "table.md").read_text()
    assert "| vgg16_mlp | r0.5 |" in table
    again = _table(folder, tmp_path)
    assert again.returncode == 0 and again.stdout.count("== skip (done)") == 5

    criterion = folder / "criterion.py"                 # a docstring edit is not a change of code
    criterion.write_text(CRITERION.replace("||W_j||_2 of every filter", "The L2 norm of each filter"))
    assert _table(folder, tmp_path).stdout.count("== skip (done)") == 5

    criterion.write_text(CRITERION.replace(".norm(dim=1)", ".norm(dim=1) + 0"))
    refused = _table(folder, tmp_path)
    line = assert_one_line_error(refused, "4 finished step(s) were made by other code", "criterion.py changed",
                                 "--rerun-changed", "--reuse-results")
    assert "== run" not in refused.stdout, line
    reused = _table(folder, tmp_path, "--reuse-results")
    assert reused.returncode == 0 and reused.stdout.count("== skip (done)") == 5
    rerun = _table(folder, tmp_path, "--rerun-changed")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert rerun.stdout.count("== skip (done)") == 1 and rerun.stdout.count("== run:") == 4   # the baseline stays
    assert len(list((tmp_path / "runs").rglob("*.stale-*"))) == 4          # the old results are kept aside
    assert _table(folder, tmp_path).stdout.count("== skip (done)") == 5
