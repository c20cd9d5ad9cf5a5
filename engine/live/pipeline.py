"""The live pipeline: capture -> depth (worker process) -> temporal filter -> render -> sinks.

One loop, run on the caller's thread (the main thread when headless, a
background thread under the window). Two schedules:

* **real time** (``depth_wait=False``; the default for a capture that hands
  over the newest frame: cameras, streams, videos played in real time): the
  depth network never caps the frame rate. Every frame is rendered at once with
  the newest depth map (aligned to the one before by the temporal filter),
  while the depth worker computes the next map from the newest frame it was
  given::

      get newest frame t -> depth result ready? take it (filter + align)
                         -> depth worker idle? submit frame t
                         -> render frame t with the newest depth -> sinks

  A steady stream runs at about ``1 / R`` frames per second (``R``: render
  time) whatever the depth time ``D``; the depth shown is up to ``D + R`` old.
  Only the first frame waits for its depth, and at most ``FIRST_DEPTH_WAIT_S``:
  until the first map comes (a model still warming up, a busy machine) frames
  pass through unblurred and :attr:`LivePipeline.status` says so.

* **every frame** (``depth_wait=True``; the default for a capture in
  ``"every"`` mode, e.g. headless processing of a file): each frame is rendered
  with its own depth, computed while the previous frame renders::

      get frame t (newest) -> submit its depth  --.
      render frame t-1, hand it to the sinks      |  in parallel: the depth
      collect depth of frame t  <-----------------'  worker computes depth(t)

  so it runs at about ``1 / max(D, R)`` frames per second.

:class:`Stats` measures the rate and the latency (capture timestamp -> after
the last sink returned). Depth comes from a :class:`deocused.depth.DepthWorker`
(``depth=``, used by the CLI: TensorFlow runs in its own process) or, for
tests and experiments, any callable ``depth_fn(image_srgb) -> disparity`` run
on a helper thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from ..errors import RefocusError
from ..render.cpu import jit as cpu_jit
from ..render.cpu.srgb8 import srgb8_to_linear
from .capture import CaptureEnded, Frame
from .temporal import DepthSmoother, FocusSmoother
from .thread_depth import ThreadDepth

log = logging.getLogger("deocused")

MAX_DEPTH_FAILURES = 5
#: Real-time mode: longest wait for the first depth map before frames flow without it (s).
FIRST_DEPTH_WAIT_S = 2.0
#: Disparity of the flat depth used until the first depth map arrives (in focus: no blur).
NEUTRAL_DISPARITY = 0.5


class Controls:
    """What the user steers, shared between the window thread and the pipeline thread.

    Focus follows the point ``(u, v)`` (fractions of width and height, so a
    reconnect at another resolution keeps it) unless ``locked`` holds a fixed
    disparity. ``max_blur``: blur radius K in pixels per unit disparity (None: 4 % of the frame's longer side).
    """

    def __init__(self, point=(0.5, 0.5), locked: float | None = None, max_blur: float | None = None, dof: float = 0.0,
                 lock_on_click: bool = False):
        self._lock = threading.Lock()
        self.point = tuple(point)
        self.locked = locked
        self.max_blur = max_blur
        self.dof = float(dof)
        self.lock_on_click = lock_on_click
        self.depth_view = False
        self.generation = 0  # bumped on a click: the focus jumps toward the new target

    def click(self, u: float, v: float, disparity: np.ndarray | None = None) -> None:
        """Focus on the point at fractions (u, v); with ``lock_on_click``, lock its current disparity."""
        with self._lock:
            self.point = (min(max(u, 0.0), 1.0), min(max(v, 0.0), 1.0))
            self.locked = None
            if self.lock_on_click and disparity is not None:
                self.locked = self._at(disparity, self.point)
            self.generation += 1

    @staticmethod
    def _at(disparity: np.ndarray, point) -> float:
        from ..render.optics import focus_disparity_at

        h, w = disparity.shape
        return focus_disparity_at(disparity, min(point[0] * w, w - 1), min(point[1] * h, h - 1))

    def target(self, disparity: np.ndarray) -> float:
        """Focus disparity wanted for this frame's disparity map."""
        with self._lock:
            if self.locked is None and self.lock_on_click:  # --lock-focus: fix the first frame's value
                self.locked = self._at(disparity, self.point)
            locked, point = self.locked, self.point
        return float(locked) if locked is not None else self._at(disparity, point)

    def toggle_lock(self, current: float | None) -> None:
        """L key: lock the focus at ``current`` disparity, or unlock (follow the point again)."""
        with self._lock:
            if self.locked is None and current is not None:
                self.locked = float(current)
            else:
                self.locked = None
                self.lock_on_click = False

    def reset(self, max_blur: float | None = None) -> None:
        with self._lock:
            self.point, self.locked, self.max_blur = (0.5, 0.5), None, max_blur

    def resolve_max_blur(self, shape) -> float:
        """As :meth:`deocused.settings.RenderSettings.resolve_max_blur`."""
        from ..render.optics import resolve_max_blur

        return resolve_max_blur(self.max_blur, shape)


@dataclass
class FrameResult:
    """What the sinks receive with each rendered frame."""

    index: int
    rgb: np.ndarray  # refocused sRGB uint8 (H, W, 3), at the processing size (``scale``)
    image_rgb: np.ndarray  # the captured frame at the processing size, uint8
    disparity: np.ndarray  # the (smoothed) disparity used
    focus_disparity: float
    max_blur: float  # blur radius K in pixels (of the captured frame) per unit disparity
    t_capture: float
    depth_ms: float
    render_ms: float

    @property
    def focus(self) -> float:
        """The old name of ``focus_disparity``."""
        return self.focus_disparity


@dataclass
class Stats:
    """Running figures for the HUD and the benchmark (bounded: memory stays flat)."""

    frames: int = 0
    depth_ms: float | None = None
    render_ms: float | None = None
    latency_ms: float | None = None
    out_times: deque = field(default_factory=lambda: deque(maxlen=120))
    history: deque = field(default_factory=lambda: deque(maxlen=4096))

    def add(self, depth_ms: float, render_ms: float, latency_ms: float, now: float, index: int) -> None:
        ema = lambda old, new: new if old is None else 0.8 * old + 0.2 * new  # noqa: E731
        self.frames += 1
        self.depth_ms = ema(self.depth_ms, depth_ms)
        self.render_ms = ema(self.render_ms, render_ms)
        self.latency_ms = ema(self.latency_ms, latency_ms)
        self.out_times.append(now)
        self.history.append((index, now, depth_ms, render_ms, latency_ms))

    @property
    def fps(self) -> float | None:
        """Output frames per second over the last (up to) 120 frames."""
        t = self.out_times
        if len(t) < 2 or t[-1] <= t[0]:
            return None
        return (len(t) - 1) / (t[-1] - t[0])


class LivePipeline:
    """Run capture -> depth -> render -> sinks (see the module docstring).

    ``capture``: a :class:`~deocused.live.capture.FrameCapture` (started here if
    needed). ``renderer``: an :class:`deocused.render.renderer.Renderer`. Exactly one of
    ``depth`` (DepthWorker-like: ``submit``/``result``) or ``depth_fn``.
    ``sinks``: callables taking a :class:`FrameResult`. ``depth_wait``: render
    each frame with its own depth (True) or with the newest depth without
    waiting (False); None picks True for a capture in ``"every"`` mode. The
    pipeline does not own (close) the capture, the depth worker or the sinks.
    """

    def __init__(self, capture, renderer, *, depth=None, depth_fn=None, sinks=(), controls: Controls | None = None,
                 depth_smoothing: bool = True, focus_smoothing: bool = True, depth_alpha: float = 0.3,
                 focus_tau: float = 0.25, scale: float = 1.0, depth_wait: bool | None = None):
        if (depth is None) == (depth_fn is None):
            raise ValueError("pass exactly one of depth= (a DepthWorker) or depth_fn=")
        if not 0.0 < scale <= 1.0:
            raise ValueError("scale must be in (0, 1]")
        self.scale = float(scale)
        if depth_wait is None:
            depth_wait = getattr(capture, "mode", "latest") == "every"
        self.depth_wait = bool(depth_wait)
        self.capture = capture
        self.renderer = renderer
        self._own_depth = depth is None
        self.depth = depth if depth is not None else ThreadDepth(depth_fn)
        self.sinks = list(sinks)
        self.controls = controls or Controls()
        self.depth_filter = DepthSmoother(alpha=depth_alpha, align=depth_smoothing, smooth=depth_smoothing)
        self.focus_filter = FocusSmoother(tau=focus_tau, enabled=focus_smoothing)
        self.stats = Stats()
        self.message = ""
        self.last: FrameResult | None = None
        self._stop = threading.Event()
        self._depth_failures = 0

    # ---------------------------------------------------------------- control

    def stop(self) -> None:
        """Ask :meth:`run` to return after the frame in progress."""
        self._stop.set()

    @property
    def status(self) -> str:
        """One line for the HUD: the capture's trouble, else the pipeline's last message."""
        return getattr(self.capture, "status", "") or cpu_jit.status() or self.message

    # ---------------------------------------------------------------- steps

    def _input(self, frame: Frame):
        """The frame at the processing size: (frame, uint8 sRGB, float32 linear RGB)."""
        rgb = frame.rgb
        if self.scale != 1.0:  # process at a reduced size (depth, render and output)
            import cv2

            h, w = rgb.shape[:2]
            size = (max(2, round(w * self.scale)), max(2, round(h * self.scale)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        return frame, rgb, srgb8_to_linear(rgb)

    def _submit(self, frame: Frame, prepared=None):
        """Send the frame's depth to the worker; the in-flight record (frame, rgb, linear, t0)."""
        frame, rgb, lin = prepared or self._input(frame)
        self.depth.submit(rgb.astype(np.float32) * np.float32(1.0 / 255.0))
        return frame, rgb, lin, time.perf_counter()

    def _collect(self, in_flight, timeout):
        """Depth of the frame in flight -> (frame, rgb, linear, disparity, depth_ms); None when it failed."""
        from ..io.depthmap import fit_to_image

        frame, rgb, lin, t0 = in_flight
        try:
            raw = self.depth.result(timeout=timeout)
        except TimeoutError:
            raise
        except RefocusError as e:
            from ..depth.worker import DepthWorkerDied

            if isinstance(e, DepthWorkerDied):  # restarted once already: no more depth maps
                raise
            self._depth_failures += 1
            self.message = f"depth failed on frame {frame.index}: {e}"
            log.warning("%s", self.message)
            if self._depth_failures >= MAX_DEPTH_FAILURES:
                raise RefocusError(f"depth failed on {MAX_DEPTH_FAILURES} frames in a row; last: {e}") from None
            return None
        self._depth_failures = 0
        timing = getattr(self.depth, "last_timing", None)
        depth_ms = 1e3 * sum(timing.values()) if timing else 1e3 * (time.perf_counter() - t0)
        d = np.nan_to_num(np.asarray(raw, np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        d = fit_to_image(d, rgb.shape[:2], "depth model output")
        d = np.clip(self.depth_filter.update(d), 0.0, 1.0).astype(np.float32)
        return frame, rgb, lin, d, depth_ms

    def _render(self, ready) -> FrameResult:
        frame, rgb, lin, d, depth_ms = ready
        c = self.controls
        target = c.target(d)
        focus = min(1.0, max(0.0, self.focus_filter.update(target, frame.t_capture)))
        k = c.resolve_max_blur(frame.rgb.shape[:2])  # in pixels of the captured frame
        t0 = time.perf_counter()
        self.renderer.prepare(lin, d)
        out = self.renderer.to_host(self.renderer.encode_srgb8(self.renderer.render(focus, k * self.scale, c.dof)))
        render_ms = 1e3 * (time.perf_counter() - t0)
        return FrameResult(frame.index, out, rgb, d, focus, k, frame.t_capture, depth_ms, render_ms)

    def _emit(self, res: FrameResult) -> None:
        for sink in self.sinks:
            sink(res)
        now = time.perf_counter()
        self.last = res
        self.stats.add(res.depth_ms, res.render_ms, 1e3 * (now - res.t_capture), now, res.index)

    # ---------------------------------------------------------------- loop

    def run(self, max_frames: int | None = None) -> int:
        """Process frames until the source ends, ``max_frames`` were emitted or :meth:`stop`.

        Returns the number of frames handed to the sinks.
        """
        warm_up = getattr(self.renderer, "warm_up", None)
        if warm_up is not None:  # load every kernel before the first frame, not mid-stream
            warm_up()
        if hasattr(self.capture, "start"):
            self.capture.start()
        return self._run_every(max_frames) if self.depth_wait else self._run_realtime(max_frames)

    def _run_realtime(self, max_frames: int | None) -> int:
        """Render every frame with the newest depth; the depth worker works on the side.

        Until the first depth map arrives (at most :data:`FIRST_DEPTH_WAIT_S` is spent waiting
        for it) frames pass through unblurred with a neutral depth and :attr:`message` says so.
        """
        cap = self.capture
        in_flight = None  # the frame whose depth the worker computes
        depth = None  # (disparity, depth_ms): the newest filtered depth
        first_due = None  # monotonic time until which a frame may wait for the first depth map
        emitted = 0
        clean = False
        try:
            while not self._stop.is_set() and (max_frames is None or emitted < max_frames):
                try:
                    frame = cap.get(timeout=0.25)
                except TimeoutError:
                    frame = None
                except CaptureEnded:
                    break
                if in_flight is not None:  # a depth map finished? (wait only for the very first one)
                    got = self._poll_depth(in_flight, self._first_wait(depth, first_due))
                    if got is not False:
                        in_flight = None
                        if got is not None:
                            depth = self._took_depth(got)
                if frame is None:
                    continue
                prepared = self._input(frame)
                if in_flight is None:
                    in_flight = self._submit(frame, prepared)
                    first_due = first_due or time.monotonic() + FIRST_DEPTH_WAIT_S
                if depth is None:  # the first frame: its own depth, if it comes in time
                    got = self._poll_depth(in_flight, self._first_wait(depth, first_due))
                    if got is not False:
                        in_flight = None
                    if got:
                        depth = self._took_depth(got)
                if depth is None:
                    if not self.message:
                        self.message = "waiting for the first depth map (frames shown unblurred)"
                        log.info("%s", self.message)
                    self._emit(self._neutral(prepared))
                    emitted += 1
                    continue
                d, depth_ms = depth
                if d.shape != prepared[1].shape[:2]:  # the source changed size (reconnect)
                    from ..io.depthmap import fit_to_image

                    d = fit_to_image(d, prepared[1].shape[:2], "depth")
                    depth = d, depth_ms
                self._emit(self._render((*prepared, d, depth_ms)))
                emitted += 1
            clean = True
        finally:
            if in_flight is not None and clean:
                self._drain_depth()
        return emitted

    def _first_wait(self, depth, first_due) -> float:
        """Seconds to wait for the depth in flight: only for the first map, and only until ``first_due``."""
        if depth is not None or first_due is None:
            return 0.0
        return max(0.0, first_due - time.monotonic())

    def _took_depth(self, got):
        """A collected depth tuple -> (disparity, depth_ms); clears the waiting message."""
        if self.message.startswith("waiting for the first depth map"):
            self.message = ""
        return got[3], got[4]

    def _neutral(self, prepared) -> FrameResult:
        """A frame before any depth map exists: the input unblurred, with a flat disparity in focus."""
        frame, rgb, _lin = prepared
        d = np.full(rgb.shape[:2], NEUTRAL_DISPARITY, np.float32)
        k = self.controls.resolve_max_blur(frame.rgb.shape[:2])
        return FrameResult(frame.index, rgb, rgb, d, NEUTRAL_DISPARITY, k, frame.t_capture, 0.0, 0.0)

    def _drain_depth(self) -> None:
        """Collect the depth map still in flight, so the worker is left with nothing pending."""
        try:
            self.depth.result(timeout=30)
        except Exception:
            pass

    def _poll_depth(self, in_flight, wait_s: float):
        """The in-flight depth: the collected tuple, None when it failed, False when not ready within ``wait_s``."""
        deadline = time.monotonic() + wait_s
        while True:
            left = deadline - time.monotonic()
            try:
                return self._collect(in_flight, timeout=min(0.25, max(0.0, left)))
            except TimeoutError:
                if left <= 0 or self._stop.is_set():
                    return False

    def _run_every(self, max_frames: int | None) -> int:
        """Each frame with its own depth, computed while the previous frame renders."""
        cap = self.capture
        in_flight = ready = None
        ended = False
        emitted = 0
        clean = False
        try:
            while not self._stop.is_set():
                if max_frames is not None and emitted >= max_frames:
                    break
                if in_flight is None and not ended and (max_frames is None or emitted
                                                        + (ready is not None) < max_frames):
                    try:
                        frame = cap.get(timeout=0.02 if ready is not None else 0.25)
                    except TimeoutError:
                        frame = None
                    except CaptureEnded:
                        ended, frame = True, None
                    if frame is not None:
                        in_flight = self._submit(frame)
                if ready is not None:  # renders while the depth of the next frame is computed
                    res = self._render(ready)
                    ready = None
                    self._emit(res)
                    emitted += 1
                    continue
                if in_flight is not None:
                    try:
                        ready = self._collect(in_flight, timeout=0.25)
                    except TimeoutError:
                        continue
                    in_flight = None
                elif ended:
                    break
            clean = True
        finally:
            if in_flight is not None and clean:
                self._drain_depth()
        return emitted

    def close(self) -> None:
        if self._own_depth:
            self.depth.close()
