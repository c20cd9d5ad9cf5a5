"""The click-to-refocus viewer: a GLFW window with an OpenGL 3.3 core context.

:class:`Viewer` owns the window (:mod:`deocused.window`), the state (focus_disparity and
focus_point, max_blur, depth view, help), the photos (an :class:`~.loader.ImageList`), the
view transform (:class:`~.view.ViewTransform`), the saver (:class:`~.saving.Saver`) and the render
scheduler (:class:`~.scheduler.RenderScheduler`: the renderers, the render thread, the preview and the
display texture's content), each an object of its own. Its input handlers -- :meth:`Viewer.on_click`,
:meth:`Viewer.on_key`, :meth:`Viewer.on_char`, :meth:`Viewer.on_scroll`, ... -- are exactly what
the GLFW callbacks call, so tests drive the same code path as real events. :meth:`Viewer.step`
runs one iteration of the event loop, :meth:`Viewer.run_until_idle` runs until nothing is pending.
Only a change of focus, max_blur or image triggers a render; only a change of what is shown a redraw."""

from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..render.cpu import jit as cpu_jit
from ..window import layout
from ..window.display import check_display, close_window, open_window, screen_pixels, toggle_fullscreen
from ..window.input import install_callbacks, k_key_steps, key_for_char, step_max_blur
from . import hud
from .loader import ImageList, Slot, Source
from .saving import Saver, photo_loader, save_base
from .scheduler import INTERACTION_S, PREVIEW_MIN_PIXELS, PREVIEW_PIXELS, RenderScheduler
from .view import ViewTransform, zoom_steps

log = logging.getLogger("deocused")

__all__ = ["Viewer", "Source", "PREVIEW_MIN_PIXELS", "PREVIEW_PIXELS"]


class Viewer:
    """Interactive refocus viewer over a list of :class:`Source` entries.

    ``renderer``: an :class:`deocused.render.renderer.Renderer` (made from ``device`` and
    ``renderer_options`` when not given). ``max_blur``: K for every image (None:
    :func:`deocused.render.optics.default_max_blur` per image). ``size``: initial window
    size in screen units (None: the first image at 1:1, shrunk to fit the screen).
    ``threaded``: render on a background thread (False renders inside
    :meth:`step`; used by benchmarks and tests that need determinism; a preview
    and its full render then run in two successive steps).
    ``preview``: on the CPU renderer, show a low-resolution preview of each new
    focus/K before the full render (images above :data:`PREVIEW_MIN_PIXELS`
    whose full render takes longer than ``scheduler.preview_if_slower_ms``).
    """

    def __init__(self, sources, *, renderer=None, device: str = "auto", renderer_options=None,
                 max_blur: float | None = None, dof: float = 0.0, depth_kind: str = "disparity",
                 model: str | None = None, model_path: str | None = None, size=None,
                 visible: bool = True, title: str = "refocus", threaded: bool = True, preview: bool = True,
                 embedded_depth: bool = True):
        if not sources:
            raise InputError("no image to show")
        check_display("refocus view")
        self.images = ImageList(sources, depth_kind=depth_kind, embedded_depth=embedded_depth, model=model,
                                model_path=model_path, flash=self.flash)
        self.max_blur_override = max_blur
        self.dof = float(dof)
        if renderer is None:
            from ..render.backends import make_renderer

            renderer = make_renderer(device, **(renderer_options or {}))
        self.threaded = threaded
        self.title = title
        self.interaction_s = INTERACTION_S  # a drag or wheel turn lasts this long after its last event
        self._interacting_until = 0.0

        # state
        self.focus_disparity: float | None = None  # the focus plane's disparity
        self.focus_point: tuple[float, float] | None = None  # the photo pixel (x, y) focused on
        self.max_blur: float | None = None
        self.depth_view = False
        self.help = False
        self.fullscreen = False
        self.message = ""
        self._message_until = 0.0
        self.closed = False
        self.saved: list[Path] = []

        # presenting
        self._present_times: deque = deque(maxlen=120)
        self.frames_presented = 0
        self.last_present_time = 0.0
        self.sync_present = False
        self._needs_draw = True
        self._status_key = None
        self._saved_geometry = None
        self.saver = Saver(threaded=threaded)
        self._depth_tex_index: int | None = None
        self.fb_size = self.win_size = None  # (known once the window is open)
        self.scheduler = RenderScheduler(self.images, renderer, device_asked=device, threaded=threaded,
                                         preview=preview, fb_size=lambda: self.fb_size, flash=self.flash,
                                         request_draw=self._request_draw)

        self.images.reduce_to = screen_pixels()  # a JPEG larger than this opens from a reduced decode
        self.images.load(0, direction=+1)
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

    slots = property(lambda self: self.images.slots, doc="The photos (:attr:`ImageList.slots`).")
    index = property(lambda self: self.images.index, doc="The current photo's place in :attr:`slots`.")

    @property
    def wanted(self):
        """(index, focus_disparity, max_blur, dof, display size, zoomed view) the screen should show, or None when not
        renderable yet. The zoomed view is None at the fit, else ((x0, y0, x1, y1) photo pixels shown,
        framebuffer origin, zoom) (see :mod:`.view`)."""
        slot = self.slots[self.index]
        if slot.status != "ready" or self.focus_disparity is None or self.max_blur is None:
            return None
        region = self.view.region(slot.size, self.fb_size)
        return (self.index, round(self.focus_disparity, 6), round(self.max_blur, 4), self.dof,
                self.scheduler.display_size(), None if region is None else (*region, self.view.zoom))

    @property
    def busy(self) -> bool:
        """Work pending: a render in flight or needed, a save running, or depth being computed."""
        w = self.wanted
        return self.scheduler.job is not None or (w is not None and w != self.scheduler.shown) \
            or self.images.depth_pending or self.saver.busy

    @property
    def interacting(self) -> bool:
        """A drag or wheel turn is in progress (its last event is under :attr:`interaction_s` old)."""
        return time.monotonic() < self._interacting_until

    def _status(self) -> str:
        """The HUD's state line: loading, depth, rendering, saving, or nothing."""
        slot = self.slots[self.index]
        if slot.status == "failed":
            return "no image could be loaded" if all(s.status == "failed" for s in self.slots) else slot.error
        if (compiling := cpu_jit.status()) or slot.status == "depth":
            return compiling or "computing depth..."
        return self.scheduler.status(self.wanted) or self.saver.progress()

    def _request_draw(self) -> None:
        self._needs_draw = True

    def _poll_depth(self) -> None:
        """The depth worker's news: the current photo's depth arrived (entered) or failed (skipped)."""
        news = self.images.poll_depth()
        if news is None:
            return
        if news[0] == "ready" and news[1] == self.index or news[0] == "failed" and self.images.skip_failed():
            self._enter_slot()
        self._needs_draw = True

    def _init_gl(self):
        from ..window.screen import Screen

        self.screen = Screen()
        self.GL = self.screen.GL
        self.scheduler.attach(self.screen.tex_image, self.glfw.post_empty_event)

    _hud_lines = property(lambda self: self.screen.hud_lines, doc="The HUD lines on screen (as last drawn).")
    image_rect = property(lambda self: self.screen.image_rect, doc="framebuffer rectangle of the picture")
    hud_rect = property(lambda self: self.screen.hud_rect, doc="framebuffer rectangle of the HUD panel")

    def _enter_slot(self) -> None:
        """Reset focus and max_blur for the current image and show it unblurred at once (a stand-in)."""
        slot = self.slots[self.index]
        self.glfw.set_window_title(self.window, f"{self.title} - {slot.source.name}")
        self.focus_disparity = self.focus_point = self.max_blur = None
        self.view = ViewTransform()
        if slot.image is not None:
            self._reset_params(slot)
            self.scheduler.show_photo(self.index)
        self._needs_draw = True

    def _reset_params(self, slot: Slot) -> None:
        from ..render.optics import default_max_blur, focus_disparity_at

        w, h = slot.size
        self.max_blur = self.max_blur_override if self.max_blur_override is not None else default_max_blur((h, w))
        if slot.disparity is not None:
            x, y = slot.focus_point if slot.focus_point is not None else (w / 2, h / 2)
            self.focus_point = (x, y)
            self.focus_disparity = focus_disparity_at(slot.disparity, x, y)

    # ------------------------------------------------------------------ input handlers

    def on_click(self, x: float, y: float):
        """Left click at window position (x, y): focus on the image pixel there.

        Returns the image point (column, row) or None (letterbox bar / no image).
        """
        slot = self.slots[self.index]
        if slot.image is None:
            return None
        self._drag_from = (x, y)
        p = self.view.to_image(*layout.window_to_framebuffer(x, y, self.win_size, self.fb_size), slot.size,
                               self.fb_size)
        if p is None:
            return None
        if slot.disparity is None:
            self.flash("depth is not ready yet")
            return p
        from ..render.optics import focus_disparity_at

        self.focus_point = p
        self.focus_disparity = focus_disparity_at(slot.disparity, p[0], p[1])
        self._needs_draw = True
        return p

    def on_drag(self, x: float, y: float):
        """Pointer moved to (x, y) with the left button held: at the fit a continuous focus pull (frames at
        the interaction resolution until the pointer rests ``interaction_s``), zoomed in a pan."""
        self._interacting_until = time.monotonic() + self.interaction_s
        size, (x0, y0) = self.slots[self.index].size, getattr(self, "_drag_from", (x, y))
        if self.view.zoom is None or size is None:
            return self.on_click(x, y)
        self._drag_from, s = (x, y), self.fb_size[0] / max(1, self.win_size[0])  # framebuffer px per unit
        self.view.pan((x - x0) * s, (y - y0) * s, size, self.fb_size)
        self._needs_draw = True
        return None

    def on_zoom(self, steps: int, x: float, y: float) -> None:
        """Zoom in (``steps`` > 0) or out by steps of fit -> 1:1 -> 2:1 -> 4:1 about window point (x, y)
        (Ctrl + wheel, Z / Shift+Z; 1 is 1:1 and 0 the fit)."""
        size = self.slots[self.index].size
        if size is not None:
            self.view.step(steps, *layout.window_to_framebuffer(x, y, self.win_size, self.fb_size), size,
                           self.fb_size)
            self._needs_draw = True

    def on_scroll(self, dy: float) -> None:
        """Mouse wheel: K times 1.25 per notch up, divided per notch down (held keys and quick turns
        render at the interaction resolution, like a drag)."""
        if self.max_blur is None or dy == 0:
            return
        self._interacting_until = time.monotonic() + self.interaction_s
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
        elif key in (g.KEY_Z, g.KEY_0, g.KEY_1):
            self.on_zoom(zoom_steps(g, key, mods, self.view.zoom), *g.get_cursor_pos(self.window))
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
        key = key_for_char(self.glfw, codepoint, "dhsrfqz01 ")
        if key is not None:
            self.on_key(key, self.glfw.MOD_SHIFT if chr(codepoint) == "Z" else 0)  # Shift+Z zooms out

    def on_resize(self, width: int, height: int) -> None:
        """Window resized to (width, height) screen units; the framebuffer size is re-read (HiDPI)."""
        self.win_size = (int(width), int(height))
        self.fb_size = tuple(self.glfw.get_framebuffer_size(self.window))
        self._needs_draw = True

    # ------------------------------------------------------------------ actions

    def goto(self, index: int, direction: int = +1) -> None:
        if len(self.slots) == 1:
            return
        self.images.load(index % len(self.slots), direction)
        self._enter_slot()

    def flash(self, text: str, seconds: float = 6.0) -> None:
        self.message = text
        self._message_until = time.monotonic() + seconds
        self._needs_draw = True

    def save(self) -> Path | None:
        """S: render the current focus, K and dof at the photo's full resolution in the background and
        write it as PNG next to the image, never overwriting (see :mod:`.saving`). Returns the path it
        will write (listed in :attr:`saved` once written), or None when there is nothing to save yet."""
        slot, want = self.slots[self.index], self.wanted
        if want is None:
            self.flash("nothing to save yet (no depth)")
            return None
        src, (_, focus_disparity, max_blur, dof, *_) = slot.source, want  # the settings of the frame shown
        renderer = self.scheduler.renderer
        options = {n: getattr(renderer, n) for n in ("aperture", "n_bands", "highlights", "cat_eye")}
        loader = photo_loader(slot, self.images.depth_kind, self.images.embedded_depth)
        out = self.saver.start(loader, (focus_disparity, max_blur, dof),
                               save_base(src), self.scheduler.device, options, protect=[p for p in (src.path, src.depth) if p],
                               on_done=self.glfw.post_empty_event)
        self._needs_draw = True
        return out

    def _poll_saves(self) -> None:
        for path, error in self.saver.poll():  # (logged there)
            self.saved += [path] if error is None else []
            self.flash(f"saved {path.name}" if error is None else error)

    def toggle_fullscreen(self) -> None:
        """F / F11: full screen on the window's monitor, or back to the window it was."""
        self.fullscreen, self._saved_geometry = toggle_fullscreen(self.glfw, self.window, self.fullscreen,
                                                                  self._saved_geometry)
        self.on_resize(*self.glfw.get_window_size(self.window))

    def close_window(self) -> None:
        self.glfw.set_window_should_close(self.window, True)

    @property
    def should_close(self) -> bool:
        return self.closed or bool(self.glfw.window_should_close(self.window))

    # ------------------------------------------------------------------ drawing

    def _hud_text(self):
        slot = self.slots[self.index]
        now = time.monotonic()
        msg = self.message if now < self._message_until else ""
        recent = [t for t in self._present_times if now - t <= 1.0]
        fps = len(recent) if len(recent) > 1 else None
        return hud.format_status(slot.source.name, self.index, len(self.slots), slot.size, self.scheduler.device,
                                 self.focus_disparity, self.max_blur, self.scheduler.render_ms, fps, self._status(),
                                 msg)

    def _draw(self, overlay: bool = True) -> None:
        slot = self.slots[self.index]
        show = slot.image is not None and self.scheduler.tex_index == self.index
        depth = show and self.depth_view and slot.disparity is not None
        if depth and self._depth_tex_index != self.index:
            self.screen.tex_depth.upload(slot.disparity)
            self._depth_tex_index = self.index
        place = None if depth else self.scheduler.tex_place  # a zoomed frame: (framebuffer rect, as blocks)
        self.screen.draw(self.fb_size, self.win_size, slot.size if show else None, depth_view=depth,
                         focus=self.focus_disparity, hud_lines=self._hud_text() if overlay else None,
                         help_lines=hud.HELP_LINES if overlay and self.help else None,
                         rect=place and place[0], nearest=bool(place and place[1]))

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
        self._needs_draw = self.scheduler.new_frame = False

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
        if self.images.depth_pending:
            self._poll_depth()
        self.scheduler.update(self.wanted, self.interacting)
        if self.saver.busy:
            self._poll_saves()
            self._needs_draw = True  # the HUD's save progress
        if self.message and time.monotonic() >= self._message_until:
            self.message = ""
            self._needs_draw = True
        key = (self._status(), self.index, self.depth_view, self.help)
        if key != self._status_key:
            self._status_key = key
            self._needs_draw = True
        if self._needs_draw and (self.scheduler.new_frame or not self.interacting):
            self._present()  # during a drag only new frames are drawn: they carry the HUD's changes too

    def run(self) -> None:
        """Run until the window is closed (Esc, Q or the close button)."""
        while not self.should_close:
            self.step(wait=0.02 if self.busy or self._needs_draw else 0.5)

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
        self.scheduler.close()
        self.saver.close()
        try:
            self.images.close()
        except Exception as e:  # closing must not hide the real outcome
            log.debug("depth worker close: %s", e)
        close_window(self.glfw, self.window)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
