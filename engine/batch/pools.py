"""Worker pools that run batch jobs: local processes or Ray actors.

Both have the same shape: a context manager whose :meth:`imap` takes jobs and
yields :func:`~deocused.batch.worker.process_job` results as they complete
(any order). Local workers have ``PREFETCH`` jobs each in flight, so every
worker has its next item queued when it finishes one: workers stay busy, and
at any moment they are at different stages of different items (decoding,
estimating depth, rendering, encoding), so the stages overlap across workers
while each worker's numerics stay single-threaded.

* :class:`LocalPool` -- ``workers`` spawned processes (a worker per core on the
  CPU, a worker per GPU when CuPy sees several; a GPU worker takes
  ``GPU_CHUNK`` items at a time and overlaps their decoding, rendering and
  encoding on threads, as its renders are short). A worker that dies (killed,
  out of memory) is replaced; the items it had in flight are retried once,
  then reported as failed.
* :class:`RayPool` -- the same worker code as Ray actors (``num_cpus=1``, or
  ``num_gpus=1`` on the GPU) on a cluster at ``address`` or a local one; inputs
  and outputs must be on paths every node sees.

Before workers start, a CPU batch compiles the CPU kernels once into Numba's cache
when it lacks them (:func:`warm_cpu_kernels`), so workers on this machine load them
rather than each compile them; other nodes of a cluster: ``refocus warmup`` in their image.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections import deque

from .worker import THREAD_ENV, init_worker, process_job, process_jobs

log = logging.getLogger("deocused")

#: Jobs in flight per local worker (they share one queue: an idle worker takes the next).
PREFETCH = 2
#: Jobs in flight per Ray actor (an actor's queue is its own: more would leave others idle at the end).
RAY_IN_FLIGHT = 1
#: Attempts per job when its worker dies under it.
MAX_ATTEMPTS = 2
#: Jobs a GPU worker takes at a time, to overlap their stages (:func:`~deocused.batch.worker.process_jobs`).
GPU_CHUNK = 4


def warm_cpu_kernels(device: str) -> None:
    """Compile the CPU kernels here, once, before workers start, when the cache lacks them
    and the workers will render on the CPU: the workers then load them from the cache
    instead of each compiling the same kernels at the same time."""
    if device == "gpu":
        return
    if device == "auto":
        from ..render.backends import gpu_available

        if gpu_available()[0]:
            return
    from ..render.cpu import jit as cpu_jit

    if cpu_jit.cold_groups(cpu_jit.RENDER_GROUPS):
        cpu_jit.ensure(*cpu_jit.RENDER_GROUPS)


def _chunks(jobs, size: int) -> deque:
    jobs = list(jobs)
    return deque(jobs[i:i + size] for i in range(0, len(jobs), size))


def _run_chunk(jobs) -> list[dict]:
    return process_jobs(jobs) if len(jobs) > 1 else [process_job(jobs[0])]


def default_workers(device: str) -> tuple[int, str, list[int] | None]:
    """(workers, device, GPU ids) for ``device``: one worker per GPU when CuPy
    sees any and ``device`` allows it, else one per CPU core."""
    from ..render.backends import gpu_available

    if device in ("auto", "gpu") and gpu_available()[0]:
        import cupy

        n = cupy.cuda.runtime.getDeviceCount()
        return n, "gpu", list(range(n))
    if device == "gpu":
        from ..render.backends import make_renderer

        make_renderer("gpu")  # raises the one-line DeviceError
    return os.cpu_count() or 1, "cpu", None


@contextlib.contextmanager
def _sigint_ignored():
    """Ignore SIGINT while processes are spawned (they inherit it for life), on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _died(job, why: str) -> dict:
    return {"key": job.key, "status": "failed", "error": why, "outputs": job.outputs, "timings": {}}


class LocalPool:
    """``workers`` local worker processes (see the module docstring)."""

    name = "local"

    def __init__(self, workers: int, device: str, renderer_options: dict, gpus: list[int] | None = None):
        self.workers, self.device, self.options, self.gpus = max(1, int(workers)), device, renderer_options, gpus
        self._executor = None
        self._saved_env: dict = {}

    def _start(self):
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        ctx = mp.get_context("spawn")
        ids = None
        if self.gpus:
            ids = ctx.Queue()
            for i in range(self.workers):
                ids.put(self.gpus[i % len(self.gpus)])
        self._executor = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=init_worker,
                                             initargs=(self.device, self.options, ids, os.getpid()))

    def __enter__(self) -> LocalPool:
        warm_cpu_kernels(self.device)
        # children inherit the environment: cap their thread pools before they import numpy
        self._saved_env = {k: os.environ.get(k) for k in THREAD_ENV}
        os.environ.update(THREAD_ENV)
        self._start()
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if self._executor is not None:
            if exc_type is not None:  # Ctrl-C or an error: stop now; outputs are atomic, temp files go on the next run
                for proc in list(getattr(self._executor, "_processes", {}).values()):
                    proc.terminate()
            self._executor.shutdown(wait=exc_type is None, cancel_futures=True)
            self._executor = None
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    def imap(self, jobs):
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        todo = deque((c, 1) for c in _chunks(jobs, GPU_CHUNK if self.device == "gpu" else 1))
        running: dict = {}
        while todo or running:
            while todo and len(running) < PREFETCH * self.workers:
                chunk, attempt = todo.popleft()
                with _sigint_ignored():  # workers started here ignore Ctrl-C: the batch stops them
                    running[self._executor.submit(_run_chunk, chunk)] = (chunk, attempt)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                chunk, attempt = running.pop(fut)
                try:
                    yield from fut.result()
                except BrokenProcessPool:
                    broken = True
                    if attempt < MAX_ATTEMPTS:
                        todo.appendleft((chunk, attempt + 1))
                    else:
                        for job in chunk:
                            yield _died(job, "the worker process died while processing this item")
            if broken:
                log.warning("a batch worker process died; restarting the pool")
                for chunk, attempt in running.values():
                    todo.appendleft((chunk, min(attempt + 1, MAX_ATTEMPTS)))
                running.clear()
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._start()


class _Actor:
    """A Ray actor wrapping one batch worker."""

    def __init__(self, device: str, renderer_options: dict, gpu: bool):
        init_worker(device, renderer_options, 0 if gpu else None)

    def run(self, jobs) -> list[dict]:
        return _run_chunk(jobs)


#: Idle actors of a Ray session this process did not start, by (device, options, gpu), for the next batch.
_idle_actors: dict = {}


class RayPool:
    """``workers`` Ray actors (see the module docstring). ``address`` None starts
    (or joins, via ``RAY_ADDRESS``) a cluster on this machine; a Ray session that
    is already initialised in this process is used as it is, and its actors are
    kept for the next batch in this process (they start in seconds)."""

    name = "ray"

    def __init__(self, workers: int | None, device: str, renderer_options: dict, address: str | None = None):
        self.workers, self.device, self.options, self.address = workers, device, renderer_options, address
        self._own = False
        self.actors: list = []

    def __enter__(self) -> RayPool:
        try:
            import ray
        except ImportError:
            from ..errors import InputError

            raise InputError("--ray needs Ray: pip install 'deocused[ray]'") from None
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                         logging_level=logging.WARNING)
            except Exception as e:  # Ray raises ConnectionError, RuntimeError or plain Exception
                from ..errors import DeviceError

                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
                raise DeviceError(f"--ray: cannot start or reach {where} ({str(e).splitlines()[0]})") from None
            self._own = True
        gpu = self.device == "gpu"
        res = ray.cluster_resources()
        capacity = int(res.get("GPU" if gpu else "CPU", 0))
        if capacity < 1:
            from ..errors import DeviceError

            raise DeviceError(f"the Ray cluster has no {'GPU' if gpu else 'CPU'}s")
        self.workers = min(int(self.workers or capacity), capacity)
        ctx = ray.get_runtime_context()
        self._key = (ctx.gcs_address, ctx.get_job_id(), self.device, repr(sorted(self.options.items())), gpu)
        idle = _idle_actors.pop(self._key, [])
        for a in idle[self.workers:] + [a for other in _idle_actors.values() for a in other]:
            ray.kill(a)  # free the CPUs (GPUs) of idle actors this batch does not use
        _idle_actors.clear()
        self.actors = idle[:self.workers]
        if len(self.actors) < self.workers:
            warm_cpu_kernels(self.device)  # actors on this node's cache load them (other nodes: refocus warmup)
        actor = ray.remote(_Actor).options(num_cpus=0 if gpu else 1, num_gpus=1 if gpu else 0, max_restarts=1,
                                           runtime_env={"env_vars": dict(THREAD_ENV)})
        self.actors += [actor.remote(self.device, self.options, gpu) for _ in range(self.workers - len(self.actors))]
        return self

    def __exit__(self, *exc) -> None:
        import ray

        if self._own or not ray.is_initialized():
            for a in self.actors:
                ray.kill(a)
            if self._own:
                ray.shutdown()
        else:
            _idle_actors[self._key] = self.actors
        self.actors = []

    def imap(self, jobs):
        """Results as they come; an item whose actor died under it is retried once on another actor
        (its result then says ``attempts: 2`` and why), then reported as failed."""
        import ray
        from ray.exceptions import RayActorError

        todo = deque((c, 1, None, None) for c in _chunks(jobs, GPU_CHUNK if self.device == "gpu" else 1))
        running: dict = {}
        load = dict.fromkeys(range(len(self.actors)), 0)
        while todo or running:
            for i, n in load.items():
                if n < RAY_IN_FLIGHT:
                    entry = self._next_for(todo, i)
                    if entry is not None:
                        running[self.actors[i].run.remote(entry[0])] = (*entry[:2], i, entry[3])
                        load[i] += 1
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                chunk, attempt, i, why = running.pop(ref)
                load[i] -= 1
                try:
                    results = ray.get(ref)
                except RayActorError as e:
                    why = f"the Ray worker died while processing this item ({type(e).__name__})"
                    if attempt < MAX_ATTEMPTS:
                        log.warning("a Ray worker died; retrying its item on another worker")
                        todo.appendleft((chunk, attempt + 1, i, why))
                        continue
                    results = [_died(job, why) for job in chunk]
                for r in results:
                    if attempt > 1:
                        r.update(attempts=attempt, retried_because=why)
                    yield r

    def _next_for(self, todo: deque, actor: int):
        """The first chunk in ``todo`` that actor ``actor`` may take (not a retry of its own failure,
        unless it is the only actor), removed from ``todo``; None when there is none."""
        for k, entry in enumerate(todo):
            if entry[2] != actor or len(self.actors) == 1:
                del todo[k]
                return entry
        return None
