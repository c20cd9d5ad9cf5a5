"""Buffers the CPU renderer keeps from one ``prepare`` to the next, so that their pages
are touched once, not once per photo: the strips of a one-shot render, the zoomed views of
the viewer and the frames of a video are prepared one after another on windows of about
the same size (the padded image, the pixel masks and the block pool are reused for any of
them, the per-band box means of the downsampled scales after a strip or region only), and a
fresh large NumPy array costs a page fault per 4 KiB at its first write (on the 12 MP
photo, about a third of the render's CPU time went to the kernel's page faults).

A buffer is kept per name and handed out again while it holds between one and two
times what is asked (a smaller request does not pin a much larger buffer); its
contents are whatever its last user left. The block pool's blocks are numbered in
the order they are built (:mod:`.blocks`), so every image writes the start of it.
"""

from __future__ import annotations

import numpy as np

from ...xp import empty_scattered


class Scratch:
    """Named reusable buffers (see the module's docstring)."""

    def __init__(self):
        self._kept: dict[str, np.ndarray] = {}
        self.tags: dict[str, object] = {}  # each buffer's ``tag`` (see take)

    def take(self, name: str, shape, dtype, scattered: bool = False, tag=None) -> np.ndarray:
        """An uninitialised C-ordered array of ``shape`` and ``dtype``, a view of buffer ``name``
        (kept, or made anew when the kept one is too small or over twice too large). A previous
        view of ``name`` must be dead. ``scattered``: made without huge pages, a quarter larger
        than asked (:func:`deocused.xp.empty_scattered`; the block pool, whose pages count only
        where its blocks are written: the next image may need a few more). ``tag``: noted in
        :attr:`tags` when the buffer is made (e.g. the image size it is made for)."""
        dtype = np.dtype(dtype)
        need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        buf = self._kept.pop(name, None)
        if buf is None or not need <= buf.size <= 2 * max(need, 1):
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

    @property
    def nbytes(self) -> int:
        return sum(buf.size for buf in self._kept.values())

    def clear(self) -> None:
        """Free every kept buffer."""
        self._kept.clear()
        self.tags.clear()
