"""Bad phone photos: broken HEIC files and broken depth embedded in JPEG XMP.
Each is one `refocus: error:` line, a non-zero exit and no output (malformed.py's rules)."""

from __future__ import annotations

import base64
import struct
import time

import numpy as np
import pytest
from helpers import malformed as m
from helpers import phone_files as pf

pytest.importorskip("pillow_heif", reason="pillow-heif is not installed")
pytest.importorskip("defusedxml", reason="defusedxml is not installed")

NEAR, FAR = 1.0, 4.0


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    return tmp_path


def render(ws, data: bytes, suffix: str = ".jpg", *extra, pre=()):
    p = ws / "in" / f"photo{suffix}"
    p.write_bytes(data)
    out = ws / "out" / "o.png"
    snap = m.Snapshot([ws / "in", ws / "out"], [p])
    return m.run_cli(*pre, "render", p, "-o", out, "--device", "cpu", *extra), snap, out


def _depth8():
    d = np.full((m.H, m.W), 2.0)
    d[:, : m.W // 2] = NEAR
    return pf.encode_gdepth(d, NEAR, FAR, "RangeInverse")


def _gdepth(**change) -> bytes:
    main, ext = pf.gdepth_attrs(_depth8(), NEAR, FAR)
    for k, v in change.items():
        k = k.replace("_", ":", 1)
        (ext if k in ext else main)[k] = v
    return pf.xmp_jpeg(m.test_rgb(), main, ext)


def test_good_gdepth_jpeg_renders_with_its_depth(ws):
    res, _, out = render(ws, _gdepth(), ".jpg", pre=["-v"])
    m.expect_ok(res, out)
    assert "depth embedded in the photo (GDepth RangeInverse" in res.err


@pytest.mark.parametrize("cut", [0.05, 0.3, 0.6, 0.95])
def test_truncated_heic_is_refused(ws, cut):
    data = pf.heic(m.test_rgb())
    res, snap, _ = render(ws, data[: int(len(data) * cut)], ".heic")
    m.expect_refused(res, snap, "HEIF", code=res.code or 2)
    assert res.code != 0


@pytest.mark.parametrize("where", [0.3, 0.5, 0.8])
def test_corrupt_heic_never_crashes(ws, where):
    data = bytearray(pf.heic(m.test_rgb()))
    i = int(len(data) * where)
    data[i:i + 64] = bytes(64)
    res, snap, out = render(ws, bytes(data), ".heic", "--depth-kind", "disparity")
    assert "Traceback" not in res.err
    if res.code != 0:
        m.expect_refused(res, snap, code=res.code)


def _patch_ispe(data: bytes, w: int, h: int) -> bytes:
    """Every ``ispe`` (image spatial extents) box declares w x h (ISO/IEC 23008-12 6.5.3)."""
    out, i = bytearray(data), data.find(b"ispe")
    assert i > 0
    while i > 0:
        struct.pack_into(">II", out, i + 8, w, h)  # after the type: version/flags (4), width, height
        i = data.find(b"ispe", i + 4)
    return bytes(out)


def test_heic_declaring_an_absurd_size_is_refused(ws):
    res, snap, _ = render(ws, _patch_ispe(pf.heic(m.test_rgb()), 100_000, 100_000), ".heic")
    assert res.code != 0
    m.expect_refused(res, snap, code=res.code)


def test_bad_base64_is_refused(ws):
    res, snap, _ = render(ws, _gdepth(GDepth_Data="!!not base64!!"))
    m.expect_refused(res, snap, "base64", code=res.code or 2)


def test_corrupt_depth_item_is_refused(ws):
    res, snap, _ = render(ws, _gdepth(GDepth_Data=base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(100)).decode()))
    m.expect_refused(res, snap, "GDepth:Data", code=res.code or 2)


def test_missing_depth_item_is_refused(ws):
    main, _ = pf.gdepth_attrs(_depth8(), NEAR, FAR)
    res, snap, _ = render(ws, pf.xmp_jpeg(m.test_rgb(), main))
    m.expect_refused(res, snap, "no GDepth depth map data", code=res.code or 2)


def test_depth_item_declaring_an_absurd_size_is_refused(ws):
    png = m.with_size("png", pf.png(_depth8()), 200_000, 200_000)
    res, snap, _ = render(ws, _gdepth(GDepth_Data=base64.b64encode(png).decode()))
    m.expect_refused(res, snap, "MP supported", code=res.code or 2)


@pytest.mark.parametrize("near,far", [("0", "4"), ("-1", "4"), ("nan", "4"), ("2", "2"), ("x", "4")])
def test_invalid_near_far_is_refused(ws, near, far):
    res, snap, _ = render(ws, _gdepth(GDepth_Near=near, GDepth_Far=far))
    m.expect_refused(res, snap, "GDepth:", code=res.code or 2)


def _split_gdepth():
    main, ext = pf.gdepth_attrs(_depth8(), NEAR, FAR, original=m.test_rgb(seed=1))
    packet = pf.xmp_packet(ext)
    guid = __import__("hashlib").md5(packet).hexdigest().upper()
    main = main | {"xmpNote:HasExtendedXMP": guid}
    return main, packet, guid


def _with_ext(main, segments):
    return pf.insert_segments(pf.jpeg(m.test_rgb()), [pf.app1(pf.XMP_ID + pf.xmp_packet(main)), *segments])


def test_truncated_extended_xmp_is_refused(ws):
    main, packet, guid = _split_gdepth()
    segs = pf.extended_segments(packet, guid, chunk=600)
    assert len(segs) >= 3
    res, snap, _ = render(ws, _with_ext(main, segs[:-1]))
    m.expect_refused(res, snap, "extended XMP is truncated", code=res.code or 2)
    res, snap, _ = render(ws, _with_ext(main, segs[:1] + segs[2:]))
    m.expect_refused(res, snap, "extended XMP is incomplete", code=res.code or 2)


def test_mismatched_extended_xmp_is_refused(ws):
    main, packet, guid = _split_gdepth()
    segs = pf.extended_segments(packet, guid, chunk=600)
    other = pf.extended_segments(packet + b" ", guid, chunk=600)  # same GUID, another length
    res, snap, _ = render(ws, _with_ext(main, segs[:1] + other[1:]))
    m.expect_refused(res, snap, "disagree on its length", code=res.code or 2)
    res, snap, _ = render(ws, _with_ext(main, []))  # named but absent
    m.expect_refused(res, snap, "none of its segments", code=res.code or 2)


def test_extended_xmp_declaring_an_absurd_size_is_refused(ws):
    main, packet, guid = _split_gdepth()
    seg = pf.app1(pf.EXT_ID + guid.encode() + struct.pack(">II", 0xFFFFFFF0, 0) + packet[:1000])
    res, snap, _ = render(ws, _with_ext(main, [seg]))
    m.expect_refused(res, snap, "MiB supported", code=res.code or 2)


def test_xml_entity_bomb_is_refused_at_once(ws):
    bomb = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">'
            + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi"))
            + ']><x:xmpmeta xmlns:x="adobe:ns:meta/" xmlns:GDepth="http://ns.google.com/photos/1.0/depthmap/">'
            '&i;</x:xmpmeta>').encode()
    t = time.perf_counter()
    res, snap, _ = render(ws, pf.insert_segments(pf.jpeg(m.test_rgb()), [pf.app1(pf.XMP_ID + bomb)]))
    assert time.perf_counter() - t < 30
    m.expect_refused(res, snap, "XMP refused", code=res.code or 2)


def test_broken_xmp_without_depth_does_not_stop_the_photo(ws):
    """Only depth XMP is read: a photo whose unrelated XMP is broken still renders."""
    broken = pf.insert_segments(pf.jpeg(m.test_rgb()), [pf.app1(pf.XMP_ID + b"<x:xmpmeta><unclosed")])
    np.save(ws / "in" / "d.npy", np.tile(np.linspace(0, 1, m.W, dtype=np.float32), (m.H, 1)))
    res, _, out = render(ws, broken, ".jpg", "--depth", ws / "in" / "d.npy")
    m.expect_ok(res, out)


def _jpeg_with_app(app: bytes) -> bytes:
    return pf.insert_segments(pf.jpeg(m.test_rgb()), [app])


def test_corrupt_icc_profile_is_refused(ws):
    icc = bytearray(pf.icc_profile(2.2))
    icc[36:40] = b"XXXX"  # the 'acsp' signature every profile carries
    app2 = b"\xff\xe2" + struct.pack(">H", len(icc) + 16) + b"ICC_PROFILE\x00\x01\x01" + bytes(icc)
    np.save(ws / "in" / "d.npy", np.zeros((m.H, m.W), np.float32))
    res, snap, _ = render(ws, _jpeg_with_app(app2), ".jpg", "--depth", ws / "in" / "d.npy")
    m.expect_refused(res, snap, "ICC colour profile is corrupt", code=res.code or 2)


@pytest.mark.parametrize("where", ["ifd_offset", "tag_count"])
def test_exif_with_invalid_offsets_renders_with_a_warning(ws, where):
    tiff = bytearray(pf.exif_block(1)[6:])
    e = "<" if tiff[:2] == b"II" else ">"
    if where == "ifd_offset":
        struct.pack_into(e + "I", tiff, 4, 0x7FFFFFF0)  # IFD0 far past the end
    else:
        (ifd0,) = struct.unpack_from(e + "I", tiff, 4)
        struct.pack_into(e + "H", tiff, ifd0, 0xFFFF)  # 65535 entries in a few bytes
    app1 = b"\xff\xe1" + struct.pack(">H", len(tiff) + 8) + b"Exif\x00\x00" + bytes(tiff)
    np.save(ws / "in" / "d.npy", np.tile(np.linspace(0, 1, m.W, dtype=np.float32), (m.H, 1)))
    res, _, out = render(ws, _jpeg_with_app(app1), ".jpg", "--depth", ws / "in" / "d.npy")
    m.expect_ok(res, out)
    assert "EXIF is broken" in res.err  # the warning
    assert b"TestMake" not in out.read_bytes()


def test_dynamic_depth_truncated_or_misnamed_item_is_refused(ws):
    depth8 = _depth8()
    good = pf.dynamic_depth_jpeg(m.test_rgb(), depth8, NEAR, FAR)
    res, snap, _ = render(ws, pf.dynamic_depth_jpeg(m.test_rgb(), depth8, NEAR, FAR,
                                                    lengths={"android/depthmap": len(good) * 2}))
    m.expect_refused(res, snap, "truncated or corrupt", code=res.code or 2)
    res, snap, _ = render(ws, pf.dynamic_depth_jpeg(m.test_rgb(), depth8, NEAR, FAR, depth_uri="android/nothing"))
    m.expect_refused(res, snap, "android/nothing", code=res.code or 2)
    res, snap, _ = render(ws, good[:-40])  # the depth PNG loses its end
    m.expect_refused(res, snap, code=res.code or 2)
