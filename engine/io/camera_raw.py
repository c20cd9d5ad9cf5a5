"""Camera RAW files (DNG, CR2/CR3, NEF, ARW, RAF, ORF, RW2...) through rawpy (LibRaw),
the ``[raw]`` extra.

:func:`decode_camera_raw` demosaics to **scene-linear** RGB (sRGB primaries,
linear light, float32): the camera's white balance, no auto-brightening, no
tone curve, and highlights *not* clipped: LibRaw's "unclip" highlight mode
scales every channel by min/max of the white-balance multipliers so that no
channel clips, and the scale is undone here. 1.0 is the sensor's white level
in the least-amplified channel; a white-balanced highlight can exceed it.
Those values above 1 are what make bokeh of lights bright discs, with no
``--highlights`` boost (that option guesses such energy for 8-bit photos,
whose highlights clip at 1).

The file's orientation is applied by LibRaw. Files are recognised by their
extension (most RAW formats are TIFF-structured, like a plain TIFF).
"""

from __future__ import annotations

import io

import numpy as np

from ..errors import InputError
from ..extras import require

RAW_EXTENSIONS = (".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
                  ".pef", ".srw", ".3fr", ".iiq", ".erf", ".kdc", ".mos", ".mrw", ".x3f")


def is_camera_raw(name: str) -> bool:
    return str(name).lower().endswith(RAW_EXTENSIONS)


def _multipliers(raw) -> np.ndarray:
    """The white-balance multipliers LibRaw uses: the camera's, else daylight (R, G, B, G2)."""
    wb = np.array(raw.camera_whitebalance, np.float64)
    if not (wb[:3] > 0).all():
        wb = np.array(raw.daylight_whitebalance, np.float64)
    if wb[3] <= 0:
        wb[3] = wb[1]
    return wb


def decode_camera_raw(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """Scene-linear float32 RGB (H, W, 3) of a RAW file's bytes (values may exceed 1)."""
    require("raw", "reading camera RAW files")
    import rawpy

    try:
        raw = rawpy.imread(io.BytesIO(data))
    except Exception as e:  # LibRawFileUnsupportedError, LibRawIOError, ...
        raise InputError(f"{name}: not a readable camera RAW file ({type(e).__name__}: "
                         f"{str(e).splitlines()[0][:160] if str(e) else 'LibRaw refused it'})") from None
    with raw:
        s = raw.sizes
        if s.width * s.height > max_pixels or s.width < 2 or s.height < 2:
            raise InputError(f"{name}: RAW file declares {s.width}x{s.height} pixels")
        wb = _multipliers(raw)
        if not (wb > 0).all() or not np.isfinite(wb).all():
            raise InputError(f"{name}: RAW file has no usable white balance ({wb.tolist()})")
        try:
            rgb16 = raw.postprocess(use_camera_wb=True, no_auto_bright=True, gamma=(1, 1), output_bps=16,
                                    output_color=rawpy.ColorSpace.sRGB, highlight_mode=rawpy.HighlightMode.Ignore)
        except Exception as e:
            raise InputError(f"{name}: cannot decode the RAW data ({type(e).__name__}: "
                             f"{str(e).splitlines()[0][:160]})") from None
    scale = np.float32(wb.max() / wb.min() / 65535.0)  # undo the unclip mode's min/max scaling
    return np.multiply(rgb16, scale, dtype=np.float32)
