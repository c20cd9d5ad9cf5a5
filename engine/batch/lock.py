"""One batch per output folder: a lock file that names the run holding it.

``DIR/.refocus-batch.lock`` is created exclusively (``O_EXCL``) and holds the
pid of the ``refocus batch`` writing into ``DIR``. A second run finds it and
is refused with that pid, unless no such process runs any more (the holder was
killed): then the lock is stale and is taken over.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path

from ..errors import InputError

log = logging.getLogger("deocused")

LOCK_NAME = ".refocus-batch.lock"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (an exited process nobody reaped yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, someone else's
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True  # no /proc: trust kill()


def _holder(path: Path) -> int | None:
    """The pid written in the lock file, None when unreadable (being written, or garbage)."""
    try:
        return int(json.loads(path.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextlib.contextmanager
def folder_lock(folder: Path):
    """Hold the batch lock of ``folder`` (created if needed) for the ``with`` block; an
    :class:`~deocused.errors.InputError` when another live run holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            pid = _holder(path)
            if pid is not None and _alive(pid):
                raise InputError(f"{folder}: another refocus batch (pid {pid}) is writing into this folder; "
                                 f"wait for it to finish or choose another --output-dir") from None
            if pid is None and _young(path):
                raise InputError(f"{folder}: another refocus batch is starting in this folder ({path} "
                                 "is being written); choose another --output-dir") from None
            log.warning("%s: removing the stale lock of a batch that is no longer running (pid %s)", folder, pid)
            _take_away(path)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid()}, f)
        break
    else:
        raise InputError(f"{folder}: cannot take the batch lock {path}; remove it if no batch is running")
    try:
        yield path
    finally:
        if _holder(path) == os.getpid():
            with contextlib.suppress(OSError):
                path.unlink()


def _young(path: Path, seconds: float = 5.0) -> bool:
    """Whether ``path`` was modified in the last ``seconds`` (a lock still being written)."""
    import time

    try:
        return time.time() - path.stat().st_mtime < seconds
    except OSError:
        return False


def _take_away(path: Path) -> None:
    """Move a stale lock aside and delete it (a rename: of two runs taking it over, one wins)."""
    aside = path.with_name(f"{path.name}.stale{os.getpid()}")
    with contextlib.suppress(OSError):
        os.replace(path, aside)
        aside.unlink()
