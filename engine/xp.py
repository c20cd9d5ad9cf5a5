"""The array module (NumPy or CuPy) of an array, for code that runs on both."""

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
