"""Frame capture on a background thread: camera index, video file or URL.

:class:`FrameCapture` reads from a ``cv2.VideoCapture`` for cameras and streams,
an :class:`~.avsource.AVCapture` (PyAV) for video files (or any object with
``read()``, ``release()``, ``isOpened()`` and ``get()``, made by an injectable
``opener``) on its own thread and hands frames over through a one-frame slot:

* ``mode="latest"`` (cameras, streams, and video files played in real time):
  a new frame replaces one the consumer has not taken yet -- old frames are
  dropped, never queued, so a slow consumer always gets the newest frame.
  Video files are paced at their own frame rate, as a camera would deliver them.
* ``mode="every"`` (headless processing of a file): the reader waits until the
  consumer has taken the previous frame, so every frame is processed in order.

Faults: a source that cannot be opened at start raises one
:class:`~deocused.errors.RefocusError` listing what was tried; a source that
fails mid-stream (camera unplugged, stream dropped) is released and reopened
with exponential back-off (``status`` says so, for the HUD and the log) and
never crashes the thread; the end of a video file loops or ends the stream.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, RefocusError

log = logging.getLogger("deocused")


@dataclass(frozen=True)
class SourceSpec:
    """Where frames come from: ``kind`` is "camera", "video" or "url"; ``value`` the index, path or URL."""

    kind: str
    value: object

    @property
    def live(self) -> bool:
        """True for cameras and streams (frames arrive in real time)."""
        return self.kind != "video"

    def describe(self) -> str:
        return {"camera": f"camera {self.value}", "video": f"video {self.value}", "url": f"stream {self.value}"}[
            self.kind]


@dataclass
class Frame:
    """One captured frame: RGB uint8 (H, W, 3), its sequence number and capture time (perf_counter)."""

    index: int
    rgb: np.ndarray
    t_capture: float


class CaptureEnded(Exception):
    """The source has no more frames (end of a file without ``loop``, or the capture was stopped)."""


def cv2_opener(spec: SourceSpec):
    """Open ``spec`` with OpenCV (quietly: OpenCV's own warnings go to the debug log)."""
    import cv2

    lg = getattr(cv2.utils, "logging", None)
    old = None
    try:
        if lg is not None:
            old = lg.getLogLevel()
            lg.setLogLevel(lg.LOG_LEVEL_SILENT)  # "can't open camera by index" etc.: we say it better
        if spec.kind == "camera":
            return cv2.VideoCapture(int(spec.value))
        return cv2.VideoCapture(str(spec.value))
    finally:
        if old is not None:
            lg.setLogLevel(old)


def default_opener(spec: SourceSpec):
    """Video files through PyAV (:class:`~.avsource.AVCapture`), cameras and streams through OpenCV."""
    if spec.kind == "video":
        from .avsource import AVCapture

        return AVCapture(str(spec.value))
    return cv2_opener(spec)


def _camera_hint(index: int) -> str:
    devs = sorted(glob.glob("/dev/video*"))
    if not devs:
        return "no /dev/video* device exists"
    if f"/dev/video{index}" not in devs:
        return f"/dev/video{index} does not exist (found {', '.join(devs)})"
    return f"/dev/video{index} exists but did not deliver a frame (busy, or no permission?)"


def open_source(spec: SourceSpec, opener=default_opener, fallback_cameras: int = 0):
    """Open ``spec`` and read one test frame; returns ``(capture, first_rgb, spec)``.

    ``fallback_cameras``: when opening camera N fails, also try cameras 0..n-1
    (used when no source was given on the command line). Raises one
    :class:`RefocusError` listing everything that was tried.
    """
    tried: list[str] = []
    candidates = [spec]
    if spec.kind == "camera":
        candidates += [SourceSpec("camera", i) for i in range(fallback_cameras) if i != spec.value]
    if spec.kind in ("video", "url"):
        try:
            str(spec.value).encode("utf-8")
        except UnicodeEncodeError:  # OpenCV's VideoCapture crashes on such names
            raise InputError(f"{spec.value!r}: the name is not valid UTF-8, which OpenCV cannot open; "
                             "rename the file") from None
    if spec.kind == "video":
        from ..io.images import check_input_file

        try:
            os.stat(str(spec.value))
        except FileNotFoundError:
            raise InputError(f"{spec.value}: video file not found") from None
        except (OSError, ValueError):
            pass  # said below
        st = check_input_file(Path(str(spec.value)), "video file")  # a FIFO would block the decoder
        if st.st_size == 0:
            raise InputError(f"{spec.value}: video file is empty (0 bytes)")
    for cand in candidates:
        try:
            cap = opener(cand)
        except Exception as e:
            if isinstance(e, InputError) and cand.kind == "video":
                raise  # the reader's one line says what is wrong with the file
            tried.append(f"{cand.describe()} ({type(e).__name__}: {e})")
            continue
        ok, frame = (False, None)
        if cap is not None and cap.isOpened():
            ok, frame = cap.read()
        if ok and frame is not None:
            return cap, _rgb(cap, frame), cand
        why = "opened but gave no frame" if cap is not None and cap.isOpened() else "could not be opened"
        if cand.kind == "camera":
            why += f"; {_camera_hint(int(cand.value))}"
        tried.append(f"{cand.describe()} ({why})")
        if cap is not None:
            cap.release()
    if spec.kind == "camera":
        raise RefocusError(f"no camera: tried {'; '.join(tried)}. Pass --camera N for another camera, "
                           f"--video FILE or --url URL")
    if spec.kind == "video":
        raise InputError(f"{spec.value}: cannot read the video ({'; '.join(tried)})")
    raise RefocusError(f"cannot open the stream: tried {'; '.join(tried)}")


def _rgb(cap, frame: np.ndarray) -> np.ndarray:
    """A captured frame as RGB uint8: as it is from a source that gives RGB, else from OpenCV's order."""
    return frame if getattr(cap, "rgb", False) else _to_rgb(frame)


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    """OpenCV's BGR(A)/grey uint8 -> RGB uint8 (H, W, 3)."""
    import cv2

    a = np.asarray(frame)
    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2RGB)
    if a.shape[2] == 4:
        return cv2.cvtColor(a, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(a, cv2.COLOR_BGR2RGB)


class FrameCapture:
    """Capture thread with a one-frame hand-over slot (see the module docstring).

    ``get(timeout)`` returns the next :class:`Frame` newer than the last one
    returned, or raises :class:`CaptureEnded` when the stream is over, or
    ``TimeoutError``. ``status`` is "" while frames flow, else a one-line
    message (reconnecting...). ``fps`` is the capture rate over the last second.
    """

    def __init__(self, spec: SourceSpec, *, opener=default_opener, mode: str = "latest", loop: bool = False,
                 pace: bool | None = None, backoff: tuple[float, float] = (0.5, 8.0),
                 max_reconnects: int | None = None, fallback_cameras: int = 0, clock=time.perf_counter):
        if mode not in ("latest", "every"):
            raise ValueError("mode must be 'latest' or 'every'")
        self.spec = spec
        self.opener = opener
        self.mode = mode
        self.loop = loop
        self.pace = (not spec.live and mode == "latest") if pace is None else pace
        self.backoff = backoff
        self.max_reconnects = max_reconnects
        self.clock = clock
        self.status = ""
        self.reconnects = 0  # successful reopenings after a failure
        self.failures = 0  # mid-stream failures seen
        self.frames_read = 0
        self.dropped = 0
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._taken_index = -1
        self._ended = False
        self._stop = threading.Event()
        self._times: list[float] = []
        self._cap, first, self.spec = open_source(spec, opener, fallback_cameras)
        self.source_fps = self._read_fps(self._cap)
        self.size = (first.shape[1], first.shape[0])
        self._first = first
        self.started = False
        self._thread = threading.Thread(target=self._run, name="refocus-capture", daemon=True)

    # ---------------------------------------------------------------- thread side

    @staticmethod
    def _read_fps(cap) -> float | None:
        try:
            import cv2

            v = float(cap.get(cv2.CAP_PROP_FPS))
        except Exception:
            return None
        return v if 1.0 <= v <= 240.0 else None

    def start(self) -> FrameCapture:
        """Start the capture thread (idempotent)."""
        if not self.started:
            self.started = True
            self._thread.start()
        return self

    def _publish(self, rgb: np.ndarray) -> bool:
        """Hand a frame over; False when stopped."""
        now = self.clock()
        with self._cond:
            if self.mode == "every":
                while self._slot is not None and not self._stop.is_set():
                    self._cond.wait(0.1)
                if self._stop.is_set():
                    return False
            elif self._slot is not None:
                self.dropped += 1  # never taken: replaced by the newer frame
            self._slot = Frame(self.frames_read, rgb, now)
            self.frames_read += 1
            self._times.append(now)
            if len(self._times) > 240:
                del self._times[:120]
            self._cond.notify_all()
        return True

    def _end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def _reopen(self) -> bool:
        """Reopen after a failure with exponential back-off; False when stopped or out of attempts."""
        delay, max_delay = self.backoff
        attempt = 0
        while not self._stop.is_set():
            attempt += 1
            if self.max_reconnects is not None and attempt > self.max_reconnects:
                self.status = f"{self.spec.describe()} lost; gave up after {self.max_reconnects} attempts"
                log.error("%s", self.status)
                return False
            self.status = f"{self.spec.describe()} lost; reconnecting in {delay:.1f} s (attempt {attempt})"
            log.warning("%s", self.status)
            if self._stop.wait(delay):
                return False
            try:
                cap = self.opener(self.spec)
                ok = cap is not None and cap.isOpened()
            except Exception as e:
                log.debug("reopen %s: %s", self.spec.describe(), e)
                cap, ok = None, False
            if ok:
                self._cap = cap
                self.reconnects += 1
                self.status = ""
                log.warning("%s reconnected", self.spec.describe())
                return True
            if cap is not None:
                cap.release()
            delay = min(max_delay, delay * 2.0)
        return False

    def _run(self) -> None:
        try:
            if not self._publish(self._first):
                return
            self._first = None
            t0, n0 = self.clock(), 1
            while not self._stop.is_set():
                try:
                    ok, frame = self._cap.read()
                except Exception as e:
                    log.debug("read from %s: %s", self.spec.describe(), e)
                    ok, frame = False, None
                if not ok or frame is None:
                    if self.spec.kind == "video":  # end of the file
                        if not self.loop:
                            break
                        self._release()
                        self._cap = self.opener(self.spec)
                        ok, frame = self._cap.read() if self._cap.isOpened() else (False, None)
                        if not ok:
                            self.status = f"{self.spec.describe()}: cannot restart the video"
                            log.error("%s", self.status)
                            break
                        t0, n0 = self.clock(), 0
                    else:
                        self.failures += 1
                        self._release()
                        if not self._reopen():
                            break
                        t0, n0 = self.clock(), 0
                        continue
                if self.pace and self.source_fps:
                    due = t0 + n0 / self.source_fps
                    wait = due - self.clock()
                    if wait > 0 and self._stop.wait(wait):
                        break
                    n0 += 1
                if not self._publish(_rgb(self._cap, frame)):
                    break
        except BaseException as e:
            self.error = e
            log.error("capture thread failed: %s", e)
        finally:
            self._release()
            self._end()

    def _release(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            try:
                cap.release()
            except Exception:
                pass

    # ---------------------------------------------------------------- consumer side

    def get(self, timeout: float | None = None) -> Frame:
        """The newest frame not returned before (waits up to ``timeout`` s)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._slot is None:
                if self._ended:
                    if self.error is not None and not isinstance(self.error, CaptureEnded):
                        raise RefocusError(f"capture failed: {self.error}")
                    raise CaptureEnded(self.status or "end of stream")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError("no new frame")
                self._cond.wait(0.1 if left is None else min(0.1, left))
            frame, self._slot = self._slot, None
            self._taken_index = frame.index
            self._cond.notify_all()
            return frame

    @property
    def fps(self) -> float | None:
        """Frames captured per second over the last second (None before two frames)."""
        with self._cond:
            now = self.clock()
            recent = [t for t in self._times if now - t <= 1.0]
        if len(recent) < 2:
            return None
        return (len(recent) - 1) / max(1e-6, recent[-1] - recent[0])

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended and self._slot is None

    def stop(self) -> None:
        """Stop the thread and release the source (idempotent)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(5.0)
        if not self._thread.is_alive():
            self._release()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
