"""The depth worker process's side (see :mod:`deocused.depth.worker`): load the network,
then answer requests whose images and results travel through the parent's shared memory.
Only this process imports TensorFlow."""

from __future__ import annotations

import os
import threading
import time
import traceback
from multiprocessing import resource_tracker, shared_memory

import numpy as np

from .priority import background_threads, lower_priority
from .registry import FALLBACK_INPUT_SIZE, ModelSpec


def _attach(name: str) -> shared_memory.SharedMemory:
    """Attach to the parent's segment without registering it with the resource
    tracker (the parent owns and unlinks it; Python < 3.13 has no track=False)."""
    orig = resource_tracker.register
    resource_tracker.register = lambda *a, **k: None
    try:
        return shared_memory.SharedMemory(name=name)
    finally:
        resource_tracker.register = orig


def _pack(e: BaseException) -> tuple[str, str, str]:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return type(e).__name__, msg, traceback.format_exc()


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(0)
        time.sleep(0.5)


def worker_main(conn, spec_dict: dict, model_path: str, parent_pid: int, background: bool = False) -> None:
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="parent-watch").start()
    spec = ModelSpec(**spec_dict)
    try:
        from . import loaders  # imports TensorFlow: only ever in this process
        from .processing import postprocess, preprocess

        runner = loaders.load(model_path, spec, threads=background_threads() if background else None)
        size = tuple(spec.input_size or runner.input_hw or FALLBACK_INPUT_SIZE)
        if background:  # after loading: the parent waits for the load (at nice 10 under load: ~30 s)
            lower_priority()
        conn.send(("ready", runner.description, size, loaders.gpu_available()))
    except BaseException as e:
        try:
            conn.send(("error", None, _pack(e)))
        except OSError:
            pass
        return
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            break  # parent gone
        if msg[0] == "stop":
            break
        _, rid, in_name, shape, out_name, guided = msg
        shm_in = shm_out = None
        try:
            t0 = time.perf_counter()
            shm_in = _attach(in_name)
            img = np.ndarray(shape, np.float32, buffer=shm_in.buf)
            x = preprocess(img, spec, size)
            t1 = time.perf_counter()
            raw = runner(x)
            t2 = time.perf_counter()
            d = postprocess(raw, spec, img, guided=guided)
            del img
            shm_out = _attach(out_name)
            out = np.ndarray(shape[:2], np.float32, buffer=shm_out.buf)
            out[...] = d
            del out
            t3 = time.perf_counter()
            reply = ("ok", rid, {"preprocess_s": t1 - t0, "network_s": t2 - t1, "postprocess_s": t3 - t2})
        except Exception as e:
            reply = ("error", rid, _pack(e))
        finally:
            for s in (shm_in, shm_out):
                if s is not None:
                    try:
                        s.close()
                    except BufferError:
                        pass
        try:
            conn.send(reply)
        except OSError:
            break
