"""``cupy.cuda.runtime`` of the CPU stand-in: one device, reported as an sm_90 part."""

from .._core import TOTAL_MEMORY, CUDARuntimeError  # noqa: F401

is_hip = False


def getDeviceCount() -> int:
    return 1


def getDevice() -> int:
    return 0


def memGetInfo() -> tuple[int, int]:
    """(free, total) bytes: a fixed report (host memory is what the emulation uses)."""
    return (TOTAL_MEMORY - 8 * 2**30, TOTAL_MEMORY)


def driverGetVersion() -> int:
    return 12090


def runtimeGetVersion() -> int:
    return 12090


def getDeviceProperties(device: int) -> dict:
    return {"name": b"cudahost: CPU emulation of an sm_90 device", "totalGlobalMem": TOTAL_MEMORY,
            "major": 9, "minor": 0, "multiProcessorCount": 132, "clockRate": 1_000_000}
