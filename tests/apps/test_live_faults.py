"""`refocus live` when the machine misbehaves: other programs keep every core busy, the depth
worker is killed (the out-of-memory killer sends SIGKILL).

Each case runs the real command in a subprocess (its own process tree, as a user runs it) with
the tiny stand-in network of deocused.bench.standin exported to TFLite.
"""

import os
import signal
import subprocess
import sys
import time

import cv2
import pytest
from helpers.procs import (
    CLI,
    build_tiny_model,
    busy_processes,
    depth_worker_of,
    shm_tagging,
    state,
    stop,
    tagged_segments,
    wait_for_growth,
)
from helpers.procs import cli_env as _env

from deocused.live.synthetic import moving_scene
from deocused.render.backends import make_renderer

W, H = 64, 48

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    out = build_tiny_model(tmp_path_factory.mktemp("faults-model") / "tiny.tflite")
    make_renderer("cpu").warm_up()  # kernels compiled and cached here, not inside the timed runs
    return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    p = tmp_path_factory.mktemp("faults-video") / "clip.avi"
    wr = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*"MJPG"), 30, (W, H))
    assert wr.isOpened()
    for i in range(30):
        wr.write(moving_scene(i, W, H))
    wr.release()
    return p


# ---------------------------------------------------------------- load

@pytest.mark.parametrize("pace", ["--every-frame", "--realtime"])
def test_live_makes_progress_beside_two_busy_processes(tiny_model, clip, tmp_path, pace):
    """Two busy processes on top of the command (the issue's case: with the worker at SCHED_IDLE it made
    no progress in 90 s). Every frame (a file, headless): each frame waits for its own depth, so the
    worker runs at the command's own priority. Real time (a camera, or --realtime): frames never wait
    for depth beyond the first FIRST_DEPTH_WAIT_S, the worker (nice 10) still delivers depth maps.
    Both finish 120 frames (the issue's 300-frame target is measured by hand; here a bound that only
    a starved run misses, also on a slow CI machine)."""
    out = tmp_path / "out.avi"
    busy = busy_processes(2)
    try:
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-c", CLI, "live", "--video", str(clip), "--loop", "--headless",
                            "--frames", "120", "--model-path", str(tiny_model), "--device", "cpu", pace,
                            "-o", str(out)], capture_output=True, text=True, timeout=240, env=_env())
        wall = time.monotonic() - t0
    finally:
        stop(busy)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"wrote {out} (120 frames)" in r.stderr
    assert wall < 150, f"{wall:.0f} s beside two busy processes"  # starved (SCHED_IDLE): no end at all
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 120
    cap.release()


# ---------------------------------------------------------------- worker killed

def test_live_depth_worker_killed_is_restarted_once_then_one_error_line(tiny_model, clip, tmp_path):
    """SIGKILL to the depth worker of a running `refocus live`: one warning line and a new worker (the
    old one reaped: no zombie), frames go on; SIGKILL to the new one: the command stops with exit code 2
    and one `refocus: error:` line naming the signal, no traceback, no process and no /dev/shm segment
    left behind, and the output so far is a finalised, readable video."""
    out = tmp_path / "out.avi"
    tag = f"l{os.getpid()}"
    env = shm_tagging(_env(), tmp_path / "shmtag", tag)
    err_file = open(tmp_path / "stderr.txt", "w")  # a file, not a pipe nobody reads while it runs
    p = subprocess.Popen([sys.executable, "-c", CLI, "live", "--video", str(clip), "--loop", "--headless",
                          "--frames", "1000000", "--model-path", str(tiny_model), "--device", "cpu",
                          "-o", str(out)], stdout=subprocess.DEVNULL, stderr=err_file, text=True, env=env)
    try:
        first = depth_worker_of(p.pid)
        wait_for_growth(out)  # frames flowing
        deadline = time.monotonic() + 30
        while not tagged_segments(tag) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert tagged_segments(tag), "the command's segments cannot be told apart (tagging failed)"
        os.kill(first, signal.SIGKILL)
        second = depth_worker_of(p.pid, other_than=(first,))
        assert state(first) is None, "the killed worker was not reaped (zombie)"
        wait_for_growth(out)  # frames flowing again, with the new worker's depth
        assert p.poll() is None, "a restarted worker must not stop the run"
        os.kill(second, signal.SIGKILL)
        p.wait(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        err_file.close()
    err = (tmp_path / "stderr.txt").read_text()
    assert p.returncode == 2, err[-2000:]
    lines = [s for s in err.splitlines() if s.startswith("refocus:")]
    errors = [s for s in lines if s.startswith("refocus: error:")]
    notices = [s for s in lines if "restarting" in s]
    assert len(errors) == 1 and "SIGKILL" in errors[0] and "depth worker" in errors[0], err[-2000:]
    assert len(notices) == 1 and "SIGKILL" in notices[0]
    assert "Traceback" not in err
    for pid in (first, second):
        assert state(pid) is None, f"process {pid} left behind"
    assert not tagged_segments(tag), "shared memory left in /dev/shm"
    cap = cv2.VideoCapture(str(out))
    ok, frame = cap.read()
    assert ok and frame.shape == (H, W, 3) and cap.get(cv2.CAP_PROP_FRAME_COUNT) > 10
    cap.release()
