"""Paths, videos and model files: folders, FIFOs, devices, missing and over-long
names, outputs whose parent is a file or that are an input, existing outputs
without --overwrite, garbage or truncated videos and models. Same rule as the
other malformed suites (:mod:`malformed`)."""

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import malformed as m

NAME_MAX = os.pathconf("/tmp", "PC_NAME_MAX")
PATH_MAX = os.pathconf("/tmp", "PC_PATH_MAX")


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "in" / "photo.png").write_bytes(m.encode("png", m.test_rgb()))
    np.save(tmp_path / "in" / "d.npy", np.tile(np.linspace(0, 1, m.W, dtype=np.float32), (m.H, 1)))
    os.mkfifo(tmp_path / "in" / "fifo")
    (tmp_path / "in" / "folder").mkdir()
    return tmp_path


def _snap(ws, *files):
    return m.Snapshot([ws / "in", ws / "out"], [ws / "in" / "photo.png", ws / "in" / "d.npy", *files])


def bad_input_path(ws, kind) -> tuple[Path | str, str]:
    """(path, what the error line must name) for a kind of bad input path."""
    return {
        "missing": (ws / "in" / "nope.png", "no such file"),
        "folder": (ws / "in" / "folder", "folder"),
        "fifo": (ws / "in" / "fifo", "FIFO"),
        "device": ("/dev/zero", "device"),
        "long_name": (ws / "in" / ("n" * (NAME_MAX + 1) + ".png"), "too long"),
        "long_path": (ws / "in" / "/".join(["d" * 200] * (PATH_MAX // 200 + 2)), "too long"),
        "parent_is_file": (ws / "in" / "photo.png" / "x.png", "no such file"),
        "empty": (ws / "in" / "empty.png", "empty"),
    }[kind]


INPUT_KINDS = ["missing", "folder", "fifo", "device", "long_name", "long_path", "parent_is_file", "empty"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_bad_image_path(ws, kind):
    path, why = bad_input_path(ws, kind)
    (ws / "in" / "empty.png").touch()
    snap = _snap(ws)
    res = m.run_cli("render", path, "--depth", ws / "in" / "d.npy", "-o", ws / "out" / "o.png", "--device", "cpu")
    m.expect_refused(res, snap, mention=why)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_bad_depth_path(ws, kind):
    path, why = bad_input_path(ws, kind)
    (ws / "in" / "empty.png").touch()
    snap = _snap(ws)
    res = m.run_cli("render", ws / "in" / "photo.png", "--depth", path, "-o", ws / "out" / "o.png", "--device", "cpu")
    m.expect_refused(res, snap, mention=why)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["missing", "fifo", "device", "long_name"])
def test_bad_model_path(ws, kind):
    path, why = bad_input_path(ws, kind)
    why = "no such" if kind == "missing" else why
    snap = _snap(ws)
    res = m.run_cli("render", ws / "in" / "photo.png", "--model-path", path, "-o", ws / "out" / "o.png",
                    "--device", "cpu")
    m.expect_refused(res, snap, mention=why)


@pytest.mark.slow
def test_fifo_inputs_do_not_hang_a_real_process(ws):
    for args in (["render", ws / "in" / "fifo"], ["render", ws / "in" / "photo.png", "--depth", ws / "in" / "fifo"],
                 ["depth", ws / "in" / "fifo"]):
        res = m.run_subprocess(*args, "-o", ws / "out" / "o.png", timeout=60)
        m.expect_refused(res, mention="FIFO")
    assert os.listdir(ws / "out") == []


# -- outputs ----------------------------------------------------------------------------------

def bad_output(ws, kind) -> tuple[Path, list, str]:
    """(output path, extra flags, what the error line must name)."""
    i = ws / "in"
    (ws / "out" / "exists.png").write_bytes(b"precious")
    return {
        "folder": (ws / "out", [], "folder"),
        "fifo": (i / "fifo", ["--overwrite"], "FIFO"),
        "device": (Path("/dev/null"), ["--overwrite"], "device"),
        "parent_is_file": (i / "photo.png" / "o.png", [], "not a folder"),
        "grandparent_is_file": (i / "photo.png" / "sub" / "o.png", [], "not a folder"),
        "missing_folder": (ws / "nope" / "o.png", [], "does not exist"),
        "long_name": (ws / "out" / ("o" * (NAME_MAX + 1) + ".png"), [], "too long"),
        "long_path": (ws / "out" / "/".join(["d" * 200] * (PATH_MAX // 200 + 2)), [], "too long"),
        "is_image": (i / "photo.png", ["--overwrite"], "input"),
        "is_depth": (i / "d.npy", ["--overwrite"], "input"),
        "exists": (ws / "out" / "exists.png", [], "already exists"),
        "ext_xyz": (ws / "out" / "o.xyz", [], ".xyz"),
        "ext_npy": (ws / "out" / "o.npy", [], ".npy"),
        "ext_exr": (ws / "out" / "o.exr", [], ".exr"),
        "ext_txt": (ws / "out" / "o.txt", [], ".txt"),
    }[kind]


OUTPUT_KINDS = ["folder", "fifo", "device", "parent_is_file", "grandparent_is_file", "missing_folder", "long_name",
                "long_path", "is_image", "is_depth", "exists", "ext_xyz", "ext_npy", "ext_exr", "ext_txt"]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", OUTPUT_KINDS)
def test_bad_output_path(ws, kind):
    out, extra, why = bad_output(ws, kind)
    snap = _snap(ws, ws / "out" / "exists.png")
    res = m.run_cli("render", ws / "in" / "photo.png", "--depth", ws / "in" / "d.npy", "-o", out, "--device", "cpu",
                    *extra)
    m.expect_refused(res, snap, mention=why)


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_output_linked_to_an_input_is_refused(ws, link):
    out = ws / "out" / "o.png"
    (os.symlink if link == "symlink" else os.link)(ws / "in" / "photo.png", out)
    snap = _snap(ws)
    res = m.run_cli("render", ws / "in" / "photo.png", "--depth", ws / "in" / "d.npy", "-o", out, "--overwrite",
                    "--device", "cpu")
    m.expect_refused(res, snap, mention="input")


def test_existing_output_is_replaced_only_with_overwrite(ws):
    out = ws / "out" / "o.png"
    out.write_bytes(b"old")
    args = ["render", ws / "in" / "photo.png", "--depth", ws / "in" / "d.npy", "-o", out, "--device", "cpu"]
    m.expect_refused(m.run_cli(*args), _snap(ws, out), mention="already exists")
    m.expect_ok(m.run_cli(*args, "--overwrite"), out)


def test_output_without_extension_is_png(ws):
    out = ws / "out" / "plain"
    m.expect_ok(m.run_cli("render", ws / "in" / "photo.png", "--depth", ws / "in" / "d.npy", "-o", out,
                          "--device", "cpu"), out)
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_default_output_name_too_long_is_refused(ws):
    img = ws / "in" / ("p" * (NAME_MAX - 8) + ".png")
    img.write_bytes((ws / "in" / "photo.png").read_bytes())
    snap = _snap(ws, img)
    res = m.run_cli("render", img, "--depth", ws / "in" / "d.npy", "--device", "cpu")
    m.expect_refused(res, snap, mention="too long")


@pytest.mark.slow
def test_file_names_that_are_not_utf8(ws):
    """Names are bytes on Linux: one that is not UTF-8 works, and shows up
    escaped in messages (a real process: its stdout is a real encoder)."""
    img = ws / "in" / os.fsdecode(b"ph\xffoto.png")
    img.write_bytes((ws / "in" / "photo.png").read_bytes())
    out = ws / "out" / os.fsdecode(b"\xfe.png")
    res = m.run_subprocess("render", img, "--depth", ws / "in" / "d.npy", "-o", out, "--device", "cpu")
    m.expect_ok(res, out)
    res = m.run_subprocess("render", img, "--depth", ws / "in" / "d.npy", "-o", out, "--device", "cpu")
    m.expect_refused(res, mention="already exists")
    video = m.write_video(ws / "in" / "v.avi")
    odd = video.rename(ws / "in" / os.fsdecode(b"v\xff.avi"))
    for args in (["--video", odd, "-o", ws / "out" / "o.avi"],
                 ["--video", ws / "in" / "photo.png", "-o", out.with_suffix(".avi")]):
        res = m.run_subprocess("live", "--headless", *args, "--device", "cpu")
        m.expect_refused(res, mention="UTF-8")


@pytest.mark.slow
def test_output_parent_is_a_file_in_a_real_process(ws):
    res = m.run_subprocess("render", ws / "in" / "photo.png", "--depth", ws / "in" / "d.npy",
                           "-o", ws / "in" / "photo.png" / "o.png")
    m.expect_refused(res, mention="not a folder")


@pytest.mark.parametrize("kind", ["not_png", "exists", "is_image", "parent_is_file", "folder"])
def test_depth_subcommand_refuses_bad_outputs_before_the_model(ws, kind):
    i = ws / "in"
    (ws / "out" / "exists.png").write_bytes(b"old")
    out, why = {"not_png": (ws / "out" / "d.jpg", ".png"), "exists": (ws / "out" / "exists.png", "already exists"),
                "is_image": (i / "photo.png", "input"), "parent_is_file": (i / "photo.png" / "d.png", "not a folder"),
                "folder": (i / "folder", "folder")}[kind]
    snap = _snap(ws, ws / "out" / "exists.png")
    res = m.run_cli("depth", i / "photo.png", "-o", out, *(["--overwrite"] if kind == "is_image" else []))
    m.expect_refused(res, snap, mention=why)


def test_view_without_display_is_one_line(ws, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    res = m.run_cli("view", ws / "in" / "photo.png", "--depth", ws / "in" / "d.npy")
    m.expect_refused(res, mention="display")


# -- videos -------------------------------------------------------------------------------------

def live(ws, video, *extra):
    out = ws / "out" / "o.avi"
    return m.run_cli("live", "--headless", "--video", video, "-o", out, "--device", "cpu", *extra)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["garbage", "empty", "text", "fifo", "folder", "missing", "long_name"])
def test_bad_video_is_refused_before_the_model(ws, kind):
    i = ws / "in"
    paths = {"garbage": i / "g.avi", "empty": i / "e.avi", "text": i / "t.mp4"}
    (i / "g.avi").write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)))
    (i / "e.avi").write_bytes(b"")
    (i / "t.mp4").write_text("not a video\n")
    video = paths.get(kind) or bad_input_path(ws, kind)[0]
    snap = _snap(ws, video if os.path.isfile(video) else ws / "in" / "d.npy")
    res = live(ws, video)
    m.expect_refused(res, snap)
    assert Path(video).name[:20] in res.error_lines[0]


@pytest.mark.parametrize("flag", ["-o", "--record"])
@pytest.mark.parametrize("kind", ["folder", "fifo", "parent_is_file", "missing_folder", "long_name", "is_video",
                                  "exists"])
def test_bad_live_output_is_refused_before_the_source_opens(ws, kind, flag):
    video = m.write_video(ws / "in" / "v.avi")
    (ws / "out" / "exists.avi").write_bytes(b"old")
    out, extra, why = {
        "folder": (ws / "out", ["--overwrite"], "folder"),
        "fifo": (ws / "in" / "fifo", ["--overwrite"], "FIFO"),
        "parent_is_file": (video / "o.avi", [], "not a folder"),
        "missing_folder": (ws / "nope" / "o.avi", [], "does not exist"),
        "long_name": (ws / "out" / ("o" * (NAME_MAX + 1) + ".avi"), [], "too long"),
        "is_video": (video, ["--overwrite"], "input"),
        "exists": (ws / "out" / "exists.avi", [], "already exists"),
    }[kind]
    snap = _snap(ws, video, ws / "out" / "exists.avi")
    args = ["-o", out] if flag == "-o" else ["-o", ws / "out" / "main.avi", "--record", out]
    res = m.run_cli("live", "--headless", "--video", video, *args, "--device", "cpu", *extra)
    m.expect_refused(res, snap, mention=why)


@pytest.mark.parametrize("frac", [0.01, 0.05, 0.2, 0.5, 0.9])
def test_truncated_video_is_refused_or_opens(ws, frac):
    """A truncated video either cannot be opened (one error line, before the
    model loads) or gives its first frame at the right size."""
    from deocused.errors import InputError
    from deocused.live.capture import SourceSpec, open_source

    data = m.write_video(ws / "in" / "v.avi").read_bytes()
    v = ws / "in" / "cut.avi"
    v.write_bytes(data[: int(len(data) * frac)])
    try:
        cap, first, _ = open_source(SourceSpec("video", str(v)))
    except InputError as e:
        assert "cut.avi" in str(e) and "\n" not in str(e)
        snap = _snap(ws, v)
        m.expect_refused(live(ws, v), snap, mention="cut.avi")
    else:
        cap.release()
        assert first.shape == (m.H, m.W, 3)


@pytest.mark.parametrize("camera", ["97", "-1"])
def test_missing_camera_is_one_line(ws, camera):
    if camera == "97" and os.path.exists("/dev/video97"):
        pytest.skip("/dev/video97 exists here")
    res = m.run_cli("live", "--headless", "--camera", camera, "-o", ws / "out" / "o.avi", "--device", "cpu",
                    "--reconnect-attempts", "0")
    m.expect_refused(res, _snap(ws), mention="camera")


# -- model files ----------------------------------------------------------------------------------

def model_file(ws, fmt, kind) -> Path:
    p = ws / "in" / f"m-{kind}.{fmt}"
    if kind == "garbage":
        p.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8)))
    elif kind == "text":
        p.write_text("this is not a model\n" * 10)
    elif kind == "tiny":
        p.write_bytes(b"\0\0\0")
    elif kind == "truncated_zip":  # a .keras file is a zip archive
        z = ws / "in" / "full.zip"
        with zipfile.ZipFile(z, "w") as f:
            f.writestr("config.json", '{"class_name": "Functional", "config": {}}' + " " * 4000)
            f.writestr("model.weights.h5", bytes(5000))
        p.write_bytes(z.read_bytes()[:3000])
    return p


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["garbage", "text", "tiny", "truncated_zip"])
@pytest.mark.parametrize("fmt", ["tflite", "keras", "pb"])
def test_bad_model_file_is_one_line_input_error(ws, fmt, kind):
    """The loaders as the depth worker calls them (in this process: one TensorFlow import for all cases)."""
    pytest.importorskip("tensorflow")
    from deocused.depth import loaders
    from deocused.depth.registry import ModelSpec
    from deocused.errors import InputError

    p = model_file(ws, fmt, kind)
    with pytest.raises(InputError) as ei:
        loaders.load(p, ModelSpec(name="t", format=fmt))
    assert p.name in str(ei.value) and "\n" not in str(ei.value)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bad_model_file_through_the_worker(ws):
    """One case end to end (each costs a worker start with TensorFlow)."""
    pytest.importorskip("tensorflow")
    p = model_file(ws, "tflite", "garbage")
    snap = _snap(ws, p)
    res = m.run_cli("render", ws / "in" / "photo.png", "--model-path", p, "-o", ws / "out" / "o.png", "--device", "cpu")
    m.expect_refused(res, snap, mention=p.name)
