"""Shared test setup.

* GPU tests: where real CuPy with a CUDA device is present they use it. Where it is
  not, tests that ask for the ``cupy_device`` or ``renderer_factory`` fixture run
  against the CUDA host emulation (``tests/cudahost``: the unchanged kernels compiled
  by g++, a CPU stand-in for CuPy); other ``gpu``-marked tests skip cleanly.
* OpenGL test modules run in a pytest process of their own (see
  ``test_opengl_isolated.py``): the depth tests import TensorFlow into the test
  process, and TensorFlow and Mesa's OpenGL crash when loaded into one process
  (their LLVMs clash), exactly as in the product, where depth runs in a worker.
"""

import logging
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers package and the CUDA host layer (cudahost)
from helpers.xvfb import xdisplay  # noqa: F401  (session fixture: a virtual X display for window tests)

TESTS = Path(__file__).resolve().parent

#: Test modules that create OpenGL contexts (paths below tests/).
GL_TEST_MODULES = ("apps/test_viewer_gl.py", "apps/test_live_window.py", "apps/test_phone_viewer.py",
                   "apps/test_viewer_faults.py")
#: Set in the child pytest process that runs them.
GL_CHILD_ENV = "DEOCUSED_GL_TEST_PROCESS"


def pytest_ignore_collect(collection_path, config):
    path = Path(collection_path).resolve()
    if not path.is_relative_to(TESTS) or path.relative_to(TESTS).as_posix() not in GL_TEST_MODULES \
            or os.environ.get(GL_CHILD_ENV):
        return None
    named = {Path(a.split("::")[0]).resolve() for a in config.args}
    if path in named:
        return None  # asked for by name: this process runs only what was asked
    return True  # collected by test_opengl_isolated.py in its own process


#: Fixtures that provide a GPU (real, or the host emulation).
GPU_FIXTURES = ("cupy_device", "renderer_factory")


def real_gpu() -> tuple[bool, str]:
    """Whether real CuPy with a CUDA device is usable (checked before any stand-in is in place)."""
    global _REAL_GPU
    if _REAL_GPU is None:
        from deocused.render.backends import gpu_available

        _REAL_GPU = gpu_available()
    return _REAL_GPU


_REAL_GPU = None


def pytest_configure(config):
    real_gpu()
    cache = getattr(config, "cache", None)
    if cache is not None and not os.environ.get("CUDAHOST_BUILD_DIR"):
        # Compiled kernels of the emulation, keyed by source hash (kept between runs).
        os.environ["CUDAHOST_BUILD_DIR"] = str(cache.mkdir("cudahost"))
    from deocused.render.cpu import jit as cpu_jit

    cpu_jit.cold_groups(())  # a Numba cache written from other kernel sources is dropped before any test loads it


def pytest_collection_modifyitems(config, items):
    ok, why = real_gpu()
    if ok:
        return
    import cudahost

    emulation, emu_why = cudahost.available()
    for item in items:
        if "gpu" not in item.keywords:
            continue
        if emulation and any(f in getattr(item, "fixturenames", ()) for f in GPU_FIXTURES):
            continue
        reason = f"GPU test: {why}" + ("" if emulation else f"; {emu_why}")
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def cupy_device():
    """``cupy`` with a usable device: real CuPy where it has one, else the host emulation's
    CPU stand-in, which is ``cupy`` (sys.modules, deocused.render.gpu.backend) only while the test runs."""
    ok, why = real_gpu()
    if ok:
        import cupy

        yield cupy
        return
    import cudahost

    emulation, emu_why = cudahost.available()
    if not emulation:
        pytest.skip(f"{why}; {emu_why}")
    with cudahost.installed() as cp:
        yield cp


def is_emulated(cp) -> bool:
    """Whether ``cp`` is the host emulation rather than CuPy."""
    return bool(getattr(cp, "IS_CUDAHOST", False))


@pytest.fixture(params=["cpu", pytest.param("gpu", marks=pytest.mark.gpu)])
def renderer_factory(request):
    """A callable making a renderer (``Renderer`` options as keywords) of each available backend:
    the CPU, and the GPU (a real device, or the host emulation). ``.device`` names it."""
    emulated = False
    if request.param == "cpu":
        from deocused.render.cpu.backend import CpuRenderer

        make = CpuRenderer
    else:
        emulated = is_emulated(request.getfixturevalue("cupy_device"))
        from deocused.render.gpu.backend import GpuRenderer

        make = GpuRenderer

    def factory(**options):
        return make(**options)

    factory.device = request.param
    factory.emulated = emulated
    return factory


def emulated_subset(factory, value, keep) -> None:
    """On the host-emulated GPU (seconds per launch), run a parametrised case only for the
    values in ``keep``; the CPU and a real GPU run them all."""
    if factory.emulated and value not in keep:
        pytest.skip(f"emulated GPU runs this case for {sorted(keep)} only (a real GPU runs every value)")


@pytest.fixture(autouse=True)
def _engine_logs_propagate():
    """Let caplog see the engine's warnings even after the CLI replaced its handlers."""
    logging.getLogger("deocused").propagate = True
    yield
