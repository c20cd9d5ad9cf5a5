"""`refocus live` with PyAV: --video reads H.264 (rotated phone clips upright), --record writes
H.264 as fragmented MP4 that stays playable after SIGKILL."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers.videoclips import make_clip, scene

from deocused.live.capture import CaptureEnded, FrameCapture, SourceSpec
from deocused.render.backends import make_renderer

av = pytest.importorskip("av")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("rotation", [0, 90])
def test_video_source_is_read_with_pyav_upright(tmp_path, rotation):
    src = tmp_path / "clip.mp4"
    make_clip(src, n=8, size=(64, 48), rotation=rotation)
    cap = FrameCapture(SourceSpec("video", str(src)), mode="every").start()
    frames = []
    try:
        while True:
            frames.append(cap.get(5.0).rgb)
    except CaptureEnded:
        pass
    finally:
        cap.stop()
    assert cap.source_fps == 24.0 and len(frames) == 8
    want = np.rot90(scene(0, 64, 48), rotation // 90)
    assert frames[0].dtype == np.uint8 and frames[0].shape == want.shape
    assert np.abs(frames[0].astype(int) - want).mean() < 8


def test_record_is_playable_after_sigkill(tmp_path):
    """A process records an endless source to .mp4 and is killed (SIGKILL, nothing runs after it): the file
    holds H.264 frames up to its last whole second (a keyframe and fragment a second)."""
    make_renderer("cpu").warm_up()  # kernels compiled and cached here, not in the child
    out = tmp_path / "rec.mp4"
    script = textwrap.dedent(f"""
        from deocused.live.capture import FrameCapture, SourceSpec
        from deocused.live.pipeline import LivePipeline
        from deocused.live.record import VideoRecorder
        from deocused.live.synthetic import FakeOpener, scene_disparity
        from deocused.render.backends import make_renderer
        cap = FrameCapture(SourceSpec("camera", 0), opener=FakeOpener(), mode="every")
        rec = VideoRecorder({str(out)!r}, 30)
        def sink(r):
            rec.write(r.rgb)
            if rec.frames == 75:
                print("recording", flush=True)
        LivePipeline(cap, make_renderer("cpu"), depth_fn=scene_disparity, sinks=[sink]).run()
    """)
    p = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "recording"
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == -signal.SIGKILL
    with av.open(str(out)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264"
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
    assert len(frames) >= 75 - 30 and frames[0].shape == (48, 64, 3)  # at most the last second lost
