"""Loading the viewer's images and their depth.

:class:`Source` is one entry of the image list; :class:`Slot` its state
(pending, depth, ready, failed). :class:`ImageLoading` (a part of
:class:`deocused.viewer.app.Viewer`) loads an image when it becomes current,
skips files that fail in the direction of travel, and asks
:class:`deocused.depth.DepthWorker` (a separate process: TensorFlow is never
imported here) for the depth of photos that have none, one request at a time,
polled from the event loop.
"""

from __future__ import annotations

import logging
import queue
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, RefocusError

log = logging.getLogger("deocused")


@dataclass
class Source:
    """One entry of the viewer's image list: a file, a bundled sample, or arrays (tests)."""

    name: str
    path: Path | None = None
    sample: str | None = None
    depth: str | None = None
    image: np.ndarray | None = None  # sRGB float32 (H, W, 3) in [0, 1]
    disparity: np.ndarray | None = None  # float32 (H, W) in [0, 1]
    focus_point: tuple[float, float] | None = None


@dataclass
class Slot:
    """An image of the list. ``image`` may be a reduced decode of the photo (``reduced``; a JPEG opened
    at 1/2..1/8 of its size for the screen); ``size`` is always the photo's own (w, h), the size of
    ``disparity`` and of the coordinates clicks map to; :meth:`full_image` decodes the whole photo."""

    source: Source
    status: str = "pending"  # pending, depth, ready, failed
    image: np.ndarray | None = None  # sRGB float32 (h, w, 3), the photo or its reduced decode
    disparity: np.ndarray | None = None
    focus_point: tuple[float, float] | None = None
    meta: object = None  # the input file's PhotoMeta (ICC, EXIF, XMP), kept in saved images
    error: str = ""
    full_size: tuple[int, int] | None = None  # (w, h) of the photo when ``image`` is reduced
    reduced: bool = False

    @property
    def size(self):
        if self.full_size is not None:
            return self.full_size
        return None if self.image is None else (self.image.shape[1], self.image.shape[0])

    def full_srgb8(self) -> np.ndarray | None:
        """The whole photo of a reduced slot as its 8-bit codes (uint8 RGB, what :meth:`full_image`
        holds times 255, without a float copy), or None when the file is not 8-bit without alpha."""
        from ..io.images import load_image

        img = load_image(self.source.path, codes=True)
        return img if img.dtype == np.uint8 else None

    def full_image(self) -> np.ndarray:
        """The photo at its own size (decoded now if ``image`` is a reduced decode; not kept)."""
        if not self.reduced:
            return self.image
        from ..io.images import load_image

        return np.asarray(load_image(self.source.path), np.float32)


def _may_reduce(path, min_size) -> bool:
    """The photo is a JPEG that :func:`deocused.io.images.load_image_reduced` opens at least halved for
    ``min_size`` (w, h), from its header (so the depth file is decoded beside the photo only when the
    photo opens reduced: no file is decoded twice)."""
    from ..io.imageinfo import exif_orientation, header_size

    try:
        with open(path, "rb") as f:
            head = f.read(1 << 18)
    except OSError:
        return False
    info = header_size(head)
    if info is None or info[0] != "JPEG":
        return False
    w, h = info[1:] if exif_orientation(head) not in (5, 6, 7, 8) else info[:0:-1]
    return w // 2 >= min_size[0] and h // 2 >= min_size[1]


def _is_timeout(e: BaseException) -> bool:
    return isinstance(e, (TimeoutError, queue.Empty)) or "Timeout" in type(e).__name__


class ImageList:
    """The viewer's photos: one :class:`Slot` per source, the current one (``index``), loading and
    the depth requests (one at a time, to the depth worker, made when first needed).

    ``flash(text)``: shows a one-line message (a file that failed). ``reduce_to``: (w, h) framebuffer
    pixels the screen can show, None: no reduced decodes (see :meth:`_load_reduced`).
    """

    def __init__(self, sources, *, depth_kind: str = "disparity", embedded_depth: bool = True,
                 model: str | None = None, model_path: str | None = None, flash=lambda text: None,
                 reduce_to=None):
        self.slots = [Slot(s) for s in sources]
        self.index = 0
        self.depth_kind, self.embedded_depth = depth_kind, embedded_depth
        self.model, self.model_path = model, model_path
        self.flash = flash
        self.reduce_to = reduce_to
        self.depth_worker = None
        self.depth_slot: int | None = None  # the slot whose depth the worker computes

    def __len__(self) -> int:
        return len(self.slots)

    @property
    def current(self) -> Slot:
        return self.slots[self.index]

    @property
    def depth_pending(self) -> bool:
        """Some photo waits for its depth."""
        return self.depth_slot is not None or any(s.status == "depth" for s in self.slots)

    def load(self, index: int, direction: int = +1) -> None:
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

    def skip_failed(self) -> bool:
        """After a failure: if the current photo failed, move on to the next loadable one (True)."""
        if self.current.status != "failed":
            return False
        self.load(self.index + 1, +1)
        return True

    def _load_slot(self, slot: Slot) -> None:
        from ..photo import load_photo

        src = slot.source
        try:
            if src.image is not None:
                img, disp, focus = src.image, src.disparity, src.focus_point
            elif self._load_reduced(slot):
                return
            else:
                photo = load_photo(src.path, sample=src.sample, depth=src.depth, depth_kind=self.depth_kind,
                                   estimate=False, embedded=self.embedded_depth)
                img, disp, focus = photo.image_srgb, photo.disparity, photo.focus
                slot.meta = photo.meta
            slot.image = np.asarray(img, np.float32)
            slot.focus_point = focus
            if disp is None:
                self._start_depth(slot)
            else:
                slot.disparity = np.asarray(disp, np.float32)
                slot.status = "ready"
        except RefocusError as e:
            self._fail(slot, str(e))
        except MemoryError:
            self._fail(slot, f"{src.name}: out of memory")

    def _load_reduced(self, slot: Slot) -> bool:
        """A JPEG with a depth file, larger than the screen needs: decode it reduced (the viewer's
        ``reduce_to``: the framebuffer pixels the screen can show); True if done."""
        from ..io.depthmap import find_sidecar, fit_to_image, load_disparity
        from ..io.images import load_image_reduced

        src = slot.source
        if self.reduce_to is None or src.path is None:
            return False
        depth = src.depth or find_sidecar(str(src.path))
        if depth is None or not _may_reduce(src.path, self.reduce_to):
            return False
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="refocus-depth") as pool:
            raw = pool.submit(load_disparity, str(depth), None, self.depth_kind)  # decodes beside the photo
            reduced = load_image_reduced(src.path, self.reduce_to)
            if reduced is None:
                raw.cancel()
                return False
            disparity = raw.result()
        slot.image, slot.full_size = reduced
        slot.reduced = True
        slot.disparity = np.asarray(fit_to_image(disparity, slot.full_size[::-1], str(depth)), np.float32)
        slot.status = "ready"
        return True

    def _fail(self, slot: Slot, why: str) -> None:
        slot.status = "failed"
        slot.error = why
        slot.image = slot.disparity = slot.full_size = None
        slot.reduced = False
        self.flash(f"{why} - skipped")
        log.warning("%s (skipped)", why)

    def _start_depth(self, slot: Slot) -> None:
        slot.status = "depth"
        if self.depth_slot is not None:
            return  # one request at a time; this one starts when the current one is done
        try:
            from ..depth import DepthWorker
        except ImportError:
            raise InputError(f"{slot.source.name}: no depth map (IMAGE.depth.png or --depth FILE) "
                             f"and no depth model available") from None
        if self.depth_worker is None:
            self.depth_worker = DepthWorker(model=self.model, model_path=self.model_path)
        self.depth_worker.submit(slot.image)
        self.depth_slot = self.slots.index(slot)

    def poll_depth(self) -> tuple[str, int] | None:
        """Take the depth worker's result if there is one (or start the next request): ("ready", slot
        index) when a photo got its depth, ("failed", slot index) when its depth failed (the photo is
        then skipped), else None."""
        if self.depth_slot is None:
            waiting = [i for i, s in enumerate(self.slots) if s.status == "depth"]
            if waiting:
                slot = self.slots[waiting[0]]
                try:
                    self._start_depth(slot)
                except RefocusError as e:
                    self._fail(slot, str(e))  # shown at once; the viewer moves on when the user does
            return None
        index = self.depth_slot
        slot = self.slots[index]
        try:
            raw = self.depth_worker.result(timeout=0)
        except Exception as e:
            if _is_timeout(e):
                return None
            self.depth_slot = None
            why = str(e).splitlines()[0] if str(e) else type(e).__name__
            self._fail(slot, f"{slot.source.name}: depth estimation failed ({why})")
            return "failed", index
        if raw is None:
            return None
        self.depth_slot = None
        from ..io.depthmap import fit_to_image, to_disparity

        try:
            slot.disparity = fit_to_image(to_disparity(np.asarray(raw, np.float32), "disparity", "model output"),
                                          slot.image.shape[:2]).astype(np.float32)
            slot.status = "ready"
        except RefocusError as e:
            self._fail(slot, str(e))
            return "failed", index
        return "ready", index

    def close(self) -> None:
        """Stop the depth worker (if one was started)."""
        if self.depth_worker is not None:
            self.depth_worker.close()
            self.depth_worker = None
