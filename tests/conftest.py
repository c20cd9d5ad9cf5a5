"""Shared test setup.

* GPU-marked tests skip cleanly without CuPy and a CUDA device.
* OpenGL test modules run in a pytest process of their own (see
  ``test_opengl_isolated.py``): the depth tests import TensorFlow into the test
  process, and TensorFlow and Mesa's OpenGL crash when loaded into one process
  (their LLVMs clash), exactly as in the product, where depth runs in a worker.
"""

import logging
import os
from pathlib import Path

import pytest

#: Test modules that create OpenGL contexts.
GL_TEST_MODULES = ("test_viewer_gl.py", "test_live_window.py")
#: Set in the child pytest process that runs them.
GL_CHILD_ENV = "DEOCUSED_GL_TEST_PROCESS"


def pytest_ignore_collect(collection_path, config):
    if collection_path.name not in GL_TEST_MODULES or os.environ.get(GL_CHILD_ENV):
        return None
    named = {Path(a.split("::")[0]).resolve() for a in config.args}
    if Path(collection_path).resolve() in named:
        return None  # asked for by name: this process runs only what was asked
    return True  # collected by test_opengl_isolated.py in its own process


def pytest_collection_modifyitems(config, items):
    from engine.backends import gpu_available

    ok, why = gpu_available()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"GPU test: {why}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _engine_logs_propagate():
    """Let caplog see the engine's warnings even after the CLI replaced its handlers."""
    logging.getLogger("engine").propagate = True
    yield
