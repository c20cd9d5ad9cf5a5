"""The live window: the refocused stream in a GLFW window with a HUD.

Built on the window kit shared with the viewer (:mod:`deocused.window`: window,
screen drawing, key and mouse mapping). The pipeline runs
on a background thread and hands each refocused frame to the window through a
newest-frame slot; the window thread only uploads and draws, so events are
handled while a slow CPU frame renders. The input handlers
(:meth:`LiveWindow.on_click`, :meth:`on_key`, :meth:`on_char`,
:meth:`on_scroll`) are what the GLFW callbacks call, so tests drive the same path.
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from ..window import layout
from ..window.display import close_window, open_window
from ..window.input import install_callbacks, k_key_steps, key_for_char, step_max_blur

log = logging.getLogger("deocused")

HELP_LINES = (
    "Keys and mouse",
    "",
    "left click    focus on what is under the point (followed in later frames)",
    "L             lock / unlock the focus disparity",
    "wheel, + / -  change the blur K (aperture)",
    "D             toggle the depth view",
    "R             reset focus and K",
    "H             show / hide this help",
    "Esc, Q        quit",
)


def format_live_status(source: str, size, device: str, capture_fps, depth_ms, render_ms, latency_ms, out_fps,
                       focus, k, locked: bool, status: str = "") -> list[str]:
    """The live HUD's lines (pure; unit-tested)."""
    f = lambda v, fmt, unit: (fmt.format(v) + unit) if v is not None else "-"  # noqa: E731
    w, h = size if size else (0, 0)
    lines = [f"{source}  {w}x{h}  {device}"]
    lines.append(f"capture {f(capture_fps, '{:.1f}', ' fps')}  depth {f(depth_ms, '{:.0f}', ' ms')}  "
                 f"render {f(render_ms, '{:.0f}', ' ms')}  latency {f(latency_ms, '{:.0f}', ' ms')}  "
                 f"out {f(out_fps, '{:.1f}', ' fps')}")
    lines.append(f"focus d={focus:.3f}" + (" (locked)" if locked else "") if focus is not None else "focus -")
    lines[-1] += f"  K {k:.1f} px" if k is not None else ""
    lines.append(status or "H: help")
    return lines


class LiveWindow:
    """Window over a :class:`~deocused.live.pipeline.LivePipeline` (which it runs on a thread)."""

    def __init__(self, pipeline, size=None, visible: bool = True, title: str = "refocus live"):
        self.pipeline = pipeline
        self.controls = pipeline.controls
        self.device = getattr(pipeline.renderer, "device", "cpu")
        self.image_size = tuple(pipeline.capture.size)
        self.help = False
        self.closed = False
        self.frames_shown = 0
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._latest = None  # newest FrameResult not yet uploaded
        self._shown = None  # FrameResult in the texture
        self._thread: threading.Thread | None = None
        self._depth_dirty = False
        pipeline.sinks.append(self._on_frame)
        self.glfw, self.window = open_window(size, title, visible, image_size=self.image_size, command="refocus live")
        from ..window.screen import Screen

        self.screen = Screen()
        self.GL = self.screen.GL
        self._callbacks = install_callbacks(self.glfw, self.window, self, special_keys=(self.glfw.KEY_ESCAPE,))
        self.win_size = tuple(self.glfw.get_window_size(self.window))
        self.fb_size = tuple(self.glfw.get_framebuffer_size(self.window))

    # ---------------------------------------------------------------- wiring

    def _on_frame(self, res) -> None:
        """Pipeline sink (pipeline thread): keep only the newest frame, wake the event loop."""
        with self._lock:
            self._latest = res
        try:
            self.glfw.post_empty_event()
        except Exception:
            pass

    def _run_pipeline(self, max_frames) -> None:
        try:
            self.pipeline.run(max_frames=max_frames)
        except BaseException as e:
            self.error = e
        finally:
            try:
                self.glfw.post_empty_event()
            except Exception:
                pass

    # ---------------------------------------------------------------- input

    def on_click(self, x: float, y: float):
        """Left click at window position (x, y): focus follows the image point there. Returns it or None."""
        p = layout.window_to_image(x, y, self.win_size, self.fb_size, self.image_size)
        if p is None:
            return None
        shown = self._shown
        self.controls.click(p[0] / self.image_size[0], p[1] / self.image_size[1],
                            shown.disparity if shown is not None else None)
        return p

    def on_scroll(self, dy: float) -> None:
        from ..render.optics import default_max_blur

        if dy == 0:
            return
        k = self.controls.max_blur  # pixels of the captured frame (the window may show a --scale'd one)
        if k is None:
            k = self._shown.max_blur if self._shown is not None else default_max_blur(self.pipeline.capture.size[::-1])
        self.controls.max_blur = step_max_blur(k, dy)

    def on_key(self, key: int, mods: int = 0) -> None:
        g = self.glfw
        if key in (g.KEY_ESCAPE, g.KEY_Q):
            self.glfw.set_window_should_close(self.window, True)
        elif k_key_steps(g, key):
            self.on_scroll(k_key_steps(g, key))
        elif key == g.KEY_D:
            self.controls.depth_view = not self.controls.depth_view
            self._depth_dirty = True
        elif key == g.KEY_L:
            self.controls.toggle_lock(self._shown.focus_disparity if self._shown is not None else None)
        elif key == g.KEY_R:
            self.controls.reset()
        elif key == g.KEY_H:
            self.help = not self.help

    def on_char(self, codepoint: int) -> None:
        key = key_for_char(self.glfw, codepoint, "dlrhq")
        if key is not None:
            self.on_key(key)

    def on_resize(self, width: int, height: int) -> None:
        self.win_size = (int(width), int(height))
        self.fb_size = tuple(self.glfw.get_framebuffer_size(self.window))

    # ---------------------------------------------------------------- drawing

    def hud_lines(self) -> list[str]:
        p, st, shown = self.pipeline, self.pipeline.stats, self._shown
        status = p.status
        if self._thread is not None and not self._thread.is_alive() and not status:
            status = "end of the video - Q to quit" if self.error is None else f"stopped: {self.error}"
        return format_live_status(
            p.capture.spec.describe(), self.image_size, self.device, p.capture.fps, st.depth_ms, st.render_ms,
            st.latency_ms, st.fps, shown.focus_disparity if shown else None,
            shown.max_blur if shown else None, self.controls.locked is not None, status)

    def _draw(self) -> None:
        shown = self._shown
        self.screen.draw(self.fb_size, self.win_size, self.image_size if shown is not None else None,
                         depth_view=self.controls.depth_view, focus=shown.focus_disparity if shown is not None else None,
                         hud_lines=self.hud_lines(), help_lines=HELP_LINES if self.help else None)

    def read_framebuffer(self) -> np.ndarray:
        """Draw and read back the back buffer: uint8 RGB (fb_h, fb_w, 3), top row first (tests)."""
        self._draw()
        return self.screen.read_back(self.fb_size)

    # ---------------------------------------------------------------- loop

    def start(self, max_frames: int | None = None) -> None:
        """Start the pipeline thread (``run`` does this)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run_pipeline, args=(max_frames,),
                                            name="refocus-live", daemon=True)
            self._thread.start()

    def step(self, wait: float = 0.05) -> None:
        """One event-loop iteration: events, upload the newest frame, redraw."""
        if wait > 0:
            self.glfw.wait_events_timeout(wait)
        else:
            self.glfw.poll_events()
        with self._lock:
            res, self._latest = self._latest, None
        if res is not None:
            if res.rgb.shape[1::-1] != self.image_size:
                self.image_size = (res.rgb.shape[1], res.rgb.shape[0])
            self.screen.tex_image.upload(res.rgb)
            self._shown = res
            self.frames_shown += 1
            self._depth_dirty = True
        if self._depth_dirty and self.controls.depth_view and self._shown is not None:
            self.screen.tex_depth.upload(self._shown.disparity)
            self._depth_dirty = False
        self._draw()
        self.glfw.swap_buffers(self.window)

    @property
    def should_close(self) -> bool:
        return self.closed or bool(self.glfw.window_should_close(self.window))

    def run(self, max_frames: int | None = None) -> int:
        """Run until the window closes (or ``max_frames`` were shown); returns frames rendered.

        A pipeline error is re-raised here, after the pipeline thread stopped.
        """
        self.start(max_frames)
        while not self.should_close:
            self.step(0.05)
            if not self._thread.is_alive():
                if self.error is not None or max_frames is not None:
                    self.step(0)  # show the last frame
                    break
        self.pipeline.stop()
        self._thread.join(60.0)
        if self.error is not None:
            raise self.error
        return self.pipeline.stats.frames

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.pipeline.stop()
        if self._thread is not None:
            self._thread.join(60.0)
        close_window(self.glfw, self.window)
