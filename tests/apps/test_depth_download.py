"""Registry manifests and model downloads (local http.server only, no network)."""

import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest
from helpers.conftest_depth import free_port

from deocused.depth import download, registry
from deocused.depth.registry import ModelSpec
from deocused.errors import InputError

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path == "/model.bin":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD)
        elif self.path == "/truncated.bin":  # promises 1 MiB, sends half, closes
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404)


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEOCUSED_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "models"


def _spec(url, sha=None, name="tiny"):
    return ModelSpec(name=name, format="tflite", filename="model.tflite", urls=(url,), sha256=sha)


def _leftovers(folder: Path):
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")] if folder.exists() else []


# ------------------------------------------------------------------ registry

def test_repo_manifests_load_and_match_midas_sources():
    specs = {s.name: s for s in registry.list_models()}
    assert {"midas-v21-small", "midas-v21-small-tflite", "midas-v21-large"} <= set(specs)
    small, lite, large = specs["midas-v21-small"], specs["midas-v21-small-tflite"], specs["midas-v21-large"]
    assert small.urls == ("https://github.com/isl-org/MiDaS/releases/download/v2_1/model-small.pb",)
    assert small.layout == "NCHW" and small.input_size == (256, 256) and small.input_name == "0:0"
    assert small.mean is None  # normalisation is inside the graph
    assert lite.urls == ("https://github.com/isl-org/MiDaS/releases/download/v2_1/model_opt.tflite",)
    assert lite.layout == "NHWC" and lite.input_size == (256, 256)
    assert lite.mean == (0.485, 0.456, 0.406) and lite.std == (0.229, 0.224, 0.225)
    assert large.filename == "model-f6b98070.pb" and large.input_size == (384, 384)
    assert all(s.license == "MIT" and s.output == "inverse_depth" for s in (small, lite, large))
    assert registry.DEFAULT_MODEL in specs


def test_unknown_model_names_known_ones():
    with pytest.raises(InputError, match="unknown model 'nope'.*midas-v21-small"):
        registry.get_model("nope")


def test_malformed_manifest_refused(tmp_path, monkeypatch):
    (tmp_path / "bad.json").write_text(json.dumps({"name": "bad", "format": "onnx"}))
    monkeypatch.setenv("DEOCUSED_MODELS_DIR", str(tmp_path))
    with pytest.raises(InputError, match="format 'onnx'"):
        registry.list_models()


def test_spec_for_file_defaults_and_manifest_match(tmp_path):
    f = tmp_path / "mine.tflite"
    f.write_bytes(b"x")
    s = registry.spec_for_file(f)
    assert (s.layout, s.input_range, s.mean, s.input_size, s.output) == ("NHWC", (0.0, 1.0), None, None, "inverse_depth")
    g = tmp_path / "model-small.pb"  # hand-downloaded official file: uses its manifest
    g.write_bytes(b"x")
    assert registry.spec_for_file(g).name == "midas-v21-small"
    with pytest.raises(InputError, match="unknown model format"):
        registry.spec_for_file(tmp_path / "x.onnx")


# ------------------------------------------------------------------ downloads

def test_download_success_pinned(server, cache):
    spec = _spec(f"{server}/model.bin", SHA)
    p = download.fetch(spec, progress=False)
    assert p == download.cached_path(spec) and p.read_bytes() == PAYLOAD
    assert not _leftovers(p.parent)
    assert download.fetch(spec, progress=False) == p  # cached: no second download


def test_download_records_hash_then_verifies(server, cache):
    spec = _spec(f"{server}/model.bin", None)
    p = download.fetch(spec, progress=False)
    rec = p.with_name(p.name + ".sha256")
    assert rec.read_text().split()[0] == SHA
    p.write_bytes(PAYLOAD[:-1] + b"\x00")  # corrupted afterwards
    with pytest.raises(InputError, match="does not match"):
        download.fetch(spec, progress=False)


def test_checksum_mismatch_refused(server, cache):
    spec = _spec(f"{server}/model.bin", "0" * 64)
    with pytest.raises(InputError, match="sha256.*refused"):
        download.fetch(spec, progress=False)
    dest = download.cached_path(spec)
    assert not dest.exists() and not _leftovers(dest.parent)


def test_truncated_download_refused(server, cache):
    spec = _spec(f"{server}/truncated.bin", None)
    with pytest.raises(InputError, match="cut off"):
        download.fetch(spec, progress=False)
    dest = download.cached_path(spec)
    assert not dest.exists() and not _leftovers(dest.parent)
    assert not dest.with_name(dest.name + ".sha256").exists()


def test_hand_placed_file_in_cache_is_checked_against_pin(cache):
    spec = _spec("http://127.0.0.1:9/none", SHA)
    dest = download.cached_path(spec)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"something else")
    with pytest.raises(InputError, match="does not match"):
        download.fetch(spec, progress=False)


def test_offline_message_names_url_and_manual_placement(cache):
    url = f"http://127.0.0.1:{free_port()}/model_opt.tflite"
    spec = _spec(url)
    with pytest.raises(InputError) as ei:
        download.fetch(spec, progress=False)
    msg = str(ei.value)
    assert url in msg and "--model-path" in msg and str(download.cached_path(spec)) in msg
    assert "\n" not in msg


def test_http_404_is_clear(server, cache):
    with pytest.raises(InputError, match="HTTP 404"):
        download.fetch(_spec(f"{server}/missing.bin"), progress=False)


def test_resolve_model_path_with_pinned_manifest_checks_hash(tmp_path, monkeypatch):
    (tmp_path / "m.json").write_text(json.dumps({"name": "m", "format": "tflite", "filename": "m.tflite",
                                                 "sha256": "1" * 64}))
    monkeypatch.setenv("DEOCUSED_MODELS_DIR", str(tmp_path))
    f = tmp_path / "m.tflite"
    f.write_bytes(b"abc")
    with pytest.raises(InputError, match="does not match"):
        download.resolve("m", f)
    with pytest.raises(InputError, match="no such model file"):
        download.resolve(None, tmp_path / "absent.tflite")
