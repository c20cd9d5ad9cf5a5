"""Reading and writing photos.

OpenCV does the decoding and encoding; it works in BGR(A) order, so this module
converts to RGB at the edge and nothing else in the engine sees BGR.
Loaded images are float32 sRGB-encoded values in [0, 1], shape (H, W, 3).

Every input file is checked before it is opened (a regular file, a name the
system accepts, at most :data:`MAX_FILE_BYTES`), and an image's dimensions are
read from its header (PNG, JPEG, GIF, BMP, WebP, TIFF) before it is decoded,
so an image that declares more than :data:`MAX_PIXELS` pixels is refused
without allocating it. Outputs are checked with :func:`check_output_path`
before any slow work and written atomically by :func:`write_image`.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import struct
from pathlib import Path

import cv2
import numpy as np

from ..errors import DiskFullError, InputError
from .camera_raw import RAW_EXTENSIONS, decode_camera_raw, is_camera_raw
from .heif import decode_heif, is_heif
from .imageinfo import _jpeg_segments, apply_orientation, exif_orientation, header_size

log = logging.getLogger("deocused")

_LINEAR_FORMATS = {".hdr", ".pfm", *RAW_EXTENSIONS}
#: Largest image accepted, in pixels (width x height), checked on the header before decoding.
MAX_PIXELS = 200_000_000
#: Largest input file accepted, in bytes.
MAX_FILE_BYTES = 4 << 30


def _stat_error(p: Path, e: OSError, what: str) -> InputError:
    if e.errno == errno.ENAMETOOLONG:
        longest = max((len(os.fsencode(part)) for part in p.parts), default=0)
        limits = ""
        with contextlib.suppress(OSError, ValueError):
            base = next((q for q in p.parents if os.path.isdir(q)), Path("."))
            limits = (f"; the system allows {os.pathconf(base, 'PC_NAME_MAX')} bytes per name and "
                      f"{os.pathconf(base, 'PC_PATH_MAX')} in all")
        return InputError(f"{_short(p)}: file name too long ({longest} bytes in the longest name, "
                          f"{len(os.fsencode(str(p)))} in all{limits})")
    if e.errno in (errno.ENOENT, errno.ENOTDIR):
        return InputError(f"{_short(p)}: no such file")
    if e.errno == errno.EACCES:
        return InputError(f"{_short(p)}: permission denied")
    if e.errno == errno.ELOOP:
        return InputError(f"{_short(p)}: too many levels of symbolic links")
    return InputError(f"{_short(p)}: cannot read ({e.strerror or e})")


def _short(p: Path | str, limit: int = 160) -> str:
    """A path for an error message: very long ones are shortened in the middle."""
    s = str(p)
    return s if len(s) <= limit else f"{s[: limit // 2 - 2]}...{s[-(limit // 2 - 1):]}"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_input_file(path: str | os.PathLike, what: str = "file", allow_dir: bool = False) -> os.stat_result:
    """Check that ``path`` names an existing regular file (or a folder, when
    ``allow_dir``) without opening it: a FIFO, device or socket would block or
    never end. Raises a one-line :class:`InputError`; returns the ``stat``."""
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as e:
        raise _stat_error(p, e, what) from None
    except ValueError as e:  # embedded NUL
        raise InputError(f"{_short(p)}: invalid file name ({e})") from None
    if stat.S_ISREG(st.st_mode) or (allow_dir and stat.S_ISDIR(st.st_mode)):
        return st
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{_short(p)}: is a folder, not a {what}")
    raise InputError(f"{_short(p)}: is {_kind(st.st_mode)}, not a regular file (the {what} must be a file)")


def read_bytes(path: str | os.PathLike, what: str = "file", max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """Read a whole regular file, turning OS errors into one-line :class:`InputError`.

    Non-regular files (FIFO, device, socket, folder) are refused before they are
    opened, and the file is opened non-blocking, so nothing here can hang."""
    p = Path(path)
    check_input_file(p, what)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise _stat_error(p, e, what) from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):  # replaced between the check and the open
            raise InputError(f"{_short(p)}: is {_kind(st.st_mode)}, not a regular file (the {what} must be a file)")
        if st.st_size > max_bytes:
            raise InputError(f"{_short(p)}: {st.st_size / 2**30:.1f} GiB is more than the "
                             f"{max_bytes / 2**30:.0f} GiB supported")
        try:
            data = f.read(max_bytes + 1)
        except OSError as e:
            raise InputError(f"{_short(p)}: cannot read ({e.strerror or e})") from None
    if not data:
        raise InputError(f"{_short(p)}: file is empty (0 bytes)")
    if len(data) > max_bytes:
        raise InputError(f"{_short(p)}: more than the {max_bytes / 2**30:.0f} GiB supported")
    return data


# -- decoding ---------------------------------------------------------------------------

def _truncation(data: bytes) -> str | None:
    """Why ``data`` is a truncated JPEG, PNG, GIF, BMP or WebP file, else None
    (their headers or trailers say how long they are)."""
    n = len(data)
    if data[:3] == b"\xff\xd8\xff":  # JPEG: its scan must end with the EOI marker (items may follow it)
        if b"\xff\xd9" in data[-64:].rstrip(b"\x00") or b"\xff\xd9" in data[_jpeg_scan_start(data):]:
            return None
        return "JPEG file is truncated (no end-of-image marker)"
    if data[:8] == b"\x89PNG\r\n\x1a\n":  # PNG: must contain IEND
        return None if b"IEND" in data[-64:] else "PNG file is truncated (no IEND chunk)"
    if data[:6] in (b"GIF87a", b"GIF89a"):  # GIF: ends with the trailer byte
        return None if b"\x3b" in data[-16:] else "GIF file is truncated (no trailer)"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":  # WebP: the RIFF header gives the length
        need = 8 + struct.unpack_from("<I", data, 4)[0]
        return None if n >= need else f"WebP file is truncated ({n} of {need} bytes)"
    if data[:2] == b"BM":  # BMP: uncompressed pixel rows must all be there
        if n < 54:
            return f"BMP file is truncated ({n} bytes)"
        offset, dib = struct.unpack_from("<II", data, 10)
        if dib >= 40:
            w, h, _, bpp, compression = struct.unpack_from("<iiHHI", data, 18)
            need = offset + ((bpp * abs(w) + 31) // 32) * 4 * abs(h) if compression in (0, 3) else offset + 1
            if n < need:
                return f"BMP file is truncated ({n} of {need} bytes)"
    return None


def _jpeg_scan_start(data: bytes) -> int:
    """Where a JPEG's first scan begins (after its header segments: an EXIF
    thumbnail's EOI is not the image's); entropy-coded data holds no EOI."""
    end = 2
    for _, off, size in _jpeg_segments(data):
        end = off + size
    return end


def _check_complete(path: Path, data: bytes) -> None:
    """Refuse truncated files, which a decoder might half-decode silently."""
    why = _truncation(data)
    if why:
        raise InputError(f"{_short(path)}: {why}")


def _cv_reason(e: cv2.error) -> str:
    text = getattr(e, "err", "") or str(e)
    if "CV_IO_MAX_IMAGE_PIXELS" in text or "CV_IO_MAX_IMAGE_W" in text or "CV_IO_MAX_IMAGE_H" in text:
        return "its declared size is larger than the decoder allows"
    return text.strip().splitlines()[0][:200] if text.strip() else "decoder error"


def decode_raw(data: bytes, name: str = "<image>", what: str = "image") -> np.ndarray:
    """Decode image bytes as stored (OpenCV's BGR(A) or grey, native dtype), in
    display orientation (EXIF orientation applied; OpenCV applies TIFF's itself).
    HEIF/HEIC/AVIF files are decoded by :mod:`deocused.io.heif` (10/12-bit as uint16),
    camera RAW files (by extension) by :mod:`deocused.io.camera_raw` (scene-linear float32).

    The header's dimensions are checked before decoding: zero or more than
    :data:`MAX_PIXELS` pixels raise :class:`InputError`, as does a truncated
    JPEG/PNG or anything OpenCV cannot decode.
    """
    path = Path(name)
    if is_camera_raw(name):  # scene-linear float32, values above 1 kept (deocused.io.camera_raw)
        return cv2.cvtColor(decode_camera_raw(data, _short(path), MAX_PIXELS), cv2.COLOR_RGB2BGR)
    if is_heif(data):  # HEIF/HEIC/AVIF: libheif applies the file's own rotation and mirroring
        rgb = decode_heif(data, _short(path), MAX_PIXELS)
        return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR if rgb.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    info = header_size(data)
    if info is not None:
        fmt, w, h = info
        if w == 0 or h == 0:
            raise InputError(f"{_short(path)}: {fmt} header declares {w}x{h} pixels (an empty {what})")
        if w * h > MAX_PIXELS:
            raise InputError(f"{_short(path)}: {fmt} header declares {w}x{h} pixels ({w * h / 1e6:.0f} MP), "
                             f"more than the {MAX_PIXELS // 1_000_000} MP supported")
    _check_complete(path, data)
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise InputError(f"{_short(path)}: cannot decode the {what} ({_cv_reason(e)})") from None
    if img is None and data[:4] == b"\x76\x2f\x31\x01":
        raise InputError(f"{_short(path)}: OpenEXR is not supported for this {what} (OpenCV's wheels lack the "
                         "codec); convert it to a 16-bit PNG or TIFF")
    if img is None or img.size == 0:
        raise InputError(f"{_short(path)}: not a readable {what} (unknown format or corrupt data)")
    h, w = img.shape[:2]
    if h * w > MAX_PIXELS:
        raise InputError(f"{_short(path)}: {what} is {w}x{h} pixels, more than the "
                         f"{MAX_PIXELS // 1_000_000} MP supported")
    if info is None or info[0] != "TIFF":
        o = exif_orientation(data)
        if o != 1:
            img = apply_orientation(img, o)
    return img


def decode_image(data: bytes, name: str = "<image>", codes: bool = False) -> np.ndarray:
    """Decode image bytes to float32 sRGB RGB in [0, 1], shape (H, W, 3).

    8- and 16-bit integer images are scaled to [0, 1]; float images from linear
    formats (HDR, PFM) are encoded to sRGB (values above 1 clip). Grayscale
    is expanded to RGB; an alpha channel is composited over white. EXIF
    orientation is applied (to the alpha channel too). With ``codes``, an 8-bit image
    without alpha comes as its uint8 RGB codes instead (:func:`unit_float8` makes the floats).
    """
    path = Path(name)
    img = decode_raw(data, name)
    alpha = None
    if img.ndim == 3 and img.shape[2] in (2, 4):
        alpha = img[:, :, -1]
        img = img[:, :, :-1]
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    h, w = img.shape[:2]
    if h < 2 or w < 2:
        raise InputError(f"{_short(path)}: image is {w}x{h} pixels; at least 2x2 is needed")
    is_float = img.dtype.kind == "f"
    if img.ndim == 3 and img.shape[2] != 3:
        raise InputError(f"{_short(path)}: image has {img.shape[2]} colour channels; expected 1 or 3")
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if img.dtype in (np.uint8, np.uint16) else img[:, :, ::-1]
    if codes and img.dtype == np.uint8 and alpha is None:
        return np.ascontiguousarray(img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2RGB))
    img = _to_unit_float(img, path)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = np.ascontiguousarray(img)
    if alpha is not None:
        a = _to_unit_float(alpha, path)[:, :, None]
        img = img * a + (1.0 - a)
        log.info("%s: alpha channel composited over white", path)
    if is_float and not np.isfinite(img).all():
        raise InputError(f"{_short(path)}: image contains NaN or infinite values")
    return img.astype(np.float32, copy=False)


#: code * float32(1/255) for each 8-bit code: OpenCV's table lookup makes the same floats several
#: times faster than NumPy's mixed-type multiply (0.02-0.07 s instead of 0.33 s for 12 MP).
_UNIT8 = np.arange(256, dtype=np.float32) * np.float32(1 / 255)


def unit_float8(codes: np.ndarray) -> np.ndarray:
    """8-bit codes (uint8) as float32 values in [0, 1]: ``code * float32(1/255)``, as the decoders make them."""
    return cv2.LUT(np.ascontiguousarray(codes), _UNIT8)


def _to_unit_float(img: np.ndarray, path: Path) -> np.ndarray:
    if img.dtype == np.uint8:
        return unit_float8(img)
    if img.dtype == np.uint16:
        return np.multiply(img, np.float32(1 / 65535), dtype=np.float32)
    if img.dtype in (np.float32, np.float64, np.float16):
        f = img.astype(np.float32)
        if path.suffix.lower() in _LINEAR_FORMATS:
            from .colour import linear_to_srgb

            return linear_to_srgb(np.nan_to_num(f, nan=0.0, posinf=1.0, neginf=0.0))
        return np.clip(f, 0.0, 1.0)
    raise InputError(f"{_short(path)}: unsupported pixel type {img.dtype}")


def load_image(path: str | os.PathLike, codes: bool = False) -> np.ndarray:
    """Load a photo as float32 sRGB RGB in [0, 1], shape (H, W, 3) (``codes``: see :func:`decode_image`).

    >>> import os, tempfile
    >>> path = write_image(os.path.join(tempfile.mkdtemp(), "grey.png"), np.full((4, 6, 3), 128, np.uint8))
    >>> image = load_image(path)
    >>> image.dtype, image.shape, bool(image[0, 0, 0] == np.float32(128 / 255))
    (dtype('float32'), (4, 6, 3), True)
    """
    return decode_image(read_bytes(path, "image"), str(path), codes)


# -- writing ----------------------------------------------------------------------------

def _encodable(ext: str) -> bool:
    if ext in (".heic", ".heif"):  # pillow-heif's encoder (deocused.io.encode)
        return True
    try:
        ok, _ = cv2.imencode(ext, np.zeros((2, 2, 3), np.uint8))
    except cv2.error:
        return False
    return bool(ok)


def check_output_path(path: str | os.PathLike, *, protect=(), overwrite: bool = False, image: bool = True,
                      flag: str = "--output") -> Path:
    """Check, before any slow work, that ``path`` can be written: a name the
    system accepts in an existing folder, not an input (``protect``), not a
    folder, FIFO or device, not an existing file unless ``overwrite``, and (when
    ``image``) an extension OpenCV can encode. Raises a one-line :class:`InputError`."""
    p = Path(path)
    try:
        st = os.stat(p)
    except OSError as e:
        if e.errno == errno.ENOTDIR:
            parent = next((q for q in reversed(p.parents) if q.exists() and not q.is_dir()), p.parent)
            raise InputError(f"{_short(p)}: {_short(parent)} is a file, not a folder") from None
        if e.errno != errno.ENOENT:
            raise _stat_error(p, e, "output file") from None
        st = None
    except ValueError as e:
        raise InputError(f"{_short(p)}: invalid file name ({e})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{_short(p)}: is a folder; give a file name with {flag}")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{_short(p)}: is {_kind(st.st_mode)}; refusing to write to it")
        for q in protect:
            if q is not None and os.path.exists(q) and os.path.samefile(p, q):
                raise InputError(f"{_short(p)}: refusing to overwrite an input file; choose another {flag}")
        if not overwrite:
            raise InputError(f"{_short(p)}: already exists; choose another {flag} or pass --overwrite")
    parent = p.parent
    if not parent.is_dir():
        raise InputError(f"{_short(p)}: folder {_short(parent)} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{_short(p)}: cannot write in folder {_short(parent)} (permission denied)")
    if image:
        ext = p.suffix.lower() or ".png"
        if not _encodable(ext):
            raise InputError(f"{_short(p)}: cannot write an image with extension '{ext}' "
                             "(use .png, .jpg, .tif, .webp, .heic or .bmp)")
    return p




def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file next to ``path`` and rename it into
    place: ``path`` is either untouched or complete, and no temporary file is
    left behind, whatever fails (Ctrl-C included)."""
    p = Path(path)
    tmp = p.with_name(f".refocus-{os.getpid()}-{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, p)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if (full := DiskFullError.of(_short(p), e)) is not None:
            raise full from None
        if isinstance(e, OSError):
            raise InputError(f"{_short(p)}: cannot write ({e.strerror or e})") from None
        raise
    return p


def write_image(path: str | os.PathLike, srgb8: np.ndarray, *, protect=(), overwrite: bool = False,
                meta=None, quality: int | None = None) -> Path:
    """Write an RGB image atomically (temp file + rename): uint8, or uint16 for
    16-bit PNG/TIFF. ``meta`` (:class:`deocused.io.metadata.PhotoMeta`): the ICC
    profile, EXIF and XMP to embed (:mod:`deocused.io.encode`); ``quality``: JPEG,
    WebP or HEIC quality (1-100).

    Refuses (:func:`check_output_path`) to overwrite any path in ``protect`` (the
    inputs) and, unless ``overwrite`` is set, any existing file.

    >>> import os, tempfile
    >>> path = write_image(os.path.join(tempfile.mkdtemp(), "black.png"), np.zeros((2, 3, 3), np.uint8))
    >>> path.name, path.stat().st_size > 0
    ('black.png', True)
    >>> write_image(path, np.zeros((2, 3, 3), np.uint8))
    Traceback (most recent call last):
    ...
    deocused.errors.InputError: ...
    """
    from .encode import encode_image

    p = check_output_path(path, protect=protect, overwrite=overwrite)
    if srgb8.dtype not in (np.uint8, np.uint16) or srgb8.ndim != 3 or srgb8.shape[2] != 3:
        raise ValueError("write_image expects uint8 or uint16 RGB (H, W, 3)")
    try:
        data = encode_image(p.suffix.lower() or ".png", srgb8, meta, quality)
    except cv2.error as e:
        raise InputError(f"{_short(p)}: cannot encode the image ({_cv_reason(e)})") from None
    except InputError as e:
        raise InputError(f"{_short(p)}: {e}") from None
    return write_bytes_atomic(p, data)


def free_path(path: Path) -> Path:
    """``path`` if it does not exist, else ``stem-1.ext``, ``stem-2.ext``... (first free)."""
    if not os.path.lexists(path):
        return path
    i = 1
    while True:
        q = path.with_name(f"{path.stem}-{i}{path.suffix}")
        if not os.path.lexists(q):
            return q
        i += 1


#: OpenCV flags that decode a JPEG at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling)
_REDUCED = {8: cv2.IMREAD_REDUCED_COLOR_8, 4: cv2.IMREAD_REDUCED_COLOR_4, 2: cv2.IMREAD_REDUCED_COLOR_2}


def load_image_reduced(path: str | os.PathLike, min_size: tuple[int, int]):
    """A JPEG decoded at 1/2, 1/4 or 1/8 of its size -- the largest reduction still at least ``min_size``
    (w, h) -- much quicker than a full decode (a viewer's first frame). Display orientation (EXIF), float32
    sRGB RGB in [0, 1]. Returns (image, the photo's full (w, h)), or None when the file is not a JPEG, no
    reduction fits, or anything is off (then :func:`load_image` decodes it whole and reports errors)."""
    data = read_bytes(path, "image")
    info = header_size(data)
    if info is None or info[0] != "JPEG" or not 0 < info[1] * info[2] <= MAX_PIXELS:
        return None
    _, w, h = info
    orientation = exif_orientation(data)
    if orientation in (5, 6, 7, 8):  # stored rotated by 90 degrees
        w, h = h, w
    factor = next((f for f in _REDUCED if w // f >= min_size[0] and h // f >= min_size[1]), None)
    if factor is None or _truncation(data) is not None:
        return None
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), _REDUCED[factor] | cv2.IMREAD_IGNORE_ORIENTATION)
    except cv2.error:
        return None
    if img is None or img.ndim != 3 or img.shape[2] != 3:
        return None
    if orientation != 1:
        img = apply_orientation(img, orientation)
    return np.ascontiguousarray(img[:, :, ::-1]).astype(np.float32) / 255.0, (w, h)
