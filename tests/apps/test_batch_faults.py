"""`refocus batch` when things go wrong under it: the depth worker is killed (the out-of-memory
killer sends SIGKILL). Runs the real command in a subprocess, with the tiny stand-in network."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest
from helpers.procs import CLI, build_tiny_model, depth_worker_of, shm_tagging, state, tagged_segments, wait_for
from helpers.procs import cli_env as _env

from deocused.live.synthetic import moving_scene


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("batch-faults-model") / "tiny.tflite")


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
    tag = f"b{os.getpid()}"
    env = shm_tagging(_env(), tmp_path / "shmtag", tag)
    seen = []
    err_path = tmp_path / "stderr.txt"
    args = [sys.executable, "-c", CLI, "batch", str(src), "-o", str(out), "--workers", "1", "--model-path",
            str(tiny_model), "--device", "cpu", "--no-progress"]
    with open(err_path, "w") as err_file:
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err_file, env=env)
        try:
            batch_worker = depth_worker_of(p.pid)  # the pool's worker process ...
            first = depth_worker_of(batch_worker)  # ... and the depth worker it owns
            def watch():  # the command's own segments show up while an item's depth is computed
                while p.poll() is None and not any(seen):
                    seen.append(bool(tagged_segments(tag)))
                    time.sleep(0.002)

            threading.Thread(target=watch, daemon=True).start()
            wait_for(lambda: any(out.glob("p*.png")), 300, "the first output")
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
    assert any(seen), "the batch's segments cannot be told apart (tagging failed)"
    assert not tagged_segments(tag), "shared memory left in /dev/shm"
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


# ---------------------------------------------------------------- disk full

FSIZE_LIMIT = 30_000  # bytes: a noisy 160x120 PNG is larger, a flat one and the report are smaller


def _limited_fsize():
    """Child side of Popen: files this process tree writes may not exceed FSIZE_LIMIT bytes (writes
    past it fail with EFBIG, as on a full disk; Python ignores SIGXFSZ)."""
    import resource

    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def _photo_set(src: Path, n: int, noisy: set[int]) -> None:
    """``n`` 160x120 photos with a depth sidecar; those in ``noisy`` encode to large PNGs (~58 KB)."""
    import numpy as np

    src.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        if i in noisy:
            img = rng.integers(0, 256, (120, 160, 3), np.uint8)
        else:  # two flat halves: a PNG of ~1 KB, blurred or not
            img = np.zeros((120, 160, 3), np.uint8)
            img[:, :80], img[:, 80:] = (200, 80, 40 + i), (30, 90, 200)
        cv2.imwrite(str(src / f"p{i:02d}.png"), img)
        np.save(src / f"p{i:02d}.depth.npy", np.tile(np.linspace(0.1, 0.9, 160, dtype=np.float32), (120, 1)))


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp" in p.name]


@pytest.mark.slow
def test_batch_disk_full_stops_with_one_line_and_resume_redoes_what_is_missing(tmp_path):
    """A file size limit makes the write of item 3 fail with EFBIG (a full disk): the batch stops there
    with one `refocus: error:` line naming the file and the cause; no partial or temp file is left; the
    report is valid JSON and lists items 0-2 done and item 3 failed; `--resume` with space again does
    exactly the items without an output and leaves the others untouched."""
    src, out = tmp_path / "in", tmp_path / "out"
    n = 8
    _photo_set(src, n, noisy={3})
    args = [sys.executable, "-c", CLI, "batch", str(src), "-o", str(out), "--workers", "1", "--device", "cpu",
            "--focus-disparity", "0.2", "--no-progress"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=600, env=_env(), preexec_fn=_limited_fsize)
    assert r.returncode == 1, r.stderr[-2000:]
    errors = [s for s in r.stderr.splitlines() if s.startswith("refocus: error:")]
    assert len(errors) == 1 and "p03.png" in errors[0] and "File too large" in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    assert _no_temp_files(out)
    written = {p.name for p in out.glob("*.png")}  # the item in flight beside p03 (p04) may finish too
    assert {"p00.png", "p01.png", "p02.png"} <= written <= {"p00.png", "p01.png", "p02.png", "p04.png"}
    report = json.loads((out / "batch-report.json").read_text())
    status = {Path(e["input"]).name: e["status"] for e in report["items"]}
    assert [status[f"p{i:02d}.png"] for i in range(4)] == ["ok", "ok", "ok", "failed"]
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}

    r = subprocess.run(args + ["--resume"], capture_output=True, text=True, timeout=600, env=_env())
    assert r.returncode == 0, r.stderr[-2000:]
    report = json.loads((out / "batch-report.json").read_text())
    redone = sorted(Path(e["input"]).name for e in report["items"] if not e.get("skipped"))
    assert redone == sorted({f"p{i:02d}.png" for i in range(n)} - written)
    assert all(e["status"] == "ok" for e in report["items"]) and len(list(out.glob("*.png"))) == n
    assert {p: t for p, t in ((q.name, q.stat().st_mtime_ns) for q in out.glob("*.png")) if p in before} == before


def test_report_that_cannot_be_saved_keeps_the_previous_one(tmp_path):
    """Report.save on a full disk (a file size limit smaller than the new report, in a child process):
    one DiskFullError naming the report, the previous report intact, no temp file."""
    script = f"""
import json, resource, sys
from pathlib import Path
from deocused.batch.report import Report
from deocused.errors import DiskFullError
out = Path({str(tmp_path)!r})
class J:
    def __init__(self, k): self.key, self.outputs = k, [str(out / (k + ".png"))]
    def fingerprint(self): return "f" * 16
Report(out, [J("a")]).save(final=True)
old = (out / "batch-report.json").read_text()
big = Report(out, [J(f"item{{i:04d}}") for i in range(200)])
resource.setrlimit(resource.RLIMIT_FSIZE, (len(old) + 100, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
try:
    big.save(final=True)
except DiskFullError as e:
    print("ERROR", e)
assert (out / "batch-report.json").read_text() == old
json.loads(old)
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=_env())
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith("ERROR ") and "batch-report.json: cannot write: File too large" in r.stdout
    assert _no_temp_files(tmp_path)


@pytest.mark.slow
def test_render_disk_full_leaves_no_file(tmp_path):
    """`refocus render` whose output write fails (file size limit): one error line, exit 2, and neither
    the output nor a temp file exists; an existing output (with --overwrite) is left as it was."""
    src = tmp_path / "in"
    _photo_set(src, 1, noisy={0})
    out = tmp_path / "out.png"
    args = [sys.executable, "-c", CLI, "render", str(src / "p00.png"), "--focus-disparity", "0.2", "-o", str(out)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=300, env=_env(), preexec_fn=_limited_fsize)
    assert r.returncode == 2, r.stderr
    errors = [s for s in r.stderr.splitlines() if s.startswith("refocus: error:")]
    assert len(errors) == 1 and "out.png: cannot write: File too large" in errors[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not out.exists() and _no_temp_files(tmp_path)
    out.write_bytes(b"earlier result")
    r = subprocess.run(args + ["--overwrite"], capture_output=True, text=True, timeout=300, env=_env(),
                       preexec_fn=_limited_fsize)
    assert r.returncode == 2 and out.read_bytes() == b"earlier result" and _no_temp_files(tmp_path)


@pytest.mark.slow
def test_batch_video_disk_full_leaves_no_file_and_stops(tmp_path):
    """A clip whose refocused video cannot be written whole (file size limit: EFBIG, as on a full disk):
    one `refocus: error:` line naming the output and the cause, the batch stops (exit 1), and neither the
    output nor its temp file is left; the report stays valid JSON and says the item failed."""
    pytest.importorskip("av")
    import numpy as np
    from helpers.videoclips import make_clip

    src = tmp_path / "clip.mp4"
    make_clip(src, n=48, size=(160, 120))
    np.save(tmp_path / "clip.depth.npy", np.tile(np.linspace(0, 1, 160, dtype=np.float32), (48, 120, 1)))
    args = [sys.executable, "-c", CLI, "batch", str(src), "--focus-disparity", "0.2", "-K", "6", "--device", "cpu",
            "--workers", "1", "--video-parts", "1", "--no-progress"]
    free = subprocess.run(args + ["-o", str(tmp_path / "free")], capture_output=True, text=True, timeout=300,
                          env=_env())  # also warms the kernel cache, so the limited run writes only its outputs
    assert free.returncode == 0, free.stderr[-2000:]
    size = (tmp_path / "free" / "clip.mp4").stat().st_size
    if size <= FSIZE_LIMIT:
        pytest.skip(f"the refocused clip ({size} bytes) fits the {FSIZE_LIMIT}-byte limit")
    out = tmp_path / "out"
    r = subprocess.run(args + ["-o", str(out)], capture_output=True, text=True, timeout=300, env=_env(),
                       preexec_fn=_limited_fsize)
    assert r.returncode == 1, r.stderr[-2000:]
    errors = [s for s in r.stderr.splitlines() if s.startswith("refocus: error:")]
    assert len(errors) == 1 and "cannot write: File too large" in errors[0] and "clip.mp4" in errors[0], r.stderr
    assert "the batch stopped at this error" in r.stderr and "Traceback" not in r.stderr
    assert not (out / "clip.mp4").exists() and _no_temp_files(out)
    report = json.loads((out / "batch-report.json").read_text())
    assert [e["status"] for e in report["items"]] == ["failed"]


# ---------------------------------------------------------------- two runs at once

def test_second_batch_into_a_folder_in_use_is_refused_and_stale_locks_are_taken_over(tmp_path, capsys):
    """A batch holds DIR's lock (here: this test process, alive): a second `refocus batch -o DIR` is refused
    with one error line naming the holder's pid and writes nothing. A lock left by a process that no longer
    runs is stale: the batch takes it over (a warning), runs, and removes it at the end."""
    from deocused.batch.lock import LOCK_NAME, folder_lock
    from deocused.cli import main

    src, out = tmp_path / "in", tmp_path / "out"
    _photo_set(src, 2, noisy=set())
    argv = ["batch", str(src), "-o", str(out), "--workers", "1", "--device", "cpu", "--focus-disparity", "0.2",
            "--no-progress"]
    with folder_lock(out):
        assert main(argv) == 2
        err = capsys.readouterr().err
        errors = [s for s in err.splitlines() if s.startswith("refocus: error:")]
        assert len(errors) == 1 and f"another refocus batch (pid {os.getpid()})" in errors[0], err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    assert not (out / LOCK_NAME).exists()

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (out / LOCK_NAME).write_text(json.dumps({"pid": gone.pid}))
    assert main(argv) == 0
    assert "stale lock" in capsys.readouterr().err
    assert not (out / LOCK_NAME).exists() and sorted(p.name for p in out.glob("*.png")) == ["p00.png", "p01.png"]


@pytest.mark.slow
def test_two_renders_overwriting_one_output_leave_one_complete_file(tmp_path):
    """Two `refocus render --overwrite` at once into the same file (different focus, so their results
    differ): both succeed, and the file is exactly one of the two results -- never a mix or a torn
    write -- with no temp file left."""
    src = tmp_path / "in"
    _photo_set(src, 1, noisy={0})
    out = tmp_path / "out.png"
    refs = []
    for focus in ("0.1", "0.9"):
        ref = tmp_path / f"ref{focus}.png"
        r = subprocess.run([sys.executable, "-c", CLI, "-q", "render", str(src / "p00.png"), "--focus-disparity",
                            focus, "-o", str(ref)], capture_output=True, text=True, timeout=300, env=_env())
        assert r.returncode == 0, r.stderr
        refs.append(ref.read_bytes())
    assert refs[0] != refs[1]
    for _ in range(3):
        procs = [subprocess.Popen([sys.executable, "-c", CLI, "-q", "render", str(src / "p00.png"),
                                   "--focus-disparity", focus, "-o", str(out), "--overwrite"],
                                  stderr=subprocess.PIPE, text=True, env=_env()) for focus in ("0.1", "0.9")]
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
        assert out.read_bytes() in refs
        assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
