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
