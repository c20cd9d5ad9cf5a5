"""The depth worker process: start, infer, async, errors, restart, no orphans, no TF in the parent."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import conftest_depth as h

from deocused.depth import DepthWorker, DepthWorkerError, estimate_disparity, shutdown
from deocused.depth.worker import DepthWorkerDied
from deocused.errors import InputError

ROOT = Path(__file__).resolve().parents[2]


def _wait_dead(pid, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not h.pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def tflite():
    return h.tflite_file()


@pytest.mark.slow
def test_worker_infers_async_restarts_and_closes(tflite):
    img = h.rng_image(48, 64, seed=2)
    w = DepthWorker(model_path=tflite)
    try:
        d = w.infer(img)
        assert d.shape == (48, 64) and d.dtype == np.float32
        assert d.min() == 0.0 and d.max() == 1.0
        pid = w.pid
        assert pid and pid != os.getpid() and w.input_size == (h.SIZE, h.SIZE)
        assert set(w.last_timing) == {"preprocess_s", "network_s", "postprocess_s"}

        # the worker runs the real network: same as running the file here, up to the upsampling
        from deocused.depth import loaders
        from deocused.depth.processing import postprocess, preprocess
        from deocused.depth.registry import spec_for_file

        spec = spec_for_file(tflite)
        ref = postprocess(loaders.load(tflite, spec)(preprocess(img, spec, (h.SIZE, h.SIZE))), spec, img)
        np.testing.assert_allclose(d, ref, atol=1e-5)

        # async: two requests in flight, answered in order
        w.submit(img)
        w.submit(img[::-1].copy())
        a, b = w.result(timeout=60), w.result(timeout=60)
        np.testing.assert_allclose(a, d, atol=1e-6)
        assert not np.allclose(a, b)
        with pytest.raises(RuntimeError):
            w.result()

        # killed: the next call restarts it
        os.kill(pid, signal.SIGKILL)
        assert _wait_dead(pid)
        d2 = w.infer(img)
        np.testing.assert_allclose(d2, d, atol=1e-6)
        assert w.pid != pid and w.restarts == 1

        # killed with a request in flight, again: restarted once only, so now an error that names the
        # signal; every segment freed, the process reaped; later calls give the same error
        pid = w.pid
        os.kill(pid, signal.SIGSTOP)  # stopped: the request below stays in flight until the kill
        w.submit(img)
        segments = {s.name.lstrip("/") for req in w._pending for s in req[1:3]}
        assert segments <= set(os.listdir("/dev/shm"))
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(DepthWorkerDied, match=r"killed by SIGKILL \(signal 9\) again after 1 restart"):
            w.result(timeout=120)
        assert w.pid is None and not w._pending
        assert not segments & set(os.listdir("/dev/shm")), "the request's shared memory was not freed"
        with pytest.raises(DepthWorkerDied):
            w.infer(img)
    finally:
        w.close()
    assert _wait_dead(pid, 5.0), "worker still running after close()"
    w.close()  # idempotent


@pytest.mark.slow
def test_broken_model_error_is_clean_exception(tmp_path):
    bad = tmp_path / "broken.pb"
    bad.write_bytes(h.broken_model_file().read_bytes())
    with DepthWorker(model_path=bad) as w:
        with pytest.raises(InputError) as ei:
            w.infer(h.rng_image())
        assert "broken.pb" in str(ei.value) and "\n" not in str(ei.value)
        assert w.pid is None  # no worker left running


@pytest.mark.slow
def test_no_tensorflow_in_parent_and_worker_dies_with_parent(tflite, tmp_path):
    """A parent that imports deocused.depth and runs inference never imports TensorFlow;
    when that parent is killed, its worker goes away too."""
    script = textwrap.dedent(f"""
        import sys, numpy as np
        sys.path.insert(0, {str(ROOT)!r})
        import deocused.depth as depth
        assert "tensorflow" not in sys.modules
        img = np.random.default_rng(0).random((40, 30, 3), dtype=np.float32)
        d = depth.estimate_disparity(img, model_path={str(tflite)!r})
        assert d.shape == (40, 30) and d.dtype == np.float32
        w = depth.DepthWorker(model_path={str(tflite)!r})
        w.submit(img); w.result()
        print("TF", "tensorflow" in sys.modules, "keras" in sys.modules, flush=True)
        print("PID", w.pid, flush=True)
        sys.stdin.read()  # wait to be killed
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=tmp_path)
    try:
        lines = []
        while len(lines) < 2:
            line = proc.stdout.readline()
            assert line, f"parent script failed (rc {proc.poll()})"
            lines.append(line.split())
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
    assert lines[0] == ["TF", "False", "False"]
    pid = int(lines[1][1])
    assert _wait_dead(pid, 10.0), "worker outlived its killed parent"


@pytest.mark.slow
def test_estimate_disparity_shared_worker(tflite):
    try:
        img = h.rng_image(20, 24, seed=9)
        d1 = estimate_disparity(img, model_path=str(tflite))
        d2 = estimate_disparity(img, model_path=str(tflite))
        assert d1.shape == (20, 24)
        np.testing.assert_array_equal(d1, d2)
    finally:
        shutdown()


def test_bad_image_shape_rejected_before_worker_starts(tflite):
    w = DepthWorker(model_path=tflite)
    with pytest.raises(ValueError):
        w.submit(np.zeros((10, 10), np.float32))
    assert w.pid is None
    w.close()
    assert isinstance(DepthWorkerError("x"), Exception)


def test_worker_that_exits_while_loading_reports_its_exit_code(tflite, tmp_path):
    """A worker process that dies before it is ready (here: a script without a
    ``__main__`` guard, which the spawned child re-runs and which then refuses to
    start a second worker) gives a DepthWorkerError naming the exit code, not an
    internal error about a closed process."""
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from deocused.depth import DepthWorker, DepthWorkerError
        try:
            DepthWorker(model_path={str(tflite)!r}).start()
        except DepthWorkerError as e:
            print("ERROR", e, flush=True)
    """))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "ERROR depth worker exited with code 1 while loading" in r.stdout, r.stdout + r.stderr
    assert "process object is closed" not in r.stderr


@pytest.mark.slow
def test_result_never_waits_past_its_timeout(tflite):
    """result(timeout=t) with the answer not there yet waits at most t (the live loop
    polls with t = 0 every frame; it used to wait 50 ms each time)."""
    img = h.rng_image(48, 64, seed=3)
    w = DepthWorker(model_path=tflite)
    try:
        w.start()
        waits = []

        class Slow:  # the worker's pipe, with an answer that is never ready
            def __init__(self, conn):
                self.conn = conn

            def poll(self, t=0.0):
                waits.append(t)
                return False

            def __getattr__(self, name):
                return getattr(self.conn, name)

        w.submit(img)
        real, w._conn = w._conn, Slow(w._conn)
        for t in (0.0, 0.02):
            with pytest.raises(TimeoutError):
                w.result(timeout=t)
            assert waits and max(waits) <= t, waits
            waits.clear()
        w._conn = real
        assert w.result(timeout=60).shape == (48, 64)
    finally:
        w.close()


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "sched_getscheduler"), reason="Linux scheduling policies")
def test_background_worker_runs_at_a_nice_level_and_gives_the_same_depth(tflite):
    """background=True (live mode on the CPU renderer): the worker process runs at nice
    BACKGROUND_NICE under the normal policy (not SCHED_IDLE, which starves it on a busy
    machine), with half the cores for the network; its depth maps are those of a normal worker."""
    from deocused.depth.priority import BACKGROUND_NICE

    img = h.rng_image(48, 64, seed=4)
    base = os.getpriority(os.PRIO_PROCESS, 0)
    with DepthWorker(model_path=tflite) as normal, DepthWorker(model_path=tflite, background=True) as bg:
        ref, d = normal.infer(img), bg.infer(img)
        assert os.sched_getscheduler(bg.pid) == os.SCHED_OTHER
        assert os.getpriority(os.PRIO_PROCESS, bg.pid) == max(base, BACKGROUND_NICE)
        for tid in os.listdir(f"/proc/{bg.pid}/task"):  # every thread: the network's pool threads too
            assert os.getpriority(os.PRIO_PROCESS, int(tid)) == max(base, BACKGROUND_NICE), tid
        assert os.getpriority(os.PRIO_PROCESS, normal.pid) == base
    np.testing.assert_allclose(d, ref, atol=1e-5)
