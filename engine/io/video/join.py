"""Splitting a video at keyframes and joining encoded parts without re-encoding.

:func:`spans` cuts a clip into parts of about equal length, at keyframes where
they fall near the even cuts (a part decodes on its own after a seek); :func:`join` concatenates separately encoded
video-only parts (same codec and settings, timestamps kept from the source)
packet by packet into one file and copies the source's audio into it once,
interleaved by time: one valid file, frame-exact, the audio as in :class:`VideoWriter`.
"""

from __future__ import annotations

import heapq
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ...errors import InputError, RefocusError
from .reader import _open, _video_stream
from .writer import _OWN_KEYS


@dataclass(frozen=True)
class Span:
    """Part of a clip: frames with ``start <= pts < end`` (``end`` None: to the end), ``first`` = the index
    of its first frame in the clip, ``count`` its frames."""

    start: int
    end: int | None
    first: int
    count: int


def spans(path: str | os.PathLike, parts: int, min_frames: int = 1) -> list[Span]:
    """Up to ``parts`` spans of about equal length (from the packets; nothing is decoded), none shorter
    than ``min_frames``. A span starts at a keyframe when one lies within an eighth of a span of the
    even cut, else at the even cut itself (its decoding then starts at the keyframe before and drops
    the frames before the cut): clips with sparse keyframes still split evenly."""
    c = _open(Path(path))
    try:
        vs = _video_stream(c)
        pkts = [(p.pts, p.is_keyframe) for p in c.demux(vs) if p.pts is not None and p.size]
    finally:
        c.close()
    pts = sorted(p for p, _ in pkts)
    index = {p: i for i, p in enumerate(pts)}
    keys = sorted(index[p] for p, k in pkts if k)
    n = len(pts)
    cuts = [0]
    for j in range(1, parts):
        want = round(j * n / parts)
        best = min(keys, key=lambda k: abs(k - want), default=want)
        if abs(best - want) > n / parts / 8:
            best = want
        if best - cuts[-1] >= min_frames and n - best >= min_frames:
            cuts.append(best)
    cuts = sorted(set(cuts))
    bounds = cuts + [n]
    return [Span(pts[a], pts[b] if b < n else None, a, b - a) for a, b in zip(bounds, bounds[1:])]


def _packets(container, stream, order: int):
    """(seconds, order, packet) for every packet of ``stream``, in file order."""
    for p in container.demux(stream):
        if p.dts is None and p.size == 0:
            continue
        yield float((p.dts if p.dts is not None else p.pts) * p.time_base), order, p


def join(parts: list[Path], out: Path, *, starts=None, audio_from=None, source=None) -> int:
    """Concatenate the video of ``parts`` into ``out`` (written atomically); returns the packet count.
    ``starts``: each part's first presentation time (seconds, exact): a part's packets are moved to it
    (MP4 stores a part's start as an edit list in milliseconds, which would round it)."""
    import av

    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}{out.suffix}")
    opened = [_open(Path(p)) for p in parts]
    src = av.open(str(audio_from)) if audio_from is not None else None
    try:
        first = opened[0].streams.video[0]
        for c in opened[1:]:
            s = c.streams.video[0]
            if (s.codec_context.name, bytes(s.codec_context.extradata or b""), s.time_base) != \
                    (first.codec_context.name, bytes(first.codec_context.extradata or b""), first.time_base):
                raise RefocusError(f"{out}: the parts were encoded differently; cannot join them")
        with av.open(str(tmp), "w") as o:
            vs = o.add_stream_from_template(first)
            streams = [(c, c.streams.video[0], vs) for c in opened]
            shifts = [0] * len(opened) if starts is None else [
                round(Fraction(t) / s.time_base) - (s.start_time or 0) for t, (_, s, _) in zip(starts, streams)]
            audio = [(a, o.add_stream_from_template(a)) for a in (src.streams.audio if src else [])]
            o.metadata.update({k: v for k, v in (source.metadata if source else {}).items() if k not in _OWN_KEYS})
            n = _mux_all(o, streams, shifts, src, audio)
        os.replace(tmp, out)
        return n
    except av.FFmpegError as e:
        raise InputError(f"{out}: cannot join the parts ({e})") from None
    finally:
        for c in opened:
            c.close()
        if src is not None:
            src.close()
        Path(tmp).unlink(missing_ok=True)


def _mux_all(o, streams, shifts, src, audio) -> int:
    """Mux the parts' video packets one part after another (moved by ``shifts`` ticks) and the audio
    packets, merged by time."""
    last_dts = None
    n = 0

    def video():
        for k, (c, s, _) in enumerate(streams):
            for _, _, p in _packets(c, s, 0):
                if shifts[k]:
                    p.pts = None if p.pts is None else p.pts + shifts[k]
                    p.dts = None if p.dts is None else p.dts + shifts[k]
                yield float((p.dts if p.dts is not None else p.pts) * p.time_base), 0, (k, p)

    outs = {a.index: oa for a, oa in audio}
    sources = [video()]
    if audio:
        sources.append(((t, 1, (None, p)) for t, _, p in _packets(src, [a for a, _ in audio], 1)))
    for _, kind, (k, p) in heapq.merge(*sources, key=lambda x: (x[0], x[1])):
        if kind == 0:
            if last_dts is not None and p.dts is not None and p.dts <= last_dts:
                p.dts = last_dts + 1  # parts' B-frame delays meet; dts stays below pts
                if p.pts is not None and p.dts > p.pts:
                    raise RefocusError("the parts' timestamps overlap; cannot join them")
            last_dts = p.dts
            p.stream = streams[k][2]
            n += 1
        else:
            p.stream = outs[p.stream.index]
        o.mux(p)
    return n
