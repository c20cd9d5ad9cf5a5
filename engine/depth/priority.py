"""CPU scheduling of a depth worker that runs in the background of a CPU renderer
(``DepthWorker(background=True)``, live mode): a raised nice level, half the cores."""

from __future__ import annotations

import os

#: Nice level of a background depth worker. Linux gives a nice-10 thread about a tenth of
#: the CPU time of a nice-0 thread that competes for the same core: the renderer keeps
#: most of its frame rate, and the network still progresses when other programs keep
#: every core busy (under SCHED_IDLE or nice 19 it got ~1.5 % of a core there: live
#: mode made no progress for minutes).
BACKGROUND_NICE = 10


def lower_priority() -> None:
    """Raise the nice level of every thread of this process to :data:`BACKGROUND_NICE` (Linux
    nice levels are per thread; threads started later inherit their creator's)."""
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]  # this thread only
    for tid in threads:
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < BACKGROUND_NICE:
                os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
        except (AttributeError, OSError):
            pass


def background_threads() -> int:
    """Threads of a background worker's network: half the cores (at least one); the
    rest are the renderer's."""
    return max(1, (os.cpu_count() or 1) // 2)
