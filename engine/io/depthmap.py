"""Reading depth maps and turning them into normalised disparity.

The engine works on *disparity* (inverse depth: near = large), min-max
normalised to [0, 1] over the image (0 = farthest, 1 = nearest). A file can hold
disparity (the default) or metric depth (``kind="depth"``), which is inverted
first. Supported files: 8/16-bit PNG (or any image OpenCV reads, first channel),
float ``.npy`` and ``.exr`` (via the OpenEXR package: OpenCV's wheels lack it). Non-finite values are holes and are filled from
valid neighbours.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .images import MAX_PIXELS, decode_raw, read_bytes, write_bytes_atomic

log = logging.getLogger("deocused")

DEPTH_KINDS = ("disparity", "depth")
SIDECAR_SUFFIXES = (".depth.png", ".depth.npy", ".depth.exr")


def read_depth_file(path: str | os.PathLike) -> np.ndarray:
    """Read a raw depth/disparity map as float32 (H, W); holes stay non-finite.

    Refused with a one-line :class:`InputError`: anything but a regular file,
    an unreadable or truncated file, an empty, 1-D or 3-D array, fewer than 2x2
    or more than :data:`deocused.io.images.MAX_PIXELS` values, and non-real types
    (bool, complex, object, strings, records).
    """
    p = Path(path)
    data = read_bytes(p, "depth map")
    if p.suffix.lower() == ".npy" or data[:6] == b"\x93NUMPY":
        arr = _read_npy(p, data)
    elif p.suffix.lower() == ".exr" or data[:4] == b"\x76\x2f\x31\x01":
        arr = _read_exr(p)
    else:
        arr = decode_raw(data, str(p), "depth map")
        if arr.ndim == 3:
            c = arr[:, :, : min(arr.shape[2], 3)]
            if not all(np.array_equal(c[:, :, 0], c[:, :, i]) for i in range(1, c.shape[2])):
                log.warning("%s: depth map has colour channels that differ; using the first", p)
            arr = arr[:, :, 0]
    return _check_depth_array(arr, p)


def _check_depth_array(arr: np.ndarray, p: Path) -> np.ndarray:
    if arr.dtype == np.bool_ or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise InputError(f"{p}: depth values must be real numbers (integer or float), got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim != 2:
        raise InputError(f"{p}: expected a 2-D array (rows, columns), got shape {arr.shape}")
    h, w = arr.shape
    if h < 2 or w < 2:
        raise InputError(f"{p}: depth map is {w}x{h} values; at least 2x2 is needed")
    if h * w > MAX_PIXELS:
        raise InputError(f"{p}: depth map is {w}x{h}, more than the {MAX_PIXELS // 1_000_000} MP supported")
    if arr.dtype.itemsize > 4 and np.issubdtype(arr.dtype, np.floating):
        big = np.abs(arr[np.isfinite(arr)]).max(initial=0.0)
        if big > np.finfo(np.float32).max / 2:  # would overflow float32: only the relative values matter
            arr = arr / big
    return arr.astype(np.float32)


def _read_npy(p: Path, data: bytes) -> np.ndarray:
    """A ``.npy`` array from its bytes: the header is checked before any allocation,
    and the data must be complete."""
    from numpy.lib import format as npf

    f = io.BytesIO(data)
    try:
        version = npf.read_magic(f)
        read_header = npf.read_array_header_2_0 if version >= (2, 0) else npf.read_array_header_1_0
        shape, fortran, dtype = read_header(f)
    except Exception as e:
        raise InputError(f"{p}: not a readable .npy array ({str(e).splitlines()[0][:200]})") from None
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise InputError(f"{p}: .npy header declares an invalid shape {shape}")
    if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
        raise InputError(f"{p}: depth values must be real numbers (integer or float), got {dtype}")
    count = int(np.prod(shape, dtype=np.float64)) if shape else 1
    if count > MAX_PIXELS:
        raise InputError(f"{p}: .npy header declares shape {shape}, more than the "
                         f"{MAX_PIXELS // 1_000_000} M values supported")
    need = count * dtype.itemsize
    body = data[f.tell():]
    if len(body) < need:
        raise InputError(f"{p}: .npy file is truncated ({len(body)} of {need} data bytes)")
    arr = np.frombuffer(body, dtype, count=count).reshape(shape, order="F" if fortran else "C")
    if arr.ndim > 2:
        arr = np.squeeze(arr, axis=tuple(i for i, n in enumerate(arr.shape) if n == 1)[: arr.ndim - 2])
    return arr


def _read_exr(p: Path) -> np.ndarray:
    """First depth-like channel (Z, depth, Y, R, then any) of an OpenEXR file."""
    try:
        import OpenEXR
    except ImportError:
        raise InputError(f"{p}: reading .exr needs the OpenEXR package (pip install OpenEXR)") from None
    try:
        with OpenEXR.File(str(p), header_only=True) as f:
            lo, hi = f.header()["dataWindow"]
        w, h = int(hi[0]) - int(lo[0]) + 1, int(hi[1]) - int(lo[1]) + 1
    except Exception as e:
        raise InputError(f"{p}: not a readable OpenEXR file ({str(e).splitlines()[0][:200]})") from None
    if w < 1 or h < 1 or w * h > MAX_PIXELS:
        raise InputError(f"{p}: OpenEXR header declares {w}x{h} pixels; 2x2 to "
                         f"{MAX_PIXELS // 1_000_000} MP are supported")
    try:
        with OpenEXR.File(str(p)) as f:
            channels = f.channels()
            for name in ("Z", "depth", "Y", "R", "RGB", "RGBA"):
                if name in channels:
                    break
            else:
                name = next(iter(channels))
            arr = np.asarray(channels[name].pixels)
    except Exception as e:
        raise InputError(f"{p}: not a readable OpenEXR file ({str(e).splitlines()[0][:200]})") from None
    return arr[:, :, 0] if arr.ndim == 3 else arr


def fill_holes(values: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Fill ``holes`` (bool mask) from valid neighbours.

    Each hole takes the farther (smaller-disparity) of the nearest valid values
    to its left and right on the same row -- holes in depth maps are mostly
    occlusions, which belong to the background -- and rows with no valid value
    take the nearest valid pixel in 2-D.
    """
    if not holes.any():
        return values
    if holes.all():
        raise InputError("depth map has no valid (finite) values")
    out = values.copy()
    h, w = values.shape
    cols = np.arange(w)[None, :].repeat(h, 0)
    left = np.where(~holes, cols, -1)
    np.maximum.accumulate(left, axis=1, out=left)
    right = np.where(~holes, cols, w)
    right = np.minimum.accumulate(right[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(h)[:, None].repeat(w, 1)
    lv = np.where(left >= 0, values[rows, np.clip(left, 0, w - 1)], np.inf)
    rv = np.where(right < w, values[rows, np.clip(right, 0, w - 1)], np.inf)
    fill = np.minimum(lv, rv)
    out[holes] = fill[holes]
    still = ~np.isfinite(out)
    if still.any():
        from scipy.ndimage import distance_transform_edt

        idx = distance_transform_edt(still, return_distances=False, return_indices=True)
        out = out[idx[0], idx[1]]
    return out


def to_disparity(raw: np.ndarray, kind: str = "disparity", name: str = "depth map") -> np.ndarray:
    """Turn a raw map into float32 disparity in [0, 1] (1 = nearest).

    ``kind="depth"`` inverts metric depth (values <= 0 are holes) first.
    Non-finite values are filled from neighbours, with a warning.
    """
    if kind not in DEPTH_KINDS:
        raise InputError(f"unknown depth kind '{kind}' (expected one of {', '.join(DEPTH_KINDS)})")
    if raw.ndim != 2 or raw.shape[0] < 1 or raw.shape[1] < 1:
        raise InputError(f"{name}: expected a non-empty 2-D map, got shape {tuple(raw.shape)}")
    d = raw.astype(np.float32, copy=True)
    if kind == "depth":
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(d > 0, 1.0 / d, np.nan).astype(np.float32)
    holes = ~np.isfinite(d)
    if holes.any():
        if holes.all():
            raise InputError(f"{name}: has no valid (finite{', positive' if kind == 'depth' else ''}) values")
        log.warning("%s: %d non-finite values (%.1f%%) treated as holes and filled from neighbours",
                    name, int(holes.sum()), 100.0 * holes.mean())
        d = fill_holes(d, holes)
    lo, hi = float(d.min()), float(d.max())
    if hi - lo <= 1e-12 * max(1.0, abs(hi)):
        log.warning("%s: depth is constant; the whole image is one plane", name)
        return np.zeros_like(d)
    if hi - lo < 1e38:  # in place: d is this function's own copy (the same float32 values as (d - lo) / (hi - lo))
        np.subtract(d, lo, out=d)
        return np.divide(d, hi - lo, out=d)
    # The range would overflow float32: halve everything first.
    return np.clip((d * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5), 0.0, 1.0).astype(np.float32)


def fit_to_image(disparity: np.ndarray, shape: tuple[int, int], name: str = "depth map") -> np.ndarray:
    """Resize a disparity map to the image ``shape`` (H, W).

    A map with the image's aspect ratio (within 2 %) is resized with a warning;
    another aspect ratio means the map belongs to another picture: error.
    """
    h, w = shape
    dh, dw = disparity.shape
    if (dh, dw) == (h, w):
        return disparity
    if abs((dw / dh) / (w / h) - 1.0) > 0.02:
        raise InputError(f"{name}: is {dw}x{dh} but the image is {w}x{h} (different aspect ratio); "
                         "is it the depth map of another picture?")
    log.warning("%s: is %dx%d, resized to the image's %dx%d", name, dw, dh, w, h)
    interp = cv2.INTER_AREA if dw > w else cv2.INTER_LINEAR
    return np.clip(cv2.resize(disparity, (w, h), interpolation=interp), 0.0, 1.0).astype(np.float32)


def load_disparity(path: str | os.PathLike, shape: tuple[int, int] | None = None, kind: str = "disparity") -> np.ndarray:
    """Read a depth file and return normalised disparity (float32, [0, 1]) of ``shape``."""
    d = to_disparity(read_depth_file(path), kind, str(path))
    return fit_to_image(d, shape, str(path)) if shape is not None else d


def find_sidecar(image_path: str | os.PathLike) -> Path | None:
    """The depth file stored next to an image, if any: ``photo.depth.png`` (or
    ``photo.jpg.depth.png``; ``.npy``/``.exr`` also accepted)."""
    p = Path(image_path)
    for base in (p.with_suffix(""), p):
        for suf in SIDECAR_SUFFIXES:
            q = base.with_name(base.name + suf)
            if q.is_file():
                return q
    return None


def save_disparity_png(path: str | os.PathLike, disparity: np.ndarray) -> None:
    """Write disparity in [0, 1] as a 16-bit grayscale PNG (``round(65535*d)``)."""
    d16 = np.rint(np.clip(disparity, 0.0, 1.0) * 65535.0).astype(np.uint16)
    ok, enc = cv2.imencode(".png", d16)
    if not ok:
        raise InputError(f"{path}: cannot encode PNG")
    write_bytes_atomic(path, enc.tobytes())
