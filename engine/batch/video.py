"""Video items of a batch: depth sidecars and the frame loop (PyAV through :mod:`deocused.io.video`).

* :func:`find_depth_video` -- the depth sidecar of a video: ``clip.depth.mp4`` (any
  video extension; its grey level = disparity, near = bright) or ``clip.depth.npy``
  (an array (frames, H, W)).
* :class:`DepthFrames` -- the sidecar's frames one by one, normalised like a photo's
  depth map; it must have the video's frame count and aspect ratio.
* :func:`output_extension` -- an output video's extension (its input's family by default).
* :func:`refocus_video` -- every frame refocused into the output: each frame's timestamp,
  the colour tags, metadata and the audio packets of the input kept.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from .inputs import VIDEO_EXTENSIONS


def find_depth_video(video: str | os.PathLike) -> Path | None:
    """The depth sidecar of ``video`` (``clip.depth.npy`` or ``clip.depth.<video ext>``), if any."""
    p = Path(video)
    for base in (p.with_suffix(""), p):
        for ext in (".npy",) + VIDEO_EXTENSIONS:
            q = base.with_name(base.name + ".depth" + ext)
            if q.is_file():
                return q
    return None


def output_extension(src_ext: str, codec: str | None) -> str:
    """The extension of a refocused video: the input's when its container holds ``codec`` (default: the
    input's family), else the codec's own (``.mp4`` for H.264...)."""
    from ..io.video.codecs import ALLOWED, CODECS, MUXERS

    ext = src_ext.lower()
    if codec is None:
        return ext if ext in MUXERS else ".mp4"
    return ext if codec in ALLOWED.get(ext, ()) else CODECS[codec].ext


class DepthFrames:
    """A depth sidecar read alongside its video of ``frames`` frames (0 = unknown): :meth:`next`
    gives the next normalised disparity (float32 (H, W) in [0, 1]) fitted to ``shape``."""

    def __init__(self, path: str | os.PathLike, frames: int, kind: str = "disparity", skip: int = 0):
        self.path = Path(path)
        self.kind = kind
        self.read = 0
        self._reader = None
        if self.path.suffix.lower() == ".npy":
            try:
                stack = np.load(self.path, mmap_mode="r", allow_pickle=False)
            except Exception as e:
                raise InputError(f"{self.path}: not a readable .npy array ({e})") from None
            if stack.ndim != 3:
                raise InputError(f"{self.path}: expected an array (frames, H, W), got shape {stack.shape}")
            self.total = len(stack)
            self._frames = iter(stack)
        else:
            from ..io.video import VideoReader

            self._reader = VideoReader(self.path)
            self.total = self._reader.info.frames
            self._frames = (grey for grey, _ in self._reader.frames(raw=True, luma=True))
        if frames and self.total and self.total != frames:
            self.close()
            raise InputError(f"{self.path}: depth sidecar has {self.total} frames, the video {frames}")
        for _ in range(skip):  # a part of the clip starts at frame ``skip``
            next(self._frames, None)
        self.read = skip

    def next(self, shape: tuple[int, int]) -> np.ndarray:
        from ..io.depthmap import fit_to_image, to_disparity

        raw = next(self._frames, None)
        if raw is None:
            raise InputError(f"{self.path}: depth sidecar ends after {self.read} frames; the video has more")
        name = f"{self.path} frame {self.read}"
        self.read += 1
        return fit_to_image(to_disparity(np.asarray(raw, np.float32), self.kind, name), shape, name)

    def check_end(self) -> None:
        """Raise when the sidecar has frames left over (it belongs to another clip)."""
        if next(self._frames, None) is not None:
            raise InputError(f"{self.path}: depth sidecar has more frames than the video ({self.read})")

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


class NetworkDepth:
    """Depth from the network for each frame of a clip, aligned and smoothed over time by the live mode's
    :class:`~deocused.live.temporal.DepthSmoother` (causal). :meth:`flicker` compares the mean absolute
    frame-to-frame disparity change of the per-frame maps and of the smoothed ones."""

    def __init__(self, model: str | None, model_path: str | None):
        from ..live.temporal import DepthSmoother

        self.model, self.model_path = model, model_path
        self.smoother = DepthSmoother()
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self._sums = [0.0, 0.0, 0]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        from ..depth import estimate_disparity
        from ..io.depthmap import fit_to_image, to_disparity

        raw = estimate_disparity(image, model=self.model, model_path=self.model_path)
        d = fit_to_image(to_disparity(raw, "disparity", "model output"), image.shape[:2])
        s = self.smoother.update(d)
        if self._prev is not None:
            self._sums[0] += float(np.abs(d - self._prev[0]).mean())
            self._sums[1] += float(np.abs(s - self._prev[1]).mean())
            self._sums[2] += 1
        self._prev = (d, s.copy())
        return s

    def flicker(self) -> dict:
        """``{"per_frame": mean |d_t - d_t-1|, "smoothed": the same after smoothing, "resets": scene cuts}``."""
        n = max(1, self._sums[2])
        return {"per_frame": round(self._sums[0] / n, 5), "smoothed": round(self._sums[1] / n, 5),
                "resets": self.smoother.resets}


def refocus_video(job, render, timings: dict) -> int:
    """Refocus every frame of ``job.path`` into ``job.outputs[0]`` with ``render(image, disparity) -> uint8``;
    returns the frame count. Damaged input keeps the frames before the damage in the output and then raises
    the reader's :class:`InputError` (naming the time); any other failure leaves no output. A job with a
    ``span`` does its part of the clip only, without audio."""
    cpu = time.process_time()
    try:
        return _refocus_video(job, render, timings)
    finally:  # this process's CPU time over the item, every thread (decoder's and encoder's too) included
        timings["cpu"] = timings.get("cpu", 0.0) + time.process_time() - cpu


def _refocus_video(job, render, timings: dict) -> int:
    from ..io.video import VideoReader, VideoWriter

    depth_path = job.depth or find_depth_video(job.path)
    start, end, first, count, last = job.span or (None, None, 0, 0, True)
    with VideoReader(job.path) as reader:
        info = reader.info
        depth = DepthFrames(depth_path, info.frames, job.depth_kind, first) if depth_path else None
        writer = VideoWriter(job.outputs[0], codec=job.codec, crf=job.crf, rate=info.rate,
                             time_base=info.time_base, source=info, audio_from=None if job.span else job.path)
        try:
            with writer:
                damage = _frame_loop(reader.frames(start=start, end=end), depth, render, writer, timings)
                if depth is not None and damage is None and last:
                    depth.check_end()
                if job.span and damage is None and writer.frames != count:
                    raise InputError(f"{job.path}: part from frame {first} has {writer.frames} frames, "
                                     f"expected {count}")
                t = time.perf_counter()
                writer.commit()
                timings["write"] += time.perf_counter() - t
        finally:
            if depth is not None:
                depth.close()
    if damage is not None:
        raise InputError(f"{damage}; those frames are in {job.outputs[0]}")
    return writer.frames


def _frame_loop(frames, depth, render, writer, timings):
    """Render and write every frame of ``frames`` (a reader's iterator); returns the reader's
    :class:`DamagedVideo` (the frames before it written), if any. Decoding (with the depth sidecar)
    runs on a thread up to two frames ahead and encoding on another behind the render, so
    ``timings`` load/write count only the time the render waited for them."""
    from concurrent.futures import ThreadPoolExecutor

    from ..io.video import DamagedVideo

    ahead = _Ahead(frames, depth)
    pending = []
    try:
        with ThreadPoolExecutor(1, "video-encode") as encoder:
            while True:
                t = time.perf_counter()
                try:
                    item = ahead.next()
                except DamagedVideo as e:
                    _drain(pending, timings)
                    if writer.frames == 0:
                        raise
                    return e
                timings["load"] += time.perf_counter() - t
                if item is None:
                    _drain(pending, timings)
                    return None
                image, pts, disparity = item
                t, c = time.perf_counter(), time.thread_time()
                frame = render(image, disparity)
                timings["render"] += time.perf_counter() - t
                timings["render_cpu"] = timings.get("render_cpu", 0.0) + time.thread_time() - c
                _drain(pending, timings, keep=1)
                pending.append(encoder.submit(writer.write, frame, pts))
    finally:
        ahead.stop()


def _drain(pending: list, timings: dict, keep: int = 0) -> None:
    """Wait for encodes until at most ``keep`` are pending (their errors raised here)."""
    t = time.perf_counter()
    while len(pending) > keep:
        pending.pop(0).result()
    timings["write"] += time.perf_counter() - t


class _Ahead:
    """Frames ``(image, pts)`` with their sidecar disparity, produced on a thread a few frames ahead;
    an exception comes out of :meth:`next` in its place."""

    def __init__(self, frames, depth, size: int = 2):
        import queue
        import threading

        self._q = queue.Queue(size)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(frames, depth), name="video-decode", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        import queue

        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, frames, depth) -> None:
        try:
            for image, pts in frames:
                d = depth.next(image.shape[:2]) if depth is not None else None
                if not self._put((image, pts, d)):
                    return
            self._put(None)
        except BaseException as e:
            self._put(e)

    def next(self):
        item = self._q.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
