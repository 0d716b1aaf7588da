"""MetaPruning: the PruningNet computes the plain network of an encoding with the generated weights, the
counts without building, the evolutionary search (constraint, mutation / crossover rules, resume from its
cache), BN re-estimation, and the entry points (pipeline and bad input)."""

import json
import random

import pytest
import torch
import torch.nn as nn
from helpers import FASHION_SKIP, HAVE_FASHION
from helpers_prune_during_training import assert_one_line_error, run_entry, write_fashion_idx

from common.engine import TrainConfig, Trainer
from common.flops import count_flops
from common.models import build_model, default_cfg
from common.pruning.metapruning import (FULL, SCALES, Constraint, EncodingSampler, EvolutionarySearch, NetworkCounter,
                                        PruningNet, authors_flops, generate, recalibrate_bn, sample_encoding,
                                        search_space)
from common.pruning.metapruning.search import _read_cache

SMALL = [("mobilenet_v1", 0.125, 64), ("mobilenet_v2", 0.125, 64), ("mobilenet_v2_cifar", 0.25, 32),
         ("resnet50_stages", 0.0625, 64)]


@pytest.mark.parametrize("arch,width,size", SMALL)
def test_the_pruningnet_computes_the_plain_network_of_its_encoding(arch, width, size):
    torch.manual_seed(0)
    net = PruningNet(search_space(arch, width), 10).train()
    x = torch.randn(4, 3, size, size)
    for seed in (1, 2):
        net.encoding = sample_encoding(net.space, torch.Generator().manual_seed(seed))
        plain = generate(net, net.encoding).train()
        assert plain.cfg == net.space.cfg(net.encoding) and plain.arch == arch
        for m in plain.modules():
            if isinstance(m, nn.Dropout):
                m.eval()
        with torch.no_grad():
            torch.testing.assert_close(net(x), plain(x), rtol=0, atol=0)


def test_search_spaces_follow_the_spec():
    assert SCALES[0] == 0.10 and SCALES[1] == 0.13 and SCALES[FULL] == 1.0 and len(SCALES) == 31
    v2 = search_space("mobilenet_v2")
    assert len(v2.genes) == 24 and v2.base[:8] == (44, 22, 33, 44, 88, 132, 224, 448) and v2.base[8] == 6 * 22
    assert v2.cfg([FULL] * 24) == list(v2.base) and v2.cfg([0] * 24)[:3] == [4, 2, 3] and v2.base[24] == 1280
    r50 = search_space("resnet50_stages")
    assert len(r50.genes) == 20 and r50.init == tuple(range(12, 24))
    cfg = r50.cfg([FULL] * 4 + [0] + [FULL] * 15)        # the first block's mid gene sets both its inner widths
    assert cfg[5:7] == [6, 6] and cfg[4] == 2048 and cfg[7:9] == [64, 64]
    assert len(search_space("mobilenet_v1").genes) == 13 and search_space("mobilenet_v1").base[13] == 1024
    for arch in ("mobilenet_v1", "resnet50_stages", "mobilenet_v2_cifar"):    # the full encoding is the plain model
        space = search_space(arch)
        assert space.cfg([FULL] * len(space.genes)) == default_cfg(arch)


def _authors_count(model, size):
    """cal_FLOPs.py's convention, counted the authors' way: hooks on a real network (whose ReLUs, in the authors'
    MobileNet V1, are functions the hooks never see)."""
    total = []
    relu = () if model.arch == "mobilenet_v1" else (nn.ReLU,)

    def hook(m, inp, out):
        x = inp[0]
        if isinstance(m, nn.Conv2d):
            total.append(out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])
        elif isinstance(m, nn.Linear):
            total.append(m.weight.numel() + m.bias.numel())
        elif isinstance(m, nn.BatchNorm2d) or type(m) in relu or isinstance(m, nn.AdaptiveAvgPool2d):
            total.append(x.numel())
        elif isinstance(m, nn.MaxPool2d):
            total.append(out.numel() * m.kernel_size ** 2)

    for m in model.modules():
        if not list(m.children()):
            m.register_forward_hook(hook)
    model.eval()(torch.zeros(1, 3, size, size))
    return sum(total)


@pytest.mark.parametrize("arch,width,size", SMALL)
def test_counts_without_building_equal_the_built_networks(arch, width, size):
    space = search_space(arch, width)
    counter = NetworkCounter(arch, space.base, 10, 3, (3, size, size))
    rng = random.Random(0)
    for _ in range(3):
        cfg = space.cfg([rng.randrange(31) for _ in space.genes])
        layers = counter.layers(cfg)
        model = build_model(arch, 10, 3, cfg)
        assert sum(x.ours for x in layers) == count_flops(model, (3, size, size))
        assert authors_flops(layers) == _authors_count(model, size)


def test_the_authors_count_of_the_full_mobilenet_v1_is_theirs():
    """Their cal_FLOPs.py on their full-width MobileNet V1 at 224: 573.8 M (its functional ReLUs uncounted; ours
    are modules, 5.1 M elements more); our MACs 568.7 M."""
    space = search_space("mobilenet_v1", 1.0)
    layers = NetworkCounter("mobilenet_v1", space.base, 1000, 3, (3, 224, 224)).layers(space.cfg([30] * 13))
    assert sum(x.ours for x in layers) == 568_740_352
    assert authors_flops(layers) == 573_834_216


def _toy_search(tmp_path, evaluate, seed=3, iterations=4, max_flops=2.0e6):
    space = search_space("mobilenet_v2_cifar", 0.25)
    counter = NetworkCounter(space.arch, space.base, 10, 3, (3, 32, 32))
    constraint = Constraint(max_flops=max_flops)
    return EvolutionarySearch(space, evaluate, lambda e: constraint.figures(counter.layers(space.cfg(e)), None),
                              constraint, tmp_path / "cache.jsonl", seed=seed, population=12, parents=4, mutations=4,
                              crossovers=4, iterations=iterations, log=lambda *a: None)


def _toy_error(encoding):       # a deterministic fitness: wide early layers are "better"
    return float(sum((FULL - g) * (i + 1) for i, g in enumerate(encoding[:8])) + 0.01 * sum(encoding))


def test_every_candidate_meets_the_constraint_and_the_search_improves(tmp_path):
    search = _toy_search(tmp_path, _toy_error)
    result = search.run()
    cache = _read_cache(tmp_path / "cache.jsonl")
    assert len(cache) == result["evaluated"] == 12 * 4
    assert all(v["flops"] <= 2.0e6 for v in cache.values())
    assert result["error"] < result["median_random_error"]
    assert result["history"][-1]["best_error"] <= result["history"][0]["best_error"]


def test_a_killed_search_resumes_from_its_cache_with_the_same_final_population(tmp_path):
    whole = _toy_search(tmp_path / "whole", _toy_error).run()
    calls = []

    def dies_after_20(encoding):
        if len(calls) == 20:
            raise KeyboardInterrupt
        calls.append(encoding)
        return _toy_error(encoding)

    with pytest.raises(KeyboardInterrupt):
        _toy_search(tmp_path / "killed", dies_after_20).run()
    with open(tmp_path / "killed" / "cache.jsonl", "a") as f:
        f.write('{"encoding": "1,2')                 # a line cut short by the kill
    assert len(_read_cache(tmp_path / "killed" / "cache.jsonl")) == 20
    resumed = _toy_search(tmp_path / "killed", _toy_error)
    again = resumed.run()
    assert resumed.cache_hits == 20 and again["population"] == whole["population"]


def test_mutations_and_crossovers_follow_the_spec(tmp_path):
    search = _toy_search(tmp_path, _toy_error, max_flops=None)
    parent = tuple([15] * 24)
    search.mutation_prob = 1.0           # every gene moves to a *different* value
    children = search._mutate([parent], set())
    assert len(children) == 4 and all(all(c != 15 for c in child) for child in children)
    search.mutation_prob = 0.1
    children = search._mutate([parent], set()) + search._mutate([parent], set())
    changed = sum(c != 15 for child in children for c in child) / (len(children) * 24)
    assert 0.0 < changed < 0.35
    a, b = tuple([3] * 24), tuple([27] * 24)
    for child in search._crossover([a, b], set()):
        assert set(child) <= {3, 27} and len(set(child)) == 2          # uniform crossover, gene by gene


def test_bn_statistics_are_re_estimated_exactly():
    torch.manual_seed(0)
    model = build_model("mobilenet_v2_cifar", 10, 3, search_space("mobilenet_v2_cifar", 0.25).cfg([5] * 24))
    batches = [torch.randn(8, 3, 32, 32) for _ in range(3)]
    recalibrate_bn(model, batches)
    first = model.features[0][1]
    with torch.no_grad():
        pre = torch.cat([model.features[0][0](x) for x in batches])
    torch.testing.assert_close(first.running_mean, pre.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert not model.training


def test_the_encoding_sampler_resumes_its_sequence():
    net = PruningNet(search_space("mobilenet_v2_cifar", 0.25), 10)
    a = EncodingSampler(net, seed=7)
    first = []
    for _ in range(3):
        a.before_forward(None)
        first.append(net.encoding)
    b = EncodingSampler(net, seed=7)
    b.before_forward(None)
    state = b.state_dict()
    c = EncodingSampler(net, seed=99)
    c.load_state_dict(state)
    c.before_forward(None)
    assert net.encoding == first[1] and len(set(first)) == 3


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_FASHION, reason=FASHION_SKIP)
def test_the_pruningnet_learns_real_images_for_random_encodings(tmp_path):
    """Through the one engine (a new encoding per batch, label smoothing) on 2,000 Fashion-MNIST images: random
    encodings, scored as the search scores them (generated weights, BN re-estimated on training batches),
    classify 1,000 test images well above chance -- the mean over 6 encodings, so that no single run's noise
    (thread count, BLAS) decides it. Seen: 45-60% against 10% chance."""
    from common.data import make_loaders
    from common.pruning.metapruning import fitness, sample_encoding
    torch.manual_seed(0)
    net = PruningNet(search_space("mobilenet_v2_cifar", 0.25), 10, in_channels=1)
    train, test, _ = make_loaders("fashion-mnist", "data", 32, 500, subset=2000, test_subset=1000)
    trainer = Trainer(net, train, test, TrainConfig(epochs=4, lr=0.05, schedule="constant", label_smoothing=0.1,
                                                    no_progress=True),
                      tmp_path, {"dataset": "fashion-mnist", "method": "metapruning", "arm": "pruningnet"},
                      hooks=[EncodingSampler(net, 1)], measured=net.base_network())
    result = trainer.fit()
    assert result["flops"] == count_flops(net.base_network(), (1, 32, 32))
    recal = [x for _, (x, _) in zip(range(10), train)]
    g = torch.Generator().manual_seed(0)
    accuracies = [100 - fitness(net, sample_encoding(net.space, g), recal, test, "cpu") for _ in range(6)]
    assert sum(accuracies) / len(accuracies) > 25.0, accuracies      # chance: 10%


@pytest.fixture(scope="module")
def pruningnet(tmp_path_factory):
    root = tmp_path_factory.mktemp("mp")
    data = write_fashion_idx(root / "data" / "fashion-mnist", n_train=120, n_test=40)
    proc = run_entry("cifar/metapruning/main.py", "--dataset", "fashion-mnist", "--data-dir", data.parent,
                     "--width", "0.125", "--epochs", "1", "--holdout", "20", "--save", root / "pnet",
                     "--batch-size", "25", in_process=True)
    assert proc.returncode == 0, proc.stderr
    return root, data.parent


def test_prune_finetune_scratch_from_a_pruningnet(pruningnet):
    root, data = pruningnet
    args = ["--checkpoint", root / "pnet" / "checkpoint.pt", "--data-dir", data, "--max-mflops", "0.8",
            "--population", "4", "--parents", "2", "--mutations", "2", "--crossovers", "2", "--iterations", "2",
            "--recal-batches", "2", "--save", root / "search"]
    proc = run_entry("cifar/metapruning/prune.py", *args, in_process=True)
    assert proc.returncode == 0, proc.stderr
    result = json.loads((root / "search" / "result.json").read_text())
    assert result["flops"] <= 0.8e6 and result["report"]["evaluated"] == 8
    assert result["report"]["cost"]["pruningnet_hours"] > 0 and "search_hours" in result["report"]["cost"]
    assert result["base_flops"] == count_flops(build_model("mobilenet_v2_cifar", 10, 1,
                                                           list(search_space("mobilenet_v2_cifar", 0.125).base)),
                                               (1, 32, 32))
    for script, extra in (("main_finetune.py", []), ("main_scratch.py", ["--budget", "B"])):
        proc = run_entry(f"cifar/metapruning/{script}", "--checkpoint", root / "search" / "pruned.pt", "--data-dir",
                         data, "--epochs", "1", "--save", root / script, *extra, in_process=True)
        assert proc.returncode == 0, proc.stderr
    scratch = json.loads((root / "main_scratch.py" / "result.json").read_text())
    assert scratch["epochs"] == int(result["base_flops"] / result["flops"])


@pytest.mark.parametrize("flags,needle", [
    (["--max-mflops", "0.001"], "is below the smallest network"),
    (["--max-mflops", "500"], "is not below the largest network"),
    (["--min-mflops", "500"], "is above the largest network"),
    ([], "give a constraint"),
    (["--encoding", "1,x"], "comma-separated integers"),
    (["--encoding", "1,2,3"], "has 24 genes in 0..30"),
    (["--encoding", "", "--max-mflops", "0.8"], "--encoding is empty"),
    (["--encoding", ",".join(["3"] * 24), "--uniform"], "give --encoding (this network) or --uniform"),
    (["--encoding", ",".join(["30"] * 24), "--max-mflops", "0.8"], "does not meet the constraint: "),
])
def test_bad_search_flags_are_one_line(pruningnet, flags, needle):
    root, data = pruningnet
    save = root / f"bad{abs(hash(needle))}"
    proc = run_entry("cifar/metapruning/prune.py", "--checkpoint", root / "pnet" / "checkpoint.pt", "--data-dir", data,
                     "--save", save, *flags, in_process=True)
    assert_one_line_error(proc, needle)
    assert not save.exists()


def test_an_arch_without_a_search_space_and_a_pruningnet_of_another_arch(pruningnet, tmp_path):
    root, data = pruningnet
    proc = run_entry("cifar/metapruning/main.py", "--arch", "resnet56", "--dataset", "fashion-mnist", "--data-dir",
                     data, "--save", tmp_path / "x", in_process=True)
    assert_one_line_error(proc, "no search space for resnet56")
    ckpt = torch.load(root / "pnet" / "checkpoint.pt", weights_only=False)
    ckpt["args"]["width"] = 0.25              # a PruningNet of another space than its weights
    torch.save(ckpt, tmp_path / "other.pt")
    proc = run_entry("cifar/metapruning/prune.py", "--checkpoint", tmp_path / "other.pt", "--data-dir", data,
                     "--max-mflops", "1", "--save", tmp_path / "y", in_process=True)
    assert_one_line_error(proc, "does not hold a PruningNet of mobilenet_v2_cifar at width 0.25")
    assert not (tmp_path / "y").exists()
    ckpt["args"]["width"], ckpt["arch"] = 0.125, "resnet50_stages"       # ... or of another arch
    torch.save(ckpt, tmp_path / "arch.pt")
    proc = run_entry("cifar/metapruning/prune.py", "--checkpoint", tmp_path / "arch.pt", "--data-dir", data,
                     "--max-mflops", "1", "--save", tmp_path / "z", in_process=True)
    assert_one_line_error(proc, "resnet50_stages is built for imagenet datasets")
    assert not (tmp_path / "z").exists()


def test_latency_table_measures_each_layer_shape_once_and_bounds_the_search(tmp_path):
    from common.pruning.metapruning import LatencyTable
    space = search_space("mobilenet_v2_cifar", 0.125)
    counter = NetworkCounter(space.arch, space.base, 10, 3, (3, 32, 32))
    table = LatencyTable(tmp_path / "latency.json", "cpu", batch=1, repeats=1)
    full = table.latency_ms(counter.layers(list(space.base)))
    shapes = {table.key(x) for x in counter.layers(list(space.base)) if x.kind in ("conv", "linear")}
    stored = json.loads((tmp_path / "latency.json").read_text())
    assert set(stored) == shapes and full > 0
    again = LatencyTable(tmp_path / "latency.json", "cpu", batch=1)
    assert again.latency_ms(counter.layers(list(space.base))) == full and again.measured_s == 0.0   # read, not measured
    smallest = again.latency_ms(counter.layers(space.cfg([0] * len(space.genes))))
    bound = max(smallest, full) * 1.5 if smallest >= full else (smallest + full) / 2   # timing noise at tiny widths
    constraint = Constraint(max_latency=bound)
    search = EvolutionarySearch(space, _toy_error, lambda e: constraint.figures(counter.layers(space.cfg(e)), again),
                                constraint, tmp_path / "cache.jsonl", population=6, parents=2, mutations=2,
                                crossovers=2, iterations=2, log=lambda *a: None)
    result = search.run()
    cache = _read_cache(tmp_path / "cache.jsonl")
    assert len(cache) == result["evaluated"] >= 6 and all(v["latency_ms"] <= bound for v in cache.values())


def test_a_resumed_pruningnet_run_ends_with_the_same_weights(tmp_path):
    from helpers import KillAt
    from helpers_prune_during_training import random_loaders

    def run(folder, kill_at, resume=False):
        torch.manual_seed(0)
        net = PruningNet(search_space("mobilenet_v2_cifar", 0.125), 10, in_channels=1)
        train, test = random_loaders(n=48, batch=16)
        trainer = Trainer(net, train, test, TrainConfig(epochs=3, lr=0.05, label_smoothing=0.1, no_progress=True),
                          folder, {"dataset": "fashion-mnist", "method": "metapruning", "arm": "pruningnet"},
                          hooks=[EncodingSampler(net, 1), KillAt(kill_at)], resume=resume)
        trainer.fit()
        return net.state_dict()

    whole = run(tmp_path / "whole", -1)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed", 1)             # killed in epoch 2, after epoch 1's checkpoint
    resumed = run(tmp_path / "killed", -1, resume=True)
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


@pytest.mark.parametrize("flags,needle", [(["--mflops", "abc"], "is not a positive number of million FLOPs"),
                                          (["--width", "0"], "must be > 0"),
                                          (["--search-flags", "--populaton 4"], "unrecognized arguments: --populaton"),
                                          (["--search-flags", "--population x"], "expected an integer, got 'x'")])
def test_bad_table_flags_are_one_line(tmp_path, flags, needle):
    from helpers import run_sweep
    proc = run_sweep("metapruning", "--tree", "cifar", "--runs", tmp_path / "runs", *flags)
    assert_one_line_error(proc, needle)
    assert not (tmp_path / "runs").exists()


def test_a_width_that_leaves_a_layer_no_channel_is_one_line(tmp_path):
    data = write_fashion_idx(tmp_path / "data" / "fashion-mnist", n_train=40, n_test=20)
    proc = run_entry("cifar/metapruning/main.py", "--dataset", "fashion-mnist", "--data-dir", data.parent, "--width",
                     "0.02", "--epochs", "1", "--holdout", "10", "--save", tmp_path / "pnet", in_process=True)
    assert_one_line_error(proc, "--width 0.02 leaves the narrowest layer of mobilenet_v2_cifar", "with none")
    assert not (tmp_path / "pnet").exists()


def test_cache_lines_that_are_not_evaluations_are_skipped(tmp_path):
    cache = tmp_path / "search_cache.jsonl"
    cache.write_text('{"encoding": "1,2", "error": 40.0, "flops": 5}\n[1, 2]\n{"error": 3.0}\n"text"\n'
                     '{"encoding": [1, 2], "error": 3.0}\n{"encoding": "3,4", "error": 30.5}\n{"encoding": "5,6", "er')
    assert _read_cache(cache) == {"1,2": {"error": 40.0, "flops": 5}, "3,4": {"error": 30.5}}


def test_a_finished_search_run_again_names_no_flag_it_lacks(pruningnet):
    root, data = pruningnet
    args = ["--checkpoint", root / "pnet" / "checkpoint.pt", "--data-dir", data, "--max-mflops", "0.8", "--uniform",
            "--recal-batches", "1", "--save", root / "uniform"]
    assert run_entry("cifar/metapruning/prune.py", *args, in_process=True).returncode == 0
    again = run_entry("cifar/metapruning/prune.py", *args, in_process=True)
    assert_one_line_error(again, "already holds a finished result (result.json); choose another --save")
    assert "--resume" not in again.stderr
