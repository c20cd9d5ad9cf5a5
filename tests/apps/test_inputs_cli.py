"""Reading photos and depth maps, and the ``refocus render`` command line."""

import hashlib
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from deocused.cli import main
from deocused.errors import InputError
from deocused.io.depthmap import fill_holes, find_sidecar, load_disparity, save_disparity_png, to_disparity
from deocused.io.images import load_image
from deocused.render.optics import coc_radius, focus_disparity_at


def write_png(path, rgb8):
    cv2.imwrite(str(path), np.ascontiguousarray(rgb8[:, :, ::-1]))


@pytest.fixture
def scene(tmp_path):
    rng = np.random.default_rng(0)
    img = (rng.random((48, 64, 3)) * 255).astype(np.uint8)
    img[:, :, 0] = 200  # red channel constant: catches BGR/RGB swaps
    path = tmp_path / "photo.png"
    write_png(path, img)
    disp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (48, 1))
    dpath = tmp_path / "photo.depth.png"
    save_disparity_png(dpath, disp)
    return path, dpath, img, disp


def digest(p):
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


# -- images --------------------------------------------------------------------------

def test_load_image_is_rgb_unit_float(scene):
    path, _, img, _ = scene
    got = load_image(path)
    assert got.dtype == np.float32 and got.shape == (48, 64, 3)
    assert np.allclose(got * 255, img, atol=1e-3)
    assert np.allclose(got[:, :, 0], 200 / 255)


def test_load_16bit_gray_and_rgba(tmp_path):
    g16 = (np.arange(20 * 30).reshape(20, 30) * 100).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "g.png"), g16)
    got = load_image(tmp_path / "g.png")
    assert got.shape == (20, 30, 3) and np.allclose(got[:, :, 1], g16 / 65535.0, atol=1e-6)
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[:, :, 2] = 255  # red in BGRA
    rgba[:, :6, 3] = 255  # left half opaque, right half transparent -> white
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    got = load_image(tmp_path / "a.png")
    assert np.allclose(got[:, :6], [1, 0, 0]) and np.allclose(got[:, 6:], [1, 1, 1])


def test_exif_orientation_is_applied(tmp_path):
    from PIL import Image

    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :10] = 255  # white band on the left of the stored pixels
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    im.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    got = load_image(tmp_path / "rot.jpg")
    assert got.shape == (40, 20, 3)  # portrait after rotation
    assert got[:10].mean() > 0.8 and got[-10:].mean() < 0.2  # the band is now on top


@pytest.mark.parametrize("maker,message", [
    (lambda p: None, "no such file"),
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("hello, I am not an image"), "not a readable image"),
])
def test_bad_image_files_give_clear_errors(tmp_path, maker, message):
    p = tmp_path / "bad.jpg"
    maker(p)
    with pytest.raises(InputError, match=message):
        load_image(p)


def test_truncated_jpeg_and_png_are_refused(tmp_path):
    rng = np.random.default_rng(1)
    img = (rng.random((64, 64, 3)) * 255).astype(np.uint8)
    for ext in (".jpg", ".png"):
        ok, enc = cv2.imencode(ext, img)
        p = tmp_path / f"t{ext}"
        p.write_bytes(enc.tobytes()[: len(enc) // 2])
        with pytest.raises(InputError, match="truncated"):
            load_image(p)


# -- depth -----------------------------------------------------------------------------

def test_depth_formats_round_trip(tmp_path):
    d = np.tile(np.linspace(0.0, 1.0, 50, dtype=np.float32), (30, 1))
    save_disparity_png(tmp_path / "d16.png", d)
    cv2.imwrite(str(tmp_path / "d8.png"), np.rint(d * 255).astype(np.uint8))
    np.save(tmp_path / "d.npy", d * 7 + 3)  # any scale: min-max normalised
    import OpenEXR

    with OpenEXR.File({"type": OpenEXR.scanlineimage}, {"Z": d * 2}) as f:
        f.write(str(tmp_path / "d.exr"))
    assert np.abs(load_disparity(tmp_path / "d16.png") - d).max() < 2e-5
    assert np.abs(load_disparity(tmp_path / "d8.png") - d).max() < 3e-3
    assert np.abs(load_disparity(tmp_path / "d.npy") - d).max() < 1e-5
    assert np.abs(load_disparity(tmp_path / "d.exr") - d).max() < 1e-5


def test_metric_depth_is_inverted():
    z = np.array([[1.0, 2.0, 4.0]], np.float32)
    d = to_disparity(z, "depth")
    # 1/z = 1, .5, .25 -> normalised (x - .25) / .75
    assert np.allclose(d, [[1.0, 1 / 3, 0.0]])


def test_nan_holes_are_filled_from_the_farther_neighbour(caplog):
    d = np.array([[0.2, 0.2, np.nan, np.nan, 0.9, 0.9]], np.float32)
    filled = fill_holes(d, ~np.isfinite(d))
    assert np.allclose(filled, [[0.2, 0.2, 0.2, 0.2, 0.9, 0.9]])
    out = to_disparity(np.array([[1.0, np.inf], [np.nan, 3.0]], np.float32))
    assert np.isfinite(out).all()
    assert "non-finite" in caplog.text
    with pytest.raises(InputError, match="no valid"):
        to_disparity(np.full((3, 3), np.nan, np.float32))


def test_sidecar_is_found(scene):
    path, dpath, _, _ = scene
    assert find_sidecar(path) == dpath


def test_focus_is_the_median_of_a_window():
    d = np.zeros((20, 20), np.float32)
    d[:, 10:] = 1.0
    assert focus_disparity_at(d, 15, 5) == 1.0
    d[5, 15] = 0.0  # one outlier under the click does not move the focus
    assert focus_disparity_at(d, 15, 5) == 1.0
    with pytest.raises(InputError, match="outside"):
        focus_disparity_at(d, 25, 5)


def test_coc_radius_is_linear_in_disparity_difference():
    d = np.linspace(0, 1, 11, dtype=np.float32)
    assert np.allclose(coc_radius(d, 0.3, 20.0), 20.0 * np.abs(d - 0.3))
    assert np.allclose(coc_radius(d, 0.5, 10.0, dof=0.2), 10.0 * np.maximum(np.abs(d - 0.5) - 0.2, 0))


# -- command line ------------------------------------------------------------------

def test_render_writes_same_size_srgb_output(scene, tmp_path, capsys):
    path, _, img, _ = scene
    out = tmp_path / "out.png"
    assert main(["render", str(path), "--focus", "10,10", "-K", "8", "-o", str(out), "--device", "cpu"]) == 0
    res = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert res.shape == img.shape and res.dtype == np.uint8
    # The focused column (disparity gradient along x) is unchanged; far columns blur.
    diff = np.abs(res[:, :, ::-1].astype(int) - img.astype(int))
    assert diff[:, 10].max() <= 1
    assert diff[:, 50:].mean() > 10
    assert "wrote" in capsys.readouterr().out


def test_render_default_output_never_overwrites(scene):
    path, _, _, _ = scene
    before = digest(path)
    for _ in range(2):
        assert main(["render", str(path), "-K", "4", "--device", "cpu"]) == 0
    assert (path.parent / "photo.refocus.png").exists() and (path.parent / "photo.refocus-1.png").exists()
    assert digest(path) == before


def test_render_refuses_to_overwrite_inputs(scene, capsys):
    path, dpath, _, _ = scene
    before, dbefore = digest(path), digest(dpath)
    assert main(["render", str(path), "-o", str(path), "--overwrite", "--device", "cpu"]) != 0
    assert main(["render", str(path), "-o", str(dpath), "--overwrite", "--device", "cpu"]) != 0
    assert digest(path) == before and digest(dpath) == dbefore
    err = capsys.readouterr().err
    assert "refusing to overwrite an input" in err


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "deocused.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing", "truncated", "empty", "nan_depth", "wrong_size_depth", "not_image",
                                  "bad_focus", "gpu_without_gpu"])
def test_bad_inputs_give_one_line_error_and_nonzero_exit(scene, tmp_path, case):
    path, _, img, _ = scene
    args = ["render", str(path), "-o", str(tmp_path / "o.png")]
    if case == "missing":
        args[1] = str(tmp_path / "nope.jpg")
    elif case == "truncated":
        ok, enc = cv2.imencode(".jpg", img)
        (tmp_path / "t.jpg").write_bytes(enc.tobytes()[:300])
        args[1] = str(tmp_path / "t.jpg")
    elif case == "empty":
        (tmp_path / "e.png").write_bytes(b"")
        args[1] = str(tmp_path / "e.png")
    elif case == "nan_depth":
        np.save(tmp_path / "n.npy", np.full((48, 64), np.nan, np.float32))
        args += ["--depth", str(tmp_path / "n.npy")]
    elif case == "wrong_size_depth":
        np.save(tmp_path / "w.npy", np.ones((64, 64), np.float32))
        args += ["--depth", str(tmp_path / "w.npy")]
    elif case == "not_image":
        (tmp_path / "x.png").write_text("#!/bin/sh\necho hi\n")
        args[1] = str(tmp_path / "x.png")
    elif case == "bad_focus":
        args += ["--focus", "1000,5"]
    elif case == "gpu_without_gpu":
        from deocused.render.backends import gpu_available

        if gpu_available()[0]:
            pytest.skip("a GPU is present")
        args += ["--device", "gpu"]
    res = run_cli(*args)
    assert res.returncode != 0
    lines = [line for line in res.stderr.splitlines() if line.startswith("refocus: error:")]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_partial_nan_and_resized_depth_warn_but_work(scene, tmp_path):
    path, _, _, disp = scene
    d = disp.copy()
    d[10:20, 10:20] = np.nan
    np.save(tmp_path / "holes.npy", d)
    res = run_cli("render", str(path), "--depth", str(tmp_path / "holes.npy"), "-o", str(tmp_path / "a.png"),
                  "--device", "cpu")
    assert res.returncode == 0 and "non-finite values" in res.stderr
    np.save(tmp_path / "half.npy", cv2.resize(disp, (32, 24)))
    res = run_cli("render", str(path), "--depth", str(tmp_path / "half.npy"), "-o", str(tmp_path / "b.png"),
                  "--device", "cpu")
    assert res.returncode == 0 and "resized" in res.stderr


def test_sample_motorcycle_renders_offline(tmp_path):
    out = tmp_path / "m.png"
    assert main(["render", "--sample", "motorcycle", "--focus", "300,250", "-o", str(out), "--device", "cpu"]) == 0
    res = cv2.imread(str(out))
    assert res.shape == (500, 741, 3)
    from skimage.data import stereo_motorcycle

    left = stereo_motorcycle()[0].astype(int)
    diff = np.abs(res[:, :, ::-1].astype(int) - left).mean(axis=2)
    # The focused point (engine block) stays sharp; the far background is blurred.
    assert diff[240:260, 290:310].mean() < 2.0
    assert diff[20:80, 20:200].mean() > 4.0


def test_unexpected_exception_is_one_line_and_traceback_only_with_verbose(scene, tmp_path, capsys, monkeypatch):
    """A bug still gives one error line (exit 70); -v adds the traceback."""
    path, _, _, _ = scene

    def broken(*a, **k):
        raise RuntimeError("simulated\nbug")

    monkeypatch.setattr("deocused.photo.render_photo", broken)
    args = ["render", str(path), "-o", str(tmp_path / "o.png"), "--device", "cpu"]
    assert main(args) == 70
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("refocus: error:")] == [
        "refocus: error: internal error (RuntimeError: simulated bug); please report it (-v shows the traceback)"]
    assert "Traceback" not in err and not (tmp_path / "o.png").exists()
    assert main(["-v", *args]) == 70
    assert "Traceback" in capsys.readouterr().err


def test_image_and_sample_together_are_refused(scene, tmp_path, capsys):
    path, _, _, _ = scene
    assert main(["render", str(path), "--sample", "synthetic", "-o", str(tmp_path / "o.png")]) == 2
    assert "not both" in capsys.readouterr().err
