"""Phone-style clips through ``refocus batch``: H.264 + AAC in MP4 at constant and variable
frame rate, rotated 90/180/270, with a depth sidecar (.npy or a depth video). The output is
H.264 MP4 with the input's frame count, every frame's timestamp, the audio packets byte for
byte, and upright frames equal to the photo layer's render of each decoded input frame."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.videoclips import audio_packets, make_clip, read_pts

from deocused.cli import main
from deocused.io.depthmap import to_disparity
from deocused.io.video import VideoReader
from deocused.photo import Photo, render_photo
from deocused.render.backends import make_renderer
from deocused.settings import RenderSettings

av = pytest.importorskip("av")
W, H = 64, 48


def depth_stack(n, h, w):
    """Disparity ramps, one per frame, shifting with the frame index (float32 (n, h, w))."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([((x + 2 * i) % w) / (w - 1) * 0.8 + y / (h - 1) * 0.2 for i in range(n)]).astype(np.float32)


def run(src, out, *extra):
    return main(["batch", str(src), "-o", str(out), "--device", "cpu", "--workers", "1", "--no-progress",
                 "--focus-disparity", "0.4", "-K", "4", *extra])


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cfr", "vfr", "rot90", "rot180", "rot270"])
def test_clip_round_trips_through_batch(tmp_path, kind):
    src = tmp_path / "clip.mp4"
    rotation = int(kind[3:]) if kind.startswith("rot") else 0
    make_clip(src, n=12, size=(W, H), vfr=kind == "vfr", rotation=rotation)
    h, w = (W, H) if rotation in (90, 270) else (H, W)
    disp = depth_stack(12, h, w)
    np.save(tmp_path / "clip.depth.npy", disp)
    assert run(src, tmp_path / "out") == 0
    out = tmp_path / "out" / "clip.mp4"
    assert read_pts(out) == read_pts(src)
    assert audio_packets(out) == audio_packets(src) and audio_packets(src)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    r = make_renderer("cpu")
    settings = RenderSettings(focus_disparity=0.4, max_blur=4.0)
    with VideoReader(src) as a, VideoReader(out) as b:
        for i, ((img, _), (got, _)) in enumerate(zip(a.frames(), b.frames(raw=True), strict=True)):
            want = render_photo(Photo(img, to_disparity(disp[i])), settings, r)
            assert got.shape == want.shape == (h, w, 3)
            assert np.abs(got.astype(int) - want).mean() < 4  # H.264 at CRF 18
    report = json.loads((tmp_path / "out" / "batch-report.json").read_text())
    assert report["items"][0]["status"] == "ok"


@pytest.mark.slow
def test_depth_video_sidecar_and_codec_choice(tmp_path):
    src = tmp_path / "clip.mov"
    make_clip(src, n=6, size=(W, H))
    disp = depth_stack(6, H, W)
    with av.open(str(tmp_path / "clip.depth.mkv"), "w") as o:  # lossless grey depth video
        s = o.add_stream("ffv1", rate=24)
        s.width, s.height, s.pix_fmt = W, H, "gray16le"
        for i, d in enumerate(disp):
            f = av.VideoFrame.from_ndarray((d * 65535).round().astype(np.uint16), format="gray16le")
            f.pts = i
            o.mux(s.encode(f))
        o.mux(s.encode(None))
    assert run(src, tmp_path / "o1") == 0
    assert run(src, tmp_path / "o2", "--video-codec", "hevc", "--crf", "10") == 0
    a, b = tmp_path / "o1" / "clip.mov", tmp_path / "o2" / "clip.mov"
    with av.open(str(b)) as c:
        assert c.streams.video[0].codec_context.name == "hevc"
    assert read_pts(a) == read_pts(b) == read_pts(src)
    with VideoReader(a) as ra, VideoReader(b) as rb:
        for (x, _), (y, _) in zip(ra.frames(raw=True), rb.frames(raw=True), strict=True):
            assert np.abs(x.astype(int) - y).mean() < 4  # the same render through two codecs
    # the .npy sidecar gives the same frames as the depth video (both exact disparity)
    (tmp_path / "clip.depth.mkv").unlink()
    np.save(tmp_path / "clip.depth.npy", disp)
    assert run(src, tmp_path / "o3") == 0
    with VideoReader(a) as ra, VideoReader(tmp_path / "o3" / "clip.mov") as rc:
        for (x, _), (y, _) in zip(ra.frames(raw=True), rc.frames(raw=True), strict=True):
            assert np.abs(x.astype(int) - y).mean() < 1


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cfr", "vfr", "sparse-keyframes"])
def test_long_clip_is_split_and_joined(tmp_path, kind):
    """--video-parts 3 on two workers: parts start at keyframes (or, far from one, at the even cut), the
    joined file (no second encode) has the input's frame count, timestamps and audio packets, and the
    frames of a one-part run. At 30 fps parts start at times that are no whole milliseconds."""
    from deocused.io.video.join import spans

    src = tmp_path / "clip.mp4"
    make_clip(src, n=96, size=(W, H), vfr=kind == "vfr", fps=30, gop=96 if kind == "sparse-keyframes" else 8)
    np.save(tmp_path / "clip.depth.npy", depth_stack(96, H, W))
    assert [(s.first, s.count) for s in spans(src, 3)] == [(0, 32), (32, 32), (64, 32)]
    assert run(src, tmp_path / "one") == 0
    assert main(["batch", str(src), "-o", str(tmp_path / "three"), "--device", "cpu", "--workers", "2",
                 "--video-parts", "3", "--no-progress", "--focus-disparity", "0.4", "-K", "4"]) == 0
    out = tmp_path / "three" / "clip.mp4"
    report = json.loads((tmp_path / "three" / "batch-report.json").read_text())
    parts = [e for e in report["items"] if "[part " in e["input"]]
    assert len(parts) == 3 and all(e["status"] == "ok" for e in parts)
    assert report["items"][-1]["input"] == str(src) and report["items"][-1]["status"] == "ok"
    assert sorted(p.name for p in out.parent.iterdir()) == ["batch-report.json", "clip.mp4"]  # parts removed
    assert read_pts(out) == read_pts(src)
    assert audio_packets(out) == audio_packets(src)
    with VideoReader(out) as a, VideoReader(tmp_path / "one" / "clip.mp4") as b:
        for (x, _), (y, _) in zip(a.frames(raw=True), b.frames(raw=True), strict=True):
            assert np.abs(x.astype(int) - y).mean() < 4  # same renders; H.264 at CRF 18, encoder state differs


@pytest.mark.slow
def test_network_depth_is_smoothed_over_time_and_flicker_reported(tmp_path):
    """Without a sidecar every frame gets the network's depth, aligned and smoothed by the live mode's
    DepthSmoother; the report gives the flicker (mean frame-to-frame disparity change) of the per-frame
    maps and of the smoothed ones, and smoothing lowers it."""
    from helpers.procs import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny.tflite")
    src = tmp_path / "clip.mp4"
    make_clip(src, n=16, size=(W, H))
    assert run(src, tmp_path / "out", "--model-path", str(model)) == 0
    item = json.loads((tmp_path / "out" / "batch-report.json").read_text())["items"][0]
    f = item["flicker"]
    assert item["status"] == "ok" and f["per_frame"] > 0
    assert f["smoothed"] < f["per_frame"]
    assert read_pts(tmp_path / "out" / "clip.mp4") == read_pts(src)
