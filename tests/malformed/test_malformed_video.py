"""Bad videos through ``refocus batch``: truncated, corrupt mid-stream, empty, audio-only,
0 and absurd frame rates, depth sidecars of another frame count or size. Each is one
``refocus: error:`` line (exit 1: the item failed) and leaves no output, except that a
clip damaged mid-stream keeps the frames before the damage (a whole, playable file) and
the line names the time of the damage. Clips are made with PyAV (tests/helpers/videoclips.py)."""

from __future__ import annotations

import struct
from fractions import Fraction

import numpy as np
import pytest
from helpers import malformed as m
from helpers.videoclips import make_clip, read_pts, scene

av = pytest.importorskip("av")

N = 30


def batch(ws, video, *extra):
    out = ws / "out"
    res = m.run_cli("batch", video, "-o", out, "--device", "cpu", "--workers", "1", "--no-progress",
                    "--focus-disparity", "0.5", "-K", "3", *extra)
    return res, out


def outputs(out):
    return sorted(p.name for p in out.iterdir() if p.name != "batch-report.json") if out.exists() else []


def clip(ws, name="v.mp4", depth_frames=N, depth_size=(48, 64), **kw):
    path = ws / name
    make_clip(path, n=N, gop=5, **kw)
    d = np.linspace(0, 1, depth_size[1], dtype=np.float32)[None, None, :] * np.ones((depth_frames, *depth_size, 1),
                                                                                    np.float32)[..., 0]
    np.save(path.with_name(path.stem + ".depth.npy"), d)
    return path


@pytest.fixture
def ws(tmp_path):
    return tmp_path


def _truncated(ws):
    v = clip(ws)
    data = v.read_bytes()
    v.write_bytes(data[: int(len(data) * 0.6)])
    return v, "not a readable video"


def _empty(ws):
    v = clip(ws)
    v.write_bytes(b"")
    return v, "empty (0 bytes)"


def _audio_only(ws):
    v = ws / "a.mp4"
    with av.open(str(v), "w") as o:
        s = o.add_stream("aac", rate=48000)
        s.layout = "mono"
        f = av.AudioFrame.from_ndarray(np.zeros((1, 4096), np.float32), format="fltp", layout="mono")
        f.sample_rate, f.pts = 48000, 0
        o.mux(s.encode(f))
        o.mux(s.encode(None))
    return v, "no video stream (audio only)"


def _absurd_rate(ws):
    v = ws / "fast.mp4"
    tb = Fraction(1, 1_000_000)
    with av.open(str(v), "w") as o:
        s = o.add_stream("libx264", rate=Fraction(1_000_000))
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.time_base = tb
        for k in range(5):
            f = av.VideoFrame.from_ndarray(scene(k, 64, 48), format="rgb24")
            f.pts, f.time_base = k, tb
            o.mux(s.encode(f))
        o.mux(s.encode(None))
    return v, "absurd frame rate"


def _zero_rate(ws):
    """Every sample's duration in the MP4 time-to-sample table (stts) set to 0."""
    v = clip(ws, audio=False)
    d = bytearray(v.read_bytes())
    k = d.find(b"stts")
    for j in range(struct.unpack(">I", d[k + 8:k + 12])[0]):
        d[k + 16 + 8 * j:k + 20 + 8 * j] = struct.pack(">I", 0)
    v.write_bytes(bytes(d))
    return v, "frame rate of 0"


def _depth_count(ws):
    return clip(ws, depth_frames=N - 5), f"has {N - 5} frames, the video {N}"


def _depth_size(ws):
    return clip(ws, depth_size=(48, 48)), "different aspect ratio"


@pytest.mark.slow
@pytest.mark.parametrize("case", [_truncated, _empty, _audio_only, _absurd_rate, _zero_rate, _depth_count,
                                  _depth_size], ids=lambda f: f.__name__.strip("_"))
def test_bad_video_is_one_error_line_and_no_output(ws, case):
    video, why = case(ws)
    snap = m.Snapshot([ws], [video])
    res, out = batch(ws, video)
    m.expect_refused(res, mention=why, code=1)
    assert video.name in res.error_lines[0] and "damaged" not in res.error_lines[0]
    assert outputs(out) == []
    (out / "batch-report.json").unlink()
    out.rmdir()
    snap.assert_unchanged()


def _corrupt_mid_stream(video):
    data = bytearray(video.read_bytes())
    start, end = data.find(b"mdat"), data.find(b"moov")
    k = start + (end - start) * 3 // 10
    data[k:k + 200] = np.random.default_rng(0).integers(0, 256, 200, dtype=np.uint8).tobytes()
    video.write_bytes(bytes(data))


def _truncated_faststart(video):
    """Remuxed with the index (moov) first, as phones and web tools write, then cut at 60 %."""
    tmp = video.with_name("fs.mp4")
    with av.open(str(video)) as i, av.open(str(tmp), "w", options={"movflags": "faststart"}) as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for p in i.demux():
            if p.dts is not None:
                p.stream = streams[p.stream.index]
                o.mux(p)
    data = tmp.read_bytes()
    tmp.unlink()
    assert data.find(b"moov") < data.find(b"mdat")
    video.write_bytes(data[: len(data) * 6 // 10])


@pytest.mark.slow
@pytest.mark.parametrize("damage", [_corrupt_mid_stream, _truncated_faststart], ids=["corrupt", "truncated"])
def test_damaged_clip_keeps_the_frames_before_the_damage(ws, damage):
    video = clip(ws)
    damage(video)
    res, out = batch(ws, video)
    m.expect_refused(res, mention="damaged video at ", code=1)
    t = float(res.error_lines[0].split("damaged video at ")[1].split(" s")[0])
    assert outputs(out) == ["v.mp4"]
    got = read_pts(out / "v.mp4")
    want = [Fraction(i, 24) for i in range(N) if i / 24 < t]  # the input's frames before the damage, their times
    assert 0 < len(got) < N and set(got) <= set(want) and len(got) >= len(want) - 5  # up to a GOP's B-frames
