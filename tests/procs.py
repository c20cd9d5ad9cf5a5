"""Process helpers for the fault tests: a process's children from /proc, its depth worker,
/dev/shm segments, busy neighbours."""

import os
import subprocess
import sys
import time
from pathlib import Path


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


def shm_names() -> set[str]:
    return {n for n in os.listdir("/dev/shm") if n.startswith("psm_")}


def busy_processes(n: int) -> list[subprocess.Popen]:
    """``n`` programs that keep a core busy each (a video call, a browser) at our own priority."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop(procs) -> None:
    for p in procs:
        p.kill()
        p.wait()
