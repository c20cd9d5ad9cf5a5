"""The metadata a photo carries from its input file to every output.

* :func:`read_metadata` -- the ICC profile, EXIF and XMP of a photo file's
  bytes (HEIF through pillow-heif, the other formats through Pillow).
* :class:`PhotoMeta` -- those three, already made true for an output: the
  EXIF orientation is 1 (the engine's pixels are upright) and its thumbnail is
  gone (it would show the unrefocused photo); the XMP has lost the depth
  payload (GDepth/GImage data) and its pointer to extended XMP.
  :meth:`PhotoMeta.stripped` keeps only the ICC profile (``--strip-metadata``:
  privacy, but the colours stay right).

Broken metadata never stops a photo: an unreadable EXIF block is dropped with
a warning, and so on. (A corrupt ICC profile is refused by
:mod:`deocused.io.iccolour`, as the colours cannot be reproduced without it.)
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from dataclasses import dataclass, replace

log = logging.getLogger("deocused")

EXIF_ORIENTATION = 0x0112
#: IFD0 tags of an embedded thumbnail (JPEGInterchangeFormat, ...Length) and its IFD1.
_THUMBNAIL_TAGS = (0x0201, 0x0202)
_GOOGLE_DATA_NS = ("http://ns.google.com/photos/1.0/depthmap/", "http://ns.google.com/photos/1.0/image/")
_DEVICE_NS = "http://ns.google.com/photos/dd/1.0/device/"


@dataclass(frozen=True)
class PhotoMeta:
    """``icc``: ICC profile bytes; ``exif``: EXIF as TIFF-structured bytes (no
    ``Exif\\0\\0`` header); ``xmp``: the XMP packet (UTF-8). Any may be None."""

    icc: bytes | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    bits: int = 8  # bits per channel of the input's pixels (16 for 16-bit PNG/TIFF and 10/12-bit HEIC)

    def stripped(self) -> PhotoMeta:
        return replace(self, exif=None, xmp=None)


def read_metadata(data: bytes, name: str = "<image>") -> PhotoMeta:
    """ICC, EXIF and XMP of a photo file, made ready for an output (see the module)."""
    from PIL import UnidentifiedImageError

    from .camera_raw import is_camera_raw
    from .heif import is_avif, is_heif

    raw = is_camera_raw(name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the decoders' warnings about EXIF: clean_exif reports those
            icc, exif, xmp, bits = _read_heif(data) if is_heif(data) and not is_avif(data) \
                else _read_pillow(data)
    except UnidentifiedImageError:  # a format Pillow does not read (HDR, PFM, EXR, most RAWs): no metadata
        log.debug("%s: no metadata read (format unknown to Pillow)", name)
        return PhotoMeta(bits=16 if raw else 8)
    except Exception as e:  # metadata must not stop a photo the decoder accepted
        (log.info if raw else log.warning)("%s: metadata unreadable (%s); the output will have none",
                                           name, str(e).splitlines()[0][:120])
        return PhotoMeta(bits=16 if raw else 8)
    return PhotoMeta(icc or None, clean_exif(exif, name), clean_xmp(xmp), 16 if raw else bits)


def _read_heif(data: bytes):
    import pillow_heif

    info = pillow_heif.open_heif(data).info
    return info.get("icc_profile"), info.get("exif"), info.get("xmp"), 8 if info.get("bit_depth", 8) <= 8 else 16


def _read_pillow(data: bytes):
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        info = im.info
        xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
        bits = 8
        if im.format == "PNG":
            bits = 16 if data[24] == 16 else 8  # IHDR bit depth
        exif = info.get("exif")
        if im.format == "TIFF":  # TIFF, DNG and most RAWs: the descriptive tags of IFD0 become the EXIF
            bits = 16 if max(im.tag_v2.get(258, (8,))) == 16 else 8  # BitsPerSample
            exif = _tiff_exif(im)
            xmp = xmp or im.tag_v2.get(700)
        return info.get("icc_profile"), exif, xmp.encode() if isinstance(xmp, str) else xmp, bits


#: IFD0 tags of a TIFF that describe the photo (not its strips): Make, Model, Orientation,
#: DateTime, Artist, Copyright, Software, ImageDescription; the Exif and GPS IFD pointers.
_TIFF_DESCRIPTIVE = (0x010F, 0x0110, 0x0112, 0x0132, 0x013B, 0x8298, 0x0131, 0x010E, 0x8769, 0x8825)


def _tiff_exif(im) -> bytes | None:
    from PIL import Image

    src = im.getexif()
    e = Image.Exif()
    for tag in _TIFF_DESCRIPTIVE:
        if tag in src and tag not in (0x8769, 0x8825):
            e[tag] = src[tag]
    for sub in (0x8769, 0x8825):
        if sub in src:
            ifd = e.get_ifd(sub)
            ifd.update(src.get_ifd(sub))
    return e.tobytes() if len(e) or any(e.get_ifd(s) for s in (0x8769, 0x8825)) else None


def clean_exif(exif: bytes | None, name: str = "<image>") -> bytes | None:
    """EXIF with orientation 1 and no thumbnail, as TIFF-structured bytes; None
    (with a warning) if it cannot be read."""
    if not exif:
        return None
    raw = exif[6:] if exif[:6] == b"Exif\x00\x00" else exif
    try:
        with warnings.catch_warnings(record=True) as caught:  # Pillow warns on corrupt EXIF: then it is broken
            warnings.simplefilter("always")
            out = _upright_exif(raw)
        if caught:
            raise ValueError(str(caught[0].message))
    except Exception as err:
        log.warning("%s: EXIF is broken (%s); the output will have none", name, str(err).splitlines()[0][:120])
        return None
    return out[6:] if out[:6] == b"Exif\x00\x00" else out


def _upright_exif(raw: bytes) -> bytes:
    from PIL import Image

    e = Image.Exif()
    e.load(b"Exif\x00\x00" + raw)
    if not len(e):
        raise ValueError("no readable tags")
    for sub in (0x8769, 0x8825):  # the Exif and GPS IFDs: read now, so that they are written
        if sub in e:
            e.get_ifd(sub)
    if EXIF_ORIENTATION in e:
        e[EXIF_ORIENTATION] = 1
    for tag in _THUMBNAIL_TAGS:
        e.pop(tag, None)
    return e.tobytes()


def clean_xmp(xmp: bytes | None) -> bytes | None:
    """The XMP packet without GDepth/GImage ``Data`` (the depth map and the original
    image, megabytes that belong to the input), ``xmpNote:HasExtendedXMP`` or the
    Dynamic Depth container and cameras (they describe items appended to the
    input file), and with ``tiff:Orientation`` 1."""
    if not xmp:
        return None
    text = xmp.decode("utf-8", "replace").rstrip("\x00")
    prefixes = [p for p, uri in re.findall(r'xmlns:([\w.-]+)="([^"]*)"', text) if uri in _GOOGLE_DATA_NS]
    for p in prefixes + ["xmpNote"]:
        prop = "HasExtendedXMP" if p == "xmpNote" else "Data"
        text = re.sub(rf'\s{re.escape(p)}:{prop}\s*=\s*"[^"]*"', "", text)
        text = re.sub(rf"<{re.escape(p)}:{prop}>.*?</{re.escape(p)}:{prop}>", "", text, flags=re.S)
    for p in [p for p, uri in re.findall(r'xmlns:([\w.-]+)="([^"]*)"', text) if uri == _DEVICE_NS]:
        for prop in ("Container", "Cameras"):  # Dynamic Depth: items appended to the input, not to the output
            text = re.sub(rf"<{re.escape(p)}:{prop}>.*?</{re.escape(p)}:{prop}>", "", text, flags=re.S)
    text = re.sub(r'tiff:Orientation="\d"', 'tiff:Orientation="1"', text)
    text = re.sub(r"<tiff:Orientation>\d</tiff:Orientation>", "<tiff:Orientation>1</tiff:Orientation>", text)
    return text.encode()
