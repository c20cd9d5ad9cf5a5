"""The array module (NumPy or CuPy) of an array, for code that runs on both; NumPy's huge-page switch."""

import numpy as np


def array_module(a):
    """``numpy`` for NumPy arrays (and anything that is not a CuPy array), else ``cupy``."""
    if isinstance(a, np.ndarray):
        return np
    try:
        import cupy
    except Exception:
        return np
    return cupy.get_array_module(a)


def huge_pages(enabled: bool) -> bool | None:
    """Whether NumPy asks for transparent huge pages for its large arrays (it does above 4 MiB;
    with ``defrag=madvise`` the kernel may compact memory at the first touch of each 2 MiB page).
    Returns the previous setting (None: this NumPy has no such switch)."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:
        return None
    return bool(_set_madvise_hugepage(bool(enabled)))


def empty_scattered(shape, dtype) -> np.ndarray:
    """``np.empty`` for an array written in scattered blocks (the CPU renderer's block pool): without
    huge pages, so a written block costs its own 4 KiB pages, not a zeroed 2 MiB page each (on the
    12 MP photo: 150 MB less memory)."""
    was = huge_pages(False)
    try:
        return np.empty(shape, dtype)
    finally:
        if was is not None:
            huge_pages(was)
