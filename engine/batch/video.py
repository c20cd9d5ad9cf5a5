"""Video input and output for batch jobs (OpenCV; frames are RGB inside the engine).

* :func:`read_frames` -- a video's frames as float32 sRGB RGB (H, W, 3) in [0, 1].
* :func:`find_depth_video` / :func:`read_depth_frames` -- the depth sidecar of a
  video: ``clip.depth.avi`` (any video extension; first channel = disparity,
  near = bright) or ``clip.depth.npy`` (an array (frames, H, W)); each frame is
  normalised like a photo's depth map.
* :class:`VideoOut` -- writes 8-bit RGB frames to a temporary file beside the
  target and moves it into place only when closed successfully (atomic).
  OpenCV writes MJPG (.avi), mp4v (.mp4) and FFV1 (.mkv); no H.264, no audio.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .inputs import VIDEO_CODECS, VIDEO_EXTENSIONS


def _open(path: str | os.PathLike) -> cv2.VideoCapture:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        raise InputError(f"{p}: not a readable video (unknown format or corrupt data)")
    return cap


def video_fps(path: str | os.PathLike, default: float = 24.0) -> float:
    """Frames per second stored in the video (``default`` when it has none)."""
    cap = _open(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        cap.release()
    return fps if 0.0 < fps < 1000.0 else default


def read_frames(path: str | os.PathLike, *, raw: bool = False):
    """Yield the frames of a video: float32 sRGB RGB (H, W, 3) in [0, 1], or the
    decoded uint8 BGR arrays when ``raw``. A video without frames is an error."""
    cap = _open(path)
    n = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            n += 1
            if raw:
                yield frame
            else:
                if frame.ndim == 2:
                    frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
                yield np.ascontiguousarray(frame[:, :, 2::-1]).astype(np.float32) / np.float32(255.0)
    finally:
        cap.release()
    if n == 0:
        raise InputError(f"{path}: video has no readable frames")


def find_depth_video(video: str | os.PathLike) -> Path | None:
    """The depth sidecar of ``video`` (``clip.depth.npy`` or ``clip.depth.<video ext>``), if any."""
    p = Path(video)
    for base in (p.with_suffix(""), p):
        for ext in (".npy",) + VIDEO_EXTENSIONS:
            q = base.with_name(base.name + ".depth" + ext)
            if q.is_file():
                return q
    return None


def read_depth_frames(path: str | os.PathLike, shape: tuple[int, int], kind: str = "disparity"):
    """Yield normalised disparity frames (float32 (H, W) in [0, 1]) of ``shape``
    from a depth sidecar video or ``.npy`` stack."""
    from ..depthmap import fit_to_image, to_disparity

    p = Path(path)
    if p.suffix.lower() == ".npy":
        try:
            stack = np.load(p, mmap_mode="r", allow_pickle=False)
        except Exception as e:
            raise InputError(f"{p}: not a readable .npy array ({e})") from None
        if stack.ndim != 3:
            raise InputError(f"{p}: expected an array (frames, H, W), got shape {stack.shape}")
        frames = (np.asarray(f, np.float32) for f in stack)
    else:
        frames = (f[:, :, 0].astype(np.float32) if f.ndim == 3 else f.astype(np.float32)
                  for f in read_frames(p, raw=True))
    for i, raw in enumerate(frames):
        yield fit_to_image(to_disparity(raw, kind, f"{p} frame {i}"), shape, str(p))


class VideoOut:
    """An output video written atomically: frames go to ``.NAME.tmpPID.EXT`` beside
    ``path``; :meth:`commit` moves it to ``path``, :meth:`abort` removes it."""

    def __init__(self, path: str | os.PathLike, fps: float, codec: str = "mjpg"):
        self.path = Path(path)
        self.fourcc, _ = VIDEO_CODECS[codec]
        self.fps = float(fps)
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{os.getpid()}{self.path.suffix}")
        self.writer: cv2.VideoWriter | None = None
        self.frames = 0

    def write(self, srgb8: np.ndarray) -> None:
        """Append an 8-bit sRGB RGB frame (H, W, 3); all frames have one size."""
        if self.writer is None:
            h, w = srgb8.shape[:2]
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, (w, h))
            if not self.writer.isOpened():
                self.abort()
                raise InputError(f"{self.path}: cannot write {self.fourcc} video (OpenCV has no encoder for it)")
        self.writer.write(np.ascontiguousarray(srgb8[:, :, ::-1]))
        self.frames += 1

    def commit(self) -> Path:
        if self.writer is None:
            raise InputError(f"{self.path}: no frames to write")
        self.writer.release()
        self.writer = None
        if not self.tmp.is_file() or self.tmp.stat().st_size == 0:
            raise InputError(f"{self.path}: the video encoder wrote nothing")
        os.replace(self.tmp, self.path)
        return self.path

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoOut:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            self.abort()
