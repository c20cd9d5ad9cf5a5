"""Reading video with PyAV: :func:`probe` and :class:`VideoReader`.

Frames come out upright (the display matrix phones store instead of rotating
pixels is applied) as RGB with their presentation timestamp. YUV is converted
with the stream's own matrix and range (untagged: BT.709 from 720 lines up,
else BT.601, as players do); 10- and 12-bit sources keep their precision
(16-bit RGB before the float conversion). Transfer: SDR curves (BT.709,
BT.601, sRGB, unspecified) are taken as the sRGB curve; PQ and HLG are refused.
Damaged data ends the frames with an :class:`InputError` naming the time of
the damage, after every frame before it was delivered.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ...errors import InputError

#: FFmpeg AVColorTransferCharacteristic values of HDR curves -> name.
HDR_TRC = {16: "PQ (SMPTE ST 2084)", 18: "HLG (ARIB STD-B67)"}
#: AVColorSpace -> the matrix name PyAV's reformatter takes.
_MATRIX = {1: "ITU709", 4: "FCC", 5: "ITU601", 6: "ITU601", 7: "SMPTE240M", 9: "BT2020", 10: "BT2020"}
#: Highest frame rate taken as real (fps).
MAX_FPS = 1000.0


class DamagedVideo(InputError):
    """Damaged or missing data after some good frames: ``frames`` were delivered, ``time`` (seconds) is
    where the damage starts."""

    def __init__(self, message: str, frames: int, time: float):
        super().__init__(message)
        self.frames = frames
        self.time = time


@dataclass
class VideoInfo:
    """What a video file holds. ``width``/``height`` are upright (after ``rotation``, degrees
    counter-clockwise); ``time_base`` is the video stream's tick in seconds; ``rate`` its average
    frame rate (fps); ``frames`` the count the container states (0 = unknown); ``colour`` the
    stream's tags (FFmpeg enum values: primaries, trc, space, range)."""

    path: Path
    width: int
    height: int
    rotation: int
    time_base: Fraction
    rate: Fraction
    frames: int
    duration: float
    bit_depth: int
    codec: str
    colour: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    audio: int = 0


def _open(path: Path):
    import av

    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    if st.st_size == 0:
        raise InputError(f"{path}: video file is empty (0 bytes)")
    try:
        return av.open(str(path), "r", metadata_errors="replace")
    except av.FFmpegError as e:
        raise InputError(f"{path}: not a readable video ({_why(e)}; the file may be truncated or not a video)") \
            from None


def _why(e: Exception) -> str:
    return getattr(e, "strerror", None) or str(e).splitlines()[0]


def _video_stream(container):
    """The first video stream that is not a cover picture (``attached_pic``), or None."""
    import av

    pic = int(av.stream.Disposition.attached_pic)
    return next((s for s in container.streams.video if not int(s.disposition) & pic), None)


def _info(path: Path, container) -> VideoInfo:
    vs = _video_stream(container)
    if vs is None:
        what = "audio only" if container.streams.audio else "no streams"
        raise InputError(f"{path}: has no video stream ({what})")
    cc = vs.codec_context
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    if not rate or rate <= 0:
        raise InputError(f"{path}: frame rate is 0 (the video stream has no timing)")
    if rate > MAX_FPS:
        raise InputError(f"{path}: absurd frame rate {float(rate):.6g} fps (more than {MAX_FPS:g})")
    if vs.time_base is None or vs.time_base <= 0:
        raise InputError(f"{path}: the video stream has no time base")
    fmt = cc.format
    bits = max((c.bits for c in fmt.components), default=8) if fmt is not None else 8
    colour = {"primaries": int(cc.color_primaries), "trc": int(cc.color_trc), "space": int(cc.colorspace),
              "range": int(cc.color_range)}
    if colour["trc"] in HDR_TRC:
        raise InputError(f"{path}: HDR video ({HDR_TRC[colour['trc']]}) is not supported; convert it to SDR "
                         "(BT.709) first")
    dur = float(vs.duration * vs.time_base) if vs.duration else float(container.duration or 0) / 1e6
    return VideoInfo(path, cc.width, cc.height, 0, Fraction(vs.time_base), Fraction(rate), int(vs.frames or 0),
                     dur, bits, cc.name, colour, dict(container.metadata), len(container.streams.audio))


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read what ``path`` holds (see :class:`VideoInfo`); :class:`InputError` for anything unusable.
    ``rotation`` and the upright size are known only after the first frame (see :class:`VideoReader`)."""
    with VideoReader(path) as r:
        return r.info


class VideoReader:
    """An open video file. :meth:`frames` yields ``(rgb, pts)``; ``info`` is its :class:`VideoInfo`
    (``rotation``/``width``/``height`` updated from the first decoded frame)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.container = _open(self.path)
        try:
            self.info = _info(self.path, self.container)
        except BaseException:
            self.container.close()
            raise
        self.stream = _video_stream(self.container)
        self.stream.thread_type = "AUTO"
        self.frames_read = 0

    def _matrix(self, frame) -> str:
        space = int(frame.colorspace) if frame.colorspace else self.info.colour["space"]
        return _MATRIX.get(space, "ITU709" if frame.height >= 720 else "ITU601")

    def to_rgb(self, frame, raw: bool = False, luma: bool = False) -> np.ndarray:
        """An upright RGB array of a decoded frame: float32 in [0, 1] (sRGB-encoded), or with ``raw`` the
        uint8/uint16 samples; with ``luma`` the grey level (H, W) alone, full range (depth videos)."""
        deep = self.info.bit_depth > 8
        rng = int(frame.color_range) or self.info.colour["range"] or 1  # unspecified: limited (MPEG)
        fmt = frame.format.name
        if fmt.startswith(("gbr", "rgb", "bgr", "yuvj")):
            rng = 2
        out = ("gray16le" if deep else "gray") if luma else ("rgb48le" if deep else "rgb24")
        a = frame.to_ndarray(format=out, src_colorspace=self._matrix(frame), src_color_range=rng,
                             dst_color_range=2)
        rot = int(frame.rotation or 0) % 360
        if rot:
            a = np.rot90(a, rot // 90)
        if raw:
            return np.ascontiguousarray(a)
        return a.astype(np.float32) * np.float32(1.0 / (65535.0 if deep else 255.0))

    def frames(self, raw: bool = False, start: int | None = None, end: int | None = None, luma: bool = False):
        """Yield ``(rgb, pts)`` for every frame in presentation order (see :meth:`to_rgb` for ``raw``),
        or those with ``start <= pts < end`` (``start`` a keyframe's pts: decoding seeks to it); damaged
        or missing data raises :class:`InputError` naming its time, after the frames before it."""
        import av

        tb, period = self.info.time_base, 1 / self.info.rate
        last = None
        if start is not None:
            self.container.seek(start, stream=self.stream, backward=True, any_frame=False)
        try:
            for packet in self.container.demux(self.stream):
                if packet.is_corrupt:
                    raise _Damaged(packet.pts)
                for frame in packet.decode():
                    if frame.is_corrupt:
                        raise _Damaged(frame.pts)
                    pts = frame.pts if frame.pts is not None else round(self.frames_read * period / tb)
                    if last is not None and pts <= last:
                        raise InputError(f"{self.path}: frame {self.frames_read} at {float(pts * tb):.3f} s does "
                                         "not come after the one before (timestamps repeat or go back: a frame "
                                         "rate of 0?)")
                    if start is not None and pts < start:
                        continue
                    if end is not None and pts >= end:
                        return
                    if self.frames_read == 0:
                        self._upright(frame)
                    self.frames_read += 1
                    last = pts
                    yield self.to_rgb(frame, raw, luma), pts
        except _Damaged as d:
            raise self._damage(d.pts, last, "corrupt data") from None
        except av.FFmpegError as e:
            raise self._damage(None, last, _why(e)) from None
        if self.frames_read == 0:
            raise InputError(f"{self.path}: video has no readable frames")
        if self.info.frames and start is None and end is None and self.frames_read < self.info.frames:
            raise self._damage(None, last, f"truncated: {self.frames_read} of {self.info.frames} frames")

    def _upright(self, frame) -> None:
        rot = int(frame.rotation or 0) % 360
        self.info.rotation = rot
        if rot in (90, 270):
            self.info.width, self.info.height = frame.height, frame.width

    def _damage(self, pts, last, why: str) -> DamagedVideo:
        tb = self.info.time_base
        if pts is None:
            pts = last + round(1 / self.info.rate / tb) if last is not None else 0
        t = float(pts * tb)
        return DamagedVideo(f"{self.path}: damaged video at {t:.3f} s ({why}); {self.frames_read} frames before "
                            "it were read", self.frames_read, t)

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Damaged(Exception):
    def __init__(self, pts):
        super().__init__(pts)
        self.pts = pts
