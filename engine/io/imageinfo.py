"""Image file headers, read without decoding the pixels.

* :func:`header_size` -- the width and height a PNG, JPEG, GIF, BMP, WebP or
  TIFF file declares, so that an absurd size is refused before decoding.
* :func:`exif_orientation`, :func:`apply_orientation` -- the EXIF orientation
  of a JPEG, PNG (``eXIf`` chunk) or WebP and its application to pixels, so
  that every channel (alpha included) is turned the same way.

Parsers return None (or orientation 1) for anything they do not recognise;
the decoder then has the last word.
"""

from __future__ import annotations

import struct

import numpy as np


def _tiff_tags(tiff: bytes, wanted: set[int]) -> dict[int, int]:
    """Integer values of ``wanted`` tags in the first IFD of TIFF-structured bytes (TIFF files, EXIF)."""
    if len(tiff) < 8 or tiff[:4] not in (b"II*\0", b"MM\0*"):
        return {}
    e = "<" if tiff[:2] == b"II" else ">"
    (off,) = struct.unpack_from(e + "I", tiff, 4)
    if off + 2 > len(tiff):
        return {}
    (n,) = struct.unpack_from(e + "H", tiff, off)
    out = {}
    for i in range(min(n, 1000)):
        q = off + 2 + 12 * i
        if q + 12 > len(tiff):
            break
        tag, typ, count = struct.unpack_from(e + "HHI", tiff, q)
        if tag in wanted and count >= 1 and typ in (3, 4):  # SHORT, LONG
            out[tag] = struct.unpack_from(e + ("H" if typ == 3 else "I"), tiff, q + 8)[0]
    return out


def _jpeg_segments(data: bytes):
    """(marker, payload offset, payload length) of a JPEG's header segments, up to the scan."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan
            return
        (length,) = struct.unpack_from(">H", data, i + 2)
        yield marker, i + 4, length - 2
        i += 2 + length


def _riff_chunks(data: bytes):
    i = 12
    while i + 8 <= len(data):
        tag, size = data[i: i + 4], struct.unpack_from("<I", data, i + 4)[0]
        yield tag, i + 8, size
        i += 8 + size + (size & 1)


def _png_chunks(data: bytes):
    i = 8
    while i + 8 <= len(data):
        size, tag = struct.unpack_from(">I4s", data, i)
        yield tag, i + 8, size
        if tag == b"IEND":
            return
        i += 12 + size


def header_size(data: bytes) -> tuple[str, int, int] | None:
    """(format, width, height) from an image's header without decoding it, for
    PNG, JPEG, GIF, BMP, WebP and TIFF; None for other formats or an unreadable header."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            w, h = struct.unpack_from(">II", data, 16)
            return "PNG", w, h
        if data[:6] in (b"GIF87a", b"GIF89a"):
            w, h = struct.unpack_from("<HH", data, 6)
            return "GIF", w, h
        if data[:2] == b"BM" and len(data) >= 26:
            (dib,) = struct.unpack_from("<I", data, 14)
            w, h = struct.unpack_from("<HH" if dib == 12 else "<ii", data, 18)
            return "BMP", abs(w), abs(h)
        if data[:3] == b"\xff\xd8\xff":
            for marker, off, _ in _jpeg_segments(data):
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
                    h, w = struct.unpack_from(">HH", data, off + 1)
                    return "JPEG", w, h
            return None
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            for tag, off, _ in _riff_chunks(data):
                if tag == b"VP8X":
                    b = data[off + 4: off + 10]
                    return "WebP", 1 + int.from_bytes(b[:3], "little"), 1 + int.from_bytes(b[3:6], "little")
                if tag == b"VP8L":
                    (bits,) = struct.unpack_from("<I", data, off + 1)
                    return "WebP", 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
                if tag == b"VP8 ":
                    w, h = struct.unpack_from("<HH", data, off + 6)
                    return "WebP", w & 0x3FFF, h & 0x3FFF
            return None
        if data[:4] in (b"II*\0", b"MM\0*"):
            tags = _tiff_tags(data, {256, 257})
            if 256 in tags and 257 in tags:
                return "TIFF", tags[256], tags[257]
    except struct.error:  # header cut short: the decoder will say so
        return None
    return None


def exif_orientation(data: bytes) -> int:
    """EXIF orientation (1..8, 1 = as stored) of a JPEG, PNG (eXIf chunk) or WebP; 1 when absent."""
    tiff = None
    try:
        if data[:3] == b"\xff\xd8\xff":
            for marker, off, size in _jpeg_segments(data):
                if marker == 0xE1 and data[off: off + 6] == b"Exif\0\0":
                    tiff = data[off + 6: off + size]
                    break
        elif data[:8] == b"\x89PNG\r\n\x1a\n":
            for tag, off, size in _png_chunks(data):
                if tag == b"eXIf":
                    tiff = data[off: off + size]
                    break
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            for tag, off, size in _riff_chunks(data):
                if tag == b"EXIF":
                    tiff = data[off: off + size]
                    tiff = tiff[6:] if tiff[:6] == b"Exif\0\0" else tiff
                    break
        o = _tiff_tags(tiff, {0x0112}).get(0x0112, 1) if tiff else 1
    except struct.error:
        return 1
    return o if 1 <= o <= 8 else 1


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels (H, W[, C]) into display orientation for an EXIF ``orientation`` 1..8."""
    t = {1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
         5: lambda a: a.swapaxes(0, 1), 6: lambda a: a.swapaxes(0, 1)[:, ::-1],
         7: lambda a: a.swapaxes(0, 1)[::-1, ::-1], 8: lambda a: a.swapaxes(0, 1)[::-1]}[orientation]
    return np.ascontiguousarray(t(img))
