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

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("module", GL_TEST_MODULES)
def test_opengl_module_in_its_own_process(module):
    path = HERE / module
    if not path.exists():
        pytest.skip(f"{module} is not part of this checkout")
    env = dict(os.environ, **{GL_CHILD_ENV: "1"})
    res = subprocess.run([sys.executable, "-m", "pytest", str(path), "-q", "-rfEs", "-p", "no:cacheprovider"],
                         cwd=HERE.parent, env=env, capture_output=True, text=True, timeout=1200)
    print(res.stdout[-6000:], res.stderr[-2000:])
    lines = [line for line in res.stdout.splitlines() if line.strip()]
    assert res.returncode == 0, f"{module}: {lines[-1] if lines else 'no output'}\n" + res.stdout[-4000:]
    assert " passed" in lines[-1]
