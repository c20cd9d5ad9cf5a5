"""Reading and writing photos.

OpenCV does the decoding and encoding; it works in BGR(A) order, so this module
converts to RGB at the edge and nothing else in the engine sees BGR.
Loaded images are float32 sRGB-encoded values in [0, 1], shape (H, W, 3).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from .errors import InputError

log = logging.getLogger("engine")

_LINEAR_FORMATS = {".hdr", ".pfm"}
MAX_PIXELS = 200_000_000  # refuse absurd sizes before allocating


def read_bytes(path: str | os.PathLike) -> bytes:
    """Read a whole file, turning OS errors into one-line :class:`InputError`."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{p}: cannot read ({e.strerror or e})") from None
    if not data:
        raise InputError(f"{p}: file is empty (0 bytes)")
    return data


def _check_complete(path: Path, data: bytes) -> None:
    """Detect truncated JPEG/PNG files, which OpenCV would half-decode silently."""
    if data[:3] == b"\xff\xd8\xff":  # JPEG: must end with the EOI marker
        if b"\xff\xd9" not in data[-64:].rstrip(b"\x00"):
            raise InputError(f"{path}: JPEG file is truncated (no end-of-image marker)")
    elif data[:8] == b"\x89PNG\r\n\x1a\n":  # PNG: must contain IEND
        if b"IEND" not in data[-64:]:
            raise InputError(f"{path}: PNG file is truncated (no IEND chunk)")


def decode_image(data: bytes, name: str = "<image>") -> np.ndarray:
    """Decode image bytes to float32 sRGB RGB in [0, 1], shape (H, W, 3).

    8- and 16-bit integer images are scaled to [0, 1]; float images from linear
    formats (HDR, PFM) are encoded to sRGB (values above 1 clip). Grayscale
    is expanded to RGB; an alpha channel is composited over white. JPEG EXIF
    orientation is applied.
    """
    path = Path(name)
    _check_complete(path, data)
    buf = np.frombuffer(data, np.uint8)
    # IMREAD_ANYDEPTH|ANYCOLOR keeps 16-bit and applies EXIF orientation;
    # IMREAD_UNCHANGED is needed to see an alpha channel (PNG/TIFF/WebP).
    img = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if img is None:
        raise InputError(f"{path}: not a readable image (unknown format or corrupt data)")
    unchanged = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    alpha = None
    if unchanged is not None and unchanged.ndim == 3 and unchanged.shape[2] == 4 \
            and unchanged.shape[:2] == img.shape[:2]:
        alpha = unchanged[:, :, 3]
        img = unchanged[:, :, :3]
    h, w = img.shape[:2]
    if h < 2 or w < 2:
        raise InputError(f"{path}: image is {w}x{h} pixels; at least 2x2 is needed")
    if h * w > MAX_PIXELS:
        raise InputError(f"{path}: image is {w}x{h} pixels, more than the {MAX_PIXELS // 1_000_000} MP supported")
    img = _to_unit_float(img, path)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    img = np.ascontiguousarray(img[:, :, ::-1])  # BGR -> RGB
    if alpha is not None:
        a = _to_unit_float(alpha, path)[:, :, None]
        img = img * a + (1.0 - a)
        log.info("%s: alpha channel composited over white", path)
    if not np.isfinite(img).all():
        raise InputError(f"{path}: image contains NaN or infinite values")
    return img.astype(np.float32, copy=False)


def _to_unit_float(img: np.ndarray, path: Path) -> np.ndarray:
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    if img.dtype in (np.float32, np.float64, np.float16):
        f = img.astype(np.float32)
        if path.suffix.lower() in _LINEAR_FORMATS:
            from .colour import linear_to_srgb

            return linear_to_srgb(np.nan_to_num(f, nan=0.0, posinf=1.0, neginf=0.0))
        return np.clip(f, 0.0, 1.0)
    raise InputError(f"{path}: unsupported pixel type {img.dtype}")


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Load a photo as float32 sRGB RGB in [0, 1], shape (H, W, 3)."""
    return decode_image(read_bytes(path), str(path))


def write_image(path: str | os.PathLike, srgb8: np.ndarray, *, protect=(), overwrite: bool = False) -> Path:
    """Write an 8-bit sRGB RGB image atomically (temp file + rename).

    Refuses to overwrite any path in ``protect`` (the inputs) and, unless
    ``overwrite`` is set, any existing file.
    """
    p = Path(path)
    for q in protect:
        if q is not None and p.exists() and Path(q).exists() and os.path.samefile(p, q):
            raise InputError(f"{p}: refusing to overwrite an input file; choose another --output")
    if p.exists() and not overwrite:
        raise InputError(f"{p}: already exists; choose another --output or pass --overwrite")
    ext = p.suffix.lower() or ".png"
    if srgb8.dtype != np.uint8 or srgb8.ndim != 3 or srgb8.shape[2] != 3:
        raise ValueError("write_image expects uint8 RGB (H, W, 3)")
    ok, enc = cv2.imencode(ext, np.ascontiguousarray(srgb8[:, :, ::-1]))
    if not ok:
        raise InputError(f"{p}: cannot encode an image with extension '{ext}'")
    if p.parent and not p.parent.exists():
        raise InputError(f"{p}: folder {p.parent} does not exist")
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    try:
        tmp.write_bytes(enc.tobytes())
        os.replace(tmp, p)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InputError(f"{p}: cannot write ({e.strerror or e})") from None
    return p


def free_path(path: Path) -> Path:
    """``path`` if it does not exist, else ``stem-1.ext``, ``stem-2.ext``... (first free)."""
    if not path.exists():
        return path
    i = 1
    while True:
        q = path.with_name(f"{path.stem}-{i}{path.suffix}")
        if not q.exists():
            return q
        i += 1
