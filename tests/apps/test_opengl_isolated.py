"""Runs the OpenGL test modules, each in a pytest process of its own.

TensorFlow (imported by the depth tests into this process) and Mesa's OpenGL
crash when loaded into one process, so windows are only ever opened in a
process that never imported TensorFlow. The child's own summary is printed.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GL_CHILD_ENV, GL_TEST_MODULES

TESTS = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("module", GL_TEST_MODULES)
def test_opengl_module_in_its_own_process(module):
    path = TESTS / module
    if not path.exists():
        pytest.skip(f"{module} is not part of this checkout")
    env = dict(os.environ, **{GL_CHILD_ENV: "1"})
    res = subprocess.run([sys.executable, "-m", "pytest", str(path), "-q", "-rfEs", "-p", "no:cacheprovider"],
                         cwd=TESTS.parent, env=env, capture_output=True, text=True, timeout=1200)
    print(res.stdout[-6000:], res.stderr[-2000:])
    lines = [line for line in res.stdout.splitlines() if line.strip()]
    assert res.returncode == 0, f"{module}: {lines[-1] if lines else 'no output'}\n" + res.stdout[-4000:]
    assert " passed" in lines[-1]


def test_every_module_that_opens_windows_runs_in_its_own_process():
    """A test module that opens OpenGL windows (the viewer, live mode's window, the ``xdisplay`` fixture)
    must be in GL_TEST_MODULES: in the main test process, after the depth tests imported TensorFlow,
    its first window crashes the whole run (a segmentation fault, not a failed test)."""
    markers = ("xdisplay", "Viewer(", "LiveWindow(", "open_window(")
    opens = {p.relative_to(TESTS).as_posix() for p in TESTS.rglob("test_*.py")
             if p.name != Path(__file__).name and any(m in p.read_text() for m in markers)}
    assert opens <= set(GL_TEST_MODULES), f"add to conftest.GL_TEST_MODULES: {sorted(opens - set(GL_TEST_MODULES))}"
