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
