"""Peak memory per benchmark size: each size is measured in a fresh child process.

The parent (:func:`measure_size`) starts a Python child running
:func:`deocused.bench.render_bench.child_main`,
sends the size's configuration as JSON on stdin and reads the results as JSON
from the last line of stdout; the child's stderr (log lines) passes through.
A fresh process per size makes the peak resident set size (RSS) that of that
size alone. Sizes are MiB (2**20 bytes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

MARK = "@@bench-result@@ "


def peak_rss_mib() -> float | None:
    """This process's peak resident set size so far (VmHWM; ru_maxrss where /proc is missing), MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return round(kb / (1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0), 1)
    except (ImportError, OSError):
        return None


def measure_size(config: dict, timeout: float | None = None) -> dict:
    """Run one size's benchmark (:func:`deocused.bench.render_bench.run_size`) in a child process.

    Returns its result dict; a child that fails returns ``{"error": reason}``.
    """
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        proc = subprocess.run([sys.executable, "-c", "import sys, deocused.bench.render_bench as m; sys.exit(m.child_main())"],
                              input=json.dumps(config),
                              stdout=subprocess.PIPE, stderr=None, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    why = "out of memory (killed)" if proc.returncode in (-9, 137) else f"child exited with status {proc.returncode}"
    return {"error": why}
