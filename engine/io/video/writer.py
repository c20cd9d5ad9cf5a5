"""Writing video with PyAV: :class:`VideoWriter`.

Frames are upright RGB uint8 arrays, each with its presentation timestamp in
the writer's ``time_base`` (kept as the stream's in MP4/MOV, so variable frame
rates and every timestamp survive; Matroska keeps them to the millisecond, AVI
holds a constant rate only, and both shift the timeline so that copied AAC
audio's priming does not start before 0). Audio streams of
``audio_from`` are copied packet by packet (no re-encode), interleaved by time,
so they stay in sync and keep their duration. Colour tags (primaries, transfer,
matrix, range) and the container's metadata (creation time...) are copied from
the source's :class:`~deocused.io.video.reader.VideoInfo`.

``atomic`` (the default) writes ``.STEM.tmpPID.EXT`` beside the target and
renames it on :meth:`commit`; :meth:`abort` removes it, so no partial file is
ever left under the target's name. ``fragmented`` (MP4/MOV) writes a
fragmented MP4 straight to the target, flushed at every keyframe, which stays
playable up to its last fragment when the process is killed.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from ...errors import DiskFullError, InputError, RefocusError
from .codecs import CODECS, MUXERS, check_encoders, codec_for

log = logging.getLogger("deocused")

#: Container metadata the muxer writes itself (never copied).
_OWN_KEYS = {"encoder", "major_brand", "minor_version", "compatible_brands", "handler_name", "vendor_id"}
#: Audio packets are muxed up to this far (seconds) ahead of the video frame written.
_AUDIO_LEAD = 0.5


class VideoWriter:
    """Encode frames into ``path`` (see the module docstring).

    ``codec``: a name of :data:`~deocused.io.video.codecs.CODECS` (default from the extension); ``crf``: the
    encoder's constant-rate factor (lower = better; default per codec); ``rate``: nominal frame rate (fps);
    ``time_base``: the tick of the timestamps given to :meth:`write` (default ``1/rate``); ``source``: a
    :class:`VideoInfo` whose colour tags and metadata are kept; ``audio_from``: a file whose audio streams
    are copied; ``live``: low-latency encoding (no B-frames, a keyframe a second).
    """

    def __init__(self, path, *, codec: str | None = None, crf: int | None = None, rate=30, time_base=None,
                 source=None, audio_from=None, atomic: bool = True, fragmented: bool = False, live: bool = False,
                 threads: int = 0):
        self.path = Path(path)
        self.codec = codec_for(self.path, codec)
        check_encoders(self.codec)
        self.spec = CODECS[self.codec]
        self.crf = crf
        self.rate = Fraction(rate).limit_denominator(1001000)
        self.time_base = Fraction(time_base) if time_base else 1 / self.rate
        self.source = source
        self.audio_from = audio_from
        self.fragmented = fragmented and MUXERS[self.path.suffix.lower()] in ("mp4", "mov")
        self.live = live
        self.threads = threads
        self.target = self.path.with_name(f".{self.path.stem}.tmp{os.getpid()}{self.path.suffix}") if atomic \
            else self.path
        self.frames = 0
        self.last_pts = None
        self.container = None
        self.stream = None
        self._audio = None
        self._cfr = MUXERS[self.path.suffix.lower()] == "avi"

    # ------------------------------------------------------------------ opening

    def _open(self, w: int, h: int) -> None:
        import av

        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1: errors only (it prints its configuration otherwise)
        opts = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"} \
            if self.fragmented else {}
        try:
            self.container = av.open(str(self.target), "w", format=MUXERS[self.path.suffix.lower()], options=opts)
        except (av.FFmpegError, OSError) as e:
            raise InputError(f"{self.path}: cannot create the video file ({getattr(e, 'strerror', e) or e})") \
                from None
        try:
            self._add_video(w, h)
            self._add_audio()
            meta = {k: v for k, v in (self.source.metadata if self.source else {}).items() if k not in _OWN_KEYS}
            self.container.metadata.update(meta)
        except BaseException:
            self.abort()
            raise

    def _add_video(self, w: int, h: int) -> None:
        spec = self.spec
        pix_fmt = spec.pix_fmt
        if (w % 2 or h % 2) and pix_fmt.startswith("yuv"):
            if self.codec not in ("h264", "hevc"):
                raise InputError(f"{self.path}: {self.codec} needs an even width and height, got {w}x{h}")
            pix_fmt = "yuv444p"
        s = self.container.add_stream(spec.encoder, rate=self.rate)
        cc = s.codec_context
        cc.width, cc.height, cc.pix_fmt = w, h, pix_fmt
        tb = 1 / self.rate if self._cfr else self.time_base
        cc.time_base = tb
        s.time_base = tb
        cc.thread_count = self.threads
        opts = dict(spec.options)
        if spec.crf is not None:
            opts["crf"] = str(self.crf if self.crf is not None else spec.crf)
        elif self.codec == "mjpg":
            cc.qscale = True
            cc.global_quality = 3 * 118  # -q:v 3 (FF_QP2LAMBDA = 118)
        if self.live and self.codec in ("h264", "hevc"):
            opts["tune"] = "zerolatency"
            cc.gop_size = max(1, round(self.rate))
        if self.codec == "hevc" and MUXERS[self.path.suffix.lower()] in ("mp4", "mov"):
            cc.codec_tag = "hvc1"  # what Apple players expect
        cc.options = opts
        self._tags(cc, h)
        self.stream = s

    def _tags(self, cc, h: int) -> None:
        """Colour tags: the source's, else BT.709 (BT.601 matrix below 720 lines); range from the pixel format."""
        src = self.source.colour if self.source else {}
        rgb = self.spec.pix_fmt == "bgr0"
        space = 0 if rgb else (src.get("space") if src.get("space") not in (None, 0, 2) else (1 if h >= 720 else 6))
        cc.color_primaries = src.get("primaries") if src.get("primaries") not in (None, 2) else 1
        cc.color_trc = src.get("trc") if src.get("trc") not in (None, 2) else 1
        cc.colorspace = space
        cc.color_range = 2 if (rgb or self.spec.pix_fmt.startswith("yuvj")) else 1
        from .reader import _MATRIX

        self._matrix = _MATRIX.get(space, "ITU709")

    def _add_audio(self) -> None:
        if self.audio_from is None:
            return
        import av

        src = av.open(str(self.audio_from), "r")
        if not src.streams.audio:
            src.close()
            return
        pairs = {}
        for a in src.streams.audio:
            try:
                pairs[a.index] = self.container.add_stream_from_template(a)
            except (av.FFmpegError, ValueError) as e:
                src.close()
                raise InputError(f"{self.path}: cannot copy the {a.codec_context.name} audio into a "
                                 f"{self.path.suffix} file ({e}); use .mkv") from None
        self._audio = (src, pairs, src.demux(*src.streams.audio), [None])

    # ------------------------------------------------------------------ writing

    def write(self, rgb8: np.ndarray, pts: int | None = None) -> None:
        """Append an upright RGB uint8 frame (H, W, 3) shown at ``pts`` (ticks of ``time_base``; default the
        frame after the previous one). Timestamps must increase; all frames have one size."""
        import av

        a = np.asarray(rgb8)
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"expected RGB uint8 (H, W, 3), got {a.dtype} {a.shape}")
        if self.container is None:
            self._open(a.shape[1], a.shape[0])
        cc = self.stream.codec_context
        if (a.shape[1], a.shape[0]) != (cc.width, cc.height):
            raise ValueError(f"frame {a.shape[1]}x{a.shape[0]} differs from the video's {cc.width}x{cc.height}")
        if pts is None:
            pts = 0 if self.last_pts is None else self.last_pts + round(1 / self.rate / self.time_base)
        if self.last_pts is not None and pts <= self.last_pts:
            raise ValueError(f"timestamps must increase: {pts} after {self.last_pts}")
        self.last_pts = pts
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")
        frame = frame.reformat(format=cc.pix_fmt, dst_colorspace=self._matrix if cc.colorspace else None,
                               dst_color_range=int(cc.color_range))
        t = pts * self.time_base
        frame.pts = round(t * self.rate) if self._cfr else pts
        frame.time_base = cc.time_base
        try:
            self._mux_audio(t + Fraction(_AUDIO_LEAD))
            self.container.mux(self.stream.encode(frame))
        except av.FFmpegError as e:
            raise self._write_error(e, f"the {self.spec.encoder} encoder failed") from None
        self.frames += 1

    def _mux_audio(self, until: Fraction | None) -> None:
        """Copy the source's audio packets up to time ``until`` (seconds; None: all)."""
        if self._audio is None:
            return
        src, pairs, packets, held = self._audio
        while True:
            p = held[0] if held[0] is not None else next(packets, None)
            held[0] = None
            if p is None:
                self._audio = None
                src.close()
                return
            if p.dts is None and p.size == 0:  # the demuxer's end-of-stream marker
                continue
            if until is not None and p.pts is not None and p.pts * p.time_base > until:
                held[0] = p
                return
            p.stream = pairs[p.stream.index]
            self.container.mux(p)

    def commit(self) -> Path:
        """Flush the encoder, copy the remaining audio, close and (atomic) move the file into place."""
        import av

        if self.container is None:
            raise InputError(f"{self.path}: no frames to write")
        try:
            self.container.mux(self.stream.encode(None))
            self._mux_audio(None)
            self.container.close()
        except av.FFmpegError as e:
            self.abort()
            raise self._write_error(e, "cannot finish the video") from None
        self.container = None
        if self.target != self.path:
            os.replace(self.target, self.path)
        log.debug("wrote %s (%d frames, %s)", self.path, self.frames, self.codec)
        return self.path

    def _write_error(self, e: Exception, what: str) -> RefocusError:
        """A failed write as the user's error: a full disk (or file size limit) is a :class:`DiskFullError`
        (a batch stops at it), anything else ``what`` with FFmpeg's reason."""
        return DiskFullError.of(self.path, e) or RefocusError(f"{self.path}: {what} ({e})")

    def abort(self) -> None:
        """Stop writing; an atomic writer removes its temporary file (a fragmented one keeps what it wrote)."""
        if self._audio is not None:
            self._audio[0].close()
            self._audio = None
        if self.container is not None:
            try:
                self.container.close()
            except Exception:
                pass
            self.container = None
        if self.target != self.path:
            self.target.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            self.abort()
