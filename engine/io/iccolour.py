"""The transfer curve of a photo's ICC profile: linear light in, linear light out.

The engine blurs in linear light. A photo's values are encoded with its
profile's tone curves (``rTRC``/``gTRC``/``bTRC``, ICC.1 10.6 ``curv`` and
10.18 ``para``), which for sRGB and Display P3 is the sRGB curve, for Adobe RGB
a 2.2 gamma, for ProPhoto 1.8. :func:`transfer_from_icc` reads those curves;
the :class:`Transfer` decodes with them and encodes back with their inverse,
so in-focus pixels come out as they went in and the output keeps the input's
profile (embedded by :mod:`deocused.io.encode`). Only the tone curve matters
here: the primaries are not converted (the output is in the input's space).

A profile that LittleCMS (Pillow's ImageCms) cannot open is refused; one
without RGB tone curves (LUT-based, grey) is treated as sRGB with a warning.
"""

from __future__ import annotations

import io
import logging
import struct

import numpy as np

from ..errors import InputError
from .colour import linear_to_srgb, srgb_to_linear

log = logging.getLogger("deocused")

_GRID = np.linspace(0.0, 1.0, 4097)


def _srgb_curve(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _s15(b: bytes, i: int) -> float:
    return struct.unpack_from(">i", b, i)[0] / 65536.0


def _parametric(kind: int, p: list[float], x: np.ndarray) -> np.ndarray:
    """ICC ``para`` function types 0-4 (ICC.1:2010 table 68)."""
    g, a, b, c, d, e, f = (p + [0.0] * 7)[:7]
    if kind == 0:
        return x ** g
    base = np.maximum(a * x + b, 0.0)
    if kind == 1:
        return np.where(x >= -b / a, base ** g, 0.0)
    if kind == 2:
        return np.where(x >= -b / a, base ** g + c, c)
    if kind == 3:
        return np.where(x >= d, base ** g, c * x)
    return np.where(x >= d, base ** g + e, c * x + f)


def _curve(tag: bytes) -> np.ndarray:
    """A tone curve tag sampled on :data:`_GRID` (encoded value -> linear)."""
    kind = tag[:4]
    if kind == b"curv":
        (n,) = struct.unpack_from(">I", tag, 8)
        if n == 0:
            return _GRID.copy()
        if n == 1:
            return _GRID ** (struct.unpack_from(">H", tag, 12)[0] / 256.0)
        if len(tag) < 12 + 2 * n:
            raise ValueError("curv table is truncated")
        table = np.frombuffer(tag, ">u2", n, 12).astype(np.float64) / 65535.0
        return np.interp(_GRID, np.linspace(0.0, 1.0, n), table)
    if kind == b"para":
        (fn,) = struct.unpack_from(">H", tag, 8)
        count = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}.get(fn)
        if count is None or len(tag) < 12 + 4 * count:
            raise ValueError(f"para function type {fn} unknown or truncated")
        return _parametric(fn, [_s15(tag, 12 + 4 * i) for i in range(count)], _GRID)
    raise ValueError(f"tone curve of type {kind!r}")


def _tags(icc: bytes) -> dict[bytes, bytes]:
    (count,) = struct.unpack_from(">I", icc, 128)
    out = {}
    for i in range(min(count, 1000)):
        sig, off, size = struct.unpack_from(">4sII", icc, 132 + 12 * i)
        if off + size > len(icc):
            raise ValueError(f"tag {sig!r} runs past the profile's end")
        out[sig] = icc[off:off + size]
    return out


class Transfer:
    """Per-channel tone curves: :meth:`decode` to linear light, :meth:`encode` back."""

    def __init__(self, curves: list[np.ndarray], name: str):
        self.curves = [np.maximum.accumulate(np.clip(c, 0.0, 1.0)) for c in curves]
        self.name = name
        self.is_srgb = all(np.abs(c - _srgb_curve(_GRID)).max() < 2e-4 for c in self.curves)

    def decode(self, encoded: np.ndarray) -> np.ndarray:
        """Encoded values in [0, 1] (H, W, 3) -> linear float32."""
        if self.is_srgb:
            return srgb_to_linear(encoded)
        out = np.empty(encoded.shape, np.float32)
        for ch, c in enumerate(self.curves):
            out[..., ch] = np.interp(encoded[..., ch], _GRID, c)
        return out

    def encode(self, linear: np.ndarray) -> np.ndarray:
        """Linear float (H, W, 3) -> encoded values in [0, 1], float32."""
        if self.is_srgb:
            return linear_to_srgb(linear)
        out = np.empty(linear.shape, np.float32)
        for ch, c in enumerate(self.curves):
            out[..., ch] = np.interp(np.clip(linear[..., ch], 0.0, 1.0), c, _GRID)
        return out


def transfer_from_icc(icc: bytes | None, name: str = "<image>") -> Transfer | None:
    """The profile's transfer, or None for no profile (sRGB is assumed)."""
    if not icc:
        return None
    from PIL import ImageCms

    try:
        desc = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip()
    except Exception as e:
        raise InputError(f"{name}: the embedded ICC colour profile is corrupt ({str(e).splitlines()[0][:120]})") \
            from None
    try:
        tags = _tags(icc)
        curves = [_curve(tags[sig]) for sig in (b"rTRC", b"gTRC", b"bTRC")]
    except (KeyError, ValueError, struct.error) as e:
        log.warning("%s: ICC profile '%s' has no usable RGB tone curves (%s); treated as sRGB", name, desc, e)
        return None
    t = Transfer(curves, desc or "ICC profile")
    log.debug("%s: ICC profile '%s' (%s tone curve)", name, t.name, "sRGB" if t.is_srgb else "own")
    return t
