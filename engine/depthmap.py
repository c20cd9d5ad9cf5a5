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

from .errors import InputError
from .images import read_bytes

log = logging.getLogger("engine")

DEPTH_KINDS = ("disparity", "depth")
SIDECAR_SUFFIXES = (".depth.png", ".depth.npy", ".depth.exr")


def read_depth_file(path: str | os.PathLike) -> np.ndarray:
    """Read a raw depth/disparity map as float32 (H, W); holes stay non-finite."""
    p = Path(path)
    data = read_bytes(p)
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except Exception as e:  # numpy raises ValueError/EOFError/... on corrupt files
            raise InputError(f"{p}: not a readable .npy array ({e})") from None
        arr = np.squeeze(arr)
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number):
            raise InputError(f"{p}: expected a 2-D numeric array, got shape {arr.shape} of {arr.dtype}")
        return arr.astype(np.float32)
    if p.suffix.lower() == ".exr":
        return _read_exr(p)
    from .images import _check_complete

    _check_complete(p, data)
    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if arr is None:
        raise InputError(f"{p}: not a readable depth map (PNG, .npy or .exr expected)")
    if arr.ndim == 3:
        if not (np.array_equal(arr[:, :, 0], arr[:, :, 1]) and np.array_equal(arr[:, :, 0], arr[:, :, 2])):
            log.warning("%s: depth map has colour channels that differ; using the first", p)
        arr = arr[:, :, 0]
    return arr.astype(np.float32)


def _read_exr(p: Path) -> np.ndarray:
    """First depth-like channel (Z, depth, Y, R, then any) of an OpenEXR file."""
    import OpenEXR

    try:
        with OpenEXR.File(str(p)) as f:
            channels = f.channels()
            for name in ("Z", "depth", "Y", "R", "RGB", "RGBA"):
                if name in channels:
                    break
            else:
                name = next(iter(channels))
            arr = np.asarray(channels[name].pixels, np.float32)
    except Exception as e:  # the binding raises plain RuntimeError on corrupt files
        raise InputError(f"{p}: not a readable OpenEXR file ({e})") from None
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
    return ((d - lo) / (hi - lo)).astype(np.float32)


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
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
    tmp.write_bytes(enc.tobytes())
    os.replace(tmp, p)
