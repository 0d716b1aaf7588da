"""Data-parallel training over several processes: ``torchrun`` + DistributedDataParallel.

Launch a training entry point (``main.py``, ``main_finetune.py``, ``main_scratch.py``) with
``torchrun --nproc_per_node N <script> <flags>``. Each process takes its share of every global
batch (``--batch-size`` stays the *global* batch, so a paper's recipe is unchanged), DDP averages
the gradients, and only rank 0 prints and writes files. One GPU per process (``LOCAL_RANK``)
with NCCL; on CPUs, gloo. Without torchrun (``WORLD_SIZE`` unset or 1) nothing here does anything.
"""

from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist

from common.errors import UserError


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main() -> bool:
    """True in the one process that prints and writes files (rank 0, or the only process)."""
    return rank() == 0


def launched_world_size() -> int:
    """The number of processes torchrun started (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def die_with_parent() -> None:
    """Linux: have the kernel send this process SIGTERM when its parent (torchrun, a cluster job) dies: a SIGKILL to
    the parent leaves no workers training as orphans; SIGTERM ends a run as Ctrl-C does, its last checkpoint
    intact."""
    try:
        import ctypes
        import signal
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)            # PR_SET_PDEATHSIG
        if os.getppid() == 1:                    # the parent died before the call
            os.kill(os.getpid(), signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def init_from_env() -> int:
    """Join the process group torchrun describes, once; returns this process's local rank."""
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if launched_world_size() > 1 and not is_distributed():
        die_with_parent()
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo", timeout=timedelta(minutes=30))
    return local_rank


def refuse_under_torchrun(what: str):
    """Entry points that are not training runs (pruning, multi-run sequences) run in one process."""
    if launched_world_size() > 1:
        raise UserError(f"{what} runs in one process; start it with python, not torchrun "
                        f"(torchrun is for main.py, main_finetune.py and main_scratch.py)")


def all_reduce_sum_(*tensors: torch.Tensor):
    """Sum each tensor over the processes, in place (nothing to do in one process)."""
    if world_size() > 1:
        for t in tensors:
            dist.all_reduce(t)


def broadcast_buffers_(model: torch.nn.Module):
    """Give every process rank 0's buffers (BatchNorm running statistics), so that all of them
    evaluate the model rank 0 saves."""
    if world_size() > 1:
        for b in model.buffers():
            dist.broadcast(b, 0)


def resolve_device(name: str | None):
    """The training device: ``cpu``, ``cuda`` or ``cuda:N`` (default: cuda when available)."""
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


def device_name(device) -> str:
    """What a figure was measured on: the GPU's name, or ``cpu-<machine>-<threads>threads``."""
    import platform

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device).replace(" ", "_")
    return f"{device.type}-{platform.machine()}-{torch.get_num_threads()}threads"
