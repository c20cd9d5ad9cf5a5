"""The batch worker: one process (or Ray actor) with its own renderer.

:func:`init_worker` runs once per worker: single-threaded numerics (a worker per
core, so no library may start a thread per core of its own), the renderer, and
on a multi-GPU machine the worker's GPU. :func:`process_job` then turns one
:class:`~deocused.batch.inputs.BatchJob` into its output files and returns a result
record: ``{"key", "status": "ok"|"failed", "error", "outputs", "timings"
(seconds: load, render, write, total), "worker", "focus_disparity"}``. A failing
job never raises; its error is one line.

The depth network, when an item has no depth sidecar, runs in a depth process
owned by the worker, started on first use and reused for every later item.
"""

from __future__ import annotations

import os
import time
import traceback

#: Environment variables that cap the threads of BLAS/OpenMP/Numba/TensorFlow pools.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1",
              "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}

_state: dict = {}


def _exit_with_parent(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        if os.getppid() != parent_pid:  # the batch was killed: do not linger
            os._exit(1)


def init_worker(device: str, renderer_options: dict, gpu_ids=None, parent_pid: int | None = None) -> None:
    """Set this process up as a batch worker. ``gpu_ids``: a queue of GPU
    indices (one is taken) or an int, for ``device`` "gpu". With ``parent_pid``
    the worker exits when that process is gone (a killed batch)."""
    os.environ.update(THREAD_ENV)
    if parent_pid is not None:
        import threading

        threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="batch-parent-watch", daemon=True).start()
    import cv2

    cv2.setNumThreads(1)
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # numba absent, or its pool already sized to 1
        pass
    gpu = None
    if gpu_ids is not None:
        gpu = gpu_ids if isinstance(gpu_ids, int) else gpu_ids.get()
        import cupy

        cupy.cuda.Device(gpu).use()
    _state.clear()
    _state.update(device=device, options=renderer_options, gpu=gpu, renderer=None,
                  name=f"pid{os.getpid()}" + (f"/gpu{gpu}" if gpu is not None else ""))


def renderer():
    """This worker's renderer (made on first use, kept for every item)."""
    if _state.get("renderer") is None:
        from ..render.backends import make_renderer

        _state["renderer"] = make_renderer(_state.get("device", "cpu"), **_state.get("options", {}))
    return _state["renderer"]


def _new_result(job) -> dict:
    return {"key": job.key, "status": "ok", "error": None, "outputs": list(job.outputs),
            "worker": _state.get("name"), "timings": {"load": 0.0, "render": 0.0, "write": 0.0}}


def _guarded(result: dict, fn, *args):
    """``fn(*args)``; an exception marks ``result`` failed (one line) and gives None."""
    from ..errors import RefocusError

    t = time.perf_counter()
    try:
        return fn(*args)
    except RefocusError as e:
        result.update(status="failed", error=str(e))
        if getattr(e, "stops_run", False):  # e.g. the depth worker died twice: later items would fail alike
            result["stops_run"] = True
    except MemoryError:
        result.update(status="failed", error="out of memory")
    except Exception as e:  # a bug or a library error: still one line, with the traceback kept in the report
        msg = str(e).splitlines()[0] if str(e) else ""
        result.update(status="failed", error=f"{type(e).__name__}: {msg}".rstrip(": "),
                      traceback=traceback.format_exc())
    finally:
        result["timings"]["total"] = result["timings"].get("total", 0.0) + time.perf_counter() - t
    return None


def process_job(job) -> dict:
    """Run one job (see the module docstring); never raises."""
    if not _state:
        init_worker("auto", job.settings.renderer_options())
    result = _new_result(job)
    if job.kind == "video":
        _guarded(result, _video, job, result["timings"], result)
        return result
    loaded = _guarded(result, _load, job, result)
    frames = _guarded(result, _render, job, loaded, result) if loaded is not None else None
    if frames is not None:
        _guarded(result, _write_all, frames, loaded[0], job, result)
    return result


def process_jobs(jobs) -> list[dict]:
    """Run several jobs with their stages overlapped: a thread loads (decodes,
    finds depth for) the next photo and another encodes and writes the previous
    one while this thread renders -- for a worker that owns a GPU, whose renders
    are short next to decoding and PNG encoding. Same results as :func:`process_job`
    on each (``timings.total`` sums the item's stages, which overlapped others')."""
    from concurrent.futures import ThreadPoolExecutor

    if not _state:
        init_worker("auto", jobs[0].settings.renderer_options())
    jobs = list(jobs)
    results = [_new_result(j) for j in jobs]

    def load(i):
        if jobs[i].kind == "video":
            return None
        return _guarded(results[i], _load, jobs[i], results[i])

    with ThreadPoolExecutor(1, "batch-load") as loader, ThreadPoolExecutor(1, "batch-write") as writer:
        ahead = loader.submit(load, 0)
        writes = []
        for i, (job, result) in enumerate(zip(jobs, results)):
            loaded = ahead.result()
            if i + 1 < len(jobs):
                ahead = loader.submit(load, i + 1)
            if job.kind == "video":
                _guarded(result, _video, job, result["timings"], result)
            elif loaded is not None:
                frames = _guarded(result, _render, job, loaded, result)
                if frames is not None:
                    writes.append(writer.submit(_guarded, result, _write_all, frames, loaded[0], job, result))
        for w in writes:
            w.result()
    return results


def _load(job, result):
    """Decode the photo and find its depth: (Photo, settings with the item's focus)."""
    from ..photo import load_photo
    from .focus import focus_settings

    t = time.perf_counter()
    photo = load_photo(job.path, depth=job.depth, depth_kind=job.depth_kind, model=job.model,
                       model_path=job.model_path, embedded=job.embedded_depth)
    settings = focus_settings(job.settings, job.focus, photo.disparity)
    result["timings"]["load"] += time.perf_counter() - t
    return photo, settings


def _render(job, loaded, result) -> list:
    """Render a loaded photo: [(output path, uint8 RGB image)]; a sweep video is
    rendered and written here, frame by frame (nothing left to write)."""
    from ..io.video import VideoWriter
    from ..photo import render_photo, render_photo_sweep
    from ..settings import output_bits
    from .focus import sweep_disparities

    photo, settings = loaded
    timings = result["timings"]
    t = time.perf_counter()
    if not job.sweep:
        image = render_photo(photo, settings, renderer(), bit_depth=output_bits(job.bit_depth, photo.meta, job.outputs[0]))
        result["focus_disparity"] = settings.resolve_focus_disparity(photo.disparity, photo.focus_point)
        timings["render"] += time.perf_counter() - t
        return [(job.outputs[0], image)]
    planes = sweep_disparities(job.sweep)
    result["focus_disparity"] = planes
    sweep = render_photo_sweep(photo, settings, renderer(), planes)  # prepares the photo
    timings["render"] += time.perf_counter() - t
    if not job.sweep_video:
        t = time.perf_counter()
        frames = [(job.outputs[i], frame) for i, frame in enumerate(sweep)]
        timings["render"] += time.perf_counter() - t
        return frames
    with VideoWriter(job.outputs[0], codec=job.codec, crf=job.crf, rate=job.fps) as out:
        for _ in planes:
            t = time.perf_counter()
            frame = next(sweep)
            timings["render"] += time.perf_counter() - t
            t = time.perf_counter()
            out.write(frame)
            timings["write"] += time.perf_counter() - t
        t = time.perf_counter()
        out.commit()
        timings["write"] += time.perf_counter() - t
    return []


def _write_all(frames, photo, job, result) -> None:
    t = time.perf_counter()
    meta = photo.meta.stripped() if photo.meta and job.strip_metadata else photo.meta
    for path, image in frames:
        _write(path, image, photo.inputs, meta, job.quality)
    result["timings"]["write"] += time.perf_counter() - t


def _video(job, timings, result) -> None:
    from ..photo import Photo, render_photo
    from .focus import focus_settings
    from .video import NetworkDepth, refocus_video

    network = NetworkDepth(job.model, job.model_path)

    def render(image, disparity):
        if disparity is None:  # no sidecar: the network, smoothed over time
            disparity = network(image)
        settings = focus_settings(job.settings, job.focus, disparity)
        return render_photo(Photo(image, disparity), settings, renderer())

    result["frames"] = refocus_video(job, render, timings)
    if network.smoother.state is not None:
        result["flicker"] = network.flicker()


def _write(path: str, image, protect, meta=None, quality: int | None = None) -> None:
    from pathlib import Path

    from ..io.images import write_image

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_image(path, image, protect=protect, overwrite=True, meta=meta, quality=quality)
