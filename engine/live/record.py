"""Video writer that always leaves a playable file.

:class:`VideoRecorder` writes through :class:`deocused.io.video.VideoWriter` (PyAV).
The codec follows the file extension (``--codec`` names another): ``.mp4``/``.mov``/
``.m4v`` H.264, ``.mkv`` FFV1 (lossless), ``.avi`` Motion-JPEG, ``.webm`` AV1. MP4/MOV recordings are
fragmented MP4 written straight to the file with a keyframe every second, so a
killed process (SIGKILL, power loss) leaves a file playable up to its last
second; Matroska and AVI are readable up to the last frame written too.
The writer opens on the first frame (its size fixes the video's size) and is
finalised by :meth:`close` -- called by the context manager on any exit,
including ``KeyboardInterrupt`` -- and, as a last resort, at interpreter exit.
:func:`terminate_as_interrupt` makes SIGTERM (and SIGHUP) raise
``KeyboardInterrupt`` in the main thread while recording, so ``kill`` also
ends with a finalised file.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import signal
import threading
import weakref
from pathlib import Path

import numpy as np

from ..errors import InputError

log = logging.getLogger("deocused")

_open_recorders: weakref.WeakSet[VideoRecorder] = weakref.WeakSet()


def _close_all() -> None:
    for r in list(_open_recorders):
        try:
            r.close()
        except Exception:
            pass


atexit.register(_close_all)


class VideoRecorder:
    """Write RGB uint8 frames (H, W, 3) to ``path`` at ``fps``; see the module docstring."""

    def __init__(self, path, fps: float = 30.0, codec: str | None = None, overwrite: bool = True,
                 protect=()):
        from ..io.video import check_encoders, codec_for

        self.path = Path(path)
        self.codec = codec_for(self.path, codec or (self.path.suffix.lower() == ".mkv" and "ffv1") or None)
        check_encoders(self.codec)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self._writer = None
        self._lock = threading.Lock()
        self.closed = False
        if not self.path.parent.exists():
            raise InputError(f"{self.path}: folder {self.path.parent} does not exist")
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder; give a file name")
        for p in protect:
            if p is not None and self.path.exists() and Path(p).exists() and self.path.samefile(p):
                raise InputError(f"{self.path}: refusing to overwrite the input video")
        if self.path.exists() and not overwrite:
            raise InputError(f"{self.path}: already exists; choose another name or pass --overwrite")

    def _open(self, w: int, h: int) -> None:
        from ..io.video import VideoWriter

        self._writer = VideoWriter(self.path, codec=self.codec, rate=self.fps, atomic=False, fragmented=True,
                                   live=True)
        self.size = (w, h)
        _open_recorders.add(self)

    def write(self, rgb: np.ndarray) -> None:
        """Append one RGB uint8 frame; frames of another size are resized to the first one's."""
        import cv2

        a = np.asarray(rgb)
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"expected RGB uint8 (H, W, 3), got {a.dtype} {a.shape}")
        with self._lock:
            if self.closed:
                raise RuntimeError("recorder is closed")
            if self._writer is None:
                self._open(a.shape[1], a.shape[0])
            if (a.shape[1], a.shape[0]) != self.size:
                a = cv2.resize(a, self.size, interpolation=cv2.INTER_AREA)
            self._writer.write(a)
            self.frames += 1

    def close(self) -> None:
        """Finalise the file (idempotent)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            w, self._writer = self._writer, None
            if w is not None and w.container is not None:
                w.commit()
                log.info("wrote %s (%d frames, %dx%d, %s)", self.path, self.frames, *self.size, self.codec)
            _open_recorders.discard(self)

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def terminate_as_interrupt():
    """While active (main thread only), SIGTERM/SIGHUP raise ``KeyboardInterrupt`` like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    saved = {}
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is None:
            continue
        try:
            saved[sig] = signal.signal(sig, handler)
        except (ValueError, OSError):
            pass
    try:
        yield
    finally:
        for sig, old in saved.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError):
                pass
