"""Fast 8-bit sRGB <-> linear conversions for frames on their way to the screen or a video file.

:func:`deocused.colour.linear_to_srgb8` evaluates the sRGB curve (a power) for
every value; for a 1920x1080 frame that costs far more than a table look-up.
:class:`Srgb8Encoder` quantises linear light to 16 bits and looks the 8-bit
code up in a 65536-entry table built with that same function; the few values
whose 16-bit neighbourhood straddles a rounding boundary of the 8-bit code
(about 1 %) are encoded with the function itself, so the result equals
:func:`deocused.colour.linear_to_srgb8` exactly. Buffers are reused between
frames of the same size. :func:`srgb8_to_linear` decodes 8-bit sRGB with a 256-entry table
(exactly :func:`deocused.colour.srgb_to_linear` of ``code / 255``).
"""

from __future__ import annotations

import functools

import numpy as np

_Q = 65535.0  # linear light quantised to 16 bits


@functools.lru_cache(1)
def _encode_tables() -> tuple[np.ndarray, np.ndarray]:
    """(code of each 16-bit bin centre, True where the codes one bin either side differ)."""
    from ..colour import linear_to_srgb8

    code = linear_to_srgb8(np.arange(65536, dtype=np.float64).astype(np.float32) / np.float32(_Q))
    lo = np.concatenate([code[:1], code[:-1]])
    hi = np.concatenate([code[1:], code[-1:]])
    return code, lo != hi


@functools.lru_cache(1)
def _decode_table() -> np.ndarray:
    from ..colour import srgb_to_linear

    return srgb_to_linear(np.arange(256, dtype=np.float32) / np.float32(255.0))


def srgb8_to_linear(rgb8: np.ndarray) -> np.ndarray:
    """uint8 sRGB (H, W, 3) -> float32 linear light in [0, 1] (a new array)."""
    return _decode_table()[rgb8]


class Srgb8Encoder:
    """Linear light (float32 NumPy (H, W, 3), finite) -> 8-bit sRGB, equal to
    :func:`deocused.colour.linear_to_srgb8`; buffers are reused while the frame size stays."""

    def __init__(self):
        self._shape = None
        self._tmp = self._idx = None

    def __call__(self, linear: np.ndarray) -> np.ndarray:
        """A new uint8 array (H, W, 3) (the caller may keep it)."""
        lin = np.asarray(linear, np.float32)
        if lin.shape != self._shape:
            self._shape = lin.shape
            self._tmp = np.empty(lin.shape, np.float32)
            self._idx = np.empty(lin.shape, np.uint16)
        tmp = self._tmp
        np.multiply(lin, np.float32(_Q), out=tmp)
        np.clip(tmp, 0.0, _Q, out=tmp)
        np.add(tmp, np.float32(0.5), out=tmp)
        np.copyto(self._idx, tmp, casting="unsafe")  # truncation of x + 0.5: rounding
        code, near_boundary = _encode_tables()
        out = code[self._idx]
        exact = near_boundary[self._idx]
        if exact.any():
            from ..colour import linear_to_srgb8

            out[exact] = linear_to_srgb8(lin[exact])
        return out
