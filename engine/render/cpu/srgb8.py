"""Fast 8-bit sRGB <-> linear conversions for frames on their way to the screen or a video file.

:func:`deocused.io.colour.linear_to_srgb8` evaluates the sRGB curve (a power) for
every value; for a 1920x1080 frame that costs far more than a table look-up.
:class:`Srgb8Encoder` quantises linear light to 16 bits and looks the 8-bit
code up in a 65536-entry table built with that same function; the few values
whose 16-bit neighbourhood straddles a rounding boundary of the 8-bit code
(about 1 %) are encoded with the function itself, so the result equals
:func:`deocused.io.colour.linear_to_srgb8` exactly. Buffers are reused between
frames of the same size. :func:`srgb8_to_linear` decodes 8-bit sRGB with a 256-entry table
(exactly :func:`deocused.io.colour.srgb_to_linear` of ``code / 255``). Both look-ups are
Numba loops run on every core by :func:`~deocused.render.cpu.pixels.run_chunks` (NumPy's passes
took ~20 ms per 1280x720 frame, the Numba loops ~6 ms), not ``parallel=True`` loops: Numba's
TBB threading layer can hang the process at exit once used from a thread other than the main
one (the viewer's render thread; numba issue 10556).
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from . import jit as cpu_jit
from .pixels import run_chunks

_Q = 65535.0  # linear light quantised to 16 bits


@njit(cache=True, nogil=True)
def _encode(i0, i1, lin, code, near, out, exact):
    """Values i0..i1-1 (flat float32 ``lin``): the 16-bit bin round(clip(v * Q, 0, Q)) as NumPy
    computes it in float32 (x + 0.5, truncated), its code into ``out``; ``exact``:
    the bin straddles a rounding boundary of the code."""
    q = np.float32(_Q)
    for i in range(i0, i1):
        t = min(max(lin[i] * q, np.float32(0.0)), q) + np.float32(0.5)
        b = int(t)
        out[i] = code[b]
        exact[i] = near[b]


@njit(cache=True, nogil=True)
def _decode(i0, i1, rgb8, table, out):
    for i in range(i0, i1):
        out[i] = table[rgb8[i]]


cpu_jit.define_group("frames", 2.0, {
    "srgb8:_encode": "i8 i8 f4[1] u1[1] b1[1] u1[1] b1[1]",
    "srgb8:_decode": "i8 i8 u1[1] f4[1] f4[1]",
})


@functools.lru_cache(1)
def _encode_tables() -> tuple[np.ndarray, np.ndarray]:
    """(code of each 16-bit bin centre, True where the codes one bin either side differ)."""
    from ...io.colour import linear_to_srgb8

    code = linear_to_srgb8(np.arange(65536, dtype=np.float64).astype(np.float32) / np.float32(_Q))
    lo = np.concatenate([code[:1], code[:-1]])
    hi = np.concatenate([code[1:], code[-1:]])
    return code, lo != hi


@functools.lru_cache(1)
def _decode_table() -> np.ndarray:
    from ...io.colour import srgb_to_linear

    return srgb_to_linear(np.arange(256, dtype=np.float32) / np.float32(255.0))


def srgb8_to_linear(rgb8: np.ndarray) -> np.ndarray:
    """uint8 sRGB (H, W, 3) -> float32 linear light in [0, 1] (a new array)."""
    rgb8 = np.ascontiguousarray(rgb8, np.uint8)
    out = np.empty(rgb8.shape, np.float32)
    cpu_jit.ensure("frames")
    run_chunks(_decode, rgb8.size, rgb8.reshape(-1), _decode_table(), out.reshape(-1))
    return out


class Srgb8Encoder:
    """Linear light (float32 NumPy (H, W, 3), finite) -> 8-bit sRGB, equal to
    :func:`deocused.io.colour.linear_to_srgb8`; buffers are reused while the frame size stays."""

    def __init__(self):
        self._shape = None
        self._exact = None

    def __call__(self, linear: np.ndarray) -> np.ndarray:
        """A new uint8 array (H, W, 3) (the caller may keep it)."""
        lin = np.ascontiguousarray(linear, np.float32)
        if lin.shape != self._shape:
            self._shape = lin.shape
            self._exact = np.empty(lin.shape, np.bool_)
        out = np.empty(lin.shape, np.uint8)
        code, near_boundary = _encode_tables()
        cpu_jit.ensure("frames")
        run_chunks(_encode, lin.size, lin.reshape(-1), code, near_boundary, out.reshape(-1), self._exact.reshape(-1))
        if self._exact.any():
            from ...io.colour import linear_to_srgb8

            idx = np.flatnonzero(self._exact)
            out.reshape(-1)[idx] = linear_to_srgb8(lin.reshape(-1)[idx])
        return out
