"""Video files as a live source, through PyAV (:mod:`deocused.io.video`).

:class:`AVCapture` looks like ``cv2.VideoCapture`` to :class:`~.capture.FrameCapture`
(``read``, ``isOpened``, ``get``, ``release``) but gives RGB frames (``rgb = True``),
upright (display rotation applied), 10-bit sources rounded to 8 bits. Damaged data
mid-file ends the stream like the end of the file, with a warning naming its time.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import InputError

log = logging.getLogger("deocused")

#: OpenCV's CAP_PROP_FPS, the one property FrameCapture asks a file for.
CAP_PROP_FPS = 5


class AVCapture:
    """Frames of the video file ``path`` (see the module docstring); an unreadable file raises
    :class:`InputError` (one line) here."""

    rgb = True

    def __init__(self, path):
        from ..io.video import VideoReader

        self._reader = VideoReader(path)
        self._frames = self._reader.frames(raw=True)

    def isOpened(self) -> bool:
        return self._reader is not None

    def read(self):
        """``(True, RGB uint8 (H, W, 3))``, or ``(False, None)`` at the end (or at damaged data)."""
        if self._reader is None:
            return False, None
        try:
            rgb, _ = next(self._frames)
        except StopIteration:
            return False, None
        except InputError as e:
            log.warning("%s", e)
            return False, None
        if rgb.dtype != np.uint8:
            rgb = np.round(rgb * (1.0 / 257.0)).astype(np.uint8)
        return True, rgb

    def get(self, prop: int) -> float:
        if prop == CAP_PROP_FPS and self._reader is not None:
            return float(self._reader.info.rate)
        return 0.0

    def release(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
