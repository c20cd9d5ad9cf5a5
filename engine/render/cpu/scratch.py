"""Buffers the CPU renderer keeps from one ``prepare`` to the next, so that their pages
are touched once, not once per photo: the strips of a one-shot render and the frames of
a video are prepared one after another on windows of about the same size (the padded
image and the pixel masks are reused for any of them, the per-band box means of the
downsampled scales after a strip or region only, the block pool for the same size and
place only), and a fresh large NumPy array costs a page fault per 4 KiB at its first
write (on the 12 MP photo, about a third of the render's CPU time went to the kernel's
page faults).

A buffer is kept per name and handed out again while it holds between one and two
times what is asked (a smaller request does not pin a much larger buffer); its
contents are whatever its last user left. The block pool, written in scattered
blocks, is kept only for an image of the same size and place in its photo (a video's
frames): a reused pool keeps the union of every image's blocks resident.
"""

from __future__ import annotations

import numpy as np

from ...xp import empty_scattered


class Scratch:
    """Named reusable buffers (see the module's docstring)."""

    def __init__(self):
        self._kept: dict[str, tuple[np.ndarray, object]] = {}  # name: (buffer, its scattered tag)

    def take(self, name: str, shape, dtype, scattered=None) -> np.ndarray:
        """An uninitialised C-ordered array of ``shape`` and ``dtype``, a view of buffer ``name``
        (kept, or made anew when the kept one is too small or over twice too large). A previous
        view of ``name`` must be dead. ``scattered``: a buffer written in scattered blocks (made
        with :func:`deocused.xp.empty_scattered`), kept only for a request with the same
        ``scattered`` value (e.g. the image's shape and place): the pages a reused buffer keeps
        are the union of every user's blocks, so between other images (strips, zoomed views) a
        fresh one holds only the blocks its image writes."""
        dtype = np.dtype(dtype)
        need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        buf, tag = self._kept.pop(name, (None, None))
        if buf is None or not need <= buf.size <= 2 * max(need, 1) or tag != scattered:
            buf = None  # freed before the new one is made
            buf = (np.empty if scattered is None else empty_scattered)((max(need, 1),), np.uint8)
        self._kept[name] = buf, scattered
        return buf[:need].view(dtype).reshape(shape)

    def drop_unless(self, name: str, scattered) -> None:
        """Free buffer ``name`` now unless a ``take`` with this ``scattered`` value would reuse it
        (before other buffers are made, so that it is not kept beside them)."""
        if name in self._kept and self._kept[name][1] != scattered:
            del self._kept[name]

    def drop(self, prefix: str) -> None:
        """Free the buffers whose names begin with ``prefix``."""
        for name in [k for k in self._kept if k.startswith(prefix)]:
            del self._kept[name]

    @property
    def nbytes(self) -> int:
        return sum(buf.size for buf, _ in self._kept.values())

    def clear(self) -> None:
        """Free every kept buffer."""
        self._kept.clear()
