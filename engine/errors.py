"""User-facing errors.

Everything the user can cause (a bad file, a missing model, no display, no GPU)
is raised as a :class:`RefocusError` whose message is one line that says what
went wrong and what to do. The CLI prints that line and exits non-zero; it
never shows a traceback for these.
"""

from __future__ import annotations

import errno

#: errno values of a full disk: no space, quota exceeded, file size limit (RLIMIT_FSIZE).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class RefocusError(Exception):
    """An error caused by input or environment, with a one-line message for the user."""

    exit_code = 2


class InputError(RefocusError):
    """An input file (image, depth map, model) is missing, unreadable or malformed."""


class DiskFullError(RefocusError):
    """An output could not be written: no space left on the disk, or the file size limit reached.
    Every later write would fail alike, so a batch stops at it (``stops_run``)."""

    stops_run = True

    @classmethod
    def of(cls, path, e: BaseException) -> DiskFullError | None:
        """The error for ``path`` if ``e`` is an OSError of a full disk (no space, quota, file size limit:
        :data:`DISK_FULL_ERRNOS`), else None."""
        if isinstance(e, OSError) and e.errno in DISK_FULL_ERRNOS:
            return cls(f"{path}: cannot write: {e.strerror or e}; nothing was written (free some space)")
        return None


class DeviceError(RefocusError):
    """The requested compute device is unavailable or ran out of memory."""

    exit_code = 3


class GpuMemoryError(DeviceError):
    """The GPU ran out of memory for this image (the renderer has freed what it took)."""


class NotPreparedError(InputError, RuntimeError):
    """``render()`` called on a renderer that holds no prepared photo (call ``prepare()`` first).
    Also a RuntimeError, as it was before it had its own class."""


def check_float_array(a, what: str, shape: str) -> None:
    """Raise :class:`InputError` unless ``a`` is an array (NumPy, CuPy or a nested sequence) of
    floats: integer codes (uint8, uint16 ...) are not taken as values in [0, 1], booleans,
    complex numbers and objects are refused. ``what`` names the array and ``shape`` its
    expected shape in the message (e.g. ``"image", "(H, W, 3)"``)."""
    dtype = getattr(a, "dtype", None)
    if dtype is None or not hasattr(a, "shape"):
        import numpy as np

        try:
            dtype = np.asarray(a).dtype
        except (TypeError, ValueError):  # ragged sequences
            dtype = np.dtype(object)
    if dtype.kind == "f":
        return
    if dtype.kind == "u":
        raise InputError(f"{what} is {dtype.name}: the API takes floats in [0, 1], not integer codes "
                         f"(divide by {(1 << 8 * dtype.itemsize) - 1}.0 first); shape {shape}")
    raise InputError(f"{what} must be a float array of shape {shape}, got {dtype.name} values")
