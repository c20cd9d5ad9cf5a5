"""HEIF/HEIC and AVIF files through pillow-heif (libheif).

* :func:`is_heif` -- whether bytes are an ISO-BMFF image file (``ftyp`` box with
  a HEIF or AVIF brand).
* :func:`open_heif` -- the primary image's handle, its declared size checked
  before anything is decoded.
* :func:`decode_heif` -- the primary image as stored: RGB(A), uint8 (8-bit
  files) or uint16 scaled to the full 16-bit range (10- and 12-bit files), in
  display orientation (libheif applies the ``irot``/``imir`` transforms, which
  for HEIF are authoritative; the EXIF orientation tag is informative only).

AVIF files are decoded by Pillow's own AVIF plugin (libavif; 8-bit), as
pillow-heif's wheels carry no AV1 codec; Pillow reports their rotation as an
EXIF orientation, applied here.

Every decoder failure becomes a one-line :class:`~deocused.errors.InputError`.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError

#: ``ftyp`` brands of still HEIF/AVIF images (ISO/IEC 23008-12, AV1 Image File Format).
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"mif2",
                         b"avif", b"avis"})


def is_heif(data: bytes) -> bool:
    """True for an ISO-BMFF file whose ``ftyp`` box names a HEIF or AVIF brand."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    size = int.from_bytes(data[:4], "big")
    end = min(max(size, 16), len(data), 4096)
    brands = [data[8:12]] + [data[i:i + 4] for i in range(16, end - 3, 4)]
    return any(b in HEIF_BRANDS for b in brands)


def is_avif(data: bytes) -> bool:
    """True for an AVIF file (major brand ``avif``/``avis``)."""
    return data[8:12] in (b"avif", b"avis")


def _reason(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def open_heif(data: bytes, name: str, max_pixels: int):
    """The primary image of a HEIF file (pillow-heif ``HeifFile``), not decoded yet.

    Raises :class:`InputError` for a corrupt or truncated file or a declared
    size of zero or more than ``max_pixels`` pixels."""
    import pillow_heif

    try:
        f = pillow_heif.open_heif(data, convert_hdr_to_8bit=False)
    except Exception as e:  # libheif raises ValueError/RuntimeError/OSError with its own message
        raise InputError(f"{name}: not a readable HEIF/AVIF image ({_reason(e)})") from None
    w, h = f.size
    if w == 0 or h == 0:
        raise InputError(f"{name}: HEIF header declares {w}x{h} pixels (an empty image)")
    if w * h > max_pixels:
        raise InputError(f"{name}: HEIF header declares {w}x{h} pixels ({w * h / 1e6:.0f} MP), "
                         f"more than the {max_pixels // 1_000_000} MP supported")
    return f


def decode_heif(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    """Decode the primary image: (H, W, 3 or 4) uint8, or uint16 for 10/12-bit files."""
    if is_avif(data):
        return _decode_avif(data, name, max_pixels)
    f = open_heif(data, name, max_pixels)
    try:
        arr = np.asarray(f)
    except Exception as e:
        raise InputError(f"{name}: cannot decode the HEIF/AVIF image ({_reason(e)})") from None
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.size == 0:
        raise InputError(f"{name}: HEIF image decoded to an unexpected shape {arr.shape}")
    return arr


def _decode_avif(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    import io

    from PIL import Image, ImageOps

    try:
        im = Image.open(io.BytesIO(data), formats=["AVIF"])
        w, h = im.size
        if w * h > max_pixels:
            raise InputError(f"{name}: AVIF header declares {w}x{h} pixels ({w * h / 1e6:.0f} MP), "
                             f"more than the {max_pixels // 1_000_000} MP supported")
        im = ImageOps.exif_transpose(im.convert("RGBA" if "A" in im.getbands() else "RGB"))
        return np.asarray(im)
    except InputError:
        raise
    except Exception as e:
        raise InputError(f"{name}: not a readable AVIF image ({_reason(e)})") from None
