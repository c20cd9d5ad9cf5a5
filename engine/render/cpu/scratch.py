"""Buffers the CPU renderer keeps from one ``prepare`` to the next, so that their pages
are touched once, not once per photo: the strips of a one-shot render, the zoomed views of
the viewer and the frames of a video are prepared one after another on windows of about
the same size (the padded image, the pixel masks and the block pool are reused for any of
them, the per-band box means of the downsampled scales after a strip or region only), and a
fresh large NumPy array costs a page fault per 4 KiB at its first write (on the 12 MP
photo, about a third of the render's CPU time went to the kernel's page faults).

A buffer is kept per name and handed out again while it holds at least what is asked
and at most twice the largest of the last :data:`RECENT` requests for that name: the
viewer going back and forth between a zoomed region and its (smaller) fit view keeps
the region's buffers (on the 24 MP photo, remaking them took ~0.15 s of page faults a zoom),
while a small photo after a large one frees them after a few prepares. Its contents are
whatever its last user left. The block pool's blocks are numbered in the order they are
built (:mod:`.blocks`), so every image writes the start of it.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ...xp import empty_scattered

#: How many of a buffer's latest requests bound what it may hold (twice the largest).
RECENT = 3


class Scratch:
    """Named reusable buffers (see the module's docstring)."""

    def __init__(self):
        self._kept: dict[str, np.ndarray] = {}
        self._recent: dict[str, deque] = {}  # the sizes (bytes) of each name's latest requests
        self.tags: dict[str, object] = {}  # each buffer's ``tag`` (see take)

    def keeps(self, name: str, size, need) -> bool:
        """Whether a buffer of ``size`` made for ``name`` still serves a request for ``need`` (see the module's
        docstring; ``need`` counts as the latest request). Any unit, the same for every request of ``name``
        (:meth:`note` records one without a buffer)."""
        recent = self._recent.get(name, ())
        return need <= size <= 2 * max(max(recent, default=0), need, 1)

    def note(self, name: str, need) -> None:
        """Count ``need`` as the latest request for ``name`` (:meth:`take` does so itself)."""
        self._recent.setdefault(name, deque(maxlen=RECENT)).append(need)

    def take(self, name: str, shape, dtype, scattered: bool = False, tag=None) -> np.ndarray:
        """An uninitialised C-ordered array of ``shape`` and ``dtype``, a view of buffer ``name``
        (kept, or made anew when the kept one is too small or too large: :meth:`keeps`). A previous
        view of ``name`` must be dead. ``scattered``: made without huge pages, a quarter larger
        than asked (:func:`deocused.xp.empty_scattered`; the block pool, whose pages count only
        where its blocks are written: the next image may need a few more). ``tag``: noted in
        :attr:`tags` when the buffer is made (e.g. the image size it is made for)."""
        dtype = np.dtype(dtype)
        need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        buf = self._kept.pop(name, None)
        keep = buf is not None and self.keeps(name, buf.size, need)
        self.note(name, need)
        if not keep:
            buf = None  # freed before the new one is made
            buf = empty_scattered((need + need // 4 + 1,), np.uint8) if scattered else np.empty((max(need, 1),), np.uint8)
            self.tags[name] = tag
        self._kept[name] = buf
        return buf[:need].view(dtype).reshape(shape)

    def drop(self, prefix: str) -> None:
        """Free the buffers whose names begin with ``prefix``."""
        for name in [k for k in self._kept if k.startswith(prefix)]:
            del self._kept[name]
            self.tags.pop(name, None)
            self._recent.pop(name, None)

    @property
    def nbytes(self) -> int:
        return sum(buf.size for buf in self._kept.values())

    def clear(self) -> None:
        """Free every kept buffer."""
        self._kept.clear()
        self.tags.clear()
        self._recent.clear()
