"""Shared test helper: an X display for the viewer tests (Xvfb + Mesa software GL).

Use the ``xdisplay`` fixture (session scope). If ``DISPLAY`` is already set it is
used as is; otherwise, when ``Xvfb`` is installed, a private server is started on
a free display number (``-displayfd`` lets the server pick it, so parallel test
runs do not collide) with a 1280x800x24 screen, and ``DISPLAY`` plus
``LIBGL_ALWAYS_SOFTWARE=1`` are set for the session. Without either, tests that
use the fixture are skipped.

Import it from a test module (there is no conftest for it)::

    (registered in tests/conftest.py)
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time

import pytest

SCREEN = "1280x800x24"


def _start_xvfb(timeout: float = 10.0):
    r, w = os.pipe()
    try:
        proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", SCREEN, "-nolisten", "tcp", "-noreset"],
                                pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        os.close(w)
    buf = b""
    end = time.monotonic() + timeout
    try:
        while not buf.endswith(b"\n") and time.monotonic() < end:
            ready, _, _ = select.select([r], [], [], max(0.0, end - time.monotonic()))
            if not ready:
                break
            chunk = os.read(r, 64)
            if not chunk:
                break
            buf += chunk
    finally:
        os.close(r)
    if not buf.strip().isdigit():
        proc.kill()
        proc.wait()
        return None, None
    return proc, f":{buf.strip().decode()}"


@pytest.fixture(scope="session")
def xdisplay():
    """The X display name to use; starts Xvfb when needed, else skips."""
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "LIBGL_ALWAYS_SOFTWARE")}
    proc = None
    if not os.environ.get("DISPLAY"):
        if shutil.which("Xvfb") is None:
            pytest.skip("no DISPLAY and Xvfb is not installed")
        proc, display = _start_xvfb()
        if proc is None:
            pytest.skip("Xvfb did not start")
        os.environ["DISPLAY"] = display
        os.environ["LIBGL_ALWAYS_SOFTWARE"] = "1"
    try:
        yield os.environ["DISPLAY"]
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
