"""Colour encoding: sRGB transfer function <-> linear light.

The engine blurs in *linear light* (physically: light intensities add up on the
sensor). Images arrive as sRGB-encoded values in [0, 1]; they are decoded with
the exact IEC 61966-2-1 piecewise curve, blurred, and encoded again. All arrays
are RGB channel order. The functions take NumPy or CuPy arrays (``xp`` is
picked from the input).
"""

from __future__ import annotations

import numpy as np

from ..errors import check_float_array
from ..xp import array_module as _xp


def srgb_to_linear(srgb):
    """Decode sRGB values in [0, 1] to linear light in [0, 1] (float32). Integer codes are
    refused (:class:`~deocused.errors.InputError`): divide them by 255 (65535) first.

    >>> srgb_to_linear(np.array([0.0, 0.5, 1.0], np.float32)).round(4)
    array([0.   , 0.214, 1.   ], dtype=float32)
    """
    check_float_array(srgb, "image", "(H, W, 3)")
    xp = _xp(srgb)
    s = xp.clip(srgb.astype(xp.float32, copy=False), 0.0, 1.0)
    if xp is not np:
        return xp.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4).astype(xp.float32)
    # The same operations in place (one output buffer instead of six temporaries).
    out = s + 0.055
    out /= 1.055
    np.power(out, 2.4, out=out)
    np.divide(s, 12.92, out=out, where=s <= 0.04045)
    return out


def linear_to_srgb(linear):
    """Encode linear light (clipped to [0, 1]; floats, else :class:`~deocused.errors.InputError`)
    to sRGB values in [0, 1] (float32)."""
    check_float_array(linear, "image", "(H, W, 3)")
    xp = _xp(linear)
    v = xp.clip(linear.astype(xp.float32, copy=False), 0.0, 1.0)
    if xp is not np:
        return xp.where(v <= 0.0031308, v * 12.92, 1.055 * v ** (1.0 / 2.4) - 0.055).astype(xp.float32)
    out = np.power(v, 1.0 / 2.4)
    out *= 1.055
    out -= 0.055
    np.multiply(v, 12.92, out=out, where=v <= 0.0031308)
    return out


def linear_to_srgb8(linear):
    """Encode linear light to 8-bit sRGB (uint8, rounded to nearest).

    >>> linear_to_srgb8(np.array([0.0, 0.5, 1.0], np.float32))
    array([  0, 188, 255], dtype=uint8)
    """
    xp = _xp(linear)
    v = linear_to_srgb(linear)
    v *= 255.0
    return xp.rint(v, out=v).astype(xp.uint8)


def codes8(srgb, chunk: int = 1 << 18):
    """The 8-bit codes (uint8, same shape) of a float32 image whose every value is exactly
    ``code * float32(1/255)`` (how :mod:`deocused.images` decodes 8-bit files), else None.
    Bitwise: -0.0, NaN and any other value are not codes."""
    if not isinstance(srgb, np.ndarray) or srgb.dtype != np.float32 or not srgb.flags.c_contiguous:
        return None
    flat = srgb.reshape(-1)
    out = np.empty(flat.size, np.uint8)
    for i in range(0, flat.size, chunk):
        part = flat[i:i + chunk]
        code = np.rint(part * np.float32(255.0)).astype(np.uint8)  # out of range: wraps, then fails below
        back = np.multiply(code, np.float32(1 / 255), dtype=np.float32)
        if not np.array_equal(back.view(np.uint32), part.view(np.uint32)):
            return None
        out[i:i + chunk] = code
    return out.reshape(srgb.shape)


def code_table(decode) -> np.ndarray:
    """``decode`` (an elementwise, per-channel map of (H, W, 3) float32 arrays) of the 256 codes'
    values: float32 (256, 3), so that ``table[codes[..., c], c]`` is ``decode`` of the image
    :func:`codes8` gave ``codes`` of, bit for bit."""
    values = np.multiply(np.arange(256, dtype=np.uint8), np.float32(1 / 255), dtype=np.float32)
    return np.ascontiguousarray(decode(np.repeat(values[None, :, None], 3, axis=2))[0], np.float32)


def decode_codes(codes: np.ndarray, table: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """float32 (H, W, 3): ``table`` (see :func:`code_table`) looked up per channel (OpenCV's LUT: the
    table's values copied, on every core), into ``out`` (float32 C-ordered, the shape of ``codes``;
    None: a new array)."""
    import cv2

    if out is None:
        out = np.empty(codes.shape, np.float32)
    lut = table[:, :1] if (table == table[:, :1]).all() else table  # the same curve for every channel: one table
    cv2.LUT(np.ascontiguousarray(codes), np.ascontiguousarray(lut, np.float32).reshape(1, 256, -1), dst=out)
    return out
