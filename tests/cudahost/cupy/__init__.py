"""A CPU stand-in for the part of CuPy that engine/render/gpu/backend.py uses.

Not CuPy: device arrays are NumPy arrays, streams are worker threads, and kernels
are the unchanged ``.cu`` sources compiled by g++ against ``tests/cudahost/emu.h``
(see ``tests/cudahost/README.md``). Importable as ``cupy`` by putting ``tests/cudahost``
on ``sys.path`` (or ``PYTHONPATH``); the test suite does that only where real CuPy
with a device is absent (``tests/conftest.py``).
"""

import sys as _sys

import numpy as _np

from . import cuda  # noqa: F401
from ._core import (  # noqa: F401
    array,
    asarray,
    ascontiguousarray,
    asfortranarray,
    asnumpy,
    empty,
    empty_like,
    ndarray,
    ones,
    zeros,
    zeros_like,
)
from ._kernel import CompileException, RawKernel, RawModule  # noqa: F401

__version__ = "0.0.0+cudahost"
#: Marks the stand-in (real CuPy has no such attribute).
IS_CUDAHOST = True

float16, float32, float64 = _np.float16, _np.float32, _np.float64
int8, int16, int32, int64 = _np.int8, _np.int16, _np.int32, _np.int64
uint8, uint16, uint32, uint64 = _np.uint8, _np.uint16, _np.uint32, _np.uint64
bool_ = _np.bool_


_self = _sys.modules[__name__]


def get_array_module(*args):
    return _self if any(isinstance(a, ndarray) for a in args) else _np


class _MemoryPool:
    def free_all_blocks(self):
        pass

    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0


def get_default_memory_pool():
    return _MemoryPool()


def __getattr__(name):
    """Other NumPy functions, run on the host after the current stream (as a CuPy kernel would)."""
    f = getattr(_np, name)
    if not callable(f):
        return f
    from ._core import _plain, _sync_current, _wrap

    def run(*a, **k):
        _sync_current()
        return _wrap(f(*_plain(a), **{kk: _plain(v) for kk, v in k.items()}))

    run.__name__ = name
    return run
