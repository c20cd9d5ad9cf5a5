"""Phone-photo test files built from the formats' specifications, independently of
the engine's readers.

* :func:`heic` -- a HEIC written by pillow-heif (libheif + x265), 8 or 10/12 bit,
  optionally with an EXIF orientation (which pillow-heif stores as ``irot``/``imir``).
* :func:`gdepth_jpeg` -- a Google GDepth JPEG (Google's depthmap metadata): the
  XMP packet in APP1 ``http://ns.adobe.com/xap/1.0/``, the depth map and the
  original image in extended XMP (XMP spec part 3: APP1
  ``http://ns.adobe.com/xmp/extension/``, 32-char GUID = MD5 of the extended
  packet, full length and offset as big-endian uint32, then the chunk).
* :func:`encode_gdepth` -- depth in metres to the 8-bit normalised values of
  RangeInverse / RangeLinear.
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
from pathlib import Path

import cv2
import numpy as np

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PUG = SHARED / "realdata" / "pug.heic"  # a real iPhone portrait (see ../shared/README.md)
GROUNDTRUTH = SHARED / "groundtruth"
NS = {"GDepth": "http://ns.google.com/photos/1.0/depthmap/", "GImage": "http://ns.google.com/photos/1.0/image/",
      "GFocus": "http://ns.google.com/photos/1.0/focus/", "xmpNote": "http://ns.adobe.com/xmp/note/"}
XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
EXT_ID = b"http://ns.adobe.com/xmp/extension/\x00"


def heic(rgb: np.ndarray, *, bits: int = 8, orientation: int = 1) -> bytes:
    """``rgb``: uint8 for 8 bits, uint16 (full 16-bit range) for 10 or 12 bits."""
    import pillow_heif
    from PIL import Image

    old = pillow_heif.options.SAVE_HDR_TO_12_BIT
    pillow_heif.options.SAVE_HDR_TO_12_BIT = bits == 12
    try:
        h, w = rgb.shape[:2]
        im = pillow_heif.from_bytes("RGB;16" if rgb.dtype == np.uint16 else "RGB", (w, h), rgb.tobytes())
        if orientation != 1:
            ex = Image.Exif()
            ex[0x0112] = orientation
            im.info["exif"] = ex.tobytes()
        buf = io.BytesIO()
        im.save(buf, quality=-1, chroma=444)
        return buf.getvalue()
    finally:
        pillow_heif.options.SAVE_HDR_TO_12_BIT = old


def app1(payload: bytes) -> bytes:
    assert len(payload) + 2 <= 0xFFFF
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def insert_segments(jpeg: bytes, segments: list[bytes]) -> bytes:
    """``jpeg`` with ``segments`` right after its SOI marker."""
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    ok, enc = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return enc.tobytes()


def png(arr: np.ndarray) -> bytes:
    ok, enc = cv2.imencode(".png", arr if arr.ndim == 2 else np.ascontiguousarray(arr[:, :, ::-1]))
    assert ok
    return enc.tobytes()


def encode_gdepth(depth_m: np.ndarray, near: float, far: float, fmt: str) -> np.ndarray:
    """8-bit GDepth values of a depth map in metres (the spec's normalisation, then round(255 dn))."""
    if fmt == "RangeLinear":
        dn = (depth_m - near) / (far - near)
    else:
        dn = far * (depth_m - near) / (depth_m * (far - near))
    return np.rint(np.clip(dn, 0, 1) * 255).astype(np.uint8)


def xmp_packet(attrs: dict[str, str]) -> bytes:
    decl = " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items())
    body = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" {decl} {body}/></rdf:RDF></x:xmpmeta>').encode()


def extended_segments(ext: bytes, guid: str | None = None, chunk: int = 65000) -> list[bytes]:
    guid = guid or hashlib.md5(ext).hexdigest().upper()
    return [app1(EXT_ID + guid.encode() + struct.pack(">II", len(ext), off) + ext[off:off + chunk])
            for off in range(0, len(ext), chunk)]


def gdepth_attrs(depth8: np.ndarray, near: float, far: float, fmt: str = "RangeInverse", *,
                 original: np.ndarray | None = None, focus: tuple[float, float] | None = None,
                 depth_mime: str = "image/png") -> tuple[dict, dict]:
    """GDepth XMP properties: (standard packet's, extended packet's), as Google Camera splits them."""
    data = png(depth8) if depth_mime == "image/png" else jpeg(np.repeat(depth8[:, :, None], 3, 2), 100)
    main = {"GDepth:Format": fmt, "GDepth:Near": f"{near:g}", "GDepth:Far": f"{far:g}", "GDepth:Mime": depth_mime}
    if focus is not None:
        main |= {"GFocus:FocalPointX": f"{focus[0]:g}", "GFocus:FocalPointY": f"{focus[1]:g}"}
    ext = {"GDepth:Data": base64.b64encode(data).decode()}
    if original is not None:
        ext |= {"GImage:Mime": "image/jpeg", "GImage:Data": base64.b64encode(jpeg(original)).decode()}
    return main, ext


def xmp_jpeg(primary: np.ndarray, main: dict, ext: dict | None = None) -> bytes:
    """A JPEG with the ``main`` XMP properties and, when given, ``ext`` in extended XMP."""
    if not ext:
        return insert_segments(jpeg(primary), [app1(XMP_ID + xmp_packet(main))])
    ext_packet = xmp_packet(ext)
    main = main | {"xmpNote:HasExtendedXMP": hashlib.md5(ext_packet).hexdigest().upper()}
    return insert_segments(jpeg(primary), [app1(XMP_ID + xmp_packet(main)), *extended_segments(ext_packet)])


def gdepth_jpeg(primary: np.ndarray, depth8: np.ndarray, near: float, far: float, fmt: str = "RangeInverse", *,
                split: bool = True, **kw) -> bytes:
    """A GDepth JPEG. ``split``: Data in extended XMP (as Google Camera writes it), else all in one packet."""
    main, ext = gdepth_attrs(depth8, near, far, fmt, **kw)
    return xmp_jpeg(primary, main, ext) if split else xmp_jpeg(primary, main | ext)


def _s15(x: float) -> bytes:
    return struct.pack(">i", round(x * 65536))


def icc_profile(gamma: float, description: str = "test gamma") -> bytes:
    """A minimal ICC v2 RGB display profile (ICC.1:2001-04): sRGB primaries
    (D50-adapted), tone curves ``curv`` with one entry, the gamma (u8Fixed8)."""
    xyz = {b"wtpt": (0.9642, 1.0, 0.8249), b"rXYZ": (0.4361, 0.2225, 0.0139),
           b"gXYZ": (0.3851, 0.7169, 0.0971), b"bXYZ": (0.1431, 0.0606, 0.7141)}
    text = description.encode() + b"\x00"
    tags = {b"desc": b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4) + bytes(4) + bytes(3)
            + bytes(67),
            b"cprt": b"text" + bytes(4) + b"no copyright\x00"}
    tags |= {sig: b"XYZ " + bytes(4) + b"".join(_s15(v) for v in vals) for sig, vals in xyz.items()}
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)
    tags |= {sig: curve for sig in (b"rTRC", b"gTRC", b"bTRC")}
    table, body, off = b"", b"", 128 + 4 + 12 * len(tags)
    for sig, data in tags.items():
        table += sig + struct.pack(">II", off + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    size = off + len(body)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"APPL" + bytes(4) + bytes(8) + bytes(8)
              + struct.pack(">I", 0) + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"lcms" + bytes(16) + bytes(28))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def exif_block(orientation: int = 1, make: str = "TestMake", model: str = "TestModel",
               thumbnail: bytes | None = None) -> bytes:
    """EXIF (``Exif\\0\\0`` + TIFF) with Make, Model, Orientation, an Exif IFD
    (DateTimeOriginal) and, optionally, IFD1 with a JPEG thumbnail."""
    from PIL import Image

    e = Image.Exif()
    e[0x010F], e[0x0110], e[0x0112] = make, model, orientation
    e.get_ifd(0x8769)[0x9003] = "2026:01:02 03:04:05"
    data = e.tobytes()
    if thumbnail is None:
        return data
    # append IFD1 (JPEGInterchangeFormat + Length) and the thumbnail; link it from IFD0's next-IFD pointer
    tiff = bytearray(data[6:])
    e_ = "<" if tiff[:2] == b"II" else ">"
    (ifd0,) = struct.unpack_from(e_ + "I", tiff, 4)
    (n,) = struct.unpack_from(e_ + "H", tiff, ifd0)
    next_at = ifd0 + 2 + 12 * n
    ifd1 = len(tiff)
    struct.pack_into(e_ + "I", tiff, next_at, ifd1)
    thumb_at = ifd1 + 2 + 2 * 12 + 4
    tiff += struct.pack(e_ + "H", 2) + struct.pack(e_ + "HHII", 0x0201, 4, 1, thumb_at)
    tiff += struct.pack(e_ + "HHII", 0x0202, 4, 1, len(thumbnail)) + struct.pack(e_ + "I", 0) + thumbnail
    return b"Exif\x00\x00" + bytes(tiff)


def dng(cfa: np.ndarray, *, white: int = 4095, black: int = 0, neutral=(0.5, 1.0, 0.6), orientation: int = 1) -> bytes:
    """A minimal DNG (Adobe DNG spec 1.4) from an RGGB Bayer mosaic ``cfa`` (uint16):
    one uncompressed CFA IFD, ColorMatrix1 = XYZ -> linear sRGB (so the camera's RGB
    is linear sRGB), AsShotNeutral ``neutral`` (the camera multipliers are its inverse)."""
    import tifffile

    xyz_to_srgb = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    cm = [x for v in xyz_to_srgb.ravel() for x in (int(round(v * 10000)), 10000)]
    tags = [(33421, "H", 2, (2, 2), True),  # CFARepeatPatternDim
            (33422, "B", 4, (0, 1, 1, 2), True),  # CFAPattern: R G / G B
            (50706, "B", 4, (1, 4, 0, 0), True),  # DNGVersion
            (50707, "B", 4, (1, 1, 0, 0), True),  # DNGBackwardVersion
            (50708, "s", 0, "Deocused Test Camera", True),  # UniqueCameraModel
            (50714, "H", 1, black, True),  # BlackLevel
            (50717, "H", 1, white, True),  # WhiteLevel
            (50721, "2i", 9, cm, True),  # ColorMatrix1 (SRATIONAL)
            (50728, "2I", 3, [x for v in neutral for x in (int(round(v * 10000)), 10000)], True),  # AsShotNeutral
            (50778, "H", 1, 21, True),  # CalibrationIlluminant1: D65
            (274, "H", 1, orientation, True), (271, "s", 0, "Deocused", True), (272, "s", 0, "TestCam", True)]
    buf = io.BytesIO()
    tifffile.imwrite(buf, cfa.astype(np.uint16), photometric=32803, extratags=tags, subfiletype=0)
    return buf.getvalue()


def mosaic(rgb: np.ndarray) -> np.ndarray:
    """The RGGB Bayer mosaic of an (H, W, 3) image (H, W even)."""
    out = rgb[:, :, 1].copy()
    out[0::2, 0::2] = rgb[0::2, 0::2, 0]
    out[1::2, 1::2] = rgb[1::2, 1::2, 2]
    return out


DD = {"Device": "http://ns.google.com/photos/dd/1.0/device/",
      "Container": "http://ns.google.com/photos/dd/1.0/container/",
      "Item": "http://ns.google.com/photos/dd/1.0/item/", "Camera": "http://ns.google.com/photos/dd/1.0/camera/",
      "DepthMap": "http://ns.google.com/photos/dd/1.0/depthmap/", "Image": "http://ns.google.com/photos/dd/1.0/image/"}


def dynamic_depth_jpeg(primary: np.ndarray, depth8: np.ndarray, near: float, far: float, fmt: str = "RangeInverse",
                       *, units: str = "Meters", original: np.ndarray | None = None, padding: int = 0,
                       depth_uri: str = "android/depthmap", lengths: dict | None = None) -> bytes:
    """A Dynamic Depth 1.0 JPEG: Device/Container/Directory listing the primary image,
    the depth PNG and (optionally) the original JPEG, appended in that order after the
    primary image, each followed by ``padding`` zero bytes; Camera/DepthMap and
    Camera/Image describing them. ``lengths``: override declared Item:Length by URI."""
    items = [("image/png", png(depth8), "android/depthmap")]
    if original is not None:
        items.append(("image/jpeg", jpeg(original), "android/original_image"))
    lengths = lengths or {}
    li = '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:DataURI="primary_image"/></rdf:li>'
    li += "".join(f'<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="{m}" '
                  f'Item:Length="{lengths.get(u, len(b))}" Item:Padding="{padding}" Item:DataURI="{u}"/></rdf:li>'
                  for m, b, u in items)
    image = ('<Camera:Image Image:ItemSemantic="Original" Image:ItemURI="android/original_image" '
             'Image:Mime="image/jpeg"/>') if original is not None else ""
    decl = " ".join(f'xmlns:{p}="{u}"' for p, u in DD.items())
    xmp = (f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           f'<rdf:Description rdf:about="" {decl}><Device:Container><Container:Directory><rdf:Seq>{li}'
           f"</rdf:Seq></Container:Directory></Device:Container><Device:Cameras><rdf:Seq>"
           f'<rdf:li rdf:parseType="Resource"><Device:Camera><Camera:DepthMap DepthMap:Format="{fmt}" '
           f'DepthMap:Near="{near:g}" DepthMap:Far="{far:g}" DepthMap:Units="{units}" '
           f'DepthMap:DepthURI="{depth_uri}" DepthMap:ItemSemantic="Depth"/>{image}</Device:Camera></rdf:li>'
           f"</rdf:Seq></Device:Cameras></rdf:Description></rdf:RDF></x:xmpmeta>").encode()
    out = insert_segments(jpeg(primary), [app1(XMP_ID + xmp)])
    return out + b"".join(b + bytes(padding) for _, b, _ in items)
