"""What the benchmarks ran on: CPU, memory, GPU, library versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import time
from pathlib import Path

import numpy as np


def _version(*dists: str) -> str | None:
    for d in dists:
        try:
            return importlib.metadata.version(d)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 0


def memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def run_context() -> dict:
    """Where and when a bench script ran, the fields its JSON records first: the CPU model, its
    logical cores, Python, the load average at the start (other work beside the run) and the date and
    local time."""
    return {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "loadavg": [round(v, 2) for v in os.getloadavg()], "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def machine_info(gpu: bool) -> dict:
    import cv2

    from .. import __version__

    info = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": {"model": cpu_model(), "logical_cores": os.cpu_count() or 0, "usable_cores": usable_cores(),
                "opencv_threads": int(cv2.getNumThreads())},
        "memory_gib": memory_gib(),
        "gpu": None,
        "versions": {"engine": __version__, "numpy": np.__version__, "opencv": cv2.__version__,
                     "cupy": _version("cupy-cuda12x", "cupy-cuda11x", "cupy"),
                     "matplotlib": _version("matplotlib"), "tensorflow": _version("tensorflow", "tensorflow-cpu")},
    }
    if gpu:
        info["gpu"] = gpu_info()
    return info


def gpu_info() -> dict:
    import cupy

    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props["name"]
    name = name.decode() if isinstance(name, bytes) else str(name)
    drv = None
    try:
        drv = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader", "-i", str(dev.id)],
                             capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    dv, rv = cupy.cuda.runtime.driverGetVersion(), cupy.cuda.runtime.runtimeGetVersion()
    return {"name": name, "driver": drv, "cuda_driver_api": f"{dv // 1000}.{dv % 1000 // 10}",
            "cuda_runtime": f"{rv // 1000}.{rv % 1000 // 10}",
            "compute_capability": f"{props['major']}.{props['minor']}",
            "memory_gib": round(props["totalGlobalMem"] / 2 ** 30, 1)}
