"""Generators and checks shared by the malformed-input suites (tests/malformed/).

Files are generated small (64x48) and in memory; headers are patched by the
helpers here, written from the format specifications, independently of the
engine's own parsers. :func:`run_cli` calls ``deocused.cli.main`` in-process
(stdout/stderr captured, ``SystemExit`` turned into an exit status);
:func:`run_subprocess` runs the real command line for the few cases that must
prove there is no hang or no traceback in a fresh interpreter.
:func:`expect_refused` and :func:`expect_ok` hold the rules every case obeys.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

H, W = 48, 64
FORMATS = ("png", "jpg", "tiff", "bmp", "gif", "webp")
ERROR_PREFIX = "refocus: error:"


# -- images ----------------------------------------------------------------------------

def test_rgb(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    """uint8 RGB (h, w, 3): smooth gradients plus a bright corner (JPEG-friendly, asymmetric)."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([40 + 150 * xx / w, 40 + 150 * yy / h, np.full((h, w), 90.0)], axis=2)
    img[: h // 4, : w // 4] = 250
    return np.clip(img + np.random.default_rng(seed).normal(0, 2, img.shape), 0, 255).astype(np.uint8)


def encode(fmt: str, rgb: np.ndarray, **pil_kwargs) -> bytes:
    """Encode uint8 RGB(A) or grey with Pillow (GIF, and anything with EXIF) or OpenCV."""
    if fmt == "gif" or pil_kwargs:
        from PIL import Image

        buf = io.BytesIO()
        kw = dict(pil_kwargs)
        if fmt == "webp":
            kw.setdefault("lossless", True)
        Image.fromarray(rgb).save(buf, format={"jpg": "JPEG", "tiff": "TIFF"}.get(fmt, fmt.upper()), **kw)
        return buf.getvalue()
    arr = rgb if rgb.ndim == 2 else rgb[:, :, [2, 1, 0, 3][: rgb.shape[2]]]
    params = [cv2.IMWRITE_WEBP_QUALITY, 101] if fmt == "webp" else []
    ok, enc = cv2.imencode("." + fmt, np.ascontiguousarray(arr), params)
    assert ok
    return enc.tobytes()


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _gif_descriptor_offset(data: bytes) -> int:
    """Offset of the first image descriptor (0x2C) of a GIF."""
    flags = data[10]
    i = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)
    while data[i] == 0x21:  # extension blocks: introducer, label, sub-blocks
        i += 2
        while data[i]:
            i += data[i] + 1
        i += 1
    assert data[i] == 0x2C
    return i


def _tiff_dim_entries(data: bytes):
    """(offset of the value, type) of tags 256/257 in a TIFF's first IFD."""
    e = "<" if data[:2] == b"II" else ">"
    (off,) = struct.unpack_from(e + "I", data, 4)
    (n,) = struct.unpack_from(e + "H", data, off)
    out = {}
    for k in range(n):
        q = off + 2 + 12 * k
        tag, typ = struct.unpack_from(e + "HH", data, q)
        if tag in (256, 257):
            out[tag] = (q + 8, typ)
    return e, out


def with_size(fmt: str, data: bytes, w: int, h: int) -> bytes:
    """``data`` (an image of ``fmt``) with the header patched to declare w x h pixels."""
    b = bytearray(data)
    if fmt == "png":
        ihdr = bytes(b[16:29])
        new = struct.pack(">II", w, h) + ihdr[8:]
        b[8:33] = _png_chunk(b"IHDR", new)
    elif fmt == "gif":
        struct.pack_into("<HH", b, 6, w, h)
        struct.pack_into("<HH", b, _gif_descriptor_offset(data) + 5, w, h)
    elif fmt == "bmp":
        struct.pack_into("<ii", b, 18, w, h)
    elif fmt == "jpg":
        i = 2
        while True:
            assert b[i] == 0xFF
            marker, (length,) = b[i + 1], struct.unpack_from(">H", b, i + 2)
            if marker in (0xC0, 0xC1, 0xC2):
                struct.pack_into(">HH", b, i + 5, h, w)
                break
            i += 2 + length
    elif fmt == "tiff":
        e, entries = _tiff_dim_entries(data)
        for tag, v in ((256, w), (257, h)):
            off, typ = entries[tag]
            struct.pack_into(e + ("H" if typ == 3 else "I"), b, off, min(v, 65535) if typ == 3 else v)
    elif fmt == "webp":
        assert b[12:16] == b"VP8L", "lossless WebP expected"
        struct.pack_into("<I", b, 21, ((w - 1) & 0x3FFF) | (((h - 1) & 0x3FFF) << 14)
                         | (struct.unpack_from("<I", b, 21)[0] & ~0xFFFFFFF & 0xFFFFFFFF))
    else:
        raise ValueError(fmt)
    return bytes(b)


#: Sizes each format's header can declare that exceed the engine's 200 MP limit.
HUGE = {"png": (30000, 20000), "gif": (65535, 65535), "bmp": (30000, 20000), "jpg": (20000, 12000),
        "tiff": (65535, 65535), "webp": (16384, 16384)}


def png_with_exif(rgba: np.ndarray, orientation: int) -> bytes:
    """An 8-bit RGBA (or RGB) PNG whose eXIf chunk holds ``orientation``, written chunk by chunk."""
    h, w, c = rgba.shape
    raw = b"".join(b"\0" + rgba[y].tobytes() for y in range(h))
    exif = b"MM\0*" + struct.pack(">IH", 8, 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + b"\0" * 4
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6 if c == 4 else 2, 0, 0, 0))
            + _png_chunk(b"eXIf", exif) + _png_chunk(b"IDAT", zlib.compress(raw)) + _png_chunk(b"IEND", b""))


def oriented(arr: np.ndarray, orientation: int) -> np.ndarray:
    """Reference: stored pixels turned for display, with Pillow's ImageOps.exif_transpose."""
    from PIL import Image, ImageOps

    im = Image.fromarray(arr)
    ex = im.getexif()
    ex[0x0112] = orientation
    im.info["exif"] = ex.tobytes()
    return np.asarray(ImageOps.exif_transpose(im))


def over_white(rgba8: np.ndarray) -> np.ndarray:
    """Reference compositing of 8-bit RGBA over white, float in [0, 1]."""
    a = rgba8[:, :, 3:4] / 255.0
    return rgba8[:, :, :3] / 255.0 * a + (1 - a)


def write_video(path, frames: int = 10) -> Path:
    """A small MJPG .avi (64x48) that OpenCV's own writer produces."""
    vw = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    for i in range(frames):
        vw.write(np.roll(test_rgb(), 3 * i, axis=1)[:, :, ::-1])
    vw.release()
    return Path(path)


# -- running and checking ----------------------------------------------------------------

@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith(ERROR_PREFIX)]


def run_cli(*argv) -> Result:
    """``refocus ARGV`` in this process."""
    from deocused.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return Result(code, out.getvalue(), err.getvalue())


def run_subprocess(*argv, timeout: float = 120) -> Result:
    """``python -m deocused.cli ARGV`` in a fresh interpreter (the test fails on a hang)."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    res = subprocess.run([sys.executable, "-m", "deocused.cli", *map(str, argv)], capture_output=True, text=True,
                         timeout=timeout, env=env, check=False)
    return Result(res.returncode, res.stdout, res.stderr)


def digest(p) -> str | None:
    p = Path(p)
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else None


class Snapshot:
    """What a failed command must leave as it was: the listing of some folders
    and the contents of some files."""

    def __init__(self, folders, files=()):
        self.folders = [Path(f) for f in folders]
        self.files = [Path(f) for f in files]
        self.listings = {f: sorted(os.listdir(f)) for f in self.folders}
        self.digests = {f: digest(f) for f in self.files}

    def assert_unchanged(self):
        for f, before in self.listings.items():
            assert sorted(os.listdir(f)) == before, f"files appeared or vanished in {f}"
        for f, before in self.digests.items():
            assert digest(f) == before, f"{f} changed"


def expect_refused(res: Result, snap: Snapshot | None = None, mention: str | None = None, code: int = 2) -> None:
    """The rule for bad input: exit ``code``, exactly one ``refocus: error:`` line
    (naming ``mention``), no traceback, nothing written or changed."""
    assert "Traceback" not in res.err, res.err
    assert res.code == code, (res.code, res.err)
    assert len(res.error_lines) == 1, res.err
    if mention is not None:
        assert mention in res.error_lines[0], res.error_lines[0]
    if snap is not None:
        snap.assert_unchanged()


def expect_ok(res: Result, out: Path, shape=(H, W)) -> np.ndarray:
    """The rule for good input: exit 0, no error line, the output written whole."""
    assert "Traceback" not in res.err, res.err
    assert res.code == 0, res.err
    assert not res.error_lines, res.err
    img = cv2.imdecode(np.fromfile(out, np.uint8), cv2.IMREAD_UNCHANGED)  # OpenCV paths must be UTF-8
    assert img is not None and img.shape[:2] == tuple(shape)
    assert not [n for n in os.listdir(out.parent) if n.endswith(".tmp")]
    return img
