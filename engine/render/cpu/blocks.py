"""The CPU renderer's block pool: which block holds layer j of each level tile (see
:mod:`deocused.render.cpu.kernels` for the sparse storage), and in which order blocks take
their place in the pool.

A level's tiles get their blocks when they are built, numbered on from the blocks built
before (:func:`number_blocks`), not when the photo is prepared: so whatever a render builds
(the levels its K needs, in the rows a strip or a zoomed view reads) lies at the start of
the pool, and a pool reused for the next strip, view or frame touches the same pages again
rather than new ones.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .pixels import _JIT, popcount


@njit(**_JIT)
def slot_table(masks, n):
    """Per tile and layer j, the tile's block that holds layer j (int64 (nty, ntx, n): the
    number of the block among the level's blocks, tile by tile in row-major order; -1: zero),
    and the level's number of blocks. A band absent from a tile shares the block of the band below."""
    nty, ntx = masks.shape
    slots = np.full((nty, ntx, n), -1, np.int64)
    pos = 0
    for ty in range(nty):
        for tx in range(ntx):
            m = masks[ty, tx]
            cur = -1
            for j in range(n):
                if (m >> np.uint64(j)) & np.uint64(1):
                    cur = pos
                    pos += 1
                slots[ty, tx, j] = cur
    return slots, pos


@njit(**_JIT)
def count_blocks(masks):
    """Number of blocks a level with these tile masks stores."""
    total = 0
    for m in masks.ravel():
        total += popcount(m)
    return total


@njit(**_JIT)
def number_blocks(table, slots, soff, build, n, pos):
    """Give the tiles about to be built their blocks in the pool, from block ``pos`` on: for
    level q of a group (its :func:`slot_table` in ``table`` and its pool blocks in ``slots``,
    both flat, from ``soff[q]``; ``ntx`` = ``build.shape[2]`` tiles a row), each tile with
    ``build[q, ty, tx]`` gets consecutive blocks in its table's order. Returns the next free block."""
    ntx = build.shape[2]
    for q in range(build.shape[0]):
        for t in range(build.shape[1] * ntx):
            if not build[q, t // ntx, t % ntx]:
                continue
            base = soff[q] + t * n
            first = -1
            for j in range(n):  # the tile's lowest block: its first band's
                if table[base + j] >= 0:
                    first = table[base + j]
                    break
            if first < 0:
                continue  # no band here: every layer is zero
            for j in range(n):
                s = table[base + j]
                slots[base + j] = s - first + pos if s >= 0 else -1
            pos += table[base + n - 1] - first + 1
    return pos
