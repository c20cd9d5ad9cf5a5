"""``cupy.cuda`` of the CPU stand-in."""

from .._core import (  # noqa: F401
                     Device,
                     Event,
                     MemoryPointer,
                     OutOfMemoryError,
                     Stream,
                     get_allocator,
                     get_current_stream,
                     get_elapsed_time,
                     set_allocator,
)
from . import memory, runtime  # noqa: F401
