"""Data: the real on-disk formats, crop/flip really applied, seeded order, normalisation, errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import (FASHION_SKIP, HAVE_FASHION, assert_one_line_error, idx_bytes, run_entry, write_cifar10,
                     write_cifar100, write_fashion)

from common.data import DeviceLoader, dataset_info, load_split, make_loaders
from common.errors import UserError


@pytest.mark.parametrize("bytes_keys", [False, True])
def test_reads_cifar10_batches(tmp_path, bytes_keys):
    data = write_cifar10(tmp_path, n_per_batch=7, n_test=5, bytes_keys=bytes_keys)
    x, y = load_split("cifar10", tmp_path, train=True, download=False)
    assert x.shape == (35, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    raw, labels = data["data_batch_2"]
    # image 0 of batch 2 is row 7; CIFAR rows are the R plane, then G, then B, each 32x32 row-major
    assert torch.equal(x[7], torch.from_numpy(raw[0].reshape(3, 32, 32)))
    assert y[7:14].tolist() == labels
    xt, yt = load_split("cifar10", tmp_path, train=False, download=False)
    assert xt.shape == (5, 3, 32, 32) and yt.tolist() == data["test_batch"][1]


def test_reads_cifar100_fine_labels(tmp_path):
    data = write_cifar100(tmp_path)
    x, y = load_split("cifar100", tmp_path, train=True, download=False)
    assert x.shape == (40, 3, 32, 32) and y.tolist() == data["train"][1]
    assert dataset_info("cifar100").num_classes == 100


@pytest.mark.parametrize("gz", [True, False])
def test_reads_fashion_idx_and_pads_to_32(tmp_path, gz):
    arrays = write_fashion(tmp_path, gz=gz)
    x, y = load_split("fashion-mnist", tmp_path, train=True, download=False)
    assert x.shape == (64, 1, 32, 32)
    assert torch.equal(x[3, 0, 2:30, 2:30], torch.from_numpy(arrays["train-images-idx3-ubyte"][3]))
    assert x[:, :, :2].sum() == 0 and x[:, :, :, 30:].sum() == 0      # zero border of 2 pixels
    assert y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()


def test_truncated_idx_is_a_user_error(tmp_path):
    arrays = write_fashion(tmp_path, gz=False)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(arrays["train-images-idx3-ubyte"])[:-100])
    with pytest.raises(UserError, match="truncated"):
        load_split("fashion-mnist", tmp_path, train=True, download=False)


def _loader(n=50, batch=16, seed=3, pad=4, c=3):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, c, 32, 32), dtype=torch.uint8, generator=g)
    labels = torch.arange(n)
    return images, DeviceLoader(images, labels, batch, (0.5,) * c, (0.25,) * c, train=True, seed=seed, pad=pad)


def test_every_training_image_is_a_crop_or_flipped_crop_of_its_source():
    images, loader = _loader()
    padded = F.pad(images, (4, 4, 4, 4))
    loader.set_epoch(2)
    perm, dy, dx, flip = loader.epoch_draws(2)
    seen = 0
    for x, y in loader:
        x_u8 = torch.round(x * 0.25 * 255 + 0.5 * 255).to(torch.uint8)    # undo the normalisation
        for img, label in zip(x_u8, y):
            j = seen
            assert label == perm[j]
            crop = padded[perm[j], :, dy[j]:dy[j] + 32, dx[j]:dx[j] + 32]
            assert torch.equal(img, crop.flip(2) if flip[j] else crop)
            seen += 1
    assert seen == 50
    # the augmentation is really random: several offsets, and both flipped and unflipped images
    assert len(set(zip(dy.tolist(), dx.tolist()))) > 10 and 0 < flip.sum() < 50


def test_same_seed_same_batches_other_epoch_other_order():
    def batches(seed, epoch):
        _, loader = _loader(seed=seed)
        loader.set_epoch(epoch)
        return [(x.clone(), y.clone()) for x, y in loader]

    a, b = batches(3, 0), batches(3, 0)
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(a, b))
    c = batches(3, 1)
    assert not torch.equal(torch.cat([y for _, y in a]), torch.cat([y for _, y in c]))
    assert sorted(torch.cat([y for _, y in c]).tolist()) == list(range(50))      # a permutation
    d = batches(4, 0)
    assert not torch.equal(torch.cat([y for _, y in a]), torch.cat([y for _, y in d]))


def test_test_split_is_unaugmented_in_order_and_normalised(tmp_path):
    write_cifar10(tmp_path, n_per_batch=10, n_test=40)
    train, test, info = make_loaders("cifar10", tmp_path, 16, 16, download=False)
    xs, ys = zip(*list(test))
    x = torch.cat(xs)
    raw, _ = load_split("cifar10", tmp_path, train=False, download=False)
    mean = torch.tensor(info.mean).view(1, 3, 1, 1)
    std = torch.tensor(info.std).view(1, 3, 1, 1)
    assert torch.allclose(x, (raw.float() / 255 - mean) / std, atol=1e-5)
    assert len(train) == 4 and train.n == 50      # 50 images at batch 16: 3 full batches + 2
    assert [len(y) for _, y in train] == [16, 16, 16, 2]


def test_single_image_trailing_batch_is_dropped_in_training():
    _, loader = _loader(n=33, batch=16)
    assert [len(y) for _, y in loader] == [16, 16]    # a batch of 1 would break BatchNorm


def test_subset_takes_the_first_images(tmp_path):
    write_cifar10(tmp_path, n_per_batch=10)
    train, _, _ = make_loaders("cifar10", tmp_path, 8, 8, subset=12, download=False)
    full, _ = load_split("cifar10", tmp_path, train=True, download=False)
    assert train.n == 12 and torch.equal(train.images[0, :, :, 4:36, 4:36], full[:12])


@pytest.mark.skipif(not HAVE_FASHION, reason=FASHION_SKIP)
def test_fashion_mnist_statistics_match_the_constants():
    x, _ = load_split("fashion-mnist", "/nonexistent", train=True)
    info = dataset_info("fashion-mnist")
    xf = x.float() / 255
    assert abs(xf.mean().item() - info.mean[0]) < 1e-3 and abs(xf.std().item() - info.std[0]) < 1e-3


def test_missing_dataset_without_network_is_one_line(tmp_path):
    target = tmp_path / "nowhere"
    proc = run_entry("cifar/l1-norm/main.py", "--dataset", "cifar100", "--data-dir", target, "--epochs", "1")
    assert_one_line_error(proc, "cifar100 not found in", "cifar-100-python.tar.gz", str(target))
    assert not target.exists()                   # the failed download left nothing behind


# ----------------------------------------------------------------------------- hardening

class _Planted:
    """A pickled object that would create ``marker`` when unpickled."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os
        return os.mkdir, (self.marker,)


def _batch_file(path, **batch):
    import pickle
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(batch))


def test_a_planted_cifar_batch_runs_no_code(tmp_path):
    write_cifar10(tmp_path, n_per_batch=4, n_test=4)
    marker = tmp_path / "pwned"
    _batch_file(tmp_path / "cifar-10-batches-py" / "data_batch_3", data=_Planted(marker), labels=[0])
    with pytest.raises(UserError, match=r"data_batch_3: it names posix.mkdir, which a CIFAR batch never does"):
        load_split("cifar10", tmp_path, train=True, download=False)
    assert not marker.exists()


@pytest.mark.parametrize("batch,message", [
    (dict(data=np.zeros((4, 100), np.uint8), labels=[0] * 4), r"data is uint8 \(4, 100\), expected uint8 \(N, 3072\)"),
    (dict(data=np.zeros((4, 3072), np.uint8), labels=[0, 1, 2, 10]), r"labels must lie in \[0, 10\), found 0..10"),
    (dict(data=np.zeros((4, 3072), np.uint8), labels=[0, 1, 2]), "holds 4 images but 3 labels"),
    (dict(data=np.zeros((4, 3072), np.float32), labels=[0] * 4), "expected uint8"),
])
def test_a_malformed_cifar_batch_is_one_line(tmp_path, batch, message):
    write_cifar10(tmp_path, n_per_batch=4, n_test=4)
    _batch_file(tmp_path / "cifar-10-batches-py" / "test_batch", **batch)
    with pytest.raises(UserError, match=message):
        load_split("cifar10", tmp_path, train=False, download=False)


def test_official_files_are_recognised_by_their_md5(tmp_path, capsys):
    import common.data.cifar as cifar

    write_cifar10(tmp_path, n_per_batch=4, n_test=4)
    cifar._warned.clear()
    load_split("cifar10", tmp_path, train=False, download=False)
    assert "is not the official release (md5 differs)" in capsys.readouterr().err
    f = tmp_path / "cifar-10-batches-py" / "test_batch"
    cifar.OFFICIAL_MD5["test_batch"], old = cifar._md5(f), cifar.OFFICIAL_MD5["test_batch"]
    try:
        cifar._warned.clear()
        load_split("cifar10", tmp_path, train=False, download=False)
        assert capsys.readouterr().err == ""
    finally:
        cifar.OFFICIAL_MD5["test_batch"] = old


def test_the_class_balanced_sample_is_the_chosen_images_with_the_test_transform(tmp_path):
    from common.data import balanced_indices, balanced_sample

    write_cifar10(tmp_path, n_per_batch=20, n_test=4)
    info = dataset_info("cifar10")
    batches = balanced_sample("cifar10", tmp_path, 30, 8, seed=0, device="cpu")
    labels = load_split("cifar10", tmp_path, train=True, download=False)[1]
    idx = balanced_indices(labels, 30, torch.Generator().manual_seed(0))
    assert [len(x) for x, _ in batches] == [8, 8, 8, 6]
    images = load_split("cifar10", tmp_path, train=True, download=False)[0][idx]
    mean, std = torch.tensor(info.mean).view(1, 3, 1, 1), torch.tensor(info.std).view(1, 3, 1, 1)
    torch.testing.assert_close(torch.cat([x for x, _ in batches]), (images.float() / 255 - mean) / std)
    assert torch.equal(torch.cat([y for _, y in batches]), labels[idx])      # (x, y): a gradient criterion's data
    counts = torch.bincount(labels[idx], minlength=10)
    assert counts.max() - counts.min() <= 1 or counts.max() <= torch.bincount(labels, minlength=10).min() + 1
