"""A ``depth_fn(image_srgb) -> disparity`` behind the DepthWorker's submit/result
interface, run on one helper thread (tests and experiments use it in live mode)."""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor


class ThreadDepth:
    """``depth_fn`` behind the DepthWorker's submit/result interface (one helper thread)."""

    def __init__(self, fn):
        self.fn = fn
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="refocus-depth")
        self._pending: deque = deque()
        self.last_timing = None

    def submit(self, image):
        self._pending.append(self._pool.submit(self._timed, image))

    def _timed(self, image):
        t = time.perf_counter()
        d = self.fn(image)
        return d, time.perf_counter() - t

    def result(self, timeout=None):
        import concurrent.futures

        fut = self._pending[0]
        try:
            d, s = fut.result(timeout)
        except concurrent.futures.TimeoutError:  # not the builtin before Python 3.11
            raise TimeoutError("depth not ready") from None
        except Exception:
            self._pending.popleft()
            raise
        self._pending.popleft()
        self.last_timing = {"network_s": s}
        return d

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)
