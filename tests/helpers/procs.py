"""Process helpers for the fault tests: a process's children from /proc, its depth worker,
/dev/shm segments, busy neighbours."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: ``python -c CLI args...`` runs the refocus command in a child process
CLI = "import sys; from deocused.cli import main; sys.exit(main(sys.argv[1:]))"


def cli_env() -> dict:
    """Environment of a refocus child process: the checkout importable, no GPU, TensorFlow quiet."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": path, "TF_CPP_MIN_LOG_LEVEL": "2"}


def build_tiny_model(out: Path) -> Path:
    """The tiny stand-in depth network (TFLite) built at ``out`` in a child process (TensorFlow stays out of
    the test process)."""
    code = "import sys; from deocused.bench.standin import build_tflite; build_tflite('tiny', sys.argv[1])"
    r = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=300,
                       env=cli_env())
    assert r.returncode == 0 and out.exists(), r.stderr[-2000:]
    return out


def wait_for(cond, timeout: float, what: str) -> None:
    """Poll ``cond()`` every 50 ms until it holds; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def children(pid: int) -> list[int]:
    """Pids of the live child processes of ``pid`` (from /proc)."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(d))
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def state(pid: int) -> str | None:
    """The process state letter (R, S, Z...), None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def depth_worker_of(pid: int, other_than=(), timeout: float = 300.0) -> int:
    """The depth worker (a spawned child that is not the resource tracker) of process ``pid``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in children(pid):
            cl = cmdline(c)
            if c not in other_than and "spawn_main" in cl and "resource_tracker" not in cl and state(c) != "Z":
                return c
        time.sleep(0.1)
    raise AssertionError(f"no depth worker under pid {pid} within {timeout} s")


def wait_for_growth(path: Path, timeout: float = 300.0) -> None:
    """Until the file at ``path`` grows (frames are being written)."""
    size = path.stat().st_size if path.exists() else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > size:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path} did not grow within {timeout} s")


def busy_processes(n: int) -> list[subprocess.Popen]:
    """``n`` programs that keep a core busy each (a video call, a browser) at our own priority."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop(procs) -> None:
    for p in procs:
        p.kill()
        p.wait()


_SITECUSTOMIZE = '''
import os
_tag = os.environ.get("DEOCUSED_TEST_SHM_TAG")
if _tag:
    import secrets
    from multiprocessing import shared_memory as _sm

    _sm._make_filename = lambda: "/psm_" + _tag + "_" + secrets.token_hex(6)
'''


def shm_tagging(env: dict, folder: Path, tag: str) -> dict:
    """``env`` for a command whose processes (spawned children too) name the shared-memory segments
    they create ``psm_TAG_...``, so a test can tell them from other programs' (a ``sitecustomize`` on
    PYTHONPATH replaces CPython's private name maker). Skips the test when that is not there."""
    from multiprocessing import shared_memory

    import pytest

    if not hasattr(shared_memory, "_make_filename"):
        pytest.skip("this Python names shared memory segments differently (no _make_filename)")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    path = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    return {**env, "PYTHONPATH": path, "DEOCUSED_TEST_SHM_TAG": tag}


def tagged_segments(tag: str) -> list[str]:
    """The /dev/shm segments named by a command run with :func:`shm_tagging` ``tag``."""
    return sorted(n for n in os.listdir("/dev/shm") if n.startswith(f"psm_{tag}_"))
