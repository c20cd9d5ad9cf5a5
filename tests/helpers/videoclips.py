"""Test clips made with PyAV itself: H.264 (+ AAC audio) MP4s at constant or variable
frame rate, with a display rotation, and their frames' timestamps."""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def scene(i: int, w: int, h: int) -> np.ndarray:
    """Frame ``i``: a gradient with a bright square moving right and a dark corner mark (asymmetric, so a
    rotation shows), RGB uint8 (h, w, 3)."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), np.full_like(x, 96)], -1).astype(np.uint8)
    s = max(2, min(w, h) // 4)
    x0 = (i * 3) % max(1, w - s)
    img[h // 3:h // 3 + s, x0:x0 + s] = 235
    img[:max(2, h // 8), :max(2, w // 8)] = 16
    return img


def vfr_pts(n: int, seed: int = 1) -> list[int]:
    """``n`` increasing timestamps in milliseconds with irregular gaps (20-70 ms)."""
    rng = np.random.default_rng(seed)
    return [int(v) for v in np.concatenate([[0], np.cumsum(rng.integers(20, 71, n - 1))])]


def make_clip(path, *, n: int = 24, size=(64, 48), fps: int = 24, vfr: bool = False, audio: bool = True,
              rotation: int = 0, codec: str = "libx264", pix_fmt: str = "yuv420p", gop: int | None = None,
              colour: tuple[int, int, int] | None = (1, 1, 1)) -> list[int]:
    """Write a clip; returns its frames' pts (time base 1/1000 when ``vfr``, else 1/``fps``...
    in the stream's own time base as written). ``rotation``: display matrix, degrees counter-clockwise.
    ``colour``: (primaries, trc, matrix) tags (FFmpeg enums; None: untagged)."""
    import av

    w, h = size
    pts = vfr_pts(n) if vfr else list(range(n))
    tb = Fraction(1, 1000) if vfr else Fraction(1, fps)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        vs.codec_context.time_base = tb
        vs.time_base = tb
        if gop:
            vs.codec_context.gop_size = gop
        if colour:
            cc = vs.codec_context
            cc.color_primaries, cc.color_trc, cc.colorspace = colour
            cc.color_range = 1
        if rotation:
            vs.set_display_rotation(rotation)
        if audio:
            aus = out.add_stream("aac", rate=48000)
            aus.layout = "stereo"
        t_end = float(pts[-1] * tb) + 1 / fps
        for i, p in enumerate(pts):
            f = av.VideoFrame.from_ndarray(scene(i, w, h), format="rgb24")
            f = f.reformat(format=pix_fmt, dst_colorspace="ITU709" if colour else None,
                           dst_color_range=1 if pix_fmt.startswith("yuv4") or pix_fmt == "yuv420p" else None)
            f.pts, f.time_base = p, tb
            out.mux(vs.encode(f))
        out.mux(vs.encode(None))
        if audio:
            samples = int(t_end * 48000)
            t = np.arange(samples) / 48000.0
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            data = np.stack([tone, tone])
            for k in range(0, samples, 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(data[:, k:k + 1024]), format="fltp",
                                                layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, k, Fraction(1, 48000)
                out.mux(aus.encode(af))
            out.mux(aus.encode(None))
    return pts


def read_pts(path) -> list[Fraction]:
    """Presentation times (seconds, exact) of every video frame of ``path``, in order."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [f.pts * s.time_base for f in c.decode(s)]


def audio_packets(path) -> list[tuple[bytes, Fraction]]:
    """Every audio packet's bytes and presentation time (seconds) of ``path``."""
    import av

    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        return [(bytes(p), p.pts * p.time_base) for p in c.demux(c.streams.audio[0]) if p.size]
