"""``cupy.cuda.memory`` of the CPU stand-in."""

from .._core import MemoryPointer, OutOfMemoryError  # noqa: F401
