"""Pretrained checkpoints: the manifest, hash-checked resumable downloads, and conversion into this
codebase's checkpoint format (arch, cfg, dataset, metadata), ready for ``prune.py --checkpoint``.

``checkpoints/manifest.json`` lists entries by name. An entry gives ``arch``, ``dataset`` and either
``weights`` -- a torchvision weights enum (``"ResNet34_Weights.IMAGENET1K_V1"``), whose url, hash and
accuracy come from torchvision's weights API -- or a ``url`` with its ``sha256``; ``manual: true``
marks a file that cannot be fetched by a plain HTTP GET (the original repo's models live on Google
Drive): it is fetched with ``gdown`` when that package is installed (a web page instead of the file --
a quota or permission page -- is refused), else downloaded by hand and converted with ``--file``; its
``sha256``, when the entry has one, is checked, else printed after the first download to be recorded.
``format`` (default ``pytorch``) marks files this code cannot convert (the SSS models are MXNet files).
Optional: ``method`` and ``arm``
(default ``pretrained`` / ``baseline``: a baseline from elsewhere, which every method's prune.py takes),
``variant``, ``top1``, ``top5``, ``source``, ``description``.

A download goes to ``checkpoints/downloads/<name>.part``, continues an interrupted one (HTTP Range),
is checked against its sha256 (all of it, or the prefix torchvision puts in its file names), then
loaded with ``weights_only=True``, converted and written atomically to ``checkpoints/<name>.pt``. A
file that fails the check is deleted; nothing unverified ever has the final name.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import torch

from common.checkpoint import load_checkpoint, load_error, make_checkpoint, save_checkpoint
from common.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "checkpoints" / "manifest.json"
CHUNK = 1 << 20


def load_manifest(path=MANIFEST) -> dict[str, dict]:
    """The manifest's entries by name, every entry checked once (one line naming the entry and the field)."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read the checkpoint manifest {path}: {e}") from None
    if not isinstance(entries, list):
        raise UserError(f"the checkpoint manifest {path} must be a JSON list of entries, not a "
                        f"{type(entries).__name__}")
    manifest = {}
    for i, entry in enumerate(entries):
        name = check_entry(entry, i, path)
        if name in manifest:
            raise UserError(f"{path}: entry {i} repeats the name {name!r}")
        manifest[name] = entry
    return manifest


def check_entry(entry, i: int, path) -> str:
    """The entry's name, once its fields are checked: ``name``, ``arch`` (registered), ``dataset`` (registered) and
    either ``weights`` (a torchvision weights enum) or ``url``; ``sha256`` 64 hex digits when given."""
    from common.data import DATASETS
    from common.models import list_archs

    def bad(field, what):
        named = isinstance(entry, dict) and isinstance(entry.get("name"), str)
        label = f"entry {i}" + (f" ({entry['name']!r})" if named else "")
        return UserError(f"{path}: {label}: {field} {what}")

    if not isinstance(entry, dict):
        raise bad("the entry", f"must be a JSON object, not {type(entry).__name__}")
    for field in ("name", "arch", "dataset"):
        if not isinstance(entry.get(field), str) or not entry[field]:
            raise bad(f"{field!r}", "is missing (a string)")
    if entry["arch"] not in list_archs():
        raise bad("'arch'", f"{entry['arch']!r} is not a registered model")
    if entry["dataset"] not in DATASETS:
        raise bad("'dataset'", f"{entry['dataset']!r} is not a registered dataset")
    if entry.get("format", "pytorch") not in ("pytorch", "mxnet", "caffe"):
        raise bad("'format'", f"{entry['format']!r} is not pytorch, mxnet or caffe")
    if ("weights" in entry) == ("url" in entry):
        raise bad("'weights' / 'url'", "give exactly one: a torchvision weights enum, or the file's url")
    if "weights" in entry:
        from torchvision.models import get_weight
        try:
            get_weight(str(entry["weights"]))
        except Exception:
            raise bad("'weights'", f"{entry['weights']!r} is not a torchvision weights enum "
                                   f"(e.g. ResNet34_Weights.IMAGENET1K_V1)") from None
    elif not isinstance(entry["url"], str) or not entry["url"]:
        raise bad("'url'", "must be a string")
    sha = entry.get("sha256")
    if sha is not None and not (isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha)):
        raise bad("'sha256'", "must be 64 lowercase hex digits")
    return entry["name"]


def entry_of(name: str, manifest: dict) -> dict:
    if name not in manifest:
        raise UserError(f"no checkpoint {name!r} in the manifest; --list shows the {len(manifest)} there are")
    return manifest[name]


def source_of(entry: dict) -> dict:
    """``{"url", "sha256"}`` or ``{"url", "hash_prefix"}`` of an entry (torchvision's through its weights API)."""
    if "weights" in entry:
        from torchvision.models import get_weight

        weights = get_weight(entry["weights"])
        prefix = re.search(r"-([0-9a-f]{6,})\.pth$", weights.url)
        return {"url": weights.url, "hash_prefix": prefix.group(1) if prefix else None,
                "top1": weights.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")}
    return {"url": entry["url"], "sha256": entry.get("sha256")}


# --------------------------------------------------------------------------- download

def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, part: Path, timeout: float = 60.0, progress=None) -> Path:
    """Fetch ``url`` into ``part``, continuing what ``part`` already holds (HTTP Range; a server that
    ignores Range sends the whole file, which replaces it)."""
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            mode = "ab" if have and response.status == 206 else "wb"
            total = int(response.headers.get("Content-Length") or 0) + (have if mode == "ab" else 0)
            with open(part, mode) as f:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    if progress:
                        progress(f.tell(), total)
            if total and part.stat().st_size < total:
                raise UserError(f"the download of {url} stopped at {part.stat().st_size} of {total} bytes; run the "
                                f"command again to continue it")
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:          # nothing left to fetch: the file is complete
            return part
        part.unlink(missing_ok=True)        # an error answer is not a partial file: nothing to continue
        raise UserError(f"cannot download {url}: HTTP {e.code} {e.reason}; nothing was kept") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:   # refused, cut off, timed out
        reason = getattr(e, "reason", None) or type(e).__name__
        if part.is_file() and part.stat().st_size > 0:
            raise UserError(f"cannot download {url} ({reason}); the {part.stat().st_size} bytes that arrived are "
                            f"kept in {part}: run the command again to continue") from None
        part.unlink(missing_ok=True)
        raise UserError(f"cannot download {url} ({reason}); nothing arrived") from None
    return part


def verify(path: Path, source: dict, delete: bool = True) -> None:
    """The file's sha256 against the entry's (or torchvision's prefix); on a mismatch a download is deleted
    (``delete``; a file given by hand is left alone) and the error says so."""
    digest = sha256_of(path)
    want = source.get("sha256") or source.get("hash_prefix")
    if not want:
        raise UserError(f"the manifest gives no sha256 for {source['url']}; refusing an unverified file")
    if not digest.startswith(want):
        if delete:
            path.unlink(missing_ok=True)
            raise UserError(f"{source['url']} does not match its sha256 (expected {want}, got {digest[:len(want)]}); "
                            f"the file was deleted, nothing was kept")
        raise UserError(f"{path} does not match the sha256 of {source['url']} (expected {want}, got "
                        f"{digest[:len(want)]}): not the file of this entry")


# --------------------------------------------------------------------------- conversion

def plain_state_dict(obj) -> dict:
    """The state dict inside a downloaded file: a bare state dict (torchvision) or the original repo's
    ``{'cfg', 'state_dict'}``, with DataParallel's ``module.`` removed wherever it sits
    (``module.conv1.weight``, ``features.module.0.weight``)."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError("not a state dict, nor a {'cfg', 'state_dict'} checkpoint of the original code")
    return {re.sub(r"(^|\.)module\.", r"\1", k): v for k, v in obj.items()}


def cfg_from_state_dict(arch: str, num_classes: int, state: dict) -> list:
    """The widths cfg of ``arch`` that ``state`` was saved from: each channel group's size read off its
    producer's weight (or its selection's index)."""
    from common.models import build_model

    model = build_model(arch, num_classes, 3)
    cfg = list(model.cfg)
    for g in model.channel_groups():
        key = f"{g.selection}.index" if g.selection else f"{g.producer}.weight"
        if key not in state:
            raise UserError(f"the file has no {key!r}: it is not a {arch} state dict")
        cfg[g.cfg_index] = int(state[key].shape[0])
    return cfg


def expected_cfg(entry: dict, model) -> list | None:
    """The widths an entry's model must have, where the entry says: an unpruned baseline and a weight-level model
    (a mask on the full network) have the full widths; an L1-norm variant has the paper's (Li et al., Table 3);
    None where the widths depend on the training (Network Slimming)."""
    from common.models import build_model, default_cfg
    from common.pruning.l1_norm import plan_keep_counts

    if "cfg" in entry:
        return list(entry["cfg"])
    method = entry.get("method", "pretrained")
    if method in ("pretrained", "weight-level") or entry.get("arm", "baseline") == "baseline":
        return default_cfg(entry["arch"])
    if method == "l1-norm" and entry.get("variant"):
        base = build_model(entry["arch"], model.num_classes, model.in_channels)
        counts = plan_keep_counts(base, entry["variant"])
        cfg = list(base.cfg)
        for g in base.channel_groups():
            if g.name in counts:
                cfg[g.cfg_index] = counts[g.name]
        return cfg
    return None


def check_widths(entry: dict, model, file) -> None:
    """One line unless the file's model has the widths its entry promises (a full-width file is not a pruned one)."""
    from common.models import default_cfg

    want = expected_cfg(entry, model)
    if want is not None and list(model.cfg) != want:
        raise UserError(f"{file} holds {entry['arch']} with widths {list(model.cfg)}, not those of {entry['name']} "
                        f"({want}): it is not this entry's model")
    if want is None and entry.get("arm", "baseline") != "baseline" and list(model.cfg) == default_cfg(entry["arch"]):
        raise UserError(f"{file} holds a full-width {entry['arch']}, not the pruned model of {entry['name']}")


def convert(file, entry: dict, out: Path, extra_meta: dict | None = None) -> dict:
    """Load a downloaded file (``weights_only=True``), rebuild ``entry['arch']`` with the widths it holds,
    load it strictly and write our checkpoint to ``out`` atomically; returns the checkpoint."""
    from common.data import dataset_info
    from common.models import build_model

    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as e:  # not a torch file, truncated, or a pickle of arbitrary objects
        raise UserError(f"cannot read {file} as a PyTorch checkpoint: {load_error(e)}") from None
    try:
        state = plain_state_dict(obj)
    except UserError as e:
        raise UserError(f"{file}: {e}") from None
    info = dataset_info(entry["dataset"])
    cfg = obj.get("cfg") if isinstance(obj, dict) and isinstance(obj.get("cfg"), list) else None
    cfg = cfg or cfg_from_state_dict(entry["arch"], info.num_classes, state)
    model = build_model(entry["arch"], info.num_classes, info.in_channels, cfg)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise UserError(f"{file} does not fit {entry['arch']} (cfg {cfg}): {str(e).splitlines()[0][:200]}") from None
    check_widths(entry, model, file)
    published = {**{k: entry[k] for k in ("top1", "top5") if k in entry}, **(extra_meta or {})}
    meta = {"variant": entry.get("variant"), "source": entry.get("source") or entry.get("url") or entry.get("weights"),
            "name": entry["name"], **{f"published_{k}": v for k, v in published.items()}}
    payload = make_checkpoint(model, entry["dataset"], entry.get("method", "pretrained"), entry.get("arm", "baseline"),
                              meta=meta)
    save_checkpoint(payload, out)
    return payload


def have_gdown() -> bool:
    import importlib.util
    return importlib.util.find_spec("gdown") is not None


def drive_download(url: str, path: Path) -> None:
    """Fetch a public Google Drive file with ``gdown`` (an optional dependency) into ``path``."""
    import gdown
    try:
        result = gdown.download(url, str(path), quiet=True)
    except Exception as e:           # quota, permission, network: gdown's own exceptions
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else ""
        raise UserError(f"cannot download {url} with gdown ({type(e).__name__}: {first}); nothing was kept") from None
    if result is None or not path.is_file():
        raise UserError(f"cannot download {url} with gdown; nothing was kept")


def fetch_drive(name: str, entry: dict, out: Path, directory: Path) -> Path:
    """An entry on Google Drive: downloaded with gdown when it is installed (else how to do it by hand), refused when
    Drive answers with a web page, checked against its sha256 when the manifest knows it (else the hash is printed to
    record), converted."""
    if not have_gdown():
        raise UserError(f"{name} cannot be fetched automatically without gdown: pip install gdown, or download it from "
                        f"{entry['url']} and run scripts/download_checkpoints.py {name} --file FILE")
    part = directory / "downloads" / f"{name}.part"
    made = not directory.exists()
    part.parent.mkdir(parents=True, exist_ok=True)
    try:
        drive_download(entry["url"], part)
        with open(part, "rb") as f:
            head = f.read(512).lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")):
            raise UserError(f"Google Drive answered {entry['url']} with a web page, not the file (a download quota or "
                            f"a permission page); nothing was kept: try later, or download it in a browser and use "
                            f"--file")
        if entry.get("sha256"):
            verify(part, {"url": entry["url"], "sha256": entry["sha256"]})
        convert(part, entry, out)
        if not entry.get("sha256"):
            print(f"sha256 of {name}: {sha256_of(part)} -- record it in the manifest entry, so the next download is "
                  f"checked")
    finally:
        part.unlink(missing_ok=True)
        if part.parent.is_dir() and not any(part.parent.iterdir()):
            part.parent.rmdir()
        if made and directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
    return out


def fetch(name: str, directory=ROOT / "checkpoints", manifest=None, file=None, progress=None) -> Path:
    """``directory/<name>.pt`` for a manifest entry: already there, converted from ``file``, or
    downloaded, verified and converted."""
    manifest = load_manifest() if manifest is None else manifest
    entry = entry_of(name, manifest)
    directory = Path(directory)
    out = directory / f"{name}.pt"
    if file is not None:
        if entry.get("sha256") or "weights" in entry:     # a file given by hand is held to the entry's hash too
            verify(Path(file), source_of(entry), delete=False)
        convert(file, entry, out, {"top1": source_of(entry)["top1"]} if source_of(entry).get("top1") else None)
        return out
    if out.is_file():
        load_checkpoint(out)                 # a broken file is one clear line, not a silent reuse
        return out
    if entry.get("format", "pytorch") != "pytorch":
        raise UserError(f"{name} is an {entry['format'].upper()} file, which this code does not convert (the "
                        f"original repository released it so); train it with prune.py --published and main_scratch.py")
    if entry.get("manual"):
        return fetch_drive(name, entry, out, directory)
    source = source_of(entry)
    if not (source.get("sha256") or source.get("hash_prefix")):
        raise UserError(f"the manifest gives no sha256 for {name} ({source['url']}); an unverified file is refused")
    part = directory / "downloads" / f"{name}.part"
    try:
        download(source["url"], part, progress=progress)
        verify(part, source)
        try:
            convert(part, entry, out, {"top1": source["top1"]} if source.get("top1") else None)
        except UserError:
            part.unlink(missing_ok=True)     # the right file by its hash, yet not this entry's model: nothing to keep
            raise
        part.unlink()
    finally:
        if part.parent.is_dir() and not any(part.parent.iterdir()):
            part.parent.rmdir()
    return out
