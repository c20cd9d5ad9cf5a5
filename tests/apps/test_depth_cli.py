"""``refocus depth`` and ``refocus models`` handlers (wired through a local argparse)."""

import argparse
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import conftest_depth as h

from deocused.depth import add_cli, add_model_arguments
from deocused.errors import InputError


def _run(*argv):
    p = argparse.ArgumentParser(prog="refocus")
    add_cli(p.add_subparsers(dest="command"))
    args = p.parse_args(list(argv))
    return args.func(args)


def _photo(path: Path, h_=36, w=52):
    img = (np.random.default_rng(4).random((h_, w, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(path), img)
    return path


def test_model_arguments():
    p = argparse.ArgumentParser()
    add_model_arguments(p)
    a = p.parse_args(["--model", "midas-v21-small", "--model-path", "x.pb"])
    assert (a.model, a.model_path) == ("midas-v21-small", "x.pb")
    assert (lambda b: (b.model, b.model_path))(p.parse_args([])) == (None, None)


def test_models_list_and_path(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("DEOCUSED_CACHE_DIR", str(tmp_path))
    assert _run("models", "list") == 0
    out = capsys.readouterr().out
    assert "midas-v21-small-tflite" in out and "not downloaded" in out
    assert _run("models", "path", "midas-v21-large") == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "models" / "midas-v21-large" / "model-f6b98070.pb")
    with pytest.raises(InputError, match="unknown model"):
        _run("models", "path", "nope")


def test_models_fetch_offline(tmp_path, monkeypatch):
    import json

    port = h.free_port()
    (tmp_path / "m.json").write_text(json.dumps({"name": "m", "format": "tflite", "filename": "m.tflite",
                                                 "urls": [f"http://127.0.0.1:{port}/m.tflite"]}))
    monkeypatch.setenv("DEOCUSED_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("DEOCUSED_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(InputError, match=f"127.0.0.1:{port}/m.tflite.*--model-path"):
        _run("models", "fetch", "m")


@pytest.mark.slow
def test_depth_command_writes_16bit_png(tmp_path):
    src = _photo(tmp_path / "photo.jpg")
    out = tmp_path / "d.png"
    assert _run("depth", str(src), "--model-path", str(h.tflite_file()), "-o", str(out)) == 0
    d = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert d.dtype == np.uint16 and d.shape == (36, 52)
    assert d.min() == 0 and d.max() == 65535
    # existing output needs --overwrite
    with pytest.raises(InputError, match="already exists"):
        _run("depth", str(src), "--model-path", str(h.tflite_file()), "-o", str(out))
    # default output is the sidecar that 'render' picks up
    assert _run("depth", str(src), "--model-path", str(h.tflite_file())) == 0
    from deocused.io.depthmap import find_sidecar

    assert find_sidecar(src) == tmp_path / "photo.depth.png"


def test_depth_command_never_overwrites_input(tmp_path):
    src = _photo(tmp_path / "photo.png")
    with pytest.raises(InputError, match="input image"):
        _run("depth", str(src), "--model-path", str(h.tflite_file()), "-o", str(src), "--overwrite")
    with pytest.raises(InputError, match=r"\.png"):
        _run("depth", str(src), "--model-path", str(h.tflite_file()), "-o", str(tmp_path / "d.jpg"))
    with pytest.raises(InputError, match="no such file"):
        _run("depth", str(tmp_path / "missing.jpg"), "--model-path", str(h.tflite_file()),
             "-o", str(tmp_path / "o.png"))
