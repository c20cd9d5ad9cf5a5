"""The click-to-refocus viewer: a GLFW window with an OpenGL 3.3 core context.

:class:`Viewer` owns the window, the GL objects and the state (focus, K, depth
view, help, current image). Its input handlers -- :meth:`Viewer.on_click`,
:meth:`Viewer.on_key`, :meth:`Viewer.on_scroll`, :meth:`Viewer.on_resize` --
are exactly what the GLFW callbacks call, so tests drive the same code path as
real events. :meth:`Viewer.step` runs one iteration of the event loop and
:meth:`Viewer.run_until_idle` runs until nothing is pending.

Rendering runs on one background thread (NumPy/OpenCV and CuPy release the GIL),
so the window keeps handling events while a slow CPU render is in flight; a
click during a render is remembered and rendered next (intermediate clicks are
coalesced). Only a change of focus, K or image triggers a render; only a change
of what is shown triggers a redraw.

Progressive preview (CPU renderer, images above :data:`PREVIEW_MIN_PIXELS`): a
second renderer is prepared on a copy downscaled to about
:data:`PREVIEW_PIXELS` (INTER_AREA; K scaled by the same factor). Each new
focus/K first renders there, is shown upscaled (bilinear) with the status
"preview", and is then replaced by the full-resolution render. A click during
the full render gets its own preview as soon as the worker is free (no stale
full render in between). Saving always writes the full-resolution result.

Depth for a photo without a depth file comes from
:class:`engine.depth.DepthWorker` (a separate process: TensorFlow is never
imported here), polled from the event loop.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import sys
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError, RefocusError
from . import hud, layout

log = logging.getLogger("engine")

K_STEP = 1.25  # factor per wheel notch or +/- press
PREVIEW_MIN_PIXELS = 600_000  # CPU: images above this get a quick low-resolution preview first
PREVIEW_PIXELS = 300_000  # size of that preview (pixels)
NO_DISPLAY_HINT = "use `refocus render IMAGE` to write refocused files without a window"


@dataclass
class Source:
    """One entry of the viewer's image list: a file, a bundled sample, or arrays (tests)."""

    name: str
    path: Path | None = None
    sample: str | None = None
    depth: str | None = None
    image: np.ndarray | None = None  # sRGB float32 (H, W, 3) in [0, 1]
    disparity: np.ndarray | None = None  # float32 (H, W) in [0, 1]
    focus_xy: tuple[float, float] | None = None


@dataclass
class _Slot:
    source: Source
    status: str = "pending"  # pending, depth, ready, failed
    image: np.ndarray | None = None
    disparity: np.ndarray | None = None
    focus_xy: tuple[float, float] | None = None
    error: str = ""

    @property
    def size(self):
        return None if self.image is None else (self.image.shape[1], self.image.shape[0])


@dataclass
class _Job:
    index: int
    params: tuple  # (focus, k, dof)
    future: Future = field(default=None)
    prepare: bool = False
    kind: str = "full"  # "full" or "preview" (low resolution, CPU)


def key_for_char(glfw, codepoint: int, letters: str):
    """The GLFW key a typed character stands for: "+"/"=" and "-"/"_" (K up/down, whatever the
    keyboard layout) and the given ``letters`` (case-insensitive; " " is space); else None."""
    c = chr(codepoint).lower()
    if c in "+=":
        return glfw.KEY_EQUAL
    if c in "-_":
        return glfw.KEY_MINUS
    if c and c in letters:
        return glfw.KEY_SPACE if c == " " else getattr(glfw, f"KEY_{c.upper()}")
    return None


def _is_timeout(e: BaseException) -> bool:
    return isinstance(e, (TimeoutError, queue.Empty)) or "Timeout" in type(e).__name__


def check_display() -> None:
    """Fail fast (before loading anything) when there is obviously no display."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        raise RefocusError(f"no display: `refocus view` needs a graphical session (DISPLAY is not set); "
                           f"{NO_DISPLAY_HINT}")


def open_window(size, title: str, visible: bool = True, image_size=None):
    """Initialise GLFW and open a window with an OpenGL 3.3 core context.

    ``size``: window size in screen units, or None to fit ``image_size`` (1:1,
    shrunk to 85 % of the monitor's work area).

    Raises :class:`RefocusError` (one line, suggesting ``refocus render``) when
    there is no display, GLFW cannot start or OpenGL 3.3 is not available.
    """
    check_display()
    try:
        import glfw
    except ImportError as e:
        raise RefocusError(f"cannot open a window: GLFW is not available ({e}); {NO_DISPLAY_HINT}") from None
    errors: list[str] = []
    glfw.set_error_callback(lambda code, desc: errors.append(
        desc.decode(errors="replace") if isinstance(desc, bytes) else str(desc)))
    if not glfw.init():
        why = errors[-1] if errors else "unknown reason"
        raise RefocusError(f"no display: cannot start GLFW ({why}); {NO_DISPLAY_HINT}")
    if size is None:
        area = (1920, 1080)
        mon = glfw.get_primary_monitor()
        if mon:
            _, _, aw, ah = glfw.get_monitor_workarea(mon)
            if aw > 0 and ah > 0:
                area = (aw, ah)
        size = layout.fit_window(image_size or (960, 640), area)
    glfw.default_window_hints()
    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
    glfw.window_hint(glfw.VISIBLE, bool(visible))
    glfw.window_hint(glfw.SCALE_TO_MONITOR, True)
    glfw.window_hint(glfw.DOUBLEBUFFER, True)
    win = glfw.create_window(int(size[0]), int(size[1]), title, None, None)
    if not win:
        why = errors[-1] if errors else "unknown reason"
        glfw.terminate()
        raise RefocusError(f"cannot create an OpenGL 3.3 core window ({why}); {NO_DISPLAY_HINT}")
    glfw.make_context_current(win)
    glfw.swap_interval(1)
    return glfw, win


class Viewer:
    """Interactive refocus viewer over a list of :class:`Source` entries.

    ``renderer``: an :class:`engine.renderer.Renderer` (made from ``device`` and
    ``renderer_options`` when not given). ``max_blur``: K for every image (None:
    :func:`engine.optics.default_max_blur` per image). ``size``: initial window
    size in screen units (None: the first image at 1:1, shrunk to fit the screen).
    ``threaded``: render on a background thread (False renders inside
    :meth:`step`; used by benchmarks and tests that need determinism; a preview
    and its full render then run in two successive steps).
    ``preview``: on the CPU renderer, show a low-resolution preview of each new
    focus/K before the full render (images above :data:`PREVIEW_MIN_PIXELS`).
    """

    def __init__(self, sources, *, renderer=None, device: str = "auto", renderer_options=None,
                 max_blur: float | None = None, dof: float = 0.0, depth_kind: str = "disparity",
                 model: str | None = None, model_path: str | None = None, size=None,
                 visible: bool = True, title: str = "refocus", threaded: bool = True, preview: bool = True):
        if not sources:
            raise InputError("no image to show")
        check_display()
        self.slots = [_Slot(s) for s in sources]
        self.depth_kind = depth_kind
        self.model, self.model_path = model, model_path
        self.k_override = max_blur
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

        # state
        self.index = 0
        self.focus: float | None = None
        self.focus_xy: tuple[float, float] | None = None
        self.k: float | None = None
        self.depth_view = False
        self.help = False
        self.fullscreen = False
        self.message = ""
        self._message_until = 0.0
        self.closed = False
        self.saved: list[Path] = []

        # render bookkeeping
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refocus-render") if threaded else None
        self._job: _Job | None = None
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
        self._hud_lines = None
        self._depth_worker = None
        self._depth_slot: int | None = None
        self._saved_geometry = None
        self._tex_kind = None  # "preview" (unblurred photo), "lowres" (quick preview render) or "render"
        self._preview_index: int | None = None  # image the preview renderer is prepared for
        self._preview_done = None  # (index, focus, k, dof) whose preview has been rendered
        self.preview_ms: float | None = None
        self._save_pending = False  # S pressed while a preview was shown: save when the full render is in
        self._tex_index: int | None = None
        self._depth_tex_index: int | None = None

        self._load(0, direction=+1)
        self.image_rect = self.hud_rect = None
        self.glfw, self.window = open_window(size, title, visible, image_size=self.slots[self.index].size)
        self._init_gl()
        self._install_callbacks()
        self.win_size = tuple(self.glfw.get_window_size(self.window))
        self.fb_size = tuple(self.glfw.get_framebuffer_size(self.window))
        self._enter_slot()

    # ------------------------------------------------------------------ setup

    def _init_gl(self):
        from OpenGL import GL

        from .glutil import Program, Texture

        self.GL = GL
        self.vao = GL.glGenVertexArrays(1)
        GL.glBindVertexArray(self.vao)
        self.prog_image = Program("quad.vert", "image.frag")
        self.prog_depth = Program("quad.vert", "depth.frag")
        self.prog_overlay = Program("quad.vert", "overlay.frag")
        self.tex_image = Texture()
        self.tex_depth = Texture()
        self.tex_hud = Texture()
        self.tex_help = Texture()
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

    def _install_callbacks(self):
        g, w = self.glfw, self.window

        def on_mouse(win, button, action, mods):
            if button == g.MOUSE_BUTTON_LEFT and action == g.PRESS:
                x, y = g.get_cursor_pos(win)
                self.on_click(x, y)

        # Printable keys arrive through the character callback, so that "+", "D", "Q"...
        # follow the keyboard layout; the key callback handles the others.
        special = {g.KEY_ESCAPE, g.KEY_LEFT, g.KEY_RIGHT, g.KEY_PAGE_UP, g.KEY_PAGE_DOWN, g.KEY_BACKSPACE,
                   g.KEY_F11}

        def on_key(win, key, scancode, action, mods):
            if action in (g.PRESS, g.REPEAT) and key in special:
                self.on_key(key, mods)

        g.set_mouse_button_callback(w, on_mouse)
        g.set_key_callback(w, on_key)
        g.set_char_callback(w, lambda win, codepoint: self.on_char(codepoint))
        g.set_scroll_callback(w, lambda win, dx, dy: self.on_scroll(dy))
        g.set_window_size_callback(w, lambda win, ww, wh: self.on_resize(ww, wh))
        g.set_framebuffer_size_callback(w, lambda win, fw, fh: self.on_resize(*g.get_window_size(win)))
        g.set_window_refresh_callback(w, lambda win: self._redraw())
        self._callbacks = (on_mouse, on_key)  # keep references alive

    # ------------------------------------------------------------------ loading

    def _load(self, index: int, direction: int = +1) -> None:
        """Make ``index`` the current image, loading it; failed files are skipped in ``direction``."""
        n = len(self.slots)
        for step in range(n):
            i = (index + direction * step) % n
            slot = self.slots[i]
            if slot.status == "pending":
                self._load_slot(slot)
            if slot.status != "failed":
                self.index = i
                return
        self.index = index % n  # nothing loadable: stay, show the messages

    def _load_slot(self, slot: _Slot) -> None:
        from ..photo import load_photo

        src = slot.source
        try:
            if src.image is not None:
                img, disp, focus = src.image, src.disparity, src.focus_xy
            else:
                photo = load_photo(src.path, sample=src.sample, depth=src.depth, depth_kind=self.depth_kind,
                                   estimate=False)
                img, disp, focus = photo.image_srgb, photo.disparity, photo.focus
            slot.image = np.asarray(img, np.float32)
            slot.focus_xy = focus
            if disp is None:
                self._start_depth(slot)
            else:
                slot.disparity = np.asarray(disp, np.float32)
                slot.status = "ready"
        except RefocusError as e:
            self._fail(slot, str(e))
        except MemoryError:
            self._fail(slot, f"{src.name}: out of memory")

    def _fail(self, slot: _Slot, why: str) -> None:
        slot.status = "failed"
        slot.error = why
        slot.image = slot.disparity = None
        self.flash(f"{why} - skipped")
        log.warning("%s (skipped)", why)

    def _start_depth(self, slot: _Slot) -> None:
        slot.status = "depth"
        if self._depth_slot is not None:
            return  # one request at a time; this one starts when the current one is done
        try:
            from ..depth import DepthWorker
        except ImportError:
            raise InputError(f"{slot.source.name}: no depth map (IMAGE.depth.png or --depth FILE) "
                             f"and no depth model available") from None
        if self._depth_worker is None:
            self._depth_worker = DepthWorker(model=self.model, model_path=self.model_path)
        self._depth_worker.submit(slot.image)
        self._depth_slot = self.slots.index(slot)

    def _poll_depth(self) -> None:
        if self._depth_slot is None:
            waiting = [i for i, s in enumerate(self.slots) if s.status == "depth"]
            if waiting:
                slot = self.slots[waiting[0]]
                try:
                    self._start_depth(slot)
                except RefocusError as e:
                    self._fail(slot, str(e))
            return
        slot = self.slots[self._depth_slot]
        try:
            raw = self._depth_worker.result(timeout=0)
        except Exception as e:
            if _is_timeout(e):
                return
            self._depth_slot = None
            self._fail(slot, f"{slot.source.name}: depth estimation failed ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
            self._after_failure()
            return
        if raw is None:
            return
        self._depth_slot = None
        from ..depthmap import fit_to_image, to_disparity

        try:
            slot.disparity = fit_to_image(to_disparity(np.asarray(raw, np.float32), "disparity", "model output"),
                                          slot.image.shape[:2]).astype(np.float32)
            slot.status = "ready"
        except RefocusError as e:
            self._fail(slot, str(e))
            self._after_failure()
            return
        if self.slots.index(slot) == self.index:
            self._enter_slot()
        self._needs_draw = True

    def _after_failure(self):
        if self.slots[self.index].status == "failed":
            self._load(self.index + 1, +1)
            self._enter_slot()

    def _enter_slot(self) -> None:
        """Reset focus/K for the current image and show its unblurred preview at once."""
        slot = self.slots[self.index]
        self.glfw.set_window_title(self.window, f"{self.title} - {slot.source.name}")
        self.focus = self.focus_xy = None
        self.k = None
        self._save_pending = False
        if slot.image is not None:
            self._reset_params(slot)
            if self._tex_index != self.index:
                preview = np.rint(np.clip(slot.image, 0.0, 1.0) * 255.0).astype(np.uint8)
                self.tex_image.upload(preview)
                self._tex_index, self._tex_kind = self.index, "preview"
                self.shown = None
        self._needs_draw = True

    def _reset_params(self, slot: _Slot) -> None:
        from ..optics import default_max_blur
        from ..optics import focus_disparity_at

        h, w = slot.image.shape[:2]
        self.k = self.k_override if self.k_override is not None else default_max_blur((h, w))
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
        if self.k is None or dy == 0:
            return
        from ..pyramid import MAX_RADIUS

        k = self.k * K_STEP ** dy
        if dy > 0 and self.k < 0.5:
            k = max(k, 1.0)
        self.k = float(min(MAX_RADIUS, round(k, 2) if k >= 0.05 else 0.0))
        self._needs_draw = True

    def on_key(self, key: int, mods: int = 0) -> None:
        """Keyboard shortcuts (GLFW key codes); see :data:`engine.viewer.hud.HELP_LINES`."""
        g = self.glfw
        if key in (g.KEY_ESCAPE, g.KEY_Q):
            self.close_window()
        elif key in (g.KEY_EQUAL, g.KEY_KP_ADD):
            self.on_scroll(1)
        elif key in (g.KEY_MINUS, g.KEY_KP_SUBTRACT):
            self.on_scroll(-1)
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

    # ------------------------------------------------------------------ rendering

    @property
    def wanted(self):
        """(index, focus, K, dof) the screen should show, or None when not renderable yet."""
        slot = self.slots[self.index]
        if slot.status != "ready" or self.focus is None or self.k is None:
            return None
        return (self.index, round(self.focus, 6), round(self.k, 4), self.dof)

    @property
    def busy(self) -> bool:
        """Work pending: a render in flight or needed, or depth being computed."""
        w = self.wanted
        return self._job is not None or (w is not None and w != self.shown) or self._depth_slot is not None \
            or any(s.status == "depth" for s in self.slots)

    @property
    def showing_preview(self) -> bool:
        """The display texture holds a low-resolution preview (the full render is pending)."""
        return self._tex_kind == "lowres" and self._tex_index == self.index

    def preview_size(self, index: int | None = None):
        """(width, height) of the quick preview of image ``index``, or None when it gets none."""
        slot = self.slots[self.index if index is None else index]
        if not self.preview or slot.image is None:
            return None
        h, w = slot.image.shape[:2]
        if w * h <= PREVIEW_MIN_PIXELS:
            return None
        s = math.sqrt(PREVIEW_PIXELS / (w * h))
        return max(1, round(w * s)), max(1, round(h * s))

    def _render_job(self, index: int, params, prepare: bool, kind: str = "full"):
        from ..colour import linear_to_srgb8, srgb_to_linear

        t0 = time.perf_counter()
        slot = self.slots[index]
        focus, k, dof = params
        if kind == "preview":
            import cv2

            h, w = slot.image.shape[:2]
            pw, ph = self.preview_size(index)
            r = self.preview_renderer
            if prepare:
                small = cv2.resize(srgb_to_linear(slot.image), (pw, ph), interpolation=cv2.INTER_AREA)
                disp = np.clip(cv2.resize(slot.disparity, (pw, ph), interpolation=cv2.INTER_AREA), 0.0, 1.0)
                r.prepare(small, disp)
            t1 = time.perf_counter()
            small = r.to_host(linear_to_srgb8(r.render(focus, k * pw / w, dof)))
            frame = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
            return frame, 1e3 * (t1 - t0), 1e3 * (time.perf_counter() - t1)
        if prepare:
            self.renderer.prepare(srgb_to_linear(slot.image), slot.disparity)
        t1 = time.perf_counter()
        frame = linear_to_srgb8(self.renderer.render(focus, k, dof))
        if self.device == "gpu":
            import cupy

            cupy.cuda.get_current_stream().synchronize()
        t2 = time.perf_counter()
        return frame, 1e3 * (t1 - t0), 1e3 * (t2 - t1)

    def _finish_job(self, job: _Job) -> None:
        """Take a finished job's frame: show it if it is still for the current image."""
        key = (job.index, *job.params)
        try:
            frame, _prep_ms, render_ms = job.future.result()
        except (RefocusError, MemoryError) as e:
            self.flash(str(e) if isinstance(e, RefocusError) else "out of memory while rendering")
            if job.kind == "preview":
                self._preview_done = key  # go on with the full render (it reports its own error)
            else:
                self.shown = key  # do not retry the same parameters forever
            return
        if job.kind == "preview":
            if job.prepare:
                self._preview_index = job.index
            self._preview_done = key
            if key == self.wanted:  # a stale preview is skipped: the next one is quick
                self.tex_image.upload(frame)
                self._tex_index, self._tex_kind = job.index, "lowres"
                self.preview_ms = render_ms
                self._needs_draw = True
            return
        if job.prepare:
            self._prepared_index = job.index
        if job.index == self.index:
            t0 = time.perf_counter()
            self._upload_frame(frame)
            self.upload_ms = 1e3 * (time.perf_counter() - t0)
            self._frame = frame
            self._tex_index, self._tex_kind = job.index, "render"
            self.shown = key
            self.render_ms = render_ms
            self._needs_draw = True

    def _update_render(self) -> None:
        job = self._job
        if job is not None:
            if not job.future.done():
                return
            self._job = None
            self._finish_job(job)
            if self._pool is None and job.kind == "preview":
                return  # unthreaded: let step() present the preview before the full render runs
        want = self.wanted
        if want is not None and want == self.shown:
            if self.showing_preview:  # back to the parameters of the full frame on hand (e.g. R)
                if self._frame is not None:
                    self._upload_frame(self._frame)
                self._tex_kind = "render"
                self._needs_draw = True
            if self._save_pending:
                self._save_pending = False
                self.save()
        if want is None or want == self.shown:
            return
        index, focus, k, dof = want
        if self.preview_size(index) is not None and self._preview_done != want:
            if self.preview_renderer is None:
                from ..backends import make_renderer

                r = self.renderer
                self.preview_renderer = make_renderer("cpu", aperture=r.aperture, n_bands=r.n_bands,
                                                      highlights=r.highlights)
            job = _Job(index, (focus, k, dof), prepare=self._preview_index != index, kind="preview")
            if job.prepare:
                self._preview_index = None
        else:
            job = _Job(index, (focus, k, dof), prepare=self._prepared_index != index)
            if job.prepare:
                self._prepared_index = None
        if self._pool is not None:
            job.future = self._pool.submit(self._render_job, index, job.params, job.prepare, job.kind)
            job.future.add_done_callback(lambda f: self.glfw.post_empty_event())
        else:
            job.future = Future()
            try:
                job.future.set_result(self._render_job(index, job.params, job.prepare, job.kind))
            except BaseException as e:  # noqa: BLE001 -- delivered through the future like the threaded path
                job.future.set_exception(e)
        self._job = job
        self._needs_draw = True  # status line shows "rendering..."
        if self._pool is None:
            self._update_render()

    def _upload_frame(self, frame) -> None:
        """Put a rendered sRGB8 frame into the display texture."""
        if self.device == "gpu" and self._gpu_uploader is not None:
            try:
                self._gpu_uploader.upload(self.tex_image, frame)
                return
            except Exception as e:
                log.warning("CUDA-OpenGL interop failed (%s); uploading through host memory", e)
                self._gpu_uploader = None
        self.tex_image.upload(self.renderer.to_host(frame))

    # ------------------------------------------------------------------ drawing

    def _status(self) -> str:
        slot = self.slots[self.index]
        if slot.status == "failed":
            return "no image could be loaded" if all(s.status == "failed" for s in self.slots) else slot.error
        if slot.status == "depth":
            return "computing depth..."
        if self._job is not None or (self.wanted is not None and self.wanted != self.shown):
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
                                 shown_focus, self.k, self.render_ms, fps, self._status(), msg)

    def _draw(self, overlay: bool = True) -> None:
        GL = self.GL
        fw, fh = self.fb_size
        GL.glDisable(GL.GL_BLEND)
        GL.glViewport(0, 0, fw, fh)
        GL.glClearColor(0.0, 0.0, 0.0, 1.0)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT)
        GL.glBindVertexArray(self.vao)
        slot = self.slots[self.index]
        self.image_rect = None
        if slot.image is not None and self._tex_index == self.index:
            r = layout.letterbox(self.fb_size, slot.size)
            self.image_rect = r
            GL.glViewport(*r.gl_viewport(fh))
            full = (-1.0, -1.0, 1.0, 1.0)
            if self.depth_view and slot.disparity is not None:
                if self._depth_tex_index != self.index:
                    self.tex_depth.upload(slot.disparity)
                    self._depth_tex_index = self.index
                self.tex_depth.bind(0)
                self.prog_depth.use(u_rect=full, u_tex=0, u_focus=self.focus if self.focus is not None else -1.0,
                                    u_band=0.01)
            else:
                self.tex_image.bind(0)
                self.prog_image.use(u_rect=full, u_tex=0, u_encode_srgb=0)
            GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
        GL.glViewport(0, 0, fw, fh)
        self.hud_rect = None
        if overlay:
            from .glutil import rect_ndc

            scale = max(1.0, fw / max(1, self.win_size[0]))
            lines = self._hud_text()
            if lines != self._hud_lines or self.tex_hud.size == (0, 0):
                self.tex_hud.upload(hud.text_panel(lines, scale))
                self._hud_lines = lines
            GL.glEnable(GL.GL_BLEND)
            GL.glBlendFunc(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)
            m = round(8 * scale)
            tw, th = self.tex_hud.size
            self.hud_rect = layout.Rect(m, m, tw, th)
            self.tex_hud.bind(0)
            self.prog_overlay.use(u_rect=rect_ndc(m, m, tw, th, fw, fh), u_tex=0)
            GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
            if self.help:
                if self.tex_help.size == (0, 0) or getattr(self, "_help_scale", None) != scale:
                    self.tex_help.upload(hud.text_panel(hud.HELP_LINES, 1.2 * scale, pad=round(16 * scale)))
                    self._help_scale = scale
                hw, hh = self.tex_help.size
                fit = min(1.0, 0.95 * fw / hw, 0.95 * fh / hh)  # shrink to fit small windows
                hw, hh = max(1, round(hw * fit)), max(1, round(hh * fit))
                self.tex_help.bind(0)
                self.prog_overlay.use(u_rect=rect_ndc((fw - hw) // 2, (fh - hh) // 2, hw, hh, fw, fh), u_tex=0)
                GL.glDrawArrays(GL.GL_TRIANGLE_STRIP, 0, 4)
            GL.glDisable(GL.GL_BLEND)

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
        from .glutil import read_pixels

        self._draw(overlay)
        self.GL.glFinish()
        self.GL.glReadBuffer(self.GL.GL_BACK)
        out = read_pixels(*self.fb_size)
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
        self.glfw.destroy_window(self.window)
        self.glfw.terminate()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
