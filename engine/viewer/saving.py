"""Saving the viewer's result (``S``): the full-resolution render, in the background.

The viewer shows a render at the screen's resolution; a save renders the photo
at its own resolution with the current focus, K and dof on a renderer of its
own, through :func:`deocused.photo.render_photo` -- the code ``refocus render``
runs -- so the file is byte-identical to ``refocus render IMAGE
--focus-disparity F --max-blur K --dof D``. It runs on its own thread: the
window keeps handling input, the HUD shows its progress.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("deocused")


@dataclass
class SaveJob:
    path: Path
    future: Future
    started: float = field(default_factory=time.monotonic)


def render_and_write(renderer, photo, focus: float, max_blur: float, dof: float, out: Path, protect) -> Path:
    """Render ``photo`` (a :class:`deocused.photo.Photo`, or a function returning it) at full resolution
    with these settings and write it to ``out`` (never over ``protect``) as ``refocus render`` does: the
    photo's tone curve, bit depth and metadata."""
    from ..io.images import write_image
    from ..photo import render_photo
    from ..settings import RenderSettings, output_bits

    settings = RenderSettings(focus_disparity=focus, max_blur=max_blur, dof=dof)
    if callable(photo):  # loaded whole only now (the viewer may hold a reduced decode)
        photo = photo()
    result = render_photo(photo, settings, renderer, bit_depth=output_bits(None, photo.meta, out))
    return write_image(out, result, protect=protect, meta=photo.meta)


def photo_loader(slot, depth_kind: str, embedded: bool):
    """A function returning the viewer's photo ``slot`` whole, as ``refocus render`` loads it (a file
    read again: the viewer may hold a reduced decode; the slot's depth where the file has none)."""
    from ..photo import Photo, load_photo

    src = slot.source

    def load():
        if src.path is None or src.image is not None:  # a sample or arrays: what the viewer holds
            return Photo(slot.image, slot.disparity, meta=slot.meta)
        photo = load_photo(src.path, depth=src.depth, depth_kind=depth_kind, estimate=False, embedded=embedded)
        return photo if photo.disparity is not None else photo.with_depth(slot.disparity)

    return load


def free_unreserved(base: Path, reserved) -> Path:
    """The first of ``base``, ``stem-1.ext``, ... that neither exists nor is in ``reserved`` (saves running)."""
    from ..io.images import free_path

    p, i = free_path(base), 0
    while p in reserved:
        i += 1
        p = free_path(base.with_name(f"{base.stem}-{i}{base.suffix}"))
    return p


def save_base(source) -> Path:
    """Where a save of ``source`` goes (before choosing a free name): ``IMAGE.refocus.png`` next to the
    photo, or ``NAME.refocus.png`` in the working folder for a sample."""
    if source.path is not None:
        stem = Path(source.path).with_suffix("")
        return stem.with_name(stem.name + ".refocus.png")
    return Path.cwd() / f"{source.name}.refocus.png"


class Saver:
    """Full-resolution saves, one at a time on a background thread (``threaded=False``: at once)."""

    def __init__(self, threaded: bool = True):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refocus-save") if threaded else None
        self.jobs: list[SaveJob] = []

    def start(self, photo, params, base: Path, device: str, options: dict, protect, on_done=None) -> Path:
        """Queue a save of the photo with ``params`` (focus disparity, K, dof) on a new renderer of
        ``device`` and ``options``; returns the path it will write."""
        out = free_unreserved(base, {j.path for j in self.jobs})

        def work():
            from ..render.backends import make_renderer

            return render_and_write(make_renderer(device, **options), photo, *params, out, protect)

        if self._pool is not None:
            future = self._pool.submit(work)
            if on_done is not None:
                future.add_done_callback(lambda f: on_done())
        else:
            future = Future()
            try:
                future.set_result(work())
            except BaseException as e:
                future.set_exception(e)
        self.jobs.append(SaveJob(out, future))
        return out

    @property
    def busy(self) -> bool:
        return bool(self.jobs)

    def progress(self) -> str:
        """HUD text while saves run: the file and the seconds it has taken so far."""
        if not self.jobs:
            return ""
        j = self.jobs[0]
        more = f" (+{len(self.jobs) - 1} queued)" if len(self.jobs) > 1 else ""
        return f"saving {j.path.name}... {time.monotonic() - j.started:.0f} s{more}"

    def poll(self) -> list[tuple[Path, str | None]]:
        """The saves finished since the last poll: (path, None) or (path, why it failed)."""
        from ..errors import RefocusError

        done = [j for j in self.jobs if j.future.done()]
        self.jobs = [j for j in self.jobs if not j.future.done()]
        out = []
        for j in done:
            e = j.future.exception()
            if e is not None:
                why = f"not saved: {e}" if isinstance(e, RefocusError) else f"save failed ({type(e).__name__}: {e})"
                log.warning("%s: %s", j.path, why)
            else:
                log.info("saved %s", j.path)
            out.append((j.path, None if e is None else why))
        return out

    def close(self) -> None:
        """Wait for the saves in flight (a file the user asked for is not dropped)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
