"""`refocus batch` when things go wrong under it: the depth worker is killed (the out-of-memory
killer sends SIGKILL). Runs the real command in a subprocess, with the tiny stand-in network."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from procs import depth_worker_of, shm_names, state

from deocused.live.synthetic import moving_scene

ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from deocused.cli import main; sys.exit(main(sys.argv[1:]))"


def _env() -> dict:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("batch-faults-model") / "tiny.tflite"
    code = "import sys; from deocused.bench.standin import build_tflite; build_tflite('tiny', sys.argv[1])"
    r = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=300,
                       env=_env())
    assert r.returncode == 0 and out.exists(), r.stderr[-2000:]
    return out


def _wait_for(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


@pytest.mark.slow
def test_batch_depth_worker_killed_restarted_once_then_one_error_and_resume(tiny_model, tmp_path):
    """Photos without depth (the network makes it). SIGKILL to the depth worker after the first item:
    one warning line, a new worker. SIGKILL to that one while it loads: the batch stops with exit code 1
    and one `refocus: error:` line naming the signal; the report is valid JSON; no process or /dev/shm
    segment is left. `--resume` then does exactly the items not done, and every output exists."""
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    n = 40
    for i in range(n):
        cv2.imwrite(str(src / f"p{i:02d}.png"), moving_scene(i, 160, 120))
    shm_before = shm_names()
    err_path = tmp_path / "stderr.txt"
    args = [sys.executable, "-c", CLI, "batch", str(src), "-o", str(out), "--workers", "1", "--model-path",
            str(tiny_model), "--device", "cpu", "--no-progress"]
    with open(err_path, "w") as err_file:
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err_file, env=_env())
        try:
            batch_worker = depth_worker_of(p.pid)  # the pool's worker process ...
            first = depth_worker_of(batch_worker)  # ... and the depth worker it owns
            _wait_for(lambda: any(out.glob("p*.png")), 300, "the first output")
            os.kill(first, signal.SIGKILL)
            second = depth_worker_of(batch_worker, other_than=(first,))
            os.kill(second, signal.SIGKILL)
            p.wait(timeout=300)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    err = err_path.read_text()
    assert p.returncode == 1, err[-2000:]
    errors = [s for s in err.splitlines() if s.startswith("refocus: error:")]
    assert len(errors) == 1 and "SIGKILL" in errors[0] and "depth worker" in errors[0], err[-2000:]
    assert len([s for s in err.splitlines() if "restarting it" in s]) == 1, err[-2000:]
    assert "Traceback" not in err
    for pid in (first, second, batch_worker):
        assert state(pid) is None, f"process {pid} left behind"
    assert shm_names() <= shm_before, "shared memory left in /dev/shm"
    report = json.loads((out / "batch-report.json").read_text())
    status = {Path(e["input"]).name: e["status"] for e in report["items"]}
    done = {k for k, v in status.items() if v == "ok"}
    assert [v for v in status.values() if v == "failed"] == ["failed"]
    assert 1 <= len(done) < n
    assert {p.name for p in out.glob("*.png")} == done  # every output listed as done exists, no other
    assert not list(out.glob(".*tmp*")), "a temp file left behind"

    r = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=600, env=_env())
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((out / "batch-report.json").read_text())
    redone = {Path(e["input"]).name for e in report["items"] if not e.get("skipped")}
    assert redone == {f"p{i:02d}.png" for i in range(n)} - done
    assert all(e["status"] == "ok" for e in report["items"])
    assert len(list(out.glob("p*.png"))) == n
