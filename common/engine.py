"""The one training loop every arm of every method runs.

``Trainer(model, train_loader, test_loader, config, run_dir, meta, hooks).fit()`` trains
with SGD and a per-iteration learning-rate function, evaluates each epoch, logs to tqdm
and TensorBoard, writes ``checkpoint.pt`` (every epoch, atomically) and ``best.pt``, and
ends with ``result.json``. The loaders need only honour the contract of ``common.data``
(``(x, y)`` batches, ``len``, optional ``set_epoch``): the engine moves every batch to the
device itself, so a ``torch.utils.data.DataLoader`` with workers feeds it as well as the
device-resident CIFAR loader. A method plugs in through :class:`Hook`:

  ``on_train_start``  once, before the first step (also after a resume)
  ``before_forward``  before each training forward (e.g. MetaPruning's new random encoding)
  ``after_backward``  gradients are ready, before the optimizer step (e.g. an L1 sub-gradient)
  ``after_step``      after ``optimizer.step()`` (e.g. re-apply a mask, a proximal update)
  ``on_epoch_end``    after an epoch's training, before its evaluation (e.g. re-zero filters)
  ``state_dict`` / ``load_state_dict``  whatever the hook must carry across a resume

``mask=`` (unstructured keep-masks) is kept applied every step: pruned weights stay exactly
zero and receive no update (``common.masks``).

Under ``torchrun`` (``common.distributed``) the model is wrapped in DistributedDataParallel,
each process trains on its slice of every batch, evaluation is split over the processes and
summed, and only rank 0 prints, logs and writes files.

``start_step=k`` begins at global iteration ``k`` of the schedule (weight rewinding: a ticket
reset to the weights after ``k`` iterations trains the remaining ones, with the lr and the data
order of iterations ``k`` onwards).

``--resume`` restores model, optimizer, epoch, best accuracy, hook states and RNG states;
data order is a function of (seed, epoch); so on the CPU a resumed run ends with the same
weights as an uninterrupted one. ``checkpoint.pt`` is written before ``best.pt``; a run killed
between the two rewrites ``best.pt`` from ``checkpoint.pt`` when it resumes, so the pair always
agrees.
"""

from __future__ import annotations

import math
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from common import distributed
from common.checkpoint import (code_revision, jsonable, load_checkpoint, make_checkpoint, save_checkpoint,
                               write_json)
from common.data.registry import num_samples, set_epoch
from common.errors import UserError
from common.masks import MaskKeeper, kept_params, sparsity, to_cpu_bool
from common.settings import (Settings, derived, flag, fraction, internal, non_negative_float, non_negative_int,
                             positive_float, positive_int, recorded)


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


@dataclass(frozen=True)
class TrainConfig(Settings):
    """The training settings: every flag of an engine run (a recipe gives the paper's values) and the
    only thing the engine reads of them."""

    epochs: int = flag(160, "epochs (default %(default)s)", type=non_negative_int)
    lr: float = flag(0.1, "initial learning rate (default %(default)s; scaled by --lr-batch when given)",
                     type=positive_float)
    lr_batch: Optional[int] = flag(None, "the batch size --lr is given for: the lr used is lr x batch-size / "
                                         "lr-batch (linear scaling, Goyal et al. 2017; default %(default)s: --lr "
                                         "as given)", type=positive_int)
    schedule: str = flag("step", "lr schedule: step = x LR_DECAY at each of --milestones, linear = to 0 at the "
                                 "end (default %(default)s)", choices=("step", "constant", "cosine", "linear"))
    milestones: tuple = flag((0.5, 0.75), "step schedule: decay at these fractions of the epochs (default "
                                          "%(default)s)", type=fraction, nargs="+", metavar="F")
    lr_decay: float = flag(0.1, "step schedule: lr factor at each milestone (default %(default)s)",
                           type=positive_float)
    warmup_epochs: int = flag(0, "first epochs at 0.1 x lr (default %(default)s)", type=non_negative_int)
    batch_size: int = flag(64, "default %(default)s", type=positive_int)
    test_batch_size: int = flag(256, "images per evaluation batch (default %(default)s; no effect on results)",
                                type=positive_int)
    weight_decay: float = flag(1e-4, "default %(default)s", type=non_negative_float, names=("--wd",))
    momentum: float = flag(0.9, "SGD momentum (default %(default)s)", type=non_negative_float)
    nesterov: bool = flag(False, "Nesterov momentum (--no-nesterov: plain momentum)", both=True)
    seed: int = flag(1, "seed of the initialisation and the data order (default %(default)s)",
                     type=non_negative_int)
    sync_bn: bool = flag(False, "under torchrun on GPUs: BatchNorm statistics over all processes (SyncBatchNorm)")
    device: Optional[str] = flag(None, "cuda, cuda:N or cpu (default: cuda when available)")
    amp: bool = flag(False, "bf16 autocast (GPU)")
    channels_last: bool = flag(False, "channels_last memory format (GPU)")
    compile: bool = flag(False, "torch.compile the model")
    no_progress: bool = flag(False, "no tqdm bars (one line per epoch)")
    label_smoothing: float = derived(0.0)   # of the training loss (MetaPruning's recipes: 0.1, its own flag)
    warmup_factor: float = internal(0.1)    # lr x this during --warmup-epochs (SFP's CIFAR recipe)
    log_every: int = internal(50)           # steps between loss syncs (tqdm postfix, NaN check)

    @property
    def base_lr(self) -> float:
        """The lr the schedule starts from: ``lr``, times ``batch_size / lr_batch`` when ``lr_batch`` is set."""
        return self.lr * self.batch_size / self.lr_batch if self.lr_batch else self.lr

    @property
    def progress(self) -> bool:
        """tqdm bars: unless --no-progress, when stderr is a terminal."""
        return not self.no_progress and sys.stderr.isatty()


# ----------------------------------------------------------------------------- schedules

class StepLR:
    """lr * gamma^k after the k-th milestone epoch (the paper's x0.1 at 50% and 75%)."""

    def __init__(self, lr, milestone_epochs, gamma=0.1):
        self.lr, self.milestones, self.gamma = lr, sorted(milestone_epochs), gamma

    def __call__(self, it, iters_per_epoch):
        epoch = it // iters_per_epoch
        return self.lr * self.gamma ** sum(epoch >= m for m in self.milestones)


class ConstantLR:
    def __init__(self, lr):
        self.lr = lr

    def __call__(self, it, iters_per_epoch):
        return self.lr


class CosineLR:
    """Per-iteration cosine decay from lr to 0 over ``epochs``."""

    def __init__(self, lr, epochs):
        self.lr, self.epochs = lr, max(1, epochs)

    def __call__(self, it, iters_per_epoch):
        t = min(1.0, it / (self.epochs * iters_per_epoch))
        return 0.5 * self.lr * (1.0 + math.cos(math.pi * t))


class LinearLR:
    """Per-iteration linear decay from lr to 0 over ``epochs`` (budgeted training, Li et al. 2020;
    the dense phase of BIMP, Zimmer et al. 2023)."""

    def __init__(self, lr, epochs):
        self.lr, self.epochs = lr, max(1, epochs)

    def __call__(self, it, iters_per_epoch):
        return self.lr * max(0.0, 1.0 - it / (self.epochs * iters_per_epoch))


class Warmup:
    """``factor * lr_fn`` during the first ``epochs`` epochs, ``lr_fn`` after."""

    def __init__(self, lr_fn, epochs, factor):
        self.lr_fn, self.epochs, self.factor = lr_fn, epochs, factor

    def __call__(self, it, iters_per_epoch):
        lr = self.lr_fn(it, iters_per_epoch)
        return lr * self.factor if it // iters_per_epoch < self.epochs else lr


def make_lr_fn(config: TrainConfig):
    if config.schedule == "step":
        # int(f * epochs), immune to rounding (1/3 of 90 is 30, not 29)
        fn = StepLR(config.base_lr, [int(f * config.epochs + 1e-9) for f in config.milestones], config.lr_decay)
    elif config.schedule == "constant":
        fn = ConstantLR(config.base_lr)
    elif config.schedule == "cosine":
        fn = CosineLR(config.base_lr, config.epochs)
    elif config.schedule == "linear":
        fn = LinearLR(config.base_lr, config.epochs)
    else:
        raise UserError(f"unknown lr schedule {config.schedule!r} (step, constant, cosine, linear)")
    return Warmup(fn, config.warmup_epochs, config.warmup_factor) if config.warmup_epochs else fn


# ----------------------------------------------------------------------------- hooks

class Hook:
    """Base class for method hooks; override what you need. ``trainer`` gives access to
    ``model``, ``optimizer``, ``epoch``, ``step`` (global iteration) and ``lr``."""

    def on_train_start(self, trainer): ...

    def before_forward(self, trainer): ...

    def after_backward(self, trainer): ...

    def after_step(self, trainer): ...

    def on_epoch_end(self, trainer, epoch): ...

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict): ...

    def metrics(self) -> dict:
        """Scalars to log to TensorBoard at each epoch end (name -> float)."""
        return {}


# ----------------------------------------------------------------------------- RNG

def seed_everything(seed: int):
    random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict):
    random.setstate(_to_tuple(state["python"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_tuple(x):
    return tuple(_to_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


# ----------------------------------------------------------------------------- evaluation

def autocast(device, amp: bool):
    device = torch.device(device)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if amp else nullcontext()


def to_device(x, y, device, channels_last: bool = False):
    """A batch on ``device`` (``non_blocking``: overlapped with compute when it comes from pinned
    memory); a batch already there is not copied."""
    x = x.to(device, non_blocking=True)
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y.to(device, non_blocking=True)


@torch.no_grad()
def evaluate(model, loader, device=None, amp: bool = False, channels_last: bool = False):
    """Mean cross-entropy and top-1 accuracy (%) of ``model`` over ``loader`` (under torchrun: over
    every process's share, summed)."""
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    n = 0
    for x, y in loader:
        x, y = to_device(x, y, device, channels_last)
        with autocast(device, amp):
            out = model(x)
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum")
        correct += (out.argmax(1) == y).sum()
        n += y.numel()
    model.train(was_training)
    if distributed.world_size() > 1:          # each process evaluated its share of the split
        count = torch.tensor(float(n), device=device)
        distributed.all_reduce_sum_(loss_sum, correct, count)
        n = int(count.item())
    return loss_sum.item() / max(n, 1), 100.0 * correct.item() / max(n, 1)


# ----------------------------------------------------------------------------- trainer

class Trainer:
    """Train ``model`` on ``train_loader``, evaluate on ``test_loader``; see the module docstring.

    meta: what the run is -- at least ``dataset``, ``method``, ``arm``; anything else
          (``variant``, ``seed``, ``base_flops``, ...) is copied into checkpoints and result.json.
    start_step: begin at this global iteration (its epoch, part-way through it), e.g. a ticket
          rewound to iteration ``k``; the iterations before it are not trained.
    mask: optional unstructured keep-mask ``{param name: bool tensor}`` (``common.masks``).
          The trainer keeps it applied: masked gradients are zeroed before every optimizer step
          and the masked weights re-zeroed after it, so pruned weights stay exactly 0 and get no
          update; it is saved in checkpoints. A hook may change it with :meth:`set_mask`.
    input_size: ``(C, H, W)`` of one input, for the FLOPs in result.json (default: a test batch's)
    measured: the network whose parameters and FLOPs result.json reports (default ``model``; a network that
          stands for a family, MetaPruning's PruningNet, is reported by its widest member)
    """

    def __init__(self, model: nn.Module, train_loader, test_loader, config: TrainConfig, run_dir,
                 meta: dict, hooks=(), optimizer=None, lr_fn=None, args=None, mask=None,
                 resume: bool = False, device=None, start_step: int = 0, input_size=None, measured=None):
        self.model, self.train_loader, self.test_loader = model, train_loader, test_loader
        self.measured = measured if measured is not None else model
        self.input_size = tuple(input_size) if input_size is not None else None
        self.config, self.run_dir, self.meta = config, Path(run_dir), dict(meta)
        self.hooks, self.args = list(hooks), args
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        if config.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = optimizer or torch.optim.SGD(
            model.parameters(), lr=config.base_lr, momentum=config.momentum,
            weight_decay=config.weight_decay, nesterov=config.nesterov and config.momentum > 0)
        self.lr_fn = lr_fn or make_lr_fn(config)
        self.world = distributed.world_size()
        if self.world > 1:   # gradients averaged over the processes during backward
            ids = [self.device.index] if self.device.type == "cuda" else None
            if config.sync_bn:
                if self.device.type != "cuda":
                    raise UserError("--sync-bn needs CUDA (SyncBatchNorm runs on NCCL)")
                model = self.model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            wrapped = DistributedDataParallel(model, device_ids=ids)
        else:
            wrapped = model
        self.forward = torch.compile(wrapped) if config.compile else wrapped
        self._eval_model = self.forward if self.world == 1 else model   # no collectives while evaluating
        if len(train_loader) == 0:
            raise UserError(f"--batch-size {config.batch_size} leaves no training batch in the "
                            f"{num_samples(train_loader)} training images; use a smaller --batch-size or more images")
        total = config.epochs * len(train_loader)
        if not 0 <= start_step < max(total, 1):
            raise UserError(f"start step {start_step} is outside the run's {total} iterations")
        self.epoch, self.step, self.lr = start_step // len(train_loader), start_step, config.base_lr
        self._skip = start_step % len(train_loader)    # iterations of the first epoch not trained
        self.best_acc, self.best_epoch, self.elapsed = -1.0, -1, 0.0
        self.images_seen = 0           # training images processed (over all processes): the run's compute
        self.history = []
        self.resumed = False
        self.mask, self._mask_keeper = None, None
        self.set_mask(mask)
        if resume:
            self._resume()

    def set_mask(self, mask: dict | None):
        """Keep ``mask`` applied from now on: zero the pruned weights and their optimizer state."""
        self.mask, self._macs = to_cpu_bool(mask), None
        self._mask_keeper = MaskKeeper(self.model, mask) if mask is not None else None
        if self._mask_keeper is not None:
            self._mask_keeper.apply()
            self._mask_keeper.mask_optimizer_state(self.optimizer)

    # -- checkpointing -------------------------------------------------------
    @property
    def checkpoint_path(self):
        return self.run_dir / "checkpoint.pt"

    def _payload(self, epoch):
        return make_checkpoint(
            self.model, self.meta["dataset"], self.meta["method"], self.meta["arm"], epoch=epoch,
            mask=self.mask, optimizer=self.optimizer, best_acc=self.best_acc, args=self.args,
            meta=self.meta, step=self.step, best_epoch=self.best_epoch, elapsed=self.elapsed,
            history=self.history, rng=rng_state(), processes=self.world, images_seen=self.images_seen,
            cost=self.cost(),
            hooks=[h.state_dict() for h in self.hooks])

    def _resume(self):
        if not self.checkpoint_path.is_file():
            raise UserError(f"nothing to resume: {self.checkpoint_path} does not exist")
        ckpt = load_checkpoint(self.checkpoint_path)
        if ckpt["arch"] != self.model.arch or list(ckpt["cfg"]) != list(self.model.cfg):
            raise UserError(f"cannot resume: {self.checkpoint_path} holds {ckpt['arch']} cfg {ckpt['cfg']}, "
                            f"this run builds {self.model.arch} cfg {self.model.cfg}")
        if ckpt["arm"] != self.meta["arm"]:
            raise UserError(f"cannot resume: {self.checkpoint_path} is a {ckpt['arm']} run, not {self.meta['arm']}")
        processes = ckpt.get("processes", 1)
        if processes != self.world:
            raise UserError(f"cannot resume {self.checkpoint_path} with {self.world} process(es): it was trained by "
                            f"{processes} (each BatchNorm sees its process's slice of a batch, so another count "
                            f"trains another model); resume it with torchrun --nproc_per_node {processes}"
                            if processes > 1 else
                            f"cannot resume {self.checkpoint_path} with {self.world} processes: it was trained by one; "
                            f"resume it with python, not torchrun")
        self.model.load_state_dict(ckpt["state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.epoch, self.step = ckpt["epoch"] + 1, ckpt["step"]
        self.best_acc, self.best_epoch, self.elapsed = ckpt["best_acc"], ckpt["best_epoch"], ckpt["elapsed"]
        self.history = ckpt["history"]
        self.images_seen = ckpt.get("images_seen", 0)
        self.set_mask(ckpt.get("mask", self.mask))
        self._restore_best(ckpt)
        if len(ckpt["hooks"]) != len(self.hooks):
            raise UserError(f"cannot resume: {self.checkpoint_path} was written with different method hooks")
        for h, s in zip(self.hooks, ckpt["hooks"]):
            h.load_state_dict(s)
        set_rng_state(ckpt["rng"])
        self.resumed, self._skip = True, 0
        if distributed.is_main():
            print(f"resumed after epoch {self.epoch} of {self.config.epochs} ({self.checkpoint_path})", flush=True)

    def _restore_best(self, ckpt):
        """A run killed between writing ``checkpoint.pt`` and ``best.pt`` of a best epoch left an
        older (or no) ``best.pt``: the checkpoint holds that epoch, so it becomes ``best.pt``."""
        if ckpt["epoch"] < 0 or ckpt["best_epoch"] != ckpt["epoch"]:
            return
        best = self.run_dir / "best.pt"
        if best.is_file():
            try:
                if torch.load(best, map_location="cpu", weights_only=True).get("epoch") == ckpt["epoch"]:
                    return
            except Exception:     # truncated by the kill: rewritten below
                pass
        save_checkpoint(ckpt, best)

    # -- evaluation ----------------------------------------------------------
    def evaluate(self, loader=None):
        """Mean cross-entropy and top-1 accuracy (%) on ``loader`` (default: the test split)."""
        distributed.broadcast_buffers_(self.model)     # every process evaluates what rank 0 saves
        return evaluate(self._eval_model, loader or self.test_loader, self.device, self.config.amp,
                        self.config.channels_last)

    # -- training ------------------------------------------------------------
    def _train_epoch(self, epoch, max_steps=None, skip=0):
        """One epoch's iterations ``skip`` .. ``max_steps`` (default: all of them)."""
        model, opt, loader = self.model, self.optimizer, self.train_loader
        model.train()
        set_epoch(loader, epoch)
        ipe = len(loader)
        steps = ipe if max_steps is None else min(ipe, max_steps)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        seen, t0 = 0, time.perf_counter()
        bar = tqdm(loader, total=steps, desc=f"epoch {epoch + 1}/{self.config.epochs}", leave=False,
                   disable=not (self.config.progress and distributed.is_main()), dynamic_ncols=True,
                   mininterval=0.5)
        for i, (x, y) in enumerate(bar):
            if i < skip:
                continue
            x, y = to_device(x, y, self.device, self.config.channels_last)
            self.lr = self.lr_fn(self.step, ipe)
            for g in opt.param_groups:
                g["lr"] = self.lr * g.get("lr_mult", 1.0)
            for h in self.hooks:
                h.before_forward(self)
            with autocast(self.device, self.config.amp):
                out = self.forward(x)
                loss = F.cross_entropy(out.float(), y, label_smoothing=self.config.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for h in self.hooks:
                h.after_backward(self)
            if self._mask_keeper is not None:
                self._mask_keeper.mask_grads()
            opt.step()
            if self._mask_keeper is not None:
                self._mask_keeper.apply()
            for h in self.hooks:
                h.after_step(self)
            loss_sum += loss.detach() * y.numel()
            correct += (out.detach().argmax(1) == y).sum()
            seen += y.numel()
            self.step += 1
            if (i + 1) % self.config.log_every == 0 or i + 1 == steps:
                mean_loss = loss_sum.item() / seen
                self._check_finite(mean_loss, epoch, i)
                rate = seen / (time.perf_counter() - t0)
                bar.set_postfix(loss=f"{mean_loss:.3f}", acc=f"{100.0 * correct.item() / seen:.1f}",
                                img_s=f"{rate:.0f}", lr=f"{self.lr:.2g}")
            if i + 1 == steps:
                break
        bar.close()
        seconds = time.perf_counter() - t0
        if self.world > 1:     # the epoch's figures over all processes
            count = torch.tensor(float(seen), device=self.device)
            distributed.all_reduce_sum_(loss_sum, correct, count)
            seen = int(count.item())
        self.images_seen += seen
        return loss_sum.item() / max(seen, 1), 100.0 * correct.item() / max(seen, 1), seen / max(seconds, 1e-9), seconds

    def train_steps(self, steps: int, first_epoch: int | None = None) -> float:
        """Train ``steps`` iterations with no evaluation, checkpoint or result file (e.g. a short
        fine-tune between the layers of a layer-wise pruning method), from the first batch of epoch
        ``first_epoch`` (default: the current one); returns the mean loss."""
        if first_epoch is not None:
            self.epoch = first_epoch
        done, total = 0, 0.0
        while done < steps:
            n = min(steps - done, len(self.train_loader))
            loss = self._train_epoch(self.epoch, max_steps=n)[0]
            total, done, self.epoch = total + loss * n, done + n, self.epoch + 1
        return total / max(steps, 1)

    def _check_finite(self, value, epoch, i):
        if not math.isfinite(value):
            last = (f"the last good checkpoint is {self.checkpoint_path} (saved after epoch {self.epoch})"
                    if self.checkpoint_path.exists() else "no checkpoint was written yet")
            raise TrainingDiverged(f"loss became {value} at epoch {epoch + 1} step {i + 1}; {last}; "
                                   f"try a lower --lr")

    def fit(self) -> dict:
        """Train from ``self.epoch`` to ``config.epochs``; return (and write) the result dict."""
        from torch.utils.tensorboard import SummaryWriter

        cfg = self.config
        main = distributed.is_main()
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        writer = SummaryWriter(str(self.run_dir)) if main else None
        for h in self.hooks:
            h.on_train_start(self)
        try:
            while self.epoch < cfg.epochs:
                epoch = self.epoch
                tr_loss, tr_acc, rate, seconds = self._train_epoch(epoch, skip=self._skip)
                self._skip = 0
                for h in self.hooks:
                    h.on_epoch_end(self, epoch)
                te_loss, te_acc = self.evaluate()
                self._check_finite(te_loss, epoch, len(self.train_loader) - 1)
                self.elapsed += seconds
                if te_acc > self.best_acc:
                    self.best_acc, self.best_epoch = te_acc, epoch
                self.history.append([epoch, tr_loss, tr_acc, te_loss, te_acc])
                self._log(writer, epoch, tr_loss, tr_acc, te_loss, te_acc, rate)
                payload = self._payload(epoch)
                save_checkpoint(payload, self.checkpoint_path)     # first: see _restore_best
                if self.best_epoch == epoch:
                    save_checkpoint(payload, self.run_dir / "best.pt")
                self.epoch += 1
            if cfg.epochs == 0:  # evaluate-only run (e.g. a zero-length fine-tune)
                _, te_acc = self.evaluate()
                self.best_acc, self.best_epoch = te_acc, -1
                save_checkpoint(self._payload(-1), self.checkpoint_path)
        finally:
            if writer is not None:
                writer.close()
        return self.write_result()

    def _log(self, writer, epoch, tr_loss, tr_acc, te_loss, te_acc, rate):
        if writer is None:       # not rank 0
            return
        scalars = {"train/loss": tr_loss, "train/acc": tr_acc, "test/loss": te_loss, "test/acc": te_acc,
                   "lr": self.lr, "images_per_s": rate}
        for h in self.hooks:
            scalars.update(h.metrics())
        for k, v in scalars.items():
            writer.add_scalar(k, v, epoch + 1)
        writer.flush()
        print(f"epoch {epoch + 1}/{self.config.epochs}  lr {self.lr:.3g}  train loss {tr_loss:.4f} "
              f"acc {tr_acc:.2f}%  test loss {te_loss:.4f} acc {te_acc:.2f}%  best {self.best_acc:.2f}%  "
              f"{rate:.0f} img/s", flush=True)

    def forward_macs(self) -> int:
        """Multiply-accumulates of one forward pass of one image (the non-zero ones of a masked model); counted
        once per mask."""
        from common.flops import count_flops

        if self._macs is None:
            shape = self.input_size or tuple(next(iter(self.test_loader))[0].shape[1:])
            self._macs = count_flops(self.measured, shape, self.mask is not None)
        return self._macs

    def cost(self) -> dict:
        """The training compute the run has spent so far: images seen, training FLOPs estimated as 3 x forward MACs
        per image seen (a forward and a backward pass twice its cost, the usual estimate), training seconds (without
        evaluation), the device and device-hours (seconds x processes)."""
        macs = self.forward_macs()
        return {"images": self.images_seen, "forward_macs": macs, "train_flops": 3 * macs * self.images_seen,
                "train_s": round(self.elapsed, 2), "device": distributed.device_name(self.device),
                "processes": self.world, "device_hours": round(self.elapsed * self.world / 3600, 6)}

    def write_result(self, extra: dict | None = None) -> dict:
        from common.flops import count_params

        nonzero = self.mask is not None
        final_acc = self.history[-1][4] if self.history else self.best_acc
        result = {
            **{k: v for k, v in self.meta.items() if k not in ("base_cfg",)},
            "arch": self.model.arch,
            "cfg": list(self.model.cfg),
            "epochs": self.config.epochs,
            "best_top1": self.best_acc,
            "best_epoch": self.best_epoch + 1,
            "final_top1": final_acc,
            "params": kept_params(self.model, self.mask) if nonzero else count_params(self.model),
            "flops": self.forward_macs(),
            **({"sparsity": sparsity(self.mask)} if nonzero else {}),
            "wall_time_s": round(self.elapsed, 2),
            "cost": self.cost(),
            "train_config": recorded(self.config),
            "code_revision": code_revision(),
        }
        hook_metrics = {k: v for h in self.hooks for k, v in h.metrics().items()}
        if hook_metrics:  # the method's own end-of-run figures (e.g. blocks removed, sparsity)
            result["method_metrics"] = hook_metrics
        result.update(extra or {})
        result = jsonable(result)
        if distributed.is_main():
            write_json(self.run_dir / "result.json", result)
        return result


def train_steps(model: nn.Module, loader, config: TrainConfig, steps: int, first_epoch: int = 0,
                device=None) -> float:
    """Train ``model`` for ``steps`` iterations of ``loader`` from the first batch of epoch
    ``first_epoch`` (its data order), writing nothing; returns the mean loss."""
    return Trainer(model, loader, loader, config, ".", meta={}, device=device).train_steps(steps, first_epoch)
