"""Pretrained checkpoints (common.zoo, scripts/download_checkpoints.py) over a loopback HTTP server
(127.0.0.1 only): a good file downloads, verifies and loads; a tampered one is refused with nothing left;
an interrupted one is neither used nor left under the final name, and the next run continues it; the
original repo's {'cfg', 'state_dict'} files with DataParallel prefixes convert into our checkpoints."""

import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from helpers import assert_one_line_error, run_cli, run_entry

from common.checkpoint import load_checkpoint
from common.errors import UserError
from common.models import build_model
from common.zoo import fetch, source_of


class Server:
    """Serves ``files`` (path -> bytes) on 127.0.0.1 with Range support; ``cut`` stops a body after that
    many bytes of the file and drops the connection."""

    def __init__(self):
        self.files, self.cut, self.requests, self.status = {}, None, [], 404
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.headers.get("Range"))
                data = outer.files.get(self.path)
                if data is None:
                    self.send_error(outer.status)
                    return
                start = int(self.headers["Range"].split("=")[1].split("-")[0]) if self.headers.get("Range") else 0
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                end = len(data) if outer.cut is None else outer.cut
                self.wfile.write(data[start:end])
                if outer.cut is not None:
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    s = Server()
    yield s
    s.close()


def state_bytes(state) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def entry(name, url, data, **kw):
    return {name: {"name": name, "arch": "resnet20", "dataset": "cifar10", "url": url,
                   "sha256": hashlib.sha256(data).hexdigest(), **kw}}


def test_a_good_download_is_verified_converted_and_loads(server, tmp_path):
    torch.manual_seed(0)
    model = build_model("resnet20", 10, 3)
    data = state_bytes(model.state_dict())
    server.files["/r20.pth"] = data
    out = fetch("r20", tmp_path, entry("r20", server.url + "/r20.pth", data, top1=91.5))
    ckpt = load_checkpoint(out)
    assert ckpt["arch"] == "resnet20" and ckpt["method"] == "pretrained" and ckpt["arm"] == "baseline"
    assert ckpt["meta"]["published_top1"] == 91.5 and ckpt["best_acc"] is None and ckpt["cfg"] == model.cfg
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in ckpt["state_dict"].items())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r20.pt"]


def test_a_tampered_download_is_refused_and_nothing_is_left(server, tmp_path):
    data = state_bytes(build_model("resnet20", 10, 3).state_dict())
    manifest = entry("r20", server.url + "/r20.pth", data)
    server.files["/r20.pth"] = data[:-10] + b"0123456789"
    with pytest.raises(UserError, match=r"does not match its sha256 \(expected .*\); the file was deleted, "
                                        r"nothing was kept"):
        fetch("r20", tmp_path, manifest)
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_download_is_not_used_and_the_next_run_continues_it(server, tmp_path):
    data = state_bytes(build_model("resnet20", 10, 3).state_dict())
    manifest = entry("r20", server.url + "/r20.pth", data)
    server.files["/r20.pth"], server.cut = data, len(data) // 2
    with pytest.raises(UserError, match="run the command again to continue"):
        fetch("r20", tmp_path, manifest)
    assert not (tmp_path / "r20.pt").exists()
    assert (tmp_path / "downloads" / "r20.part").stat().st_size == len(data) // 2
    server.cut = None
    out = fetch("r20", tmp_path, manifest)
    assert server.requests[-1] == f"bytes={len(data) // 2}-"             # continued, not restarted
    assert load_checkpoint(out)["arch"] == "resnet20" and not (tmp_path / "downloads").exists()


def test_the_original_repos_files_convert_with_their_widths(tmp_path, monkeypatch):
    """{'cfg', 'state_dict'} with DataParallel's module. prefix, a pruned ResNet-34-A of quarter widths."""
    torch.manual_seed(0)
    cfg = [16, 11, 11, 32, 22, 22, 32, 64, 44, 44, 44, 44, 64, 128, 128, 128]
    model = build_model("resnet34_narrow", 10, 3, cfg).eval()
    original = {"cfg": cfg, "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}
    torch.save(original, tmp_path / "model_best.pth.tar")
    manifest = {"a": {"name": "a", "arch": "resnet34_narrow", "dataset": "fashion-mnist-jpeg", "method": "l1-norm",
                      "arm": "scratch-B", "variant": "A", "url": "https://drive.google.com/x", "manual": True}}
    import common.zoo
    monkeypatch.setattr(common.zoo, "have_gdown", lambda: False)
    with pytest.raises(UserError, match="cannot be fetched automatically without gdown: pip install gdown, or "
                                        "download it from https://drive"):
        fetch("a", tmp_path / "ckpt", manifest)
    assert not (tmp_path / "ckpt").exists()
    ckpt = load_checkpoint(fetch("a", tmp_path / "ckpt", manifest, file=tmp_path / "model_best.pth.tar"))
    assert ckpt["cfg"] == cfg and ckpt["arm"] == "scratch-B" and ckpt["meta"]["variant"] == "A"
    converted = build_model("resnet34_narrow", 10, 3, cfg).eval()
    converted.load_state_dict(ckpt["state_dict"])
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(converted(x), model(x))
    del original["cfg"]                                       # widths read off the weights when no cfg is given
    torch.save(original, tmp_path / "no_cfg.pth.tar")
    assert load_checkpoint(fetch("a", tmp_path / "c2", manifest, file=tmp_path / "no_cfg.pth.tar"))["cfg"] == cfg


@pytest.mark.parametrize("content,message", [
    ({"epoch": 3, "arch": "resnet34"}, "not a state dict"),
    ({"state_dict": {"conv1.weight": torch.zeros(2, 3, 3, 3)}}, "has no 'layer1.0.conv1.weight'"),
    (b"garbage", "cannot read"),
])
def test_a_file_not_of_the_original_layout_is_one_line(tmp_path, content, message):
    path = tmp_path / "x.pth.tar"
    path.write_bytes(content) if isinstance(content, bytes) else torch.save(content, path)
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps([{"name": "a", "arch": "resnet34_narrow", "dataset": "fashion-mnist-jpeg",
                                     "url": "https://drive.google.com/x", "manual": True}]))
    proc = run_cli("scripts/download_checkpoints.py", "a", "--file", path, "--manifest", manifest,
                   "--dir", tmp_path / "out")
    assert_one_line_error(proc, message)
    assert not (tmp_path / "out").exists()


def test_unknown_names_and_the_torchvision_entries(tmp_path):
    assert_one_line_error(run_entry("scripts/download_checkpoints.py", "resnet35", "--dir", tmp_path / "out"),
                          "no checkpoint 'resnet35' in the manifest")
    assert not (tmp_path / "out").exists()
    proc = run_cli("scripts/download_checkpoints.py", "--list")
    assert proc.returncode == 0 and "resnet34" in proc.stdout and "l1-norm-resnet34-a-finetune" in proc.stdout
    source = source_of({"weights": "ResNet34_Weights.IMAGENET1K_V1"})          # torchvision's weights API
    assert source["url"].startswith("https://download.pytorch.org/models/resnet34-")
    assert source["url"].endswith(f"-{source['hash_prefix']}.pth") and source["top1"] == pytest.approx(73.314)


# ----------------------------------------------------------------------------- a hand-edited manifest, failed downloads

GOOD = {"name": "x", "arch": "resnet20", "dataset": "cifar10", "url": "http://127.0.0.1:9/x.pth"}


@pytest.mark.parametrize("content,message", [
    ({"x": GOOD}, "must be a JSON list of entries, not a dict"),
    ([["x"]], "entry 0: the entry must be a JSON object, not list"),
    ([{k: v for k, v in GOOD.items() if k != "name"}], "entry 0: 'name' is missing"),
    ([{k: v for k, v in GOOD.items() if k != "arch"}], "entry 0 ('x'): 'arch' is missing"),
    ([{**GOOD, "arch": "resnet21"}], "entry 0 ('x'): 'arch' 'resnet21' is not a registered model"),
    ([{k: v for k, v in GOOD.items() if k != "dataset"}], "entry 0 ('x'): 'dataset' is missing"),
    ([{k: v for k, v in GOOD.items() if k != "url"}], "entry 0 ('x'): 'weights' / 'url' give exactly one"),
    ([{**GOOD, "weights": "ResNet34_Weights.IMAGENET1K_V1"}], "'weights' / 'url' give exactly one"),
    ([{**{k: v for k, v in GOOD.items() if k != "url"}, "weights": "ResNet35_Weights.X"}],
     "'weights' 'ResNet35_Weights.X' is not a torchvision weights enum"),
    ([{**GOOD, "sha256": "abc"}], "'sha256' must be 64 lowercase hex digits"),
    ([GOOD, GOOD], "entry 1 repeats the name 'x'"),
])
def test_a_hand_edited_manifest_is_checked_once_in_one_line(tmp_path, content, message):
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(content))
    proc = run_entry("scripts/download_checkpoints.py", "x", "--manifest", manifest, "--dir", tmp_path / "out")
    line = assert_one_line_error(proc, message)
    assert str(manifest) in line and not (tmp_path / "out").exists()


@pytest.mark.parametrize("status", [404, 500])
def test_an_error_answer_leaves_nothing_to_continue(server, tmp_path, status):
    data = state_bytes(build_model("resnet20", 10, 3).state_dict())
    if status == 500:
        server.files["/r20.pth"] = None
        server.status = 500
    with pytest.raises(UserError, match=rf"HTTP {status} .*; nothing was kept"):
        fetch("r20", tmp_path, entry("r20", server.url + "/r20.pth", data))
    assert list(tmp_path.iterdir()) == []


def test_a_refused_connection_says_nothing_arrived_and_leaves_nothing(tmp_path):
    data = b"x" * 10
    with pytest.raises(UserError, match=r"cannot download http://127.0.0.1:9/r20.pth \(.*\); nothing arrived$"):
        fetch("r20", tmp_path, entry("r20", "http://127.0.0.1:9/r20.pth", data))
    assert list(tmp_path.iterdir()) == []


def test_an_entry_without_a_sha256_is_refused_before_anything_is_fetched(server, tmp_path):
    manifest = {"r20": {"name": "r20", "arch": "resnet20", "dataset": "cifar10", "url": server.url + "/r20.pth"}}
    with pytest.raises(UserError, match="gives no sha256 for r20"):
        fetch("r20", tmp_path, manifest)
    assert server.requests == [] and list(tmp_path.iterdir()) == []


def test_a_verified_file_that_is_not_a_checkpoint_is_deleted(server, tmp_path):
    data = b"not a checkpoint at all"
    server.files["/r20.pth"] = data
    with pytest.raises(UserError, match="cannot read .* as a PyTorch checkpoint"):
        fetch("r20", tmp_path, entry("r20", server.url + "/r20.pth", data))
    assert list(tmp_path.iterdir()) == []


class _Payload:
    def __reduce__(self):
        return (print, ("this code ran",))


def test_a_pickle_of_code_is_refused_in_one_line_and_never_run(server, tmp_path, capsys):
    data = state_bytes({"conv1.weight": _Payload()})
    server.files["/r20.pth"] = data
    with pytest.raises(UserError) as info:
        fetch("r20", tmp_path, entry("r20", server.url + "/r20.pth", data))
    assert "holds objects other than tensors" in str(info.value) and "\n" not in str(info.value)
    assert "not a PyTorch file" not in str(info.value)
    assert "this code ran" not in capsys.readouterr().out and list(tmp_path.iterdir()) == []


def test_the_converter_holds_a_file_to_its_entry(tmp_path):
    """A full-width ResNet-34 is not the pruned ResNet-34-B of its entry; a file given by hand must match a hash
    the entry knows; the entry's accuracy is recorded as published, not as measured."""
    torch.manual_seed(0)
    full = build_model("resnet34_narrow", 10, 3)
    torch.save(full.state_dict(), tmp_path / "full.pth")
    b = {"name": "b", "arch": "resnet34_narrow", "dataset": "fashion-mnist-jpeg", "method": "l1-norm",
         "arm": "finetune", "variant": "B", "top1": 72.29, "url": "https://drive.google.com/x", "manual": True}
    with pytest.raises(UserError, match=r"holds resnet34_narrow with widths \[16, 16, .*not those of b"):
        fetch("b", tmp_path / "out", {"b": b}, file=tmp_path / "full.pth")
    assert not (tmp_path / "out").exists()
    pretrained = {"name": "p", "arch": "resnet34_narrow", "dataset": "fashion-mnist-jpeg", "top1": 70.0,
                  "url": "https://x/p.pth", "sha256": hashlib.sha256(b"another file").hexdigest()}
    with pytest.raises(UserError, match="full.pth does not match the sha256 of https://x/p.pth"):
        fetch("p", tmp_path / "out", {"p": pretrained}, file=tmp_path / "full.pth")
    pretrained["sha256"] = hashlib.sha256((tmp_path / "full.pth").read_bytes()).hexdigest()
    ckpt = load_checkpoint(fetch("p", tmp_path / "out", {"p": pretrained}, file=tmp_path / "full.pth"))
    assert ckpt["meta"]["published_top1"] == 70.0 and "top1" not in ckpt["meta"] and ckpt["best_acc"] is None


@pytest.mark.skipif(not __import__("helpers").HAVE_FASHION, reason="Fashion-MNIST not installed")
def test_an_imagenet_checkpoint_is_smoke_tested_offline(tmp_path):
    """A 1000-class image folder of real images (make_image_folder.py --imagenet-classes) passes the imagenet
    dataset's check, and evaluate.py runs torchvision's ResNet-18 layout on it: top-1/top-5, loss, counts."""
    from common.checkpoint import make_checkpoint, save_checkpoint

    made = run_entry("scripts/make_image_folder.py", "--out", tmp_path / "in1k", "--imagenet-classes",
                     "--train-per-class", "1", "--val-per-class", "1")
    assert made.returncode == 0, made.stderr
    assert len(list((tmp_path / "in1k" / "val").iterdir())) == 1000
    torch.manual_seed(0)
    save_checkpoint(make_checkpoint(build_model("resnet18", 1000, 3), "imagenet", "pretrained", "baseline"),
                    tmp_path / "r18.pt")
    proc = run_entry("scripts/evaluate.py", "--checkpoint", tmp_path / "r18.pt", "--data-dir", tmp_path / "in1k",
                     "--test-subset", "100", "--image-size", "32", "--workers", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    assert figures["images"] == 100 and 0 <= figures["top1"] <= figures["top5"] <= 100
    assert figures["params"] == 11_689_512 and figures["loss"] > 0
    assert_one_line_error(run_entry("scripts/evaluate.py", "--checkpoint", tmp_path / "r18.pt", "--dataset",
                                    "fashion-mnist"), "classifies 1000 classes of 3-channel images")


# ----------------------------------------------------------------------------- Google Drive through gdown

def test_drive_entries_come_through_gdown_hash_checked_and_a_web_page_is_refused(server, tmp_path, capsys):
    """gdown fetching from a loopback server standing in for Drive: with the entry's sha256 checked, without one the
    hash printed to record; Drive's HTML answer (quota, permission) one line, nothing kept; an MXNet entry refused."""
    pytest.importorskip("gdown")
    torch.manual_seed(0)
    data = state_bytes(build_model("resnet20", 10, 3).state_dict())
    server.files["/r20.pth"] = data
    server.files["/quota"] = b"<!DOCTYPE html><html><body>Too many users have viewed or downloaded this file</body>"
    drive = {"name": "r20", "arch": "resnet20", "dataset": "cifar10", "url": server.url + "/r20.pth", "manual": True}
    ckpt = load_checkpoint(fetch("r20", tmp_path / "a", {"r20": {**drive, "sha256": hashlib.sha256(data).hexdigest()}}))
    assert ckpt["arch"] == "resnet20" and sorted(p.name for p in (tmp_path / "a").iterdir()) == ["r20.pt"]
    fetch("r20", tmp_path / "b", {"r20": drive})
    assert f"sha256 of r20: {hashlib.sha256(data).hexdigest()}" in capsys.readouterr().out
    with pytest.raises(UserError, match="does not match its sha256"):
        fetch("r20", tmp_path / "c", {"r20": {**drive, "sha256": "0" * 64}})
    with pytest.raises(UserError, match="answered .*/quota with a web page, not the file .* nothing was kept"):
        fetch("q", tmp_path / "d", {"q": {**drive, "name": "q", "url": server.url + "/quota"}})
    assert not (tmp_path / "c").exists() and not (tmp_path / "d").exists()
    with pytest.raises(UserError, match="is an MXNET file, which this code does not convert"):
        fetch("m", tmp_path / "e", {"m": {**drive, "name": "m", "format": "mxnet"}})
