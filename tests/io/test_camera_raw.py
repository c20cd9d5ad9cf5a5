"""Camera RAW through rawpy (the [raw] extra): scene-linear, the camera's white
balance, no auto-brightening, values above 1 kept, orientation applied; bad
RAW files refused in one line. Test files are DNGs built here (phone_files.dng)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import malformed as m
from helpers import phone_files as pf

from deocused.errors import InputError, RefocusError
from deocused.io.camera_raw import decode_camera_raw
from deocused.photo import load_photo

pytest.importorskip("rawpy", reason="rawpy is not installed (pip install 'deocused[raw]')")
pytest.importorskip("tifffile", reason="tifffile (to build the test DNGs) is not installed")

H, W = 64, 96
WHITE = 4095
NEUTRAL = (0.5, 1.0, 0.6)  # camera multipliers 2, 1, 1.667
MULT = np.array([2.0, 1.0, 1 / 0.6])


def _flat(value: int, **kw) -> bytes:
    return pf.dng(np.full((H, W), value, np.uint16), white=WHITE, neutral=NEUTRAL, **kw)


def test_scene_linear_with_camera_white_balance_and_no_auto_bright():
    lin = decode_camera_raw(_flat(1000), "x.dng", 10**8)
    assert lin.dtype == np.float32 and lin.shape == (H, W, 3)
    want = 1000 / WHITE * MULT  # linear, white-balanced, not brightened
    assert lin[8:-8, 8:-8].reshape(-1, 3).mean(0) == pytest.approx(want, rel=0.01)


def test_values_above_one_are_kept():
    lin = decode_camera_raw(_flat(3000), "x.dng", 10**8)
    got = lin[8:-8, 8:-8].reshape(-1, 3).mean(0)
    assert got == pytest.approx(3000 / WHITE * MULT, rel=0.01)
    assert got[0] > 1.4  # red x2 above the sensor's white: not clipped to 1


def test_orientation_is_applied():
    lin = decode_camera_raw(_flat(1000, orientation=6), "x.dng", 10**8)
    assert lin.shape == (W, H, 3)


def test_bright_light_renders_as_a_brighter_disc_than_a_clipped_photo(tmp_path):
    """A small light whose red is 2x the sensor's white: blurred, its disc carries that
    energy; the same light clipped at 1 (as in an 8-bit photo) gives half the red."""
    rgb = np.full((H, W, 3), 200, np.uint16)
    rgb[30:34, 46:50] = WHITE
    (tmp_path / "light.dng").write_bytes(pf.dng(pf.mosaic(rgb), white=WHITE, neutral=NEUTRAL))
    np.save(tmp_path / "light.depth.npy", np.zeros((H, W), np.float32))
    photo = load_photo(tmp_path / "light.dng", estimate=False)
    assert photo.image_linear.max() > 1.9 and photo.image_srgb.max() <= 1.0
    clipped = photo.image_linear.clip(0, 1)
    from deocused.render.backends import make_renderer
    from deocused.settings import RenderSettings

    settings = RenderSettings(focus_disparity=1.0, max_blur=6.0)
    assert float(photo.disparity.max()) == 0.0
    win = (slice(22, 42), slice(38, 58), 0)  # the light and its disc, red
    bg = float(np.median(photo.image_linear[:, :, 0]))
    light = [float((lin[win] - bg).sum()) for lin in (photo.image_linear, clipped)]
    discs = []
    for lin in (photo.image_linear, clipped):
        r = make_renderer("cpu", **settings.renderer_options())
        r.prepare(lin, photo.disparity)
        out = r.to_host(r.render(1.0, 6.0))  # the photo is at disparity 0: blur radius 6 px
        assert out[win].max() < 0.7 * lin[win].max()  # spread into a disc
        discs.append(float((out[win] - bg).sum()))
    assert light[0] / light[1] > 1.5  # the input's light: red up to 2x the sensor white
    assert discs[0] / discs[1] == pytest.approx(light[0] / light[1], rel=0.1)  # the blur keeps it


def test_raw_renders_from_the_command_line_16_bit(tmp_path):
    rgb = np.full((H, W, 3), 1500, np.uint16)
    rgb[:, W // 2:] = 300
    (tmp_path / "a.dng").write_bytes(pf.dng(pf.mosaic(rgb), white=WHITE, neutral=NEUTRAL))
    np.save(tmp_path / "a.depth.npy", np.tile(np.linspace(0, 1, W, dtype=np.float32), (H, 1)))
    res = m.run_cli("render", tmp_path / "a.dng", "-o", tmp_path / "o.png", "--device", "cpu")
    assert res.code == 0, res.err
    import cv2

    out = cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (H, W, 3)  # a RAW is more than 8 bits: 16-bit PNG


@pytest.mark.parametrize("cut", [0.05, 0.5, 0.9])
def test_truncated_raw_is_refused(tmp_path, cut):
    data = _flat(1000)
    p = tmp_path / "bad.dng"
    p.write_bytes(data[: int(len(data) * cut)])
    np.save(tmp_path / "bad.depth.npy", np.zeros((H, W), np.float32))
    snap = m.Snapshot([tmp_path], [p])
    res = m.run_cli("render", p, "-o", tmp_path / "o.png", "--device", "cpu")
    m.expect_refused(res, snap, code=res.code or 2)
    assert res.code != 0


def test_not_a_raw_file_is_refused():
    with pytest.raises(InputError, match="not a readable camera RAW"):
        decode_camera_raw(b"this is not a raw file at all" * 10, "x.nef", 10**8)


def test_missing_rawpy_names_the_extra(monkeypatch):
    import deocused.extras as extras

    monkeypatch.setattr(extras, "missing", lambda extra: ["rawpy"] if extra == "raw" else [])
    with pytest.raises(RefocusError, match=r"deocused\[raw\]"):
        decode_camera_raw(_flat(1000), "x.dng", 10**8)


@pytest.mark.slow
def test_batch_picks_up_raw_files(tmp_path):
    from deocused.cli import main

    src = tmp_path / "in"
    src.mkdir()
    (src / "a.dng").write_bytes(_flat(1000))
    np.save(src / "a.depth.npy", np.tile(np.linspace(0, 1, W, dtype=np.float32), (H, 1)))
    assert main(["-q", "batch", "--no-progress", str(src), "-o", str(tmp_path / "out"), "--device", "cpu",
                 "-j", "1"]) == 0
    import cv2

    out = cv2.imread(str(tmp_path / "out" / "a.png"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and out.shape == (H, W, 3)
