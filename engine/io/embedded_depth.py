"""Depth recorded by the phone inside the photo file.

* Apple HEIC: the depth/disparity auxiliary image of the primary image, with
  its depth representation info (ISO/IEC 23008-12 / H.265 depth
  representation: type 0 uniform inverse Z, 1 uniform disparity, 2 uniform Z,
  3 non-uniform disparity; ``d_min``/``d_max``), from pillow-heif.
* Google Dynamic Depth 1.0 (Android portrait JPEGs): :mod:`deocused.io.dynamic_depth`.
* Google GDepth (Lens Blur, older Google Camera JPEGs): ``GDepth:Data`` (a
  base64 PNG/JPEG in the XMP or extended XMP) with ``Format`` RangeInverse or
  RangeLinear and ``Near``/``Far``; ``GImage:Data``, the original photo before
  the camera's own blur, replaces the primary image; ``GFocus:FocalPointX/Y``
  give the default focus point.

:func:`find_embedded_depth` returns an :class:`EmbeddedDepth` (raw disparity,
larger = nearer, at the map's own size) or None when the file carries none;
:func:`fit_to_photo` turns it into the engine's normalised disparity at the
photo's size with the guided upsampling of :mod:`deocused.io.guided`.
A depth item that is present but broken is an :class:`InputError`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

log = logging.getLogger("deocused")

NS_GDEPTH = "http://ns.google.com/photos/1.0/depthmap/"
NS_GIMAGE = "http://ns.google.com/photos/1.0/image/"
NS_GFOCUS = "http://ns.google.com/photos/1.0/focus/"


@dataclass
class EmbeddedDepth:
    """Depth found in a photo file. ``disparity``: float32 (h, w), larger = nearer,
    not normalised; ``image``: bytes of the photo to refocus instead of the
    primary image (GDepth's unblurred original), or None; ``focus``: the
    recorded focus point as fractions (x, y) of the width and height, or None."""

    disparity: np.ndarray
    source: str
    image: bytes | None = None
    focus: tuple[float, float] | None = None


def find_embedded_depth(data: bytes, name: str = "<image>") -> EmbeddedDepth | None:
    """The depth embedded in a photo file's bytes, or None."""
    from .heif import is_avif, is_heif

    if is_heif(data):
        return None if is_avif(data) else heif_depth(data, name)  # AVIF: no depth images read
    if data[:3] == b"\xff\xd8\xff":
        from .dynamic_depth import dynamic_depth

        return gdepth(data, name) or dynamic_depth(data, name)
    return None


def depth_values(arr: np.ndarray, name: str) -> np.ndarray:
    """An integer or float depth image as float32 values in [0, 1] (first channel)."""
    if arr.ndim == 3:
        arr = arr[:, :, 0]
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise InputError(f"{name}: embedded depth map has an unusable shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.float32) / np.float32(np.iinfo(arr.dtype).max)
    return arr.astype(np.float32)


# -- Apple HEIC -----------------------------------------------------------------------------

def heif_depth(data: bytes, name: str) -> EmbeddedDepth | None:
    """The depth auxiliary image of a HEIF file's primary image, as disparity."""
    from .heif import open_heif
    from .images import MAX_PIXELS

    f = open_heif(data, name, MAX_PIXELS)
    items = f.info.get("depth_images") or []
    if not items:
        return None
    item = items[0]
    w, h = item.size
    if w * h > MAX_PIXELS or w < 2 or h < 2:
        raise InputError(f"{name}: embedded depth image declares {w}x{h} pixels")
    try:
        arr = np.asarray(item)
    except Exception as e:
        raise InputError(f"{name}: embedded depth image cannot be decoded ({str(e).splitlines()[0][:200]})") from None
    disp, what = representation_to_disparity(depth_values(arr, name), item.info.get("metadata") or {}, name)
    disp = _upright(disp, f.info.get("exif"), f.size, name)
    return EmbeddedDepth(disp, f"HEIF {what} auxiliary image {w}x{h}")


def representation_to_disparity(v: np.ndarray, meta: dict, name: str) -> tuple[np.ndarray, str]:
    """A HEIF depth image's values in [0, 1] to disparity (larger = nearer), by its
    depth representation info: ``representation_type`` 0 uniform inverse Z, 1
    uniform disparity, 2 uniform Z (inverted here), 3 non-uniform disparity
    (read as disparity, with a warning); values map linearly onto
    [``d_min``, ``d_max``] when both are given. Returns (disparity, what it was)."""
    kind = meta.get("representation_type")
    lo, hi = meta.get("d_min"), meta.get("d_max")
    if lo is not None and hi is not None and np.isfinite([lo, hi]).all() and hi != lo:
        v = np.float32(lo) + v * np.float32(hi - lo)
    if kind == 2:  # uniform Z: depth, near = small
        if lo is None or hi is None or not lo > 0 or not hi > 0:
            raise InputError(f"{name}: embedded depth (uniform Z) has no valid d_min/d_max ({lo}, {hi})")
        return (1.0 / v).astype(np.float32), "depth"
    what = {0: "inverse depth", 1: "disparity", 3: "non-uniform disparity"}.get(kind, "disparity")
    if kind not in (0, 1):
        log.warning("%s: embedded depth representation %s read as disparity", name, kind)
    return v.astype(np.float32), what


def _upright(depth: np.ndarray, exif: bytes | None, size: tuple[int, int], name: str) -> np.ndarray:
    """The depth image turned like the primary image. libheif turns the primary by
    its ``irot``/``imir`` (which the EXIF orientation mirrors) but not the depth
    image, which Apple stores unturned; the EXIF orientation is used when the
    turned map has the photo's aspect ratio."""
    from .imageinfo import apply_orientation

    o = _exif_orientation(exif, name)
    if o == 1:
        return depth
    turned = apply_orientation(depth, o)
    w, h = size
    dh, dw = turned.shape
    return turned if abs((dw / dh) / (w / h) - 1.0) <= 0.02 else depth


def _exif_orientation(exif: bytes | None, name: str) -> int:
    if not exif:
        return 1
    from PIL import Image

    try:
        e = Image.Exif()
        e.load(exif)
        o = int(e.get(0x0112, 1))
    except Exception:
        log.warning("%s: EXIF is unreadable; its orientation is ignored", name)
        return 1
    return o if 1 <= o <= 8 else 1


# -- Google GDepth ------------------------------------------------------------------------

def _b64(text: str | None, what: str, name: str) -> bytes:
    if not text:
        raise InputError(f"{name}: GDepth XMP has no {what} data")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{name}: {what} in the XMP is not valid base64") from None


def _number(props: dict, key: tuple[str, str], name: str) -> float:
    try:
        x = float(props[key])
    except (KeyError, ValueError):
        raise InputError(f"{name}: GDepth:{key[1]} is missing or not a number") from None
    if not np.isfinite(x) or x <= 0:
        raise InputError(f"{name}: GDepth:{key[1]} = {x:g} (must be a positive depth)")
    return x


def gdepth(data: bytes, name: str) -> EmbeddedDepth | None:
    """GDepth depth of a JPEG (XMP and extended XMP), as disparity."""
    from .images import decode_raw
    from .xmp import jpeg_xmp

    main, ext = jpeg_xmp(data, name, needle=NS_GDEPTH.encode())
    props = {**ext, **main}
    if not any(ns == NS_GDEPTH for ns, _ in props):
        return None
    fmt = props.get((NS_GDEPTH, "Format"), "RangeInverse")
    if fmt not in ("RangeInverse", "RangeLinear"):
        raise InputError(f"{name}: GDepth:Format '{fmt[:40]}' is not RangeInverse or RangeLinear")
    near, far = _number(props, (NS_GDEPTH, "Near"), name), _number(props, (NS_GDEPTH, "Far"), name)
    if near == far:
        raise InputError(f"{name}: GDepth:Near and GDepth:Far are equal ({near:g})")
    raw = decode_raw(_b64(props.get((NS_GDEPTH, "Data")), "GDepth depth map", name), f"{name} (GDepth:Data)",
                     "embedded depth map")
    disp = range_to_disparity(depth_values(raw, name), fmt, near, far)
    image = None
    if props.get((NS_GIMAGE, "Data")):
        image = _b64(props[(NS_GIMAGE, "Data")], "GImage original image", name)
    return EmbeddedDepth(disp.astype(np.float32), f"GDepth {fmt} {raw.shape[1]}x{raw.shape[0]}"
                         + (" with the original image (GImage)" if image else ""), image, _gfocus(props, name))


def range_to_disparity(dn: np.ndarray, fmt: str, near: float, far: float, diopters: bool = False) -> np.ndarray:
    """Google's depth encodings (GDepth and Dynamic Depth): normalised values ``dn`` in
    [0, 1] to 1/depth. RangeLinear: d = dn (far - near) + near; RangeInverse:
    d = far near / (far - dn (far - near)), so 1/d is linear in dn. With
    ``diopters`` (Dynamic Depth ``Units="Diopters"``) d already is 1/depth."""
    if fmt == "RangeLinear":
        d = dn * np.float32(far - near) + np.float32(near)
        return d if diopters else 1.0 / d
    inverse = (np.float32(far) - dn * np.float32(far - near)) / np.float32(far * near)  # 1/d
    return 1.0 / inverse if diopters else inverse


def _gfocus(props: dict, name: str) -> tuple[float, float] | None:
    try:
        x, y = float(props[(NS_GFOCUS, "FocalPointX")]), float(props[(NS_GFOCUS, "FocalPointY")])
    except (KeyError, ValueError):
        return None
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        log.warning("%s: GFocus focal point (%g, %g) is outside the image; ignored", name, x, y)
        return None
    return x, y


# -- to the photo -------------------------------------------------------------------------

def fit_to_photo(depth: EmbeddedDepth, image_srgb: np.ndarray, name: str = "embedded depth") -> np.ndarray:
    """Normalised disparity (float32, [0, 1], 1 = nearest) at the photo's size:
    holes filled, then upsampled guided by the photo (its edges kept)."""
    from .depthmap import fit_to_image, to_disparity
    from .guided import guided_upsample

    d = to_disparity(depth.disparity, "disparity", name)
    h, w = image_srgb.shape[:2]
    dh, dw = d.shape
    if (dh, dw) == (h, w):
        return d
    if abs((dw / dh) / (w / h) - 1.0) > 0.02 or dh > h or dw > w:
        return fit_to_image(d, (h, w), name)  # refuses another aspect ratio; shrinks a larger map
    return guided_upsample(d, image_srgb)
