"""Running a planned batch: resume, the worker pool, progress, the report.

:func:`run_batch` is the engine of ``refocus batch`` and of the throughput
measurement; the command line only parses flags and plans the jobs.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from ..errors import InputError
from .lock import folder_lock
from .report import Report, temp_leftovers

log = logging.getLogger("deocused")


def run_batch(jobs, output_dir, *, workers: int | None = None, device: str = "auto", ray: bool = False,
              ray_address: str | None = None, resume: bool = False, overwrite: bool = False,
              progress: bool = True, out=None) -> Report:
    """Run ``jobs`` (from :func:`~deocused.batch.inputs.plan_jobs`) and return the
    :class:`Report` (also in ``output_dir/batch-report.json``).

    ``workers``: worker processes or actors (default: a worker per core on the
    CPU, per GPU on the GPU; for Ray, the cluster's CPUs or GPUs). Without
    ``resume`` or ``overwrite``, existing outputs are an :class:`InputError`
    before anything runs; so is an output folder another live batch holds
    (:mod:`~deocused.batch.lock`). A failing item is reported on ``out`` (stderr) in one
    line and the batch goes on, unless its error says every later item would fail
    too (``stops_run``: the depth worker died again after its restart, the disk is full).
    """
    from .pools import default_workers

    out = out if out is not None else sys.stderr
    out_dir = Path(output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: exists and is not a folder (--output-dir)")
    n_default, device, gpus = default_workers(device)
    workers = int(workers) if workers is not None else (None if ray else n_default)
    if workers is not None and workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    with folder_lock(out_dir):  # one batch per output folder
        return _run(jobs, out_dir, workers, device, gpus, ray, ray_address, resume, overwrite, progress, out)


def _run(jobs, out_dir: Path, workers, device, gpus, ray, ray_address, resume, overwrite, progress, out) -> Report:
    """:func:`run_batch` once its arguments are checked and the folder is locked."""
    from .pools import LocalPool, RayPool

    options = jobs[0].settings.renderer_options() if jobs else {}
    report = Report(out_dir, jobs, runner="ray" if ray else "local", workers=workers or 0)
    todo = []
    for job in jobs:
        for tmp in (t for o in job.outputs for t in temp_leftovers(o)):
            log.info("removing %s, left by an interrupted run", tmp)
            tmp.unlink(missing_ok=True)
        if resume and report.finished(job):
            report.keep(job)
        else:
            todo.append(job)
    if not resume and not overwrite:
        clash = [o for j in todo for o in j.outputs if Path(o).exists()]
        if clash:
            raise InputError(f"{clash[0]}: already exists ({len(clash)} outputs do); pass --resume to skip "
                             "finished items or --overwrite to redo them")
    out_dir.mkdir(parents=True, exist_ok=True)
    skipped = len(jobs) - len(todo)
    if skipped:
        log.info("resuming: %d of %d items finished earlier, %d to do", skipped, len(jobs), len(todo))
    report.save(final=not todo)
    if not todo:
        return report
    if ray:
        pool = RayPool(workers, device, options, ray_address)
    else:
        pool = LocalPool(min(workers, len(todo)), device, options, gpus)
    paths = {j.key: j.path for j in todo}
    bar = _bar(len(todo), progress, out)
    stopped = False
    try:
        with pool:
            report.data["summary"]["workers"] = pool.workers
            for result in pool.imap(todo):
                entry = report.record(result)
                if entry["status"] == "failed":
                    line = f"refocus: error: {entry['input']}: {_strip(entry['error'], entry['input'], paths[entry['input']])}"
                    bar.write(line, file=out) if hasattr(bar, "write") else print(line, file=out)
                bar.update(1)
                if result.get("stops_run"):  # nothing later can succeed: stop (--resume does the rest)
                    stopped = True
                    log.warning("the batch stopped at this error; run it again with --resume to do the rest")
                    break
    finally:
        bar.close()
        _final_save(report, stopped)
    return report


def _final_save(report, stopped: bool) -> None:
    """Save the report at the end; after a full disk already stopped the batch (its error line
    was shown), a report that cannot be saved either is a warning: the previous one stays valid."""
    from ..errors import DiskFullError

    try:
        report.save(final=True)
    except DiskFullError as e:
        if not stopped:
            raise
        log.warning("%s (the report of the previous save is kept)", e)


def _strip(error: str, *names: str) -> str:
    """The error without a leading repeat of the item's own path."""
    for prefix in (f"{n}: " for n in names):
        if error.startswith(prefix):
            return error[len(prefix):]
    return error


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _bar(total: int, progress: bool, out):
    if not progress:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="item", file=out, dynamic_ncols=True, smoothing=0.1)
