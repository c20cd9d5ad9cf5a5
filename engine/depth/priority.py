"""CPU scheduling of a depth worker that runs in the background of a CPU renderer
(``DepthWorker(background=True)``, live mode): lowest priority, half the cores."""

from __future__ import annotations

import os


def lower_priority() -> None:
    """This process (and the threads it starts) runs only on CPU time nothing else
    wants: Linux SCHED_IDLE, else the lowest nice level."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):
        pass
    try:
        os.nice(19)
    except (AttributeError, OSError):
        pass


def background_threads() -> int:
    """Threads of a background worker's network: half the cores (at least one); the
    rest are the renderer's."""
    return max(1, (os.cpu_count() or 1) // 2)
