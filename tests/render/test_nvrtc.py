"""The kernels compile with NVRTC -- CuPy's compiler -- with exactly the options
engine/render/gpu/backend.py gives CuPy, for the GPU generations we ship for.

Needs only the ``nvidia-cuda-nvrtc-cu12`` wheel (the ``test`` extra), no GPU:
libnvrtc is loaded with ctypes from ``site-packages/nvidia/cuda_nvrtc/lib``.
Skipped, with the reason, where the wheel is absent.
"""

from __future__ import annotations

import ctypes
import importlib.util
from pathlib import Path

import pytest

import deocused
from deocused.render.gpu.backend import KERNEL_DIR, NVRTC_OPTIONS

ARCHS = ("compute_80", "compute_90")
RENDERER_KERNELS = ("pyramid.cu", "refocus.cu")
#: Every CUDA file of the package, each beside the module that launches it (the renderer's in
#: render/gpu/, the benchmark's disc gather in bench/).
KERNEL_FILES = {p.name: p for p in sorted(Path(deocused.__file__).resolve().parent.rglob("*.cu"))}
ALL_KERNELS = sorted(KERNEL_FILES)
#: What CuPy appends to every NVRTC compile of a RawModule (cupy/cuda/compiler.py).
CUPY_ADDS = ("-ftz=true",)


def _find_libnvrtc() -> Path | None:
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        lib = Path(root) / "cuda_nvrtc" / "lib"
        found = sorted(lib.glob("libnvrtc.so*")) or sorted(lib.glob("nvrtc64*.dll"))
        if found:
            return found[0]
    return None


@pytest.fixture(scope="module")
def nvrtc():
    path = _find_libnvrtc()
    if path is None:
        pytest.skip("nvidia-cuda-nvrtc-cu12 is not installed (pip install 'deocused[test]')")
    lib = ctypes.CDLL(str(path))
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    return lib


def compile_nvrtc(lib, source: str, name: str, options) -> tuple[int, str, bytes]:
    """NVRTC-compile ``source``: (nvrtcResult of the compile, log, PTX)."""
    prog = ctypes.c_void_p()
    rc = lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None)
    assert rc == 0, lib.nvrtcGetErrorString(rc)
    try:
        opts = [o.encode() for o in options]
        arr = (ctypes.c_char_p * len(opts))(*opts)
        res = lib.nvrtcCompileProgram(prog, len(opts), arr)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        ptx = b""
        if res == 0:
            lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
            buf = ctypes.create_string_buffer(size.value)
            lib.nvrtcGetPTX(prog, buf)
            ptx = buf.value
        return res, log.value.decode(errors="replace"), ptx
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", ALL_KERNELS)
def test_kernel_compiles(nvrtc, name, arch):
    source = KERNEL_FILES[name].read_text()
    rc, log, ptx = compile_nvrtc(nvrtc, source, name, (*NVRTC_OPTIONS, f"--gpu-architecture={arch}", *CUPY_ADDS))
    assert rc == 0, f"{name} ({arch}):\n{log}"
    assert b".entry" in ptx
    assert "warning" not in log.lower(), log


@pytest.mark.parametrize("name", RENDERER_KERNELS)
def test_missing_define_fails_by_name(nvrtc, name):
    """Each constant is required: leaving one out is a compile error naming it."""
    source = (KERNEL_DIR / name).read_text()
    base = [o for o in NVRTC_OPTIONS if not o.startswith("-DFILL_MIN_COVER=")]
    assert len(base) == len(NVRTC_OPTIONS) - 1
    rc, log, _ = compile_nvrtc(nvrtc, source, name, (*base, "--gpu-architecture=compute_80"))
    assert rc != 0
    assert "FILL_MIN_COVER is not defined" in log


def test_broken_source_is_reported(nvrtc):
    """The harness reports compile errors (so a passing compile means something)."""
    rc, log, _ = compile_nvrtc(nvrtc, 'extern "C" __global__ void k(float* a) { a[0] = undefined_name; }',
                               "bad.cu", ("--gpu-architecture=compute_80",))
    assert rc != 0 and "undefined_name" in log


def test_defines_carry_the_python_constants_exactly():
    """Each -D value reads back (as float32, as the kernels use it) to the Python constant."""
    import numpy as np

    from deocused import constants
    from deocused.render.gpu.backend import TILE, kernel_defines
    from deocused.render.pyramid import LEVEL_RADII

    values = dict(d[2:].split("=", 1) for d in kernel_defines())
    expected = {"EPS": constants.EPS, "FILL_BEHIND_RAMP": constants.FILL_BEHIND_RAMP,
                "FILL_MIN_COVER": constants.FILL_MIN_COVER, "FILL_COVER_RAMP": constants.FILL_COVER_RAMP,
                "HIDDEN_FILL_RADIUS": constants.HIDDEN_FILL_RADIUS,
                "HIDDEN_MIN_SHARE": constants.HIDDEN_MIN_SHARE,
                "HIGHLIGHT_THRESHOLD": constants.HIGHLIGHT_THRESHOLD,
                "HIGHLIGHT_RANGE": np.float32(1.0 - constants.HIGHLIGHT_THRESHOLD),
                "MAX_BANDS": constants.MAX_BANDS, "CAT_EYE_TAPS": constants.CAT_EYE_TAPS,
                "MAX_LEVELS": len(LEVEL_RADII), "TILE": TILE,
                "OUTLINE_MAX_SHARE": constants.OUTLINE_MAX_SHARE, "OUTLINE_STEPS": float(constants.OUTLINE_STEPS),
                "OUTLINE_FLATNESS": constants.OUTLINE_FLATNESS}
    assert set(values) == set(expected)
    for name, want in expected.items():
        text = values[name]
        if isinstance(want, int):
            assert int(text) == want, name
        else:
            assert text.endswith("f") and ("." in text or "e" in text), name  # a C float literal
            assert np.float32(float(text[:-1])) == np.float32(want), name
