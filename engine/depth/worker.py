"""Depth inference in a separate, spawned worker process.

TensorFlow must never be imported by the renderer or an OpenGL process (its
bundled LLVM clashes with Mesa's), so :class:`DepthWorker` runs the network in a
child started with the multiprocessing ``spawn`` method; only the child
imports TensorFlow. Images and results travel through shared memory (float32
sRGB RGB (H, W, 3) in [0, 1] in, float32 disparity (H, W) in [0, 1] out,
1 = nearest); a pipe carries small control messages.

Errors in the child come back as exceptions in the caller (:class:`InputError`
for a bad model file, :class:`DepthWorkerError` otherwise). If the child dies
(the out-of-memory killer, a crash in the network), the next call restarts it
once, with a one-line warning, and resends the pending requests; a second death
raises :class:`DepthWorkerDied` naming the exit signal or code, frees every
shared-memory segment and leaves no process behind. The child exits when its parent goes
away (pipe closed, or parent pid changed) and is a daemon process, so it is
also terminated at normal interpreter exit.
"""

from __future__ import annotations

import collections
import itertools
import logging
import multiprocessing as mp
import os
import threading
import time
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from ..errors import DeviceError, InputError, RefocusError
from .child import worker_main

log = logging.getLogger("deocused")

START_TIMEOUT_S = 300.0
#: Restarts of a worker that died before it is given up (DepthWorkerDied).
MAX_RESTARTS = 1
_ERROR_CLASSES = {"InputError": InputError, "RefocusError": RefocusError, "DeviceError": DeviceError}


class DepthWorkerError(RefocusError):
    """The depth network failed in the worker process (message is one line)."""

    def __init__(self, message: str, remote_traceback: str | None = None):
        super().__init__(message)
        self.remote_traceback = remote_traceback


class DepthWorkerDied(DepthWorkerError):
    """The worker process died more often than it may be restarted: no more depth from this worker."""

    stops_run = True  # a batch stops here (every later item would fail alike)


def describe_exit(code: int | None) -> str:
    """A process exit code as words: "was killed by SIGKILL (signal 9)", "exited with code 1"."""
    if code is None:
        return "exited (status unknown)"
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "an unknown signal"
        return f"was killed by {name} (signal {-code})"
    return f"exited with code {code}"


# ---------------------------------------------------------------- parent side

class _WorkerDied(Exception):
    pass


def _raise_remote(packed) -> None:
    name, msg, tb = packed
    cls = _ERROR_CLASSES.get(name)
    if cls is not None:
        raise cls(msg)
    raise DepthWorkerError(f"depth worker: {name}: {msg}", tb)


class DepthWorker:
    """Client of a depth worker process (lazy start; context manager).

    ``DepthWorker(model=None, model_path=None)`` picks the model like the
    ``--model``/``--model-path`` options (downloading it if needed, in this
    process). ``infer(image)`` returns float32 disparity (H, W) in [0, 1],
    1 = nearest, for a float32 sRGB RGB image (H, W, 3) in [0, 1];
    ``submit(image)`` + ``result()`` do the same asynchronously (requests are
    answered in submission order). ``guided=False`` skips edge-aware
    upsampling (plain bilinear). ``background=True``: the worker loads its model at the
    command's priority, then runs at nice :data:`~deocused.depth.priority.BACKGROUND_NICE` with
    :func:`~deocused.depth.priority.background_threads` threads, so a renderer on the
    same CPU keeps most of its frame rate and the depth maps still come on a busy
    machine (live mode with the CPU renderer).
    """

    def __init__(self, model: str | None = None, model_path: str | os.PathLike | None = None, *,
                 guided: bool = True, start_timeout: float = START_TIMEOUT_S, progress: bool = True,
                 background: bool = False, max_restarts: int = MAX_RESTARTS):
        from .download import resolve

        self.spec, self.path = resolve(model, model_path, progress=progress)
        self.guided = guided
        self.background = bool(background)
        self.start_timeout = start_timeout
        self.description = None
        self.input_size = None
        self.gpu = None
        self.last_timing: dict | None = None
        self.restarts = 0
        self.max_restarts = int(max_restarts)
        self._died: DepthWorkerDied | None = None  # set when the worker was given up
        self._proc = None
        self._conn = None
        self._pending: collections.deque = collections.deque()
        self._ids = itertools.count()
        self._lock = threading.RLock()
        self._closed = False

    # -- process management
    @property
    def pid(self) -> int | None:
        """Pid of the worker process, None when not running."""
        return self._proc.pid if self._proc is not None and self._proc.is_alive() else None

    def start(self) -> DepthWorker:
        """Start the worker (if not running) and wait until the model is loaded."""
        with self._lock:
            if self._closed:
                raise RuntimeError("DepthWorker is closed")
            if self._died is not None:
                raise self._died
            if self._proc is not None and self._proc.is_alive():
                return self
            if self._proc is not None:  # died since the last call: restart, resend what is pending
                self._restart()
            else:
                self._spawn()
            return self

    def _spawn(self) -> None:
        from ..extras import require

        require("depth", "the depth network (no depth file given)")
        ctx = mp.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        proc = ctx.Process(target=worker_main, name="deocused-depth", daemon=True,
                           args=(child_conn, self.spec.to_dict(), str(self.path), os.getpid(), self.background))
        proc.start()
        child_conn.close()
        self._proc, self._conn = proc, parent_conn
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                ready = parent_conn.poll(0.1)
            except (EOFError, OSError):
                ready = True
            if ready:
                try:
                    msg = parent_conn.recv()
                except (EOFError, OSError):
                    code = self._reap()
                    raise DepthWorkerError(f"depth worker {describe_exit(code)} while loading "
                                           f"{self.path.name}") from None
                break
            if not proc.is_alive():
                code = self._reap()
                raise DepthWorkerError(f"depth worker {describe_exit(code)} while loading {self.path.name}")
            if time.monotonic() > deadline:
                self._reap()
                raise DepthWorkerError(f"depth worker did not load {self.path.name} "
                                       f"within {self.start_timeout:.0f} s")
        if msg[0] == "error":
            self._reap()
            _raise_remote(msg[2])
        _, self.description, size, self.gpu = msg
        self.input_size = tuple(size)
        log.info("depth worker %d: %s, input %dx%d, %s", proc.pid, self.description, size[1], size[0],
                 "GPU" if self.gpu else "CPU")

    def _reap(self) -> int | None:
        """Stop the worker process (politely, then by force); its exit code."""
        proc, conn = self._proc, self._conn
        self._proc = self._conn = None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass
        if proc is not None:
            proc.join(2.0)
            if proc.is_alive():
                proc.terminate()
                proc.join(2.0)
            if proc.is_alive():
                proc.kill()
                proc.join(2.0)
            code = proc.exitcode
            try:
                proc.close()
            except ValueError:
                pass
            return code
        return None

    def _restart(self) -> None:
        """The worker died: start it again (at most ``max_restarts`` times) and resend what is pending;
        past that, free everything and raise :class:`DepthWorkerDied`."""
        proc = self._proc
        if proc is not None:
            proc.join(2.0)  # reaped: no zombie, and the exit code is known
        how = describe_exit(proc.exitcode if proc is not None else None)
        self._reap()
        if self.restarts >= self.max_restarts:
            while self._pending:
                self._free(self._pending.popleft())
            again = f" again after {self.restarts} restart{'s' if self.restarts > 1 else ''}" if self.restarts else ""
            self._died = DepthWorkerDied(f"the depth worker {how}{again}; giving up")
            raise self._died
        self.restarts += 1
        log.warning("depth worker %s; restarting it", how)
        try:
            self._spawn()
        except RefocusError as e:  # the new worker died too, while loading: give up
            while self._pending:
                self._free(self._pending.popleft())
            self._died = DepthWorkerDied(f"{e}, after a restart (it {how}); giving up")
            raise self._died from None
        for req in self._pending:
            self._send(req)

    def _send(self, req) -> None:
        rid, shm_in, shm_out, shape = req
        self._conn.send(("infer", rid, shm_in.name, shape, shm_out.name, self.guided))

    def _recv(self, timeout: float | None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # Wait in slices of at most 50 ms (to notice a dead worker), never past the deadline.
            wait = 0.05 if deadline is None else min(0.05, max(0.0, deadline - time.monotonic()))
            try:
                if self._conn.poll(wait):
                    return self._conn.recv()
            except (EOFError, OSError):
                raise _WorkerDied() from None
            if not self._proc.is_alive():
                try:
                    if self._conn.poll(0):
                        return self._conn.recv()
                except (EOFError, OSError):
                    pass
                raise _WorkerDied()
            if deadline is not None and time.monotonic() >= deadline:
                return None

    # -- requests
    def submit(self, image_srgb: np.ndarray) -> int:
        """Queue one image; returns a request id. Get the answer with :meth:`result`."""
        img = np.asarray(image_srgb)
        if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 2:
            raise ValueError(f"expected an RGB image (H, W, 3), got shape {img.shape}")
        img = img.astype(np.float32, copy=False)
        with self._lock:
            self.start()
            shm_in = shared_memory.SharedMemory(create=True, size=img.nbytes)
            shm_out = shared_memory.SharedMemory(create=True, size=img.shape[0] * img.shape[1] * 4)
            view = np.ndarray(img.shape, np.float32, buffer=shm_in.buf)
            view[...] = img
            del view
            rid = next(self._ids)
            req = (rid, shm_in, shm_out, tuple(img.shape))
            self._pending.append(req)
            try:
                self._send(req)
            except (OSError, ValueError):
                self._restart()
            return rid

    def result(self, timeout: float | None = None) -> np.ndarray:
        """Disparity for the oldest pending request; :class:`TimeoutError` if not ready in ``timeout`` s."""
        with self._lock:
            if not self._pending:
                raise RuntimeError("no depth request is pending; call submit() first")
            while True:
                req = self._pending[0]
                try:
                    msg = self._recv(timeout)
                except _WorkerDied:
                    self._restart()
                    continue
                if msg is None:
                    raise TimeoutError(f"depth not ready within {timeout} s")
                kind, rid = msg[0], msg[1]
                if rid != req[0]:  # stale answer from before a restart
                    continue
                self._pending.popleft()
                try:
                    if kind == "error":
                        _raise_remote(msg[2])
                    self.last_timing = msg[2]
                    h, w = req[3][:2]
                    return np.ndarray((h, w), np.float32, buffer=req[2].buf).copy()
                finally:
                    self._free(req)

    def infer(self, image_srgb: np.ndarray) -> np.ndarray:
        """Disparity (H, W) float32 in [0, 1], 1 = nearest, for one image (blocking)."""
        with self._lock:
            if self._pending:
                raise RuntimeError("infer() with requests pending; collect them with result() first")
            self.submit(image_srgb)
            return self.result()

    @staticmethod
    def _free(req) -> None:
        for s in (req[1], req[2]):
            try:
                s.close()
                s.unlink()
            except (BufferError, FileNotFoundError, OSError):
                pass

    def close(self) -> None:
        """Stop the worker process and free shared memory (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._conn is not None:
                try:
                    self._conn.send(("stop",))
                except (OSError, ValueError):
                    pass
            self._reap()
            while self._pending:
                self._free(self._pending.popleft())

    def __enter__(self) -> DepthWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


# ---------------------------------------------------------------- shared worker

_shared: DepthWorker | None = None
_shared_key = None
_shared_lock = threading.Lock()


def estimate_disparity(image_srgb: np.ndarray, model: str | None = None,
                       model_path: str | os.PathLike | None = None) -> np.ndarray:
    """Disparity for ``image_srgb`` (float32 sRGB RGB (H, W, 3) in [0, 1]).

    Returns float32 (H, W) in [0, 1], 1 = nearest, at full image resolution.
    Runs in a module-level shared :class:`DepthWorker`, started on first use
    and replaced when another model is asked for.
    """
    global _shared, _shared_key
    key = (model, str(Path(model_path).expanduser().resolve()) if model_path else None)
    with _shared_lock:
        if _shared is None or _shared_key != key or _shared._closed:
            if _shared is not None:
                _shared.close()
            _shared = None
            _shared = DepthWorker(model, model_path)
            _shared_key = key
        worker = _shared
    return worker.infer(image_srgb)


def shutdown() -> None:
    """Close the shared worker (also registered with :mod:`atexit`)."""
    global _shared
    with _shared_lock:
        if _shared is not None:
            _shared.close()
            _shared = None


import atexit  # noqa: E402

atexit.register(shutdown)
