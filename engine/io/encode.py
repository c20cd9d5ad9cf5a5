"""Encoding an output image with the input's metadata (:class:`~deocused.io.metadata.PhotoMeta`).

Pixels are RGB, uint8 or uint16 (16-bit PNG and TIFF). The formats:

* JPEG (``quality``) and PNG: OpenCV encodes the pixels, then the metadata is
  put in beside them as the format defines it: JPEG APP1 ``Exif``, APP1 XMP and
  APP2 ``ICC_PROFILE`` segments (the profile split in numbered chunks, ICC.1
  annex B.4); PNG ``iCCP``, ``eXIf`` and an ``iTXt`` ``XML:com.adobe.xmp``
  chunk (PNG 3rd edition), right after ``IHDR``.
* TIFF (tifffile): the ICC profile (tag 34675) and XMP (tag 700); EXIF is not
  written to TIFF.
* WebP (Pillow) and HEIC (pillow-heif): their encoders take all three.
"""

from __future__ import annotations

import io
import logging
import struct
import zlib

import cv2
import numpy as np

from ..errors import InputError
from .metadata import PhotoMeta

log = logging.getLogger("deocused")
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"

#: Extensions written by Pillow / pillow-heif / tifffile rather than OpenCV.
HEIF_EXTENSIONS = (".heic", ".heif")
_JPEG = (".jpg", ".jpeg", ".jpe")
_TIFF = (".tif", ".tiff")


def encode_image(ext: str, rgb: np.ndarray, meta: PhotoMeta | None = None, quality: int | None = None) -> bytes:
    """Encode ``rgb`` (H, W, 3) uint8/uint16 for file extension ``ext`` with ``meta``."""
    meta = meta or PhotoMeta()
    ext = ext.lower()
    if rgb.dtype == np.uint16 and ext not in (".png", *_TIFF):
        raise InputError(f"16-bit output needs a .png or .tif file, not '{ext}'")
    if ext in HEIF_EXTENSIONS:
        return _pillow_heif(rgb, meta, quality)
    if ext == ".webp":
        return _pillow(rgb, "WEBP", meta, quality)
    if ext in _TIFF:
        return _tiff(rgb, meta)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if quality is not None and ext in _JPEG else []
    ok, enc = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)  # RGB -> BGR (~5x faster than a slice)
    if not ok:
        raise InputError(f"cannot encode an image with extension '{ext}'")
    data = enc.tobytes()
    if ext in _JPEG:
        return _jpeg_with(data, meta)
    if ext == ".png":
        return _png_with(data, meta)
    return data


def _app(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_with(data: bytes, meta: PhotoMeta) -> bytes:
    segs = []
    for what, block, header in (("EXIF", meta.exif, b"Exif\x00\x00"), ("XMP", meta.xmp, XMP_HEADER)):
        if block and len(header + block) > 65533:  # one APP1 segment each
            log.warning("the input's %s (%d bytes) does not fit a JPEG segment; left out", what, len(block))
        elif block:
            segs.append(_app(0xE1, header + block))
    if meta.icc:
        size = 65519
        chunks = [meta.icc[i:i + size] for i in range(0, len(meta.icc), size)]
        segs += [_app(0xE2, b"ICC_PROFILE\x00" + bytes([i + 1, len(chunks)]) + c) for i, c in enumerate(chunks)]
    if not segs:
        return data
    at = 2  # after SOI, and after OpenCV's JFIF APP0 (which must come first)
    if data[2:4] == b"\xff\xe0":
        at = 4 + struct.unpack_from(">H", data, 4)[0]
    return data[:at] + b"".join(segs) + data[at:]


def _chunk(tag: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)


def _png_with(data: bytes, meta: PhotoMeta) -> bytes:
    chunks = []
    if meta.icc:
        chunks.append(_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(meta.icc)))
    if meta.exif:
        chunks.append(_chunk(b"eXIf", meta.exif))
    if meta.xmp:
        chunks.append(_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + meta.xmp))
    if not chunks:
        return data
    at = 8 + 8 + struct.unpack_from(">I", data, 8)[0] + 4  # signature, then IHDR (length, type, body, CRC)
    return data[:at] + b"".join(chunks) + data[at:]


def _tiff(rgb: np.ndarray, meta: PhotoMeta) -> bytes:
    import tifffile

    extratags = []
    if meta.icc:
        extratags.append((34675, "B", len(meta.icc), meta.icc, True))
    if meta.xmp:
        extratags.append((700, "B", len(meta.xmp), meta.xmp, True))
    buf = io.BytesIO()
    tifffile.imwrite(buf, rgb, photometric="rgb", compression="zlib", extratags=extratags)
    return buf.getvalue()


def _pillow(rgb: np.ndarray, fmt: str, meta: PhotoMeta, quality: int | None) -> bytes:
    from PIL import Image

    kw = {"icc_profile": meta.icc, "exif": b"Exif\x00\x00" + meta.exif if meta.exif else None, "xmp": meta.xmp}
    kw = {k: v for k, v in kw.items() if v}
    if quality is not None:
        kw["quality"] = int(quality)
    else:
        kw["lossless"] = True
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format=fmt, **kw)
    return buf.getvalue()


def _pillow_heif(rgb: np.ndarray, meta: PhotoMeta, quality: int | None) -> bytes:
    import pillow_heif

    h, w = rgb.shape[:2]
    im = pillow_heif.from_bytes("RGB", (w, h), np.ascontiguousarray(rgb).tobytes())
    kw = {"icc_profile": meta.icc, "exif": b"Exif\x00\x00" + meta.exif if meta.exif else None, "xmp": meta.xmp}
    buf = io.BytesIO()
    im.save(buf, quality=int(quality) if quality is not None else 90, **{k: v for k, v in kw.items() if v})
    return buf.getvalue()
