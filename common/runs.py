"""Run folders: a run folder is the record of one run, owned by one process.

Layout (the one place it is decided; entry points and the table runner both call
:func:`run_folder`)::

    <runs>/<dataset>/<method>/<arch>/<arm>/<tag>-<hash>/

``tag`` is readable (``p0.4-seed1``, ``seed1``); ``hash`` is 8 hex digits of the *settings*: every
flag that can change a result (lr, epochs, lambda, cfg, rates, the checkpoint it starts from, ...),
i.e. all flags but those in :data:`NOT_SETTINGS`. Two settings never share a folder.

A folder holds ``args.json`` (every resolved flag), and whatever the run writes (``checkpoint.pt``,
``best.pt``, ``result.json``, TensorBoard events, ``pruned.pt``). :class:`RunFolder` claims it:

  * one process at a time: an ``fcntl`` lock on ``.lock``; a second process is refused;
  * ``--resume`` continues only a run of the same settings (refused naming the flags that differ);
    without it, a folder that holds a run is refused;
  * a run that fails before it wrote anything worth keeping (no checkpoint, no result) leaves
    nothing behind -- not even the empty parent folders it made; a process refused the folder deletes
    nothing (what is there belongs to the owner).

:func:`step_state` says what a folder holds: ``done``, ``resume`` or ``new`` (the skip/resume rule
of the table runner and of the Lottery Ticket / IMP sequences).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from common.checkpoint import jsonable, write_json
from common.errors import UserError
from common.settings import Settings, flag

RUNS_ROOT = Path(os.environ.get("RUNS_DIR", "runs"))

# Flags that never change a result: where things are, how they are shown, how fast they run.
NOT_SETTINGS = frozenset({"save", "resume", "runs", "data_dir", "device", "no_progress", "compile",
                          "test_batch_size", "jobs", "workers", "gpu_decode"})


@dataclass(frozen=True)
class RunSettings(Settings):
    """Where a run is recorded."""

    save: Optional[str] = flag(None, "run folder (default runs/<dataset>/<method>/<arch>/<arm>/<tag>-<settings hash>)")
    resume: bool = flag(False, "continue the run in the run folder exactly")


def settings_of(args, root=None) -> dict:
    """The settings of ``args`` (a settings object, namespace or dict) that can change a result, JSON-able; a checkpoint
    path is made absolute, so the same file named two ways is the same setting -- or, when it lies under ``root``
    (a table's runs folder), relative to it, so a table's identity does not depend on where its folder lies."""
    flags = jsonable(args)
    out = {}
    for key, value in sorted(flags.items()):
        if key in NOT_SETTINGS:
            continue
        if key == "checkpoint" and isinstance(value, str) and value:
            path = Path(value).resolve()
            inside = root is not None and Path(root).resolve() in path.parents
            value = f"<runs>/{path.relative_to(Path(root).resolve())}" if inside else str(path)
        out[key] = value
    return out


def argv_settings(argv, root=None) -> dict:
    """``settings_of`` a command line given as a list of ``--flag [value ...]`` tokens (checkpoints under ``root``
    relative to it)."""
    values, key = {}, None
    for token in map(str, argv):
        if token.startswith("--"):
            key = token[2:].replace("-", "_")
            values[key] = []
        elif key is not None:
            values[key].append(token)
    return settings_of({k: True if not v else v[0] if len(v) == 1 else v for k, v in values.items()}, root)


def settings_hash(settings: dict) -> str:
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def dataset_dir(dataset: str) -> str:
    """The folder name of a dataset's runs: its name, or for an image folder (``folder:<DIR>...``)
    ``folder-<DIR's name>-<hash of the name>``."""
    if ":" not in dataset:
        return dataset
    return f"folder-{Path(dataset.split(':', 1)[1].split('|')[0]).name}-{settings_hash({'dataset': dataset})}"


def run_folder(root, dataset: str, method: str, arch: str, arm: str, tag: str, settings: dict) -> Path:
    """``<root>/<dataset>/<method>/<arch>/<arm>/<tag>-<hash of settings>``."""
    return Path(root) / dataset_dir(dataset) / method / arch / arm / f"{tag}-{settings_hash(settings)}"


def step_state(folder, done: str = "result.json", partial: str = "checkpoint.pt") -> str:
    """``done`` (``done`` exists), ``resume`` (only ``partial`` does) or ``new``."""
    folder = Path(folder)
    if (folder / done).is_file():
        return "done"
    return "resume" if partial and (folder / partial).is_file() else "new"


def differing(recorded: dict, current: dict) -> list[str]:
    """The flags (as ``--name``) whose values differ between two settings."""
    keys = sorted(set(recorded) | set(current))
    return ["--" + k.replace("_", "-") for k in keys if recorded.get(k) != current.get(k)]


def checked_save(text) -> Path | None:
    """``--save`` as a path (None when not given); an empty value is a mistake, not the default."""
    if text is None:
        return None
    if not str(text).strip():
        raise UserError("--save is empty; give a folder, or leave --save out for the default")
    return Path(text)


class RunFolder:
    """Claim ``path`` for this process (see the module docstring); a context manager.

    args:    the resolved flags (written to ``args.json``; their settings are the folder's identity)
    resume:  continue the run the folder holds (True), start one (False), or either (None: a sequence,
             which continues whatever it finds of itself)
    holds:   the file whose presence means the folder holds a run (``checkpoint.pt`` for training,
             ``result.json`` for a pruned model)
    """

    def __init__(self, path, args, *, resume: bool = False, holds: str = "checkpoint.pt"):
        self.path, self.args, self.resume, self.holds = Path(path), args, resume, holds
        self._fd, self._made, self._before, self._made_lock = None, [], set(), False

    def __enter__(self) -> RunFolder:
        path = self.path
        for parent in [path, *path.parents]:
            if parent.exists() and not parent.is_dir():
                where = "is a file" if parent == path else f"lies under the file {parent}"
                raise UserError(f"run folder {path} {where}; choose another --save")
        made = [p for p in [path, *path.parents] if not p.exists()]       # deepest first
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot create run folder {path}: {e.strerror}") from None
        self._made = made
        self._lock()                  # refused: another process owns the folder -- nothing here is ours to delete
        self._before = set(path.iterdir()) - ({path / ".lock"} if self._made_lock else set())   # under the lock
        try:
            self._check()
        except BaseException:
            self._clean()
            self._unlock()
            raise
        if not self.resume:
            write_json(path / "args.json", self.args)      # (a sequence rewrites the same settings)
        return self

    def _lock(self):
        self._made_lock = not (self.path / ".lock").exists()
        self._fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise UserError(f"{self.path} is in use by another process; wait for it to finish or choose "
                            f"another --save") from None
        _HELD_LOCKS.add(self._fd)

    def _check(self):
        path, current = self.path, settings_of(self.args)
        recorded = None
        if (path / "args.json").is_file():
            try:
                recorded = settings_of(json.loads((path / "args.json").read_text()))
            except (OSError, ValueError):
                recorded = None
        holds = (path / self.holds).is_file()
        if self.resume is None:
            if recorded is not None and recorded != current:
                raise UserError(f"{path} holds a sequence with other settings "
                                f"({', '.join(differing(recorded, current))} differ); choose another --save")
        elif self.resume:
            if not holds:
                raise UserError(f"nothing to resume: {path / self.holds} does not exist")
            if recorded is not None and recorded != current:
                raise UserError(f"cannot resume {path}: it holds a run with other settings "
                                f"({', '.join(differing(recorded, current))} differ)")
        elif holds and self.holds == "checkpoint.pt":
            raise UserError(f"{path} already holds a run; continue it with --resume or choose another --save")
        elif holds:
            raise UserError(f"{path} already holds a finished result ({self.holds}); choose another --save")
        elif recorded is not None and recorded != current:
            raise UserError(f"{path} was started with other settings ({', '.join(differing(recorded, current))} "
                            f"differ); choose another --save")

    def worth_keeping(self) -> bool:
        """Anything a later run continues from: a checkpoint, a pruned model, a result, a search's cache
        (a sequence's sub-runs included)."""
        kept = (self.holds, "result.json", "checkpoint.pt", "pruned.pt", "search_cache.jsonl")
        return any(next(self.path.rglob(name), None) is not None for name in dict.fromkeys(kept))

    def _clean(self):
        """Remove what this process made while it held the folder: the folder and the parents it created (when
        empty), else the entries added under its lock. Called only while the lock is held."""
        added = set(self.path.iterdir()) - self._before
        if self.path in self._made:
            shutil.rmtree(self.path, ignore_errors=True)
        else:
            for entry in added:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        for parent in self._made[1:]:          # runs/<dataset>/<method>/... made for this run, if left empty
            try:
                parent.rmdir()
            except OSError:
                break

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None and not self.worth_keeping():
            self._clean()
        self._unlock()
        return False

    def _unlock(self):
        if self._fd is not None:
            _HELD_LOCKS.discard(self._fd)
            os.close(self._fd)      # releases the lock
            self._fd = None


_HELD_LOCKS: set = set()


def _drop_inherited_locks():
    """In a forked child (a DataLoader worker): close the run folders' lock descriptors it inherited, so that the
    lock goes with the process that owns the folder, not with a worker still shutting down after it."""
    for fd in _HELD_LOCKS:
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_inherited_locks)
