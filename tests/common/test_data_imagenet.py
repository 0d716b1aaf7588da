"""ImageNet-kind data (common/data/imagenet.py) on JPEG folders written here: the layout and its errors,
the transforms against torchvision's, crops that do not depend on the workers, the slices of several
processes, and a training run through the engine."""

import pytest
import torch
from helpers import FASHION_SKIP, HAVE_FASHION, assert_one_line_error, run_cli, run_entry

from common.data import dataset_info, make_loaders
from common.data.imagenet import EpochSampler, eval_view, image_list, random_resized_crop_box
from common.errors import UserError


def write_folder(root, per_class=(6, 2), classes=10, size=(40, 48), seed=0):
    from torchvision.io import encode_jpeg, write_file

    g = torch.Generator().manual_seed(seed)
    for split, n in zip(("train", "val"), per_class):
        for k in range(classes):
            folder = root / split / f"{k}_class"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                image = torch.randint(0, 256, (3, *size), dtype=torch.uint8, generator=g)
                write_file(str(folder / f"{i}.JPEG"), encode_jpeg(image, quality=95))
    return root


def test_the_layout_is_imagefolders_and_its_mistakes_are_one_line(tmp_path):
    info = dataset_info("fashion-mnist-jpeg")
    root = write_folder(tmp_path / "d")
    samples, classes = image_list(info, root, "train")
    assert len(samples) == 60 and classes[0] == "0_class"
    assert samples[6] == (str(root / "train" / "1_class" / "0.JPEG"), 1)
    with pytest.raises(UserError, match=r"no folder .*nowhere/train .*make_image_folder.py"):
        image_list(info, tmp_path / "nowhere", "train")
    (root / "val" / "10_extra").mkdir()
    with pytest.raises(UserError, match="holds 11 class folders; fashion-mnist-jpeg has 10 classes"):
        image_list(info, root, "val")
    for f in (root / "train" / "3_class").iterdir():
        f.unlink()
    with pytest.raises(UserError, match=r"class folder .*3_class holds no images"):
        image_list(info, root, "train")


@pytest.mark.parametrize("damage,reason", [("truncate", "truncated"), ("garbage", "Unsupported image file")])
def test_an_unreadable_jpeg_is_one_line_naming_the_file(tmp_path, damage, reason):
    root = write_folder(tmp_path / "d")
    bad = root / "train" / "2_class" / "1.JPEG"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"not a jpeg" * 20)
    train, _, _ = make_loaders("fashion-mnist-jpeg", root, 6, 6, workers=1)     # 60 images: none dropped
    with pytest.raises(UserError, match=f"cannot decode image {bad} .*{reason}"):
        for _ in train:
            pass
    proc = run_entry("imagenet/l1-norm/main.py", "--arch", "resnet34_narrow", "--dataset", "fashion-mnist-jpeg",
                     "--data-dir", root, "--epochs", "1", "--batch-size", "6", "--workers", "1", "--no-progress",
                     "--save", tmp_path / "run")
    assert_one_line_error(proc, f"cannot decode image {bad}")
    assert not (tmp_path / "run").exists()


def test_the_test_view_is_torchvisions_resize_and_centre_crop(tmp_path):
    import torchvision.transforms.v2 as T

    image = torch.randint(0, 256, (3, 375, 500), dtype=torch.uint8)
    reference = T.Compose([T.Resize(256, antialias=True), T.CenterCrop(224)])(image)
    assert torch.equal(eval_view(image, 224), reference)


def test_random_resized_crops_follow_the_rule():
    g = torch.Generator().manual_seed(0)
    boxes = [random_resized_crop_box(375, 500, g) for _ in range(2000)]
    areas = torch.tensor([h * w / (375 * 500) for _, _, h, w in boxes])
    ratios = torch.tensor([w / h for _, _, h, w in boxes])
    assert all(0 <= t and 0 <= left and t + h <= 375 and left + w <= 500 for t, left, h, w in boxes)
    assert 0.07 < areas.min() and areas.max() <= 1.0 and 0.35 < areas.mean() < 0.6   # U(0.08, 1), large misses
    assert ratios.min() > 0.74 and ratios.max() < 1.34


def test_crops_depend_on_seed_epoch_and_image_not_on_the_workers(tmp_path):
    root = write_folder(tmp_path / "d")

    def epoch(workers, epoch=0, seed=1):
        train, _, _ = make_loaders("fashion-mnist-jpeg", root, 8, 8, seed=seed, workers=workers, image_size=24)
        train.set_epoch(epoch)
        return [(x, y) for x, y in train]

    base = epoch(0)
    assert len(base) == 7 and base[0][0].shape == (8, 3, 24, 24) and base[0][0].dtype == torch.float32
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(base, epoch(2)))
    assert not torch.equal(base[0][0], epoch(0, epoch=1)[0][0])
    assert not torch.equal(base[0][0], epoch(0, seed=2)[0][0])


def test_several_processes_share_out_every_global_batch():
    one = list(EpochSampler(50, 12, True, seed=3))
    two = [list(EpochSampler(50, 12, True, seed=3, rank=r, world=2)) for r in (0, 1)]
    assert len(one) == 48 and all(len(t) == 24 for t in two)
    for b in range(4):              # global batch b = process 0's 6 images, then process 1's
        assert one[12 * b:12 * b + 12] == two[0][6 * b:6 * b + 6] + two[1][6 * b:6 * b + 6]
    test = [list(EpochSampler(11, 4, False, rank=r, world=2)) for r in (0, 1)]
    assert test == [list(range(6)), list(range(6, 11))]
    with pytest.raises(UserError, match="--batch-size 10 cannot be split evenly over 4 processes"):
        EpochSampler(50, 10, True, world=4)


@pytest.mark.slow
@pytest.mark.skipif(not HAVE_FASHION, reason=FASHION_SKIP)
def test_real_images_through_the_imagenet_path_learn(tmp_path):
    made = run_cli("scripts/make_image_folder.py", "--out", tmp_path / "jpeg", "--train-per-class", "60",
                   "--val-per-class", "20")
    assert made.returncode == 0, made.stderr
    assert_one_line_error(run_entry("scripts/make_image_folder.py", "--out", tmp_path / "jpeg"), "exists")
    proc = run_entry("imagenet/l1-norm/main.py", "--arch", "resnet34_narrow", "--dataset", "fashion-mnist-jpeg",
                     "--data-dir", tmp_path / "jpeg", "--epochs", "3", "--batch-size", "32", "--workers", "1",
                     "--no-progress", "--save", tmp_path / "run")
    assert proc.returncode == 0, proc.stderr
    import json
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["best_top1"] > 30.0 and result["flops"] == 5_125_376       # 10 classes: chance is 10%
    config = result["train_config"]                                          # 0.1 per 256 images
    assert config["lr"] * config["batch_size"] / config["lr_batch"] == pytest.approx(0.1 * 32 / 256)


def test_validation_classes_other_than_the_training_ones_are_one_line(tmp_path):
    """A val/ with other class names than train/ would score against the wrong labels: refused, naming the class."""
    root = write_folder(tmp_path / "d", per_class=(4, 2))
    (root / "val" / "3_class").rename(root / "val" / "3_klass")
    proc = run_entry("imagenet/l1-norm/main.py", "--dataset", "fashion-mnist-jpeg", "--data-dir", root, "--arch",
                     "resnet34_narrow", "--epochs", "1", "--image-size", "32", "--save", tmp_path / "run")
    assert_one_line_error(proc, "has other classes than", "class 3 is '3_klass' in val/ and '3_class' in train/")
    assert not (tmp_path / "run").exists()
    (root / "val" / "3_klass").rename(root / "val" / "3_class")
    (root / "val" / "0_class").rename(root / "val" / "99_class")       # another order: the labels would shift
    assert_one_line_error(run_entry("imagenet/l1-norm/main.py", "--dataset", "fashion-mnist-jpeg", "--data-dir", root,
                                    "--arch", "resnet34_narrow", "--epochs", "1", "--save", tmp_path / "run"),
                          "class 0 is '1_class' in val/ and '0_class' in train/")


@pytest.mark.parametrize("flags", [["--batch-size", "64"], ["--subset", "8", "--batch-size", "16"]])
def test_a_batch_larger_than_the_training_images_is_one_line(tmp_path, flags):
    root = write_folder(tmp_path / "d", per_class=(4, 2))
    proc = run_entry("imagenet/l1-norm/main.py", "--dataset", "fashion-mnist-jpeg", "--data-dir", root, "--arch",
                     "resnet34_narrow", "--epochs", "1", "--workers", "0", *flags, "--save", tmp_path / "run")
    assert_one_line_error(proc, "leaves no training batch in the", "use a smaller --batch-size")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("case", ["no val/", "resume of nothing"])
def test_a_failed_run_in_the_default_folder_leaves_no_empty_folders(tmp_path, monkeypatch, case):
    root = write_folder(tmp_path / "d", per_class=(4, 2))
    if case == "no val/":
        import shutil
        shutil.rmtree(root / "val")
    monkeypatch.chdir(tmp_path)
    proc = run_entry("imagenet/l1-norm/main.py", "--dataset", "fashion-mnist-jpeg", "--data-dir", root, "--arch",
                     "resnet34_narrow", "--epochs", "1", *(["--resume"] if case != "no val/" else []))
    assert_one_line_error(proc, "no folder" if case == "no val/" else "nothing to resume")
    assert not (tmp_path / "runs").exists()


def test_a_cifar_run_on_an_unreadable_batch_leaves_no_empty_folders(tmp_path, monkeypatch):
    from helpers import write_cifar10

    write_cifar10(tmp_path / "data", n_per_batch=8, n_test=8)
    (tmp_path / "data" / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    monkeypatch.chdir(tmp_path)
    proc = run_entry("cifar/l1-norm/main.py", "--data-dir", tmp_path / "data", "--epochs", "1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


# ----------------------------------------------------------------------------- any image folder

def write_mixed_folder(root, classes=10, per_class=(6, 2)):
    """An image folder of JPEG and PNG files, ImageNet-style class names."""
    from torchvision.io import encode_jpeg, encode_png, write_file

    g = torch.Generator().manual_seed(0)
    for split, n in zip(("train", "val"), per_class):
        for k in range(classes):
            folder = root / split / f"n{k:08d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                image = torch.randint(0, 256, (3, 36, 40), dtype=torch.uint8, generator=g)
                if i % 2:
                    write_file(str(folder / f"{i}.png"), encode_png(image))
                else:
                    write_file(str(folder / f"{i}.JPEG"), encode_jpeg(image, quality=95))
    return root


def test_any_image_folder_runs_every_arm(tmp_path):
    root = write_mixed_folder(tmp_path / "mine")
    flags = ["--dataset", "folder", "--data-dir", root, "--image-size", "32", "--workers", "0", "--batch-size", "20",
             "--no-progress", "--epochs", "1"]
    M = "imagenet/l1-norm"
    assert run_entry(f"{M}/main.py", "--arch", "resnet34_narrow", *flags, "--save", tmp_path / "b").returncode == 0
    prune = run_entry(f"{M}/prune.py", "--checkpoint", tmp_path / "b" / "checkpoint.pt", "--variant", "A",
                      "--save", tmp_path / "p")
    assert prune.returncode == 0, prune.stderr
    for script, save in (("main_finetune.py", "f"), ("main_scratch.py", "s")):
        proc = run_entry(f"{M}/{script}", "--checkpoint", tmp_path / "p" / "pruned.pt", *flags,
                         "--save", tmp_path / save)
        assert proc.returncode == 0, proc.stderr
    import json
    result = json.loads((tmp_path / "s" / "result.json").read_text())
    info = dataset_info(result["dataset"])
    assert result["dataset"] == f"folder:{root.resolve()}" and info.num_classes == 10 and result["epochs"] >= 1
    assert all(0.3 < m < 0.7 for m in info.mean) and all(0.2 < s < 0.4 for s in info.std)   # uniform noise, measured


def test_an_image_folder_with_other_val_classes_or_files_is_one_line(tmp_path):
    root = write_mixed_folder(tmp_path / "mine", classes=3, per_class=(2, 1))
    (root / "val" / "n00000002").rename(root / "val" / "n00000009")
    common = ["--dataset", "folder", "--data-dir", root, "--arch", "resnet34_narrow", "--epochs", "1"]
    assert_one_line_error(run_entry("imagenet/l1-norm/main.py", *common, "--save", tmp_path / "r"),
                          "class 2 is 'n00000009' in val/ and 'n00000002' in train/")
    (root / "val" / "n00000009").rename(root / "val" / "n00000002")
    (root / "train" / "n00000001" / "x.bmp").write_bytes(b"BM")
    assert_one_line_error(run_entry("imagenet/l1-norm/main.py", *common, "--save", tmp_path / "r"),
                          "x.bmp is not a JPEG or PNG file")
    assert_one_line_error(run_entry("imagenet/l1-norm/main.py", *common, "--mean", "0.5", "0.5", "0.5",
                                    "--save", tmp_path / "r"), "give both --mean and --std")
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_a_tiny_imagenet_like_folder_runs_the_l1_norm_table(tmp_path):
    import subprocess
    import sys

    from helpers import ROOT

    root = write_mixed_folder(tmp_path / "tiny", per_class=(8, 2))
    proc = subprocess.run([sys.executable, "-m", "common.sweep", "l1-norm", "--tree", "imagenet", "--dataset", "folder",
                           "--data-dir", str(root), "--archs", "resnet34_narrow", "--variants", "A", "--seeds", "1",
                           "--epochs", "1", "--ft-epochs", "1", "--runs", str(tmp_path / "runs"), "--",
                           "--image-size", "32", "--workers", "0", "--batch-size", "20", "--no-progress"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    tables = list((tmp_path / "runs").glob("folder-tiny-*/l1-norm/table.md"))
    assert len(tables) == 1 and f"folder:{root.resolve()}" in tables[0].read_text()
