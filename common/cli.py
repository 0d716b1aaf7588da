"""Flags every entry point shares, and the guard that turns user mistakes into one line.

Every ``main.py`` / ``prune.py`` / ``main_finetune.py`` / ``main_scratch.py`` builds its
parser with :class:`ArgumentParser` (errors are one line, exit 2) and runs through
:func:`main_guard` (a :class:`UserError` is printed as ``error: ...`` on stderr, exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys

from common.errors import UserError


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad flag gives one line on stderr instead of usage + error, and the
    description (a recipe's docstring) keeps its line breaks."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def main_guard(run, parser: argparse.ArgumentParser, argv=None):
    """Parse ``argv`` and call ``run(args)``; user errors end as one line and exit code 2."""
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserError as e:
        sys.stderr.write(f"error: {e}\n")
        sys.exit(2)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; the last checkpoint (if any) is intact, continue with --resume\n")
        sys.exit(130)


def recipe_doc(default: str) -> str:
    """The running recipe file's docstring (what its ``--help`` says), or ``default``."""
    return getattr(sys.modules.get("__main__"), "__doc__", None) or default


def parse_cfg(text):
    """A width cfg given on the command line as JSON (``'[32, 64, "M", 128]'``), or None."""
    if text is None:
        return None
    try:
        cfg = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"--cfg is not valid JSON ({e.msg} at position {e.pos}): {text!r}") from None
    if not isinstance(cfg, list):
        raise UserError(f"--cfg must be a JSON list, got {text!r}")
    return cfg


def number_type(cast, ok, requirement: str):
    """An argparse type: ``cast(text)`` that must satisfy ``ok(value)``; a bad value gives
    ``"<requirement>, got <value>"`` (e.g. ``number_type(float, lambda v: v > 0, "must be > 0")``)."""
    kind = "an integer" if cast is int else "a number"

    def parse(text):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{requirement}, got {value:g}")
        return value

    return parse


non_negative_int = number_type(int, lambda v: v >= 0, "must be >= 0")
positive_int = number_type(int, lambda v: v >= 1, "must be >= 1")
positive_float = number_type(float, lambda v: v > 0, "must be > 0")
non_negative_float = number_type(float, lambda v: v >= 0, "must be >= 0")
fraction = number_type(float, lambda v: 0.0 <= v < 1.0, "must lie in [0, 1)")   # a ratio in [0, 1)


def add_model_args(p: argparse.ArgumentParser, arch: str):
    from common.models import list_archs
    p.add_argument("--arch", default=arch, help=f"model (default {arch}); one of {', '.join(list_archs())}")
    p.add_argument("--cfg", default=None, help="width config as a JSON list (default: the arch's full widths)")


def add_data_args(p: argparse.ArgumentParser, dataset="cifar10"):
    from common.data import DATASETS
    p.add_argument("--dataset", default=dataset, choices=sorted(DATASETS),
                   help=f"dataset (default {dataset or 'the checkpoint' + chr(39) + 's'})")
    p.add_argument("--data-dir", default="data",
                   help="folder holding cifar-10-batches-py/, cifar-100-python/ or the Fashion-MNIST "
                        "IDX files (Fashion-MNIST is also looked for in /usr/share/datasets/fashion-mnist)")
    p.add_argument("--subset", type=positive_int, default=None,
                   help="train on the first N training images only (smoke runs)")
    p.add_argument("--test-subset", type=positive_int, default=None,
                   help="evaluate on the first N test images only (smoke runs; tables need the full split)")
    add_image_args(p)


def add_image_args(p: argparse.ArgumentParser):
    """Flags of image-folder (ImageNet-kind) datasets."""
    p.add_argument("--image-size", type=positive_int, default=None,
                   help="train on SxS crops, test on the centre SxS of a (S*256/224) resize (default: the "
                        "dataset's, 224 for ImageNet; a pruned model's: its training run's)")
    p.add_argument("--workers", type=non_negative_int, default=None,
                   help="image-folder datasets: decoding processes per training process (default: the CPUs, up to 8)")
    p.add_argument("--gpu-decode", action="store_true", help="image-folder datasets: decode the JPEGs on the GPU")


def data_options(args) -> dict:
    """The dataset kind's own loader options from the parsed flags (``common.data.make_loaders``)."""
    return {"image_size": getattr(args, "image_size", None), "workers": getattr(args, "workers", None),
            "gpu_decode": getattr(args, "gpu_decode", False), "holdout": getattr(args, "holdout", None)}


def input_size(info, args) -> tuple[int, int, int]:
    """``(C, S, S)`` of one model input: the dataset's size unless ``--image-size`` says otherwise."""
    size = getattr(args, "image_size", None) or info.image_size
    return (info.in_channels, size, size)


def add_train_args(p: argparse.ArgumentParser, *, epochs: int, lr: float, batch_size: int = 64,
                   weight_decay: float = 1e-4, schedule: str = "step", momentum: float = 0.9,
                   milestones=(0.5, 0.75), lr_decay: float = 0.1, warmup_epochs: int = 0,
                   nesterov: bool = False, lr_batch: int | None = None):
    """Optimisation flags with a recipe's paper defaults. ``lr_batch``: the batch size ``lr`` is given for,
    the lr scaling linearly with ``--batch-size`` (ImageNet recipes: 0.1 per 256 images)."""
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=non_negative_int, default=epochs, help=f"epochs (default {epochs})")
    g.add_argument("--lr", type=positive_float, default=lr,
                   help=f"initial learning rate (default {lr}" + (f" per {lr_batch} images)" if lr_batch else ")"))
    g.add_argument("--lr-batch", type=positive_int, default=lr_batch,
                   help="the batch size --lr is given for: the lr used is lr x batch-size / lr-batch (linear scaling, "
                        f"Goyal et al. 2017; default {lr_batch or 'none: --lr as given'})")
    g.add_argument("--schedule", choices=("step", "constant", "cosine", "linear"), default=schedule,
                   help=f"lr schedule: step = x LR_DECAY at each of --milestones, linear = to 0 at the end "
                        f"(default {schedule})")
    g.add_argument("--milestones", type=fraction, nargs="+", default=list(milestones), metavar="F",
                   help="step schedule: decay at these fractions of the epochs (default %(default)s)")
    g.add_argument("--lr-decay", type=positive_float, default=lr_decay,
                   help="step schedule: lr factor at each milestone (default %(default)s)")
    g.add_argument("--warmup-epochs", type=non_negative_int, default=warmup_epochs,
                   help="first epochs at 0.1 x lr (default %(default)s)")
    g.add_argument("--batch-size", type=positive_int, default=batch_size, help=f"default {batch_size}")
    g.add_argument("--test-batch-size", type=positive_int, default=256)
    g.add_argument("--weight-decay", "--wd", type=non_negative_float, default=weight_decay,
                   help=f"default {weight_decay}")
    g.add_argument("--momentum", type=non_negative_float, default=momentum)
    g.add_argument("--nesterov", action="store_true", default=nesterov,
                   help=f"Nesterov momentum (default {'on' if nesterov else 'off'})")
    g.add_argument("--no-nesterov", dest="nesterov", action="store_false", help="plain momentum")
    g.add_argument("--seed", type=non_negative_int, default=1)
    g.add_argument("--sync-bn", action="store_true",
                   help="under torchrun on GPUs: BatchNorm statistics over all processes (SyncBatchNorm)")
    add_speed_args(g)


def add_speed_args(g):
    """Flags that make a run faster without changing what it computes (on the CPU: nothing)."""
    g.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda when available)")
    g.add_argument("--amp", action="store_true", help="bf16 autocast (GPU)")
    g.add_argument("--channels-last", action="store_true", help="channels_last memory format (GPU)")
    g.add_argument("--compile", action="store_true", help="torch.compile the model")
    g.add_argument("--no-progress", action="store_true", help="no tqdm bars (one line per epoch)")


def add_run_args(p: argparse.ArgumentParser):
    p.add_argument("--save", default=None,
                   help="run folder (default runs/<dataset>/<method>/<arch>/<arm>/<tag>-<settings hash>)")
    p.add_argument("--resume", action="store_true", help="continue the run in the run folder exactly")


def resolve_device(name: str | None):
    """The training device: ``cpu``, ``cuda`` or ``cuda:N`` (default: cuda when available)."""
    import torch

    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown --device {name!r} (cpu, cuda, cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError("--device cuda was asked for but no CUDA GPU is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"--device {name}: this machine has {torch.cuda.device_count()} GPU(s)")
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise UserError("--device mps was asked for but the MPS backend is not available here")
    elif device.type != "cpu":
        raise UserError(f"--device {name} is not a training device (cpu, cuda, cuda:N, mps)")
    return device


def train_config(args, epochs=None, schedule=None, **overrides):
    """The engine's :class:`~common.engine.TrainConfig` from the parsed training flags."""
    from common.engine import TrainConfig

    lr = args.lr * args.batch_size / args.lr_batch if getattr(args, "lr_batch", None) else args.lr
    cfg = TrainConfig(epochs=args.epochs if epochs is None else epochs, lr=lr, momentum=args.momentum,
                      weight_decay=args.weight_decay, nesterov=args.nesterov,
                      schedule=schedule or args.schedule, amp=args.amp, channels_last=args.channels_last,
                      compile=args.compile, progress=not args.no_progress and sys.stderr.isatty(),
                      milestones=tuple(getattr(args, "milestones", (0.5, 0.75))),
                      gamma=getattr(args, "lr_decay", 0.1), warmup_epochs=getattr(args, "warmup_epochs", 0),
                      sync_bn=getattr(args, "sync_bn", False),
                      label_smoothing=getattr(args, "label_smoothing", 0.0))
    for k, v in overrides.items():
        setattr(cfg, k, v)
    return cfg
