"""The click-to-refocus viewer: a GLFW window with an OpenGL 3.3 core context.

:class:`Viewer` owns the window (:mod:`deocused.window`) and the state (focus,
K, depth view, help, current image); loading and depth are
:mod:`.loader`'s part, render scheduling and the preview :mod:`.scheduler`'s.
Its input handlers -- :meth:`Viewer.on_click`, :meth:`Viewer.on_key`,
:meth:`Viewer.on_char`, :meth:`Viewer.on_scroll`, :meth:`Viewer.on_resize` --
are exactly what the GLFW callbacks call, so tests drive the same code path as
real events. :meth:`Viewer.step` runs one iteration of the event loop and
:meth:`Viewer.run_until_idle` runs until nothing is pending. Only a change of
focus, K or image triggers a render; only a change of what is shown triggers a
redraw.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import cpu_jit
from ..errors import InputError, RefocusError
from ..window import layout
from ..window.display import check_display, close_window, open_window
from ..window.input import install_callbacks, k_key_steps, key_for_char, step_max_blur
from . import hud
from .loader import ImageLoading, Slot, Source
from .scheduler import PREVIEW_IF_SLOWER_MS, PREVIEW_MIN_PIXELS, PREVIEW_PIXELS, Job, RenderScheduling

log = logging.getLogger("deocused")

__all__ = ["Viewer", "Source", "PREVIEW_MIN_PIXELS", "PREVIEW_PIXELS"]


class Viewer(ImageLoading, RenderScheduling):
    """Interactive refocus viewer over a list of :class:`Source` entries.

    ``renderer``: an :class:`deocused.renderer.Renderer` (made from ``device`` and
    ``renderer_options`` when not given). ``max_blur``: K for every image (None:
    :func:`deocused.optics.default_max_blur` per image). ``size``: initial window
    size in screen units (None: the first image at 1:1, shrunk to fit the screen).
    ``threaded``: render on a background thread (False renders inside
    :meth:`step`; used by benchmarks and tests that need determinism; a preview
    and its full render then run in two successive steps).
    ``preview``: on the CPU renderer, show a low-resolution preview of each new
    focus/K before the full render (images above :data:`PREVIEW_MIN_PIXELS`
    whose full render takes longer than ``preview_if_slower_ms``).
    """

    def __init__(self, sources, *, renderer=None, device: str = "auto", renderer_options=None,
                 max_blur: float | None = None, dof: float = 0.0, depth_kind: str = "disparity",
                 model: str | None = None, model_path: str | None = None, size=None,
                 visible: bool = True, title: str = "refocus", threaded: bool = True, preview: bool = True):
        if not sources:
            raise InputError("no image to show")
        check_display("refocus view")
        self.slots = [Slot(s) for s in sources]
        self.depth_kind = depth_kind
        self.model, self.model_path = model, model_path
        self.max_blur_override = max_blur
        self.dof = float(dof)
        if renderer is None:
            from ..backends import make_renderer

            renderer = make_renderer(device, **(renderer_options or {}))
        self.renderer = renderer
        self.device = getattr(renderer, "device", "cpu")
        self.threaded = threaded
        self.title = title
        self.preview = bool(preview) and self.device == "cpu"
        self.preview_renderer = None  # CPU renderer on the downscaled image (made when first needed)
        self.preview_if_slower_ms = PREVIEW_IF_SLOWER_MS

        # state
        self.index = 0
        self.focus: float | None = None
        self.focus_xy: tuple[float, float] | None = None
        self.max_blur: float | None = None
        self.depth_view = False
        self.help = False
        self.fullscreen = False
        self.message = ""
        self._message_until = 0.0
        self.closed = False
        self.saved: list[Path] = []

        # render bookkeeping
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refocus-render") if threaded else None
        self._job: Job | None = None
        self._prepared_index: int | None = None
        self.shown: tuple | None = None  # (index, focus, k, dof) of the frame in the texture
        self._frame = None  # last rendered sRGB8 frame (backend array)
        self.render_ms: float | None = None
        self.upload_ms: float | None = None
        self._present_times: deque = deque(maxlen=120)
        self.frames_presented = 0
        self.last_present_time = 0.0
        self.sync_present = False
        self._needs_draw = True
        self._status_key = None
        self._saved_geometry = None
        self._tex_kind = None  # "preview" (unblurred photo), "lowres" (quick preview render) or "render"
        self._preview_index: int | None = None  # image the preview renderer is prepared for
        self._preview_done = None  # (index, focus, k, dof) whose preview has been rendered
        self.preview_ms: float | None = None
        self._save_pending = False  # S pressed while a preview was shown: save when the full render is in
        self._tex_index: int | None = None
        self._depth_tex_index: int | None = None

        self._load(0, direction=+1)
        self.glfw, self.window = open_window(size, title, visible, image_size=self.slots[self.index].size,
                                             command="refocus view")
        self._init_gl()
        g = self.glfw
        self._callbacks = install_callbacks(g, self.window, self, special_keys=(
            g.KEY_ESCAPE, g.KEY_LEFT, g.KEY_RIGHT, g.KEY_PAGE_UP, g.KEY_PAGE_DOWN, g.KEY_BACKSPACE, g.KEY_F11),
            on_refresh=self._redraw)
        self.win_size = tuple(self.glfw.get_window_size(self.window))
        self.fb_size = tuple(self.glfw.get_framebuffer_size(self.window))
        self._enter_slot()

    # ------------------------------------------------------------------ setup

    def _init_gl(self):
        from ..window.screen import Screen

        self.screen = Screen()
        self.GL = self.screen.GL
        self._gpu_uploader = None
        if self.device == "gpu":
            self._gpu_uploader = self._make_gpu_uploader()

    def _make_gpu_uploader(self):
        """CUDA-GL interop for the CuPy backend; None (host upload) if it is not available."""
        try:
            from .interop import make_gpu_uploader

            return make_gpu_uploader()
        except Exception as e:  # no libcuda, or a GL driver without interop
            log.info("CUDA-OpenGL interop unavailable (%s); uploading frames through host memory", e)
            return None

    @property
    def _hud_lines(self):
        """The HUD lines on screen (as last drawn)."""
        return self.screen.hud_lines

    image_rect = property(lambda self: self.screen.image_rect, doc="framebuffer rectangle of the picture")
    hud_rect = property(lambda self: self.screen.hud_rect, doc="framebuffer rectangle of the HUD panel")

    def _enter_slot(self) -> None:
        """Reset focus/K for the current image and show its unblurred preview at once."""
        slot = self.slots[self.index]
        self.glfw.set_window_title(self.window, f"{self.title} - {slot.source.name}")
        self.focus = self.focus_xy = None
        self.max_blur = None
        self._save_pending = False
        if slot.image is not None:
            self._reset_params(slot)
            if self._tex_index != self.index:
                preview = np.rint(np.clip(slot.image, 0.0, 1.0) * 255.0).astype(np.uint8)
                self.screen.tex_image.upload(preview)
                self._tex_index, self._tex_kind = self.index, "preview"
                self.shown = None
        self._needs_draw = True

    def _reset_params(self, slot: Slot) -> None:
        from ..optics import default_max_blur, focus_disparity_at

        h, w = slot.image.shape[:2]
        self.max_blur = self.max_blur_override if self.max_blur_override is not None else default_max_blur((h, w))
        if slot.disparity is not None:
            x, y = slot.focus_xy if slot.focus_xy is not None else (w / 2, h / 2)
            self.focus_xy = (x, y)
            self.focus = focus_disparity_at(slot.disparity, x, y)

    # ------------------------------------------------------------------ input handlers

    @property
    def image_size(self):
        return self.slots[self.index].size

    def on_click(self, x: float, y: float):
        """Left click at window position (x, y): focus on the image pixel there.

        Returns the image point (column, row) or None (letterbox bar / no image).
        """
        slot = self.slots[self.index]
        if slot.image is None:
            return None
        p = layout.window_to_image(x, y, self.win_size, self.fb_size, slot.size)
        if p is None:
            return None
        if slot.disparity is None:
            self.flash("depth is not ready yet")
            return p
        from ..optics import focus_disparity_at

        self.focus_xy = p
        self.focus = focus_disparity_at(slot.disparity, p[0], p[1])
        self._needs_draw = True
        return p

    def on_scroll(self, dy: float) -> None:
        """Mouse wheel: K times 1.25 per notch up, divided per notch down."""
        if self.max_blur is None or dy == 0:
            return
        self.max_blur = step_max_blur(self.max_blur, dy)
        self._needs_draw = True

    def on_key(self, key: int, mods: int = 0) -> None:
        """Keyboard shortcuts (GLFW key codes); see :data:`deocused.viewer.hud.HELP_LINES`."""
        g = self.glfw
        if key in (g.KEY_ESCAPE, g.KEY_Q):
            self.close_window()
        elif k_key_steps(g, key):
            self.on_scroll(k_key_steps(g, key))
        elif key == g.KEY_D:
            self.depth_view = not self.depth_view
        elif key == g.KEY_H:
            self.help = not self.help
        elif key == g.KEY_S:
            self.save()
        elif key == g.KEY_R:
            slot = self.slots[self.index]
            if slot.image is not None:
                self._reset_params(slot)
            self.depth_view = False
        elif key in (g.KEY_F, g.KEY_F11):
            self.toggle_fullscreen()
        elif key in (g.KEY_RIGHT, g.KEY_PAGE_DOWN, g.KEY_SPACE):
            self.goto(self.index + 1, +1)
        elif key in (g.KEY_LEFT, g.KEY_PAGE_UP, g.KEY_BACKSPACE):
            self.goto(self.index - 1, -1)
        else:
            return
        self._needs_draw = True

    def on_char(self, codepoint: int) -> None:
        """A typed character (layout-aware): "+"/"=" and "-" change K, letters as in :meth:`on_key`."""
        key = key_for_char(self.glfw, codepoint, "dhsrfq ")
        if key is not None:
            self.on_key(key)

    def on_resize(self, width: int, height: int) -> None:
        """Window resized to (width, height) screen units; the framebuffer size is re-read (HiDPI)."""
        self.win_size = (int(width), int(height))
        self.fb_size = tuple(self.glfw.get_framebuffer_size(self.window))
        self._needs_draw = True

    # ------------------------------------------------------------------ actions

    def goto(self, index: int, direction: int = +1) -> None:
        if len(self.slots) == 1:
            return
        self._load(index % len(self.slots), direction)
        self._enter_slot()

    def flash(self, text: str, seconds: float = 6.0) -> None:
        self.message = text
        self._message_until = time.monotonic() + seconds
        self._needs_draw = True

    def save_path(self) -> Path:
        src = self.slots[self.index].source
        if src.path is not None:
            stem = Path(src.path).with_suffix("")
            base = stem.with_name(stem.name + ".refocus.png")
        else:
            base = Path.cwd() / f"{src.name}.refocus.png"
        from ..images import free_path

        return free_path(base)

    def save(self) -> Path | None:
        """S: write the displayed result as PNG next to the image, never overwriting."""
        from ..images import write_image

        if self.showing_preview:  # never save the preview: save once the full render is shown
            self._save_pending = True
            self.flash("saving when the full-resolution render is done...")
            return None
        if self._frame is None or self.shown is None or self.shown[0] != self.index:
            self.flash("nothing to save yet (still rendering)")
            return None
        src = self.slots[self.index].source
        out = self.save_path()
        try:
            write_image(out, self.renderer.to_host(self._frame), protect=[src.path, src.depth])
        except RefocusError as e:
            self.flash(str(e))
            return None
        self.saved.append(out)
        self.flash(f"saved {out.name}")
        log.info("saved %s", out)
        return out

    def toggle_fullscreen(self) -> None:
        g, w = self.glfw, self.window
        if not self.fullscreen:
            mon = g.get_window_monitor(w) or g.get_primary_monitor()
            if not mon:
                return
            self._saved_geometry = (*g.get_window_pos(w), *g.get_window_size(w))
            mode = g.get_video_mode(mon)
            g.set_window_monitor(w, mon, 0, 0, mode.size.width, mode.size.height, mode.refresh_rate)
            self.fullscreen = True
        else:
            x, y, ww, wh = self._saved_geometry or (50, 50, 960, 640)
            g.set_window_monitor(w, None, x, y, ww, wh, 0)
            self.fullscreen = False
        self.on_resize(*g.get_window_size(w))

    def close_window(self) -> None:
        self.glfw.set_window_should_close(self.window, True)

    @property
    def should_close(self) -> bool:
        return self.closed or bool(self.glfw.window_should_close(self.window))

    # ------------------------------------------------------------------ drawing

    def _status(self) -> str:
        slot = self.slots[self.index]
        if slot.status == "failed":
            return "no image could be loaded" if all(s.status == "failed" for s in self.slots) else slot.error
        if (compiling := cpu_jit.status()) or slot.status == "depth":
            return compiling or "computing depth..."
        if (self._job is not None and self._job.kind != "complete") or (self.wanted is not None
                                                                          and self.wanted != self.shown):
            if self.showing_preview:
                return "preview - rendering..."
            return "preparing..." if self._prepared_index != self.index else "rendering..."
        return ""

    def _hud_text(self):
        slot = self.slots[self.index]
        now = time.monotonic()
        msg = self.message if now < self._message_until else ""
        recent = [t for t in self._present_times if now - t <= 1.0]
        fps = len(recent) if len(recent) > 1 else None
        shown_focus = self.focus
        return hud.format_status(slot.source.name, self.index, len(self.slots), slot.size, self.device,
                                 shown_focus, self.max_blur, self.render_ms, fps, self._status(), msg)

    def _draw(self, overlay: bool = True) -> None:
        slot = self.slots[self.index]
        show = slot.image is not None and self._tex_index == self.index
        depth = show and self.depth_view and slot.disparity is not None
        if depth and self._depth_tex_index != self.index:
            self.screen.tex_depth.upload(slot.disparity)
            self._depth_tex_index = self.index
        self.screen.draw(self.fb_size, self.win_size, slot.size if show else None, depth_view=depth,
                         focus=self.focus, hud_lines=self._hud_text() if overlay else None,
                         help_lines=hud.HELP_LINES if overlay and self.help else None)

    def _redraw(self) -> None:
        self._needs_draw = True
        self._present()

    def _present(self) -> None:
        self._draw()
        self.glfw.swap_buffers(self.window)
        if self.sync_present:
            self.GL.glFinish()
        now = time.monotonic()
        self._present_times.append(now)
        self.last_present_time = time.perf_counter()
        self.frames_presented += 1
        self._needs_draw = False

    def read_framebuffer(self, overlay: bool = True) -> np.ndarray:
        """Draw the current state into the back buffer and read it with glReadPixels.

        Returns uint8 RGB (fb_height, fb_width, 3), top row first.
        """
        self._draw(overlay)
        out = self.screen.read_back(self.fb_size)
        self._needs_draw = True
        return out

    # ------------------------------------------------------------------ loop

    def step(self, wait: float = 0.0) -> None:
        """One event-loop iteration: handle events, poll depth/render work, redraw if needed."""
        g = self.glfw
        if wait > 0:
            g.wait_events_timeout(wait)
        else:
            g.poll_events()
        if self._depth_slot is not None or any(s.status == "depth" for s in self.slots):
            self._poll_depth()
        self._update_render()
        if self.message and time.monotonic() >= self._message_until:
            self.message = ""
            self._needs_draw = True
        key = (self._status(), self.index, self.depth_view, self.help)
        if key != self._status_key:
            self._status_key = key
            self._needs_draw = True
        if self._needs_draw:
            self._present()

    def run(self) -> None:
        """Run until the window is closed (Esc, Q or the close button)."""
        while not self.should_close:
            self.step(wait=0.02 if self.busy else 0.5)

    def run_frames(self, n: int) -> None:
        for _ in range(n):
            self.step()

    def run_until_idle(self, timeout: float = 60.0) -> bool:
        """Step until nothing is pending and the screen is up to date; False on timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.step(wait=0.005 if self.busy else 0.0)
            if not self.busy and not self._needs_draw:
                return True
        return False

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._depth_worker is not None:
            try:
                self._depth_worker.close()
            except Exception as e:  # closing must not hide the real outcome
                log.debug("depth worker close: %s", e)
        try:
            if self._gpu_uploader is not None:
                self._gpu_uploader.close()
        except Exception as e:
            log.debug("interop close: %s", e)
        close_window(self.glfw, self.window)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
