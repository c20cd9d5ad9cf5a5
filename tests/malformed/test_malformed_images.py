"""Malformed photos through ``refocus render``: truncated, corrupted, huge or empty
headers, orientation with alpha, unusual pixel types. Every case obeys the rule
in :mod:`malformed`: one error line, non-zero exit, no output, inputs unchanged;
or, for good files, exit 0 with the right picture."""

import time

import cv2
import numpy as np
import pytest
from helpers import malformed as m

from deocused.io.images import MAX_PIXELS, load_image

TRUNCATE_AT = (0.02, 0.1, 0.35, 0.7, 0.97)


@pytest.fixture
def ws(tmp_path):
    """A work folder: inputs in in/, outputs go to out/."""
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    np.save(tmp_path / "in" / "d.npy", np.tile(np.linspace(0, 1, m.W, dtype=np.float32), (m.H, 1)))
    return tmp_path


def render(ws, image, *extra):
    out = ws / "out" / "o.png"
    snap = m.Snapshot([ws / "in", ws / "out"], [image, ws / "in" / "d.npy"])
    res = m.run_cli("render", image, "--depth", ws / "in" / "d.npy", "-o", out, "--device", "cpu", *extra)
    return res, snap, out


@pytest.mark.parametrize("fmt", m.FORMATS)
def test_good_file_of_each_format_renders(ws, fmt):
    p = ws / "in" / f"photo.{fmt}"
    p.write_bytes(m.encode(fmt, m.test_rgb()))
    res, _, out = render(ws, p)
    m.expect_ok(res, out)


@pytest.mark.parametrize("frac", TRUNCATE_AT)
@pytest.mark.parametrize("fmt", m.FORMATS)
def test_truncated_image_is_refused(ws, fmt, frac):
    data = m.encode(fmt, m.test_rgb())
    p = ws / "in" / f"cut.{fmt}"
    p.write_bytes(data[: max(1, int(len(data) * frac))])
    if fmt == "tiff":  # the TIFF check is libtiff's, not ours
        buf = np.frombuffer(p.read_bytes(), np.uint8)
        if cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) is not None:
            pytest.skip("this OpenCV decodes the truncated TIFF without an error")
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="cut." + fmt)


@pytest.mark.parametrize("where", ["magic", "size_field", "middle"])
@pytest.mark.parametrize("fmt", m.FORMATS)
def test_corrupted_bytes_never_crash(ws, fmt, where):
    """Corrupted headers or data: refused with one line, or (where the damage is
    in pixel data the format cannot detect) rendered at the declared size."""
    b = bytearray(m.encode(fmt, m.test_rgb()))
    at = {"magic": 1, "size_field": {"png": 17, "jpg": 3, "tiff": 4, "bmp": 2, "gif": 7, "webp": 4}[fmt],
          "middle": len(b) // 2}[where]
    for i in range(at, min(at + 4, len(b))):
        b[i] ^= 0xA5
    p = ws / "in" / f"bad.{fmt}"
    p.write_bytes(bytes(b))
    res, snap, out = render(ws, p)
    assert "Traceback" not in res.err
    if res.code == 0:
        m.expect_ok(res, out)
    else:
        m.expect_refused(res, snap, mention="bad." + fmt)


@pytest.mark.parametrize("fmt", m.FORMATS)
def test_huge_declared_size_is_refused_from_the_header(ws, fmt):
    w, h = m.HUGE[fmt]
    assert w * h > MAX_PIXELS
    p = ws / "in" / f"huge.{fmt}"
    p.write_bytes(m.with_size(fmt, m.encode(fmt, m.test_rgb()), w, h))
    t = time.perf_counter()
    res, snap, _ = render(ws, p)
    assert time.perf_counter() - t < 2.0  # nothing decoded
    m.expect_refused(res, snap, mention="huge." + fmt)
    assert "declares" in res.error_lines[0] and f"{w}x{h}" in res.error_lines[0]


@pytest.mark.parametrize("size", [(0, m.H), (m.W, 0)])
@pytest.mark.parametrize("fmt", ["png", "jpg", "tiff", "bmp", "gif"])
def test_zero_declared_size_is_refused(ws, fmt, size):
    p = ws / "in" / f"zero.{fmt}"
    p.write_bytes(m.with_size(fmt, m.encode(fmt, m.test_rgb()), *size))
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="zero." + fmt)


@pytest.mark.parametrize("size", [(1, 1), (1, 48), (64, 1)])
def test_too_small_image_is_refused(ws, size):
    p = ws / "in" / "tiny.png"
    p.write_bytes(m.encode("png", m.test_rgb(size[1], size[0])))
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="tiny.png")


def test_jpeg_declaring_240_mp_is_refused_before_decoding(ws):
    p = ws / "in" / "big.jpg"
    p.write_bytes(m.with_size("jpg", m.encode("jpg", m.test_rgb()), 20000, 12000))
    t = time.perf_counter()
    res = m.run_subprocess("render", p, "--depth", ws / "in" / "d.npy", "-o", ws / "out" / "o.png")
    m.expect_refused(res)
    assert "240 MP" in res.error_lines[0]
    assert time.perf_counter() - t < 30


# -- orientation, alpha and pixel types ---------------------------------------------------

def _rgba():
    rgb = m.test_rgb()
    alpha = (np.arange(m.W)[None, :] * 255 // (m.W - 1)).repeat(m.H, 0).astype(np.uint8)
    alpha[:10, :20] = 0  # asymmetric, so every orientation differs
    return np.dstack([rgb, alpha])


@pytest.mark.parametrize("orientation", range(1, 9))
def test_rgba_png_with_exif_orientation_is_turned_alpha_included(tmp_path, orientation):
    rgba = _rgba()
    p = tmp_path / "o.png"
    p.write_bytes(m.png_with_exif(rgba, orientation))
    got = load_image(p)
    ref = m.over_white(m.oriented(rgba, orientation))
    assert got.shape == ref.shape
    assert np.abs(got - ref).max() < 1e-5


@pytest.mark.parametrize("orientation", range(1, 9))
def test_rgb_png_with_exif_orientation_matches_rgba(tmp_path, orientation):
    rgba = _rgba()
    rgba[:, :, 3] = 255
    (tmp_path / "a.png").write_bytes(m.png_with_exif(rgba, orientation))
    (tmp_path / "b.png").write_bytes(m.png_with_exif(np.ascontiguousarray(rgba[:, :, :3]), orientation))
    ref = m.oriented(rgba[:, :, :3], orientation) / 255.0
    assert np.abs(load_image(tmp_path / "a.png") - ref).max() < 1e-5
    assert np.abs(load_image(tmp_path / "b.png") - ref).max() < 1e-5


@pytest.mark.parametrize("orientation", [3, 6, 8])
@pytest.mark.parametrize("fmt", ["jpg", "webp", "tiff"])
def test_exif_orientation_of_other_formats(tmp_path, fmt, orientation):
    from PIL import Image

    rgb = m.test_rgb()
    ex = Image.new("RGB", (1, 1)).getexif()
    ex[0x0112] = orientation
    extra = {"quality": 98} if fmt == "jpg" else {}
    data = m.encode(fmt, rgb, exif=ex.tobytes(), **extra) if fmt != "tiff" else m.encode(fmt, rgb, exif=ex)
    p = tmp_path / f"o.{fmt}"
    p.write_bytes(data)
    if Image.open(p).getexif().get(0x0112) != orientation:
        pytest.skip(f"this Pillow does not write EXIF orientation into {fmt}")
    ref = m.oriented(rgb, orientation) / 255.0  # the stored pixels, turned
    got = load_image(p)
    assert got.shape == ref.shape
    assert np.abs(got - ref).mean() < 0.015  # JPEG is lossy (a wrong turn is off by > 0.1)


@pytest.mark.parametrize("kind", ["gray8", "gray16", "rgb16", "gray_alpha", "rgba16", "palette"])
def test_pixel_types_render(ws, kind):
    rgb = m.test_rgb()
    gray = rgb[:, :, 1]
    p = ws / "in" / f"{kind}.png"
    if kind == "gray8":
        p.write_bytes(m.encode("png", gray))
    elif kind == "gray16":
        cv2.imwrite(str(p), gray.astype(np.uint16) * 257)
    elif kind == "rgb16":
        cv2.imwrite(str(p), rgb[:, :, ::-1].astype(np.uint16) * 257)
    elif kind == "rgba16":
        cv2.imwrite(str(p), np.dstack([rgb[:, :, ::-1], np.full((m.H, m.W), 255, np.uint8)]).astype(np.uint16) * 257)
    elif kind == "gray_alpha":
        from PIL import Image

        Image.fromarray(np.dstack([gray, np.full_like(gray, 255)]), "LA").save(p)
    else:
        from PIL import Image

        Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(p)
    got = load_image(p)
    if kind == "palette":
        from PIL import Image

        ref = np.asarray(Image.open(p).convert("RGB")) / 255.0
    else:
        ref = (rgb if kind in ("rgb16", "rgba16") else np.repeat(gray[:, :, None], 3, 2)) / 255.0
    assert np.abs(got - ref).max() < 1e-5
    res, _, out = render(ws, p)
    m.expect_ok(res, out)


def test_nan_in_float_image_is_refused(ws):
    p = ws / "in" / "nan.tiff"
    img = np.full((m.H, m.W, 3), 0.5, np.float32)
    img[3, 4] = np.nan
    cv2.imwrite(str(p), img)
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="nan.tiff")


@pytest.mark.parametrize("content", [b"\0", b"GIF89a", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\0",
                                     b"RIFF\0\0\0\0WEBP", b"P6\n99999 99999\n255\n", b"#!/bin/sh\necho hi\n"])
def test_header_only_files_are_refused(ws, content):
    p = ws / "in" / "stub.img"
    p.write_bytes(content)
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="stub.img")


def test_exr_photo_is_refused_with_a_hint(ws):
    OpenEXR = pytest.importorskip("OpenEXR")
    p = ws / "in" / "photo.exr"
    with OpenEXR.File({"type": OpenEXR.scanlineimage}, {"RGB": np.full((m.H, m.W, 3), 0.5, np.float32)}) as f:
        f.write(str(p))
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="OpenEXR")


def test_cmyk_jpeg_has_no_alpha(ws):
    from PIL import Image

    p = ws / "in" / "cmyk.jpg"
    Image.fromarray(m.test_rgb()).convert("CMYK").save(p, quality=95)
    ref = np.asarray(Image.open(p).convert("RGB")) / 255.0
    assert np.abs(load_image(p) - ref).mean() < 0.01
    res, _, out = render(ws, p)
    m.expect_ok(res, out)
