"""The live window on Xvfb + Mesa: frames arrive, a click moves the focus, the HUD has the live figures."""

import time

import numpy as np
import pytest

from deocused.live.app import LiveWindow, format_live_status
from deocused.live.capture import FrameCapture, SourceSpec
from deocused.live.pipeline import LivePipeline
from deocused.live.synthetic import FakeOpener
from deocused.render.backends import make_renderer

W, H = 64, 48


def halves(image):
    """Left half near (0.8), right half far (0.2)."""
    d = np.full(image.shape[:2], 0.2, np.float32)
    d[:, : image.shape[1] // 2] = 0.8
    return d


def test_format_live_status():
    lines = format_live_status("camera 0", (640, 480), "cpu", 29.7, 180.0, 950.0, 1400.0, 0.9, 0.5, 25.6, True,
                               "camera 0 lost; reconnecting in 1.0 s (attempt 1)")
    assert lines[0] == "camera 0  640x480  cpu"
    assert "capture 29.7 fps" in lines[1] and "depth 180 ms" in lines[1] and "render 950 ms" in lines[1]
    assert "latency 1400 ms" in lines[1]
    assert "(locked)" in lines[2] and "reconnecting" in lines[3]
    assert "- " in format_live_status("x", None, "cpu", None, None, None, None, None, None, None, False)[1]


@pytest.mark.display
def test_live_window_shows_frames_and_click_moves_focus(xdisplay):
    cap = FrameCapture(SourceSpec("camera", 0), opener=FakeOpener(script=[("ok", 8)], fps=30.0), mode="latest",
                       backoff=(0.05, 0.1))
    pipe = LivePipeline(cap, make_renderer("cpu"), depth_fn=halves, focus_smoothing=False)
    win = LiveWindow(pipe, size=(W * 4, H * 4), visible=False)
    try:
        win.start()

        def wait(pred, timeout=20.0):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                win.step(0.02)
                if pred():
                    return True
            return False

        assert wait(lambda: win.frames_shown >= 3)
        assert win._shown.focus == pytest.approx(0.2)  # centre column is in the far half
        # click in the left (near) half: later frames focus at 0.8
        ww, wh = win.win_size
        p = win.on_click(ww * 0.2, wh * 0.5)
        assert p is not None and p[0] < W / 2
        n = win.frames_shown
        assert wait(lambda: win.frames_shown > n + 1 and win._shown.focus == pytest.approx(0.8))
        # keys: K up, lock, depth view, help
        k0 = win._shown.max_blur
        win.on_char(ord("+"))
        assert wait(lambda: win._shown.max_blur > k0)
        win.on_char(ord("l"))
        assert pipe.controls.locked == pytest.approx(0.8)
        win.on_char(ord("d"))
        win.on_char(ord("h"))
        win.step(0.02)
        img = win.read_framebuffer()
        assert img.shape[:2] == tuple(win.fb_size[::-1]) and img.max() > 0
        lines = win.hud_lines()
        assert "capture" in lines[1] and "latency" in lines[1] and "(locked)" in lines[2]
        # the fake camera fails after 8 frames: the window keeps running and reconnects
        assert wait(lambda: cap.reconnects >= 1)
        win.on_char(ord("q"))
        assert win.should_close
    finally:
        win.close()
        cap.stop()
    assert not win._thread.is_alive()
