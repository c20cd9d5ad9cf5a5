"""Metadata and colour from the input to every output: EXIF (orientation 1, no
thumbnail), XMP (no depth payload), the ICC profile and its tone curve, 16 bits."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from helpers import malformed as m
from helpers import phone_files as pf
from PIL import Image

pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")

H, W = 48, 64
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" dc:format="image/jpeg"/>'
       b"</rdf:RDF></x:xmpmeta>")


def _ramp_depth(ws, shape=(H, W)):
    p = ws / "d.npy"
    np.save(p, np.tile(np.linspace(0, 1, shape[1], dtype=np.float32), (shape[0], 1)))
    return p


def _photo_jpeg(icc=None, orientation=1, thumbnail=None) -> bytes:
    buf = io.BytesIO()
    kw = {"exif": pf.exif_block(orientation, thumbnail=thumbnail), "xmp": XMP, "quality": 95}
    if icc:
        kw["icc_profile"] = icc
    Image.fromarray(m.test_rgb()).save(buf, format="JPEG", **kw)
    return buf.getvalue()


def _render(ws, src: bytes, out_name: str, *flags, suffix=".jpg", depth=True, shape=(H, W)):
    p = ws / f"in{suffix}"
    p.write_bytes(src)
    out = ws / out_name
    extra = ["--depth", _ramp_depth(ws, shape)] if depth else []
    res = m.run_cli("render", p, "-o", out, "--device", "cpu", "--overwrite", *extra, *flags)
    assert res.code == 0, res.err
    return out


def _meta_of(path):
    from deocused.io.images import read_bytes
    from deocused.io.metadata import read_metadata

    return read_metadata(read_bytes(path), str(path))


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp", ".heic", ".tif"])
def test_output_keeps_icc_exif_xmp(tmp_path, ext):
    icc = pf.icc_profile(2.2, "kept profile")
    out = _render(tmp_path, _photo_jpeg(icc, orientation=6, thumbnail=b"\xff\xd8THUMB\xff\xd9"), "o" + ext,
                  shape=(W, H))  # orientation 6: the upright photo is W tall
    meta = _meta_of(out)
    assert meta.icc == icc
    assert meta.xmp is not None and b'dc:format="image/jpeg"' in meta.xmp
    if ext == ".tif":
        return  # EXIF is not written to TIFF (see deocused.io.encode)
    exif = Image.Exif()
    exif.load(b"Exif\x00\x00" + meta.exif)
    assert (exif[0x010F], exif[0x0110], exif[0x0112]) == ("TestMake", "TestModel", 1)  # pixels are upright
    assert exif.get_ifd(0x8769)[0x9003] == "2026:01:02 03:04:05"
    assert b"THUMB" not in out.read_bytes() and 0x0201 not in exif  # no stale thumbnail


def test_output_is_readable_by_pillow_with_its_profile(tmp_path):
    icc = pf.icc_profile(1.8)
    for ext in (".jpg", ".png"):
        with Image.open(_render(tmp_path, _photo_jpeg(icc), "o" + ext)) as im:
            assert im.info["icc_profile"] == icc and im.getexif()[0x010F] == "TestMake"
            assert im.size == (W, H)


def test_strip_metadata_keeps_only_the_profile(tmp_path):
    icc = pf.icc_profile(2.2)
    out = _render(tmp_path, _photo_jpeg(icc), "o.jpg", "--strip-metadata")
    meta = _meta_of(out)
    assert meta.icc == icc and meta.exif is None and meta.xmp is None
    assert b"TestMake" not in out.read_bytes()


def test_depth_payload_leaves_the_xmp(tmp_path):
    d = np.full((H, W), 2.0)
    d[:, : W // 2] = 1.0
    src = pf.gdepth_jpeg(m.test_rgb(), pf.encode_gdepth(d, 1.0, 4.0, "RangeInverse"), 1.0, 4.0,
                         original=m.test_rgb(seed=3), split=False)
    out = _render(tmp_path, src, "o.jpg", depth=False)
    data = out.read_bytes()
    assert b"GDepth:Format" in data  # the description stays
    assert b"GDepth:Data" not in data and b"GImage:Data" not in data  # the megabytes do not


def _checker_photo():
    """Left half: fine 0/255 checker; right half: mid grey steps. uint8 RGB."""
    img = np.zeros((H, W, 3), np.uint8)
    yy, xx = np.mgrid[0:H, 0: W // 2]
    img[:, : W // 2] = (((yy + xx) % 2) * 255)[:, :, None]
    img[:, W // 2:] = np.linspace(20, 235, W - W // 2).astype(np.uint8)[None, :, None]
    return img


@pytest.mark.parametrize("gamma", [1.8, 2.2])
def test_profile_tone_curve_is_used_and_in_focus_pixels_unchanged(tmp_path, gamma):
    """Depth: left half far (0), right half near (1). Focus near: the right half
    comes out within 1/255; the far checker blurs to the mean of its *linear*
    values under the profile's curve: (0.5)^(1/gamma), not sRGB's 0.735."""
    img = _checker_photo()
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", icc_profile=pf.icc_profile(gamma))
    (tmp_path / "in.png").write_bytes(buf.getvalue())
    disp = np.zeros((H, W), np.float32)
    disp[:, W // 2:] = 1.0
    np.save(tmp_path / "d.npy", disp)
    out = tmp_path / "o.png"
    res = m.run_cli("render", tmp_path / "in.png", "--depth", tmp_path / "d.npy", "-o", out, "--device", "cpu",
                    "--focus-disparity", "1", "--max-blur", "12")
    assert res.code == 0, res.err
    got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[:, :, ::-1].astype(int)
    assert np.abs(got[:, W // 2 + 2:] - img[:, W // 2 + 2:]).max() <= 1
    centre = got[H // 4: 3 * H // 4, 6: W // 2 - 10].mean() / 255
    assert centre == pytest.approx(0.5 ** (1 / gamma), abs=0.02)
    assert abs(centre - 0.735) > 0.03 or gamma == 2.2  # gamma 2.2 happens to be near sRGB


def test_sixteen_bit_png_stays_sixteen_bit(tmp_path):
    ramp = np.tile(np.linspace(1000, 64000, W), (H, 1)).astype(np.uint16)
    img16 = np.repeat(ramp[:, :, None], 3, 2)
    cv2.imwrite(str(tmp_path / "in.png"), img16)
    np.save(tmp_path / "d.npy", np.ones((H, W), np.float32))  # one plane (disparity 0 once normalised)
    res = m.run_cli("render", tmp_path / "in.png", "--depth", tmp_path / "d.npy", "-o", tmp_path / "o.png",
                    "--device", "cpu", "--focus-disparity", "0")
    assert res.code == 0, res.err
    got = cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_UNCHANGED)
    assert got.dtype == np.uint16
    assert np.abs(got.astype(int) - img16).max() <= 3  # in focus: the 16-bit values, not 8-bit steps of 257
    res = m.run_cli("render", tmp_path / "in.png", "--depth", tmp_path / "d.npy", "-o", tmp_path / "o8.png",
                    "--device", "cpu", "--bit-depth", "8")
    assert res.code == 0 and cv2.imread(str(tmp_path / "o8.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint8


@pytest.mark.parametrize("fmt", ["tif", "png"])
def test_bit_depth_16_from_an_8_bit_photo(tmp_path, fmt):
    out = _render(tmp_path, _photo_jpeg(), f"o.{fmt}", "--bit-depth", "16")
    arr = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert arr.dtype == np.uint16 and arr.shape == (H, W, 3)


def test_bit_depth_16_jpeg_is_refused_before_work(tmp_path):
    (tmp_path / "in.jpg").write_bytes(_photo_jpeg())
    res = m.run_cli("render", tmp_path / "in.jpg", "-o", tmp_path / "o.jpg", "--bit-depth", "16")
    m.expect_refused(res, None, "--bit-depth 16", code=res.code or 2)
    assert not (tmp_path / "o.jpg").exists()


def test_jpeg_quality_is_used(tmp_path):
    sizes = [_render(tmp_path, _photo_jpeg(), f"q{q}.jpg", "--quality", str(q)).stat().st_size for q in (30, 95)]
    assert sizes[0] < sizes[1]


@pytest.mark.slow
@pytest.mark.skipif(not pf.PUG.exists(), reason="real sample not present (../shared/realdata/pug.heic)")
def test_real_iphone_portrait_refocuses_offline_keeping_its_metadata(tmp_path):
    """No flags but the focus: embedded depth used, EXIF Make/Model and the Display P3
    profile in the output, same size; focusing near keeps the near bed sharp and blurs the wall."""
    import pillow_heif

    out = tmp_path / "pug.jpg"
    res = m.run_cli("-v", "render", pf.PUG, "-o", out, "--device", "cpu", "--focus", "3900,2950", "-K", "24")
    assert res.code == 0, res.err
    assert "depth embedded in the photo" in res.err
    src = pillow_heif.open_heif(pf.PUG).info
    with Image.open(out) as im:
        assert im.size == (4032, 3024)
        assert im.info["icc_profile"] == src["icc_profile"]
        assert (im.getexif()[0x010F], im.getexif()[0x0110]) == ("Apple", "iPhone 13 Pro")
        got = np.asarray(im.convert("L"), np.float32)
    from deocused.io.images import load_image

    before = load_image(pf.PUG).mean(axis=2) * 255

    def detail(a, rows, cols):
        return float(np.abs(cv2.Laplacian(a[rows, cols], cv2.CV_32F)).mean())

    near, far = (slice(2700, 3000), slice(3500, 4000)), (slice(300, 900), slice(1200, 2800))  # bed; wall
    kept_near = detail(got, *near) / detail(before, *near)
    kept_far = detail(got, *far) / detail(before, *far)
    assert kept_near > 0.6 and kept_far < 0.5 * kept_near, (kept_near, kept_far)


def test_python_api_write_image_keeps_metadata(tmp_path):
    import deocused

    icc = pf.icc_profile(2.2)
    (tmp_path / "in.jpg").write_bytes(_photo_jpeg(icc))
    np.save(tmp_path / "in.depth.npy", np.tile(np.linspace(0, 1, W, dtype=np.float32), (H, 1)))
    photo = deocused.load_photo(tmp_path / "in.jpg")
    settings = deocused.RenderSettings(focus_disparity=0.5, max_blur=4)
    renderer = deocused.make_renderer("cpu", **settings.renderer_options())
    out = deocused.write_image(tmp_path / "o.webp", deocused.render_photo(photo, settings, renderer), meta=photo.meta)
    with Image.open(out) as im:
        assert im.info["icc_profile"] == icc and im.getexif()[0x0110] == "TestModel"
