"""Render scheduling of the viewer: one render at a time on a background thread, with a quick preview.

:class:`RenderScheduler` (an object the :class:`deocused.viewer.app.Viewer` owns)
compares what the screen should show (the viewer's ``wanted``: image, focus, K,
dof, display size, zoomed view) with what it shows (``shown``) and starts the
render that closes the gap (:meth:`RenderScheduler.update`). Rendering runs on
one background thread (NumPy/OpenCV and CuPy release the GIL), so the window
keeps handling events while a slow CPU render is in flight; a click during a render is remembered and rendered next
(intermediate clicks are coalesced). The pyramid is prepared once per image:
a new focus or K only renders.

Fit view at the screen's resolution: the renderer is prepared on the photo
resampled to the framebuffer pixels that show it (:mod:`.display`; K scaled
alike), so a render costs what the window's pixels cost; a new window size
prepares it again. ``wanted`` and ``shown`` carry that display size.

Progressive preview (CPU renderer, displays above :data:`PREVIEW_MIN_PIXELS`): a
second renderer is prepared (at the first click) on a copy downscaled to about
:data:`PREVIEW_PIXELS` (INTER_AREA; K scaled by the same factor). Each new
focus/K (not an image's first frame: the photo is on screen) first renders there, is shown upscaled (bilinear) with the status
"preview", and is then replaced by the display-resolution render. A click during
that render gets its own preview as soon as the worker is free (no stale
render in between). Saving renders the photo at full resolution (:mod:`.saving`).
Once a full render of the image has taken at most :data:`PREVIEW_IF_SLOWER_MS`
(``preview_if_slower_ms``), its clicks go straight to the full render: the
preview would only delay it.
"""

from __future__ import annotations

import logging
import math
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from ..errors import GpuMemoryError, RefocusError
from ..window.layout import Rect
from .jobs import Job, JobKind, TexKind

log = logging.getLogger("deocused")

PREVIEW_MIN_PIXELS = 600_000  # CPU: images above this get a quick low-resolution preview first
PREVIEW_PIXELS = 300_000  # size of that preview (pixels)
#: ... unless the image's last full render took at most this long: within the interactive
#: budget of a click (250 ms) the full frame itself comes soon enough, and a preview
#: would only delay it.
PREVIEW_IF_SLOWER_MS = 250.0
#: A drag or wheel turn counts as ongoing this long (s) after its last event: meanwhile frames render at
#: the preview resolution whenever the display-resolution render is slower than INTERACTION_FRAME_MS.
#: Pointers report motion at the display's refresh rate (60-125 events/s), so 50 ms is three or more
#: event intervals: a pause that long is a rest, and the full frame starts.
INTERACTION_S = 0.05
INTERACTION_FRAME_MS = 50.0


def _to_uint8(srgb: np.ndarray) -> np.ndarray:
    """A decoded 8-bit photo (float32 code / 255) back to its codes, in place (no second float copy)."""
    np.multiply(srgb, 255.0, out=srgb)
    return np.rint(srgb, out=srgb).astype(np.uint8)


class RenderScheduler:
    """Which frame to render next, the render itself, and taking its result (owned by the viewer).

    It owns the renderers (``renderer``, ``preview_renderer``), the render thread and the job in flight
    (``job``), what the renderer is prepared for, the display texture's content (``tex_index``,
    ``tex_kind``, ``tex_place``) and the frame bookkeeping (``shown``, ``render_ms``, ``frames_rendered``...).
    What it needs from the viewer is passed in: ``images`` (the :class:`~.loader.ImageList`), ``fb_size``
    (a callable: the framebuffer's (width, height)), ``flash`` (a HUD message) and ``request_draw`` (the
    screen needs drawing); :meth:`attach` gives it the display texture and the event loop's ``wake`` once
    the window is open. :meth:`update` takes the frame the viewer wants (:attr:`Viewer.wanted
    <deocused.viewer.app.Viewer.wanted>`) and whether a drag or wheel turn is in progress.
    """

    def __init__(self, images, renderer, *, device_asked: str, threaded: bool, preview: bool, fb_size,
                 flash, request_draw):
        self.images, self._fb_size, self._flash, self._request_draw = images, fb_size, flash, request_draw
        self.renderer, self.device_asked = renderer, device_asked  # "auto": a GPU out of memory falls back to the CPU
        self.device = getattr(renderer, "device", "cpu")
        self.preview = bool(preview) and self.device == "cpu"
        self.preview_renderer = None  # CPU renderer on the downscaled image (made when first needed)
        self.preview_if_slower_ms = PREVIEW_IF_SLOWER_MS
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refocus-render") if threaded else None
        self.job: Job | None = None  # the job in flight
        self._prepared = None  # (index, display size) the renderer is prepared for
        self._preview_prepared = None  # (index, display size) the preview renderer is prepared for
        self.preview_done = None  # (index, focus_disparity, max_blur, dof, ...) whose preview has been rendered
        self._completed = None  # the wanted frame whose pyramid has been completed while idle
        self.shown: tuple | None = None  # (index, focus_disparity, max_blur, dof, display size, view) in the texture
        self._frame = None  # last rendered sRGB8 frame (backend array)
        self.render_ms: float | None = None
        self.upload_ms: float | None = None
        self.preview_ms: float | None = None
        self.frames_rendered = 0  # refocused frames put on screen (previews included)
        self.new_frame = False  # a refocused frame is in the texture and not yet presented (the viewer clears it)
        self.tex_index: int | None = None  # the image the display texture shows
        self.tex_kind: TexKind | None = None
        self.tex_place = None  # None: the texture fills the fit; else (framebuffer Rect, nearest)
        self._full_render_ms: dict[int, float] = {}  # the last full render's time per image
        self._full_cache = self._display_cache = None
        self._encoders: dict[JobKind, object] = {}
        self._texture = self._wake = self._gpu_uploader = None
        if self._pool is not None:  # load the renderer's code while the first photo decodes
            self._pool.submit(self.renderer.warm_up)

    def attach(self, texture, wake) -> None:
        """The display texture (``upload(sRGB8 frame)``) and ``wake()`` (a finished job wakes the event loop)."""
        self._texture, self._wake = texture, wake
        if self.device == "gpu":
            from .interop import try_gpu_uploader  # CUDA-GL interop (None: upload through host memory)

            self._gpu_uploader = try_gpu_uploader()

    def close(self) -> None:
        """Stop the render thread (the job in flight finishes) and release the interop."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            if self._gpu_uploader is not None:
                self._gpu_uploader.close()
        except Exception as e:
            log.debug("interop close: %s", e)

    def display_size(self, index: int | None = None):
        """(width, height) of the fit view of image ``index`` in framebuffer pixels (at most the image's
        size), or None before the image is loaded; see :mod:`.display`."""
        from .display import display_size

        slot = self.images.slots[self.images.index if index is None else index]
        return None if slot.size is None else display_size(slot.size, self._fb_size())

    def in_flight(self, want) -> bool:
        """A render is in flight or needed for ``want`` (the idle completion of the pyramid aside)."""
        return (self.job is not None and self.job.kind is not JobKind.COMPLETE) or (want is not None
                                                                                   and want != self.shown)

    def status(self, want) -> str:
        """The HUD's render state: preview, preparing or rendering while a frame is on its way, else ""."""
        if not self.in_flight(want):
            return ""
        if self.showing_preview:
            return "preview - rendering..."
        return "preparing..." if self._prepared is None or self._prepared[0] != self.images.index else "rendering..."

    @property
    def showing_preview(self) -> bool:
        """The display texture holds a low-resolution preview (the full render is pending)."""
        return self.tex_kind is TexKind.LOWRES and self.tex_index == self.images.index

    def show_photo(self, index: int) -> None:
        """Show image ``index`` unblurred at once (sRGB at display size: a stand-in until its first render)."""
        if self.tex_index == index:
            return
        from .display import resample_linear

        shown = resample_linear(self.images.slots[index].image, self.display_size(index))
        self._texture.upload(np.rint(np.clip(shown, 0.0, 1.0) * 255.0).astype(np.uint8))
        self.tex_index, self.tex_kind, self.tex_place = index, TexKind.PHOTO, None
        self.shown = None

    def preview_size(self, index: int | None = None):
        """(width, height) of the quick preview of image ``index``, or None when it gets none."""
        slot = self.images.slots[self.images.index if index is None else index]
        if not self.preview or slot.image is None:
            return None
        w, h = self.display_size(index)
        if w * h <= PREVIEW_MIN_PIXELS:
            return None
        s = math.sqrt(PREVIEW_PIXELS / (w * h))
        return max(1, round(w * s)), max(1, round(h * s))

    def _render_region(self, index: int, region, focus_disparity: float, max_blur: float, dof: float):
        """The photo pixels ``region`` refocused at full resolution (sRGB8): only the region and the
        kernel's reach around it are prepared (:meth:`deocused.render.renderer.Renderer.render_region`, on the
        viewer's renderer), from the whole photo (decoded on this thread the first time, kept as 8 bits)."""
        from ..io.colour import srgb_to_linear
        from ..render.cpu.srgb8 import srgb8_to_linear
        from ..render.renderer import aligned_window, region_reach

        slot, r = self.images.slots[index], self.renderer  # one pyramid in memory: the fit view's is prepared again
        self._prepared = None                           # on the way back (display-sized, quick)
        cached = self._full_cache
        if cached is None or cached[0] != index:
            self._full_cache = None
            srgb = slot.image if not slot.reduced else slot.full_srgb8()
            if srgb is None:
                srgb = _to_uint8(slot.full_image())
            cached = self._full_cache = (index, srgb, r.band_stats(slot.disparity))
        _, srgb, whole = cached
        w, h = slot.size
        x0, y0, x1, y1 = aligned_window(region, region_reach(whole, focus_disparity, max_blur, dof, r.cat_eye), (h, w))
        crop = srgb[y0:y1, x0:x1]
        lin = srgb8_to_linear(crop) if crop.dtype == np.uint8 else srgb_to_linear(crop)  # a table: the same values
        rx0, ry0, rx1, ry1 = region
        out = r.render_region(lin, slot.disparity[y0:y1, x0:x1], (rx0 - x0, ry0 - y0, rx1 - x0, ry1 - y0),
                              focus_disparity, max_blur, dof, whole=whole, place=(x0, y0, w, h))
        frame = self._to_srgb8(out, JobKind.REGION)
        r.synchronize()
        return frame

    def display_inputs(self, index: int, size):
        """(linear image, disparity) of image ``index`` at display ``size``, computed once per image and size
        (the preview and the fit view share them)."""
        from .display import display_inputs

        cached = self._display_cache
        if cached is None or cached[0] != (index, size):
            self._display_cache = None  # free the old ones first
            slot = self.images.slots[index]
            if slot.reduced and (slot.image.shape[1] < size[0] or slot.image.shape[0] < size[1]):
                slot.image, slot.full_size, slot.reduced = slot.full_image(), None, False  # a bigger screen
            cached = self._display_cache = ((index, size), display_inputs(slot.image, slot.disparity, size))
        return cached[1]

    def _to_srgb8(self, frame, kind: JobKind):
        """A rendered linear frame as 8-bit sRGB: host frames through the table encoder (buffers per kind)."""
        if type(frame) is not np.ndarray:  # a device array (the CUDA host layer's are NumPy subclasses)
            from ..io.colour import linear_to_srgb8

            return linear_to_srgb8(frame)
        encoders = self._encoders
        if kind not in encoders:
            from ..render.cpu.srgb8 import Srgb8Encoder

            encoders[kind] = Srgb8Encoder()
        return encoders[kind](frame)

    def _preview_pays(self, index: int, interacting: bool) -> bool:
        """A preview first, unless the last full render of image ``index`` was quick (for the frame
        rate of a drag in progress, quick means :data:`INTERACTION_FRAME_MS`), or the image has just
        opened: the photo itself is on screen, and a preview would only delay its first refocused frame.
        ``interacting``: a drag or wheel turn is in progress."""
        last = self._full_render_ms.get(index)
        if last is None and not interacting and self.tex_kind is TexKind.PHOTO and self.tex_index == index:
            return False
        limit = self.preview_if_slower_ms
        if interacting:
            limit = min(limit, INTERACTION_FRAME_MS)
        return last is None or last > limit

    def _render_job(self, index: int, params, prepare: bool, kind: JobKind = JobKind.FULL):
        """The work of one job on the render thread: (sRGB8 frame at display size or None, prepare ms, render ms).
        ``params``: (focus_disparity, max_blur in image pixels, dof, display size); max_blur is scaled to the
        pixels rendered."""
        t0 = time.perf_counter()
        focus_disparity, max_blur, dof, size, view = params
        full_w = self.images.slots[index].size[0]
        scale = size[0] / full_w
        if kind is JobKind.REGION:
            return self._render_region(index, view[0], focus_disparity, max_blur, dof), 0.0, 1e3 * (time.perf_counter() - t0)
        if kind is JobKind.COMPLETE:  # idle: the levels a render of this K may read (a CPU render
            from ..render.pyramid import levels_needed  # builds only the full-resolution tiles it reads)

            self.renderer.ensure_levels(levels_needed(max_blur * scale))
            return None, 0.0, 1e3 * (time.perf_counter() - t0)
        if kind is JobKind.PREVIEW:
            import cv2

            from .display import resample_disparity, resample_linear

            pw, ph = self.preview_size(index)
            r = self.preview_renderer
            if prepare:
                image, disparity = self.display_inputs(index, size)
                r.prepare(resample_linear(image, (pw, ph)), resample_disparity(disparity, (pw, ph)))
            t1 = time.perf_counter()
            small = r.to_host(self._to_srgb8(r.render(focus_disparity, max_blur * pw / full_w, dof), kind))
            frame = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
            return frame, 1e3 * (t1 - t0), 1e3 * (time.perf_counter() - t1)
        if prepare:
            self.renderer.prepare(*self.display_inputs(index, size))
        t1 = time.perf_counter()
        frame = self._to_srgb8(self.renderer.render(focus_disparity, max_blur * scale, dof), kind)
        self.renderer.synchronize()
        t2 = time.perf_counter()
        return frame, 1e3 * (t1 - t0), 1e3 * (t2 - t1)

    def _finish_job(self, job: Job) -> None:
        """Take a finished job's frame: show it if it is still for the current image."""
        key = (job.index, *job.params)
        if job.kind is JobKind.COMPLETE:
            self._completed = key
            try:
                job.future.result()
            except (RefocusError, MemoryError) as e:  # clicks still build what they read
                log.info("pyramid not completed in advance: %s", e)
            return
        try:
            frame, _prep_ms, render_ms = job.future.result()
        except (RefocusError, MemoryError) as e:
            if isinstance(e, GpuMemoryError) and self._fall_back_to_cpu(e):
                return  # wanted != shown: rendered again, on the CPU
            self._flash(str(e) if isinstance(e, RefocusError) else "out of memory while rendering")
            if job.kind is JobKind.PREVIEW:
                self.preview_done = key  # go on with the full render (it reports its own error)
            else:
                self.shown = key  # do not retry the same parameters forever
            return
        if job.kind is JobKind.REGION:
            if job.index == self.images.index:
                self._upload_frame(frame)
                (x0, y0, x1, y1), (ox, oy), z = job.params[4]
                self.tex_index, self.tex_kind = job.index, TexKind.RENDER
                self.tex_place = (Rect(ox, oy, (x1 - x0) * z, (y1 - y0) * z), z > 1)
                self.shown, self.render_ms = key, render_ms
                self.frames_rendered += 1
                self.new_frame = True
                self._request_draw()
            return
        if job.kind is JobKind.PREVIEW:
            if job.prepare:
                self._preview_prepared = (job.index, job.params[3])
            self.preview_done = key
            if job.index == self.images.index:  # even a stale one: it is the newest frame there is (a drag)
                self._texture.upload(frame)
                self.tex_index, self.tex_kind, self.tex_place = job.index, TexKind.LOWRES, None
                self.preview_ms = render_ms
                self.frames_rendered += 1
                self.new_frame = True
                self._request_draw()
            return
        if job.prepare:
            self._prepared = (job.index, job.params[3])
        if job.index == self.images.index:
            t0 = time.perf_counter()
            self._upload_frame(frame)
            self.upload_ms = 1e3 * (time.perf_counter() - t0)
            self._frame = frame
            self.tex_index, self.tex_kind, self.tex_place = job.index, TexKind.RENDER, None
            self.shown = key
            self.render_ms = render_ms
            self.frames_rendered += 1
            self.new_frame = True
            self._full_render_ms[job.index] = render_ms
            self._request_draw()

    def _cpu_renderer(self):
        """A new CPU renderer with the options of :attr:`renderer`."""
        from ..render.backends import make_renderer

        r = self.renderer
        return make_renderer("cpu", aperture=r.aperture, n_bands=r.n_bands, highlights=r.highlights,
                             cat_eye=r.cat_eye)

    def _fall_back_to_cpu(self, e: GpuMemoryError) -> bool:
        """The GPU ran out of memory (the GPU renderer has freed what it took): with device "auto" the
        viewer goes on with a CPU renderer, saying so on the HUD and in one log line; True if it did."""
        if self.device != "gpu" or self.device_asked != "auto":
            return False
        self.renderer = self._cpu_renderer()
        self.device, self._prepared, self._completed = "cpu", None, None
        notice = f"{str(e).split(';')[0]}; rendering on the CPU instead"
        log.warning("%s", notice)
        self._flash(notice)
        return True

    def update(self, want, interacting: bool) -> None:
        """Take a finished job and start the render that brings the screen to ``want`` (:attr:`Viewer.wanted
        <deocused.viewer.app.Viewer.wanted>`; None: nothing renderable); ``interacting``: a drag or wheel turn
        is in progress (frames at the preview resolution while the display-resolution render is slow)."""
        job = self.job
        if job is not None:
            if not job.future.done():
                return
            self.job = None
            self._finish_job(job)
            if self._pool is None and job.kind is JobKind.PREVIEW:
                return  # unthreaded: let step() present the preview before the full render runs
        if want is not None and want == self.shown and self.showing_preview:
            if self._frame is not None:  # back to the parameters of the full frame on hand (e.g. R)
                self._upload_frame(self._frame)
            self.tex_kind, self.tex_place = TexKind.RENDER, None
            self._request_draw()
        if want is None or want == self.shown:
            if (want is not None and want[5] is None and self._prepared == (want[0], want[4])
                    and self._completed != want):
                self._submit(Job(want[0], want[1:], kind=JobKind.COMPLETE))  # idle: the rest of the pyramid
                if self._pool is None:
                    self.update(want, interacting)  # unthreaded: it has run; take it
            return
        index, params = want[0], want[1:]
        if params[4] is not None:  # zoomed in: the region, at full resolution
            job = Job(index, params, kind=JobKind.REGION)
        else:
            job = self._next_fit_job(want, interacting)
            if job is None:
                return  # the pointer still moves: the display-resolution frame waits until it rests
        self._submit(job)
        self._request_draw()  # status line shows "rendering..."
        if self._pool is None:
            self.update(want, interacting)

    def _next_fit_job(self, want, interacting: bool) -> Job | None:
        """The job that brings the fit view to ``want``: its preview first where that pays, else the full
        render; None while a drag goes on and its preview is on screen."""
        index, params = want[0], want[1:]
        preview = self.preview_size(index) is not None and self._preview_pays(index, interacting)
        if preview and self.preview_done == want and interacting:
            return None
        if preview and self.preview_done != want:
            if self.preview_renderer is None:
                self.preview_renderer = self._cpu_renderer()
            job = Job(index, params, prepare=self._preview_prepared != (index, params[3]), kind=JobKind.PREVIEW)
            if job.prepare:
                self._preview_prepared = None
        else:
            job = Job(index, params, prepare=self._prepared != (index, params[3]))
            if job.prepare:
                self._prepared = None
        return job

    def _submit(self, job: Job) -> None:
        """Run ``job`` on the render thread (or here, unthreaded); it becomes the job in flight."""
        if self._pool is not None:
            job.future = self._pool.submit(self._render_job, job.index, job.params, job.prepare, job.kind)
            job.future.add_done_callback(lambda f: self._wake())
        else:
            job.future = Future()
            try:
                job.future.set_result(self._render_job(job.index, job.params, job.prepare, job.kind))
            except BaseException as e:
                job.future.set_exception(e)
        self.job = job

    def _upload_frame(self, frame) -> None:
        """Put a rendered sRGB8 frame into the display texture."""
        if self.device == "gpu" and self._gpu_uploader is not None:
            try:
                self._gpu_uploader.upload(self._texture, frame)
                return
            except Exception as e:
                log.warning("CUDA-OpenGL interop failed (%s); uploading through host memory", e)
                self._gpu_uploader = None
        self._texture.upload(self.renderer.to_host(frame))
