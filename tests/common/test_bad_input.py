"""User mistakes end as one line on stderr, exit 2, and nothing written (the hardening list of the
one-library issue): devices, batch size, incomplete checkpoints."""

import pytest
import torch
from helpers import assert_one_line_error, run_entry, write_fashion

from common.checkpoint import make_checkpoint, save_checkpoint
from common.models import build_model

TINY = '[8, "M", 16, "M", 16, 16, "M", 32, 32, "M", 32, 32]'


@pytest.fixture
def data(tmp_path):
    write_fashion(tmp_path / "data", n_train=32, n_test=16)
    return ["--dataset", "fashion-mnist", "--data-dir", tmp_path / "data", "--epochs", "1", "--no-progress"]


@pytest.mark.parametrize("device,message", [
    ("meta", "--device meta is not a training device"),
    ("mps", "--device mps was asked for but the MPS backend is not available"),
    ("gpu", "unknown --device 'gpu'"),
] + ([("cuda", "no CUDA GPU is available")] if not torch.cuda.is_available() else []))
def test_an_unavailable_device_is_one_line(tmp_path, data, device, message):
    proc = run_entry("cifar/l1-norm/main.py", "--arch", "vgg11", "--cfg", TINY, *data, "--device", device,
                     "--save", tmp_path / "run")
    assert_one_line_error(proc, message)
    assert not (tmp_path / "run").exists()


def test_batch_size_one_with_a_batchnorm1d_head_is_one_line(tmp_path, data):
    proc = run_entry("cifar/l1-norm/main.py", "--arch", "vgg11_mlp", "--cfg", TINY, *data, "--batch-size", "1",
                     "--save", tmp_path / "run")
    assert_one_line_error(proc, "--batch-size 1 gives one image per step", "BatchNorm1d")
    assert not (tmp_path / "run").exists()


def _incomplete(path, drop=None, meta_drop=None, arm="baseline"):
    payload = make_checkpoint(build_model("resnet20", 10, 1), "fashion-mnist", "l1-norm", arm,
                              meta={"variant": "A", "base_cfg": [16] * 9, "seed": 1})
    payload.pop(drop, None)
    payload["meta"].pop(meta_drop, None)
    save_checkpoint(payload, path)
    return path


@pytest.mark.parametrize("script,drop,meta_drop,arm,message", [
    ("cifar/l1-norm/prune.py", "method", None, "baseline", "lacks 'method'"),
    ("cifar/l1-norm/prune.py", "arch", None, "baseline", "lacks 'arch'"),
    ("cifar/l1-norm/main_finetune.py", None, "variant", "pruned", "lacks meta['variant']"),
    ("cifar/l1-norm/main_scratch.py", None, "base_cfg", "pruned", "lacks meta['base_cfg']"),
    ("cifar/l1-norm/main_finetune.py", "state_dict", None, "pruned", "lacks 'state_dict'"),
])
def test_a_checkpoint_missing_keys_is_one_line(tmp_path, script, drop, meta_drop, arm, message):
    ckpt = _incomplete(tmp_path / "x.pt", drop, meta_drop, arm)
    assert_one_line_error(run_entry(script, "--checkpoint", ckpt, "--save", tmp_path / "out"), message)
    assert not (tmp_path / "out").exists()


def test_the_flops_command_on_an_incomplete_checkpoint_is_one_line(tmp_path):
    ckpt = _incomplete(tmp_path / "x.pt", drop="cfg")
    assert_one_line_error(run_entry("scripts/count_flops.py", "--checkpoint", ckpt), "lacks 'cfg'")


def test_a_missing_imagenet_folder_says_how_to_prepare_it(tmp_path):
    proc = run_entry("imagenet/l1-norm/main.py", "--data-dir", tmp_path / "nowhere", "--epochs", "1",
                     "--save", tmp_path / "run")
    assert_one_line_error(proc, f"imagenet: no folder {tmp_path / 'nowhere' / 'train'}", "scripts/prepare_imagenet.py")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("script,arch,dataset", [("imagenet/l1-norm/main.py", "resnet56", "imagenet"),
                                                 ("cifar/l1-norm/main.py", "resnet34", "cifar10")])
def test_an_arch_of_the_other_kind_is_one_line(tmp_path, script, arch, dataset):
    proc = run_entry(script, "--arch", arch, "--dataset", dataset, "--save", tmp_path / "run")
    assert_one_line_error(proc, f"{arch} is built for", f"and {dataset} is")
    assert not (tmp_path / "run").exists()
