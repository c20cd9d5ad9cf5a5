"""cudahost: the project's CUDA kernels on the host CPU, for tests without a GPU.

* :mod:`emu.h <tests.cudahost>` -- CUDA built-ins for g++ (threads, barriers, shuffles,
  atomics, shared memory, float16, ``_rn`` intrinsics);
* ``rewrite.py`` -- the few source rewrites g++ needs (``__shared__``, inline asm, includes);
* ``cupy/`` -- a CPU stand-in for the part of CuPy that ``engine/render/gpu/backend.py`` uses.

:func:`installed` makes the stand-in *be* ``cupy`` for a while (``sys.modules`` and
``deocused.render.gpu.backend.cp``) and restores what was there afterwards; the test suite
uses it only where real CuPy with a device is absent. See README.md.
"""

from __future__ import annotations

import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
_stand_in: dict | None = None  # the stand-in's modules (name -> module), once imported


def available() -> tuple[bool, str]:
    """Whether the emulation can run here, and if not, why."""
    if not sys.platform.startswith("linux"):
        return False, "the CUDA host emulation needs Linux (futex)"
    if shutil.which("g++") is None:
        return False, "the CUDA host emulation needs g++ (C++20) on PATH"
    return True, ""


def _is_cupy(name: str) -> bool:
    return name == "cupy" or name.startswith("cupy.")


def _take_cupy_modules() -> dict:
    taken = {k: sys.modules.pop(k) for k in [k for k in sys.modules if _is_cupy(k)]}
    return taken


def load() -> dict:
    """Import the stand-in once (without leaving it in ``sys.modules``): its modules by name."""
    global _stand_in
    if _stand_in is None:
        saved = _take_cupy_modules()
        sys.path.insert(0, str(HERE))
        try:
            import cupy  # noqa: F401 - the stand-in, found first on sys.path
        finally:
            sys.path.remove(str(HERE))
            _stand_in = _take_cupy_modules()
            sys.modules.update(saved)
        assert getattr(_stand_in["cupy"], "IS_CUDAHOST", False)
    return _stand_in


@contextmanager
def installed():
    """Within the block, ``import cupy`` (and deocused.render.gpu.backend) get the stand-in."""
    mods = load()
    saved = _take_cupy_modules()
    sys.modules.update(mods)
    import deocused.render.gpu.backend as gb

    old_cp = gb.cp
    gb.cp = mods["cupy"]
    gb._module.cache_clear()
    try:
        yield mods["cupy"]
    finally:
        gb._module.cache_clear()
        gb.cp = old_cp
        _take_cupy_modules()
        sys.modules.update(saved)
