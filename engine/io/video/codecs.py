"""Output video codecs: names, FFmpeg encoders, containers and default quality.

``--video-codec`` names a codec; the encoder is the FFmpeg encoder PyAV's wheel
carries for it. Without a name, an output keeps its input's container family:
``.mp4``/``.mov``/``.m4v``/``.mkv`` -> H.264, ``.webm`` -> AV1, ``.avi`` -> Motion-JPEG.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ...errors import InputError, RefocusError

log = logging.getLogger("deocused")


@dataclass(frozen=True)
class Codec:
    """One output codec: FFmpeg ``encoder``, default file extension ``ext``, default
    ``crf`` (None: the encoder has no CRF; ``quality`` is then its q scale), pixel format."""

    encoder: str
    ext: str
    crf: int | None
    pix_fmt: str
    options: tuple[tuple[str, str], ...] = ()


CODECS = {
    "h264": Codec("libx264", ".mp4", 18, "yuv420p", (("preset", "veryfast"),)),  # ~20 ms a 1080p frame
    "hevc": Codec("libx265", ".mp4", 20, "yuv420p", (("preset", "faster"), ("x265-params", "log-level=error"))),
    "av1": Codec("libsvtav1", ".mp4", 30, "yuv420p", (("preset", "8"),)),
    "ffv1": Codec("ffv1", ".mkv", None, "bgr0"),  # lossless RGB
    "mjpg": Codec("mjpeg", ".avi", None, "yuvj420p"),
}
#: Default codec for an output that keeps its input's extension.
DEFAULT_FOR_EXT = {".mp4": "h264", ".mov": "h264", ".m4v": "h264", ".mkv": "h264", ".webm": "av1",
                   ".avi": "mjpg"}
#: Container each extension is written as (FFmpeg muxer names).
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
#: Codecs each container can hold.
ALLOWED = {".avi": {"mjpg", "ffv1", "h264"}, ".webm": {"av1"}, ".mp4": {"h264", "hevc", "av1", "mjpg"},
           ".m4v": {"h264", "hevc", "av1"}, ".mov": {"h264", "hevc", "mjpg", "av1"}, ".mkv": set(CODECS)}


@lru_cache(maxsize=1)
def missing_encoders() -> tuple[str, ...]:
    """The codecs whose encoder this PyAV build lacks (AAC too: audio copy never needs it)."""
    import av

    have = av.codec.codecs_available
    return tuple(f"{name} ({c.encoder})" for name, c in CODECS.items() if c.encoder not in have)


def check_encoders(wanted: str | None = None) -> None:
    """Log the missing encoders in one line; raise when ``wanted`` is one of them."""
    missing = missing_encoders()
    if missing:
        log.warning("this PyAV build lacks the encoders for: %s", ", ".join(missing))
    if wanted is not None and any(m.startswith(wanted + " ") for m in missing):
        raise RefocusError(f"--video-codec {wanted}: PyAV's FFmpeg has no {CODECS[wanted].encoder} encoder "
                           f"(missing: {', '.join(missing)})")


def codec_for(path: str | Path, codec: str | None = None) -> str:
    """The codec name for an output ``path``: ``codec`` if given (checked against the container), else the
    extension's default. Raises :class:`InputError` for unknown names, extensions or combinations."""
    ext = Path(path).suffix.lower()
    if ext not in MUXERS:
        raise InputError(f"{path}: unsupported video extension '{ext}' (use {', '.join(sorted(MUXERS))})")
    if codec is None:
        return DEFAULT_FOR_EXT[ext]
    name = codec.lower()
    if name not in CODECS:
        raise InputError(f"unknown video codec '{codec}' (use {', '.join(CODECS)})")
    if name not in ALLOWED[ext]:
        raise InputError(f"{path}: a {ext} file cannot hold {name} video (use {CODECS[name].ext} or .mkv)")
    return name
