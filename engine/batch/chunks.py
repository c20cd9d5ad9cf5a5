"""Long clips in parallel: a video job split into parts (at keyframes where near), the parts joined after.

:func:`split_jobs` replaces each video job long enough (at least ``min_seconds`` a part)
by ``parts`` jobs, one per :class:`~deocused.io.video.join.Span`, keyed ``KEY [part i/n]``,
each writing its frames (video only, the source's timestamps) to a hidden part file
beside the output; they run on the local pool or Ray actors like any job. :func:`join_parts`
then joins each clip's parts without re-encoding into the output (audio copied once),
removes the part files and adds the clip's entry (timings summed) to the report.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path

from ..errors import RefocusError

log = logging.getLogger("deocused")


def part_path(output: str, i: int, n: int) -> str:
    p = Path(output)
    return str(p.with_name(f".{p.stem}.part{i + 1:03d}of{n:03d}{p.suffix}"))


def split_jobs(jobs, parts: int, min_seconds: float = 1.0):
    """``(jobs with long videos split, {clip key: (clip job, [part jobs])})`` (see the module docstring)."""
    from ..io.video import probe
    from ..io.video.join import spans

    if parts < 2:
        return jobs, {}
    out, groups = [], {}
    for job in jobs:
        if job.kind != "video" or job.span is not None or Path(job.outputs[0]).exists():  # resume/clash: whole
            out.append(job)
            continue
        try:
            info = probe(job.path)
            cut = spans(job.path, parts, max(1, round(min_seconds * float(info.rate))))
        except RefocusError:
            out.append(job)  # the worker reports what is wrong with it
            continue
        if len(cut) < 2:
            out.append(job)
            continue
        n = len(cut)
        group = [dataclasses.replace(job, key=f"{job.key} [part {i + 1}/{n}]", outputs=[part_path(job.outputs[0], i, n)],
                                     span=(s.start, s.end, s.first, s.count, i == n - 1))
                 for i, s in enumerate(cut)]
        groups[job.key] = (job, group)
        out.extend(group)
    return out, groups


def join_parts(groups, report, out=None) -> int:
    """Join the parts of every clip whose parts all succeeded; returns the number of clips that failed
    (each reported on ``out`` in one line)."""
    from ..io.video import probe
    from ..io.video.join import join

    out = out if out is not None else sys.stderr
    failed = 0
    entries = {e["input"]: e for e in report.data["items"]}
    for key, (job, group) in groups.items():
        part_entries = [entries[p.key] for p in group]
        entry = {"input": key, "outputs": list(job.outputs), "status": "ok", "error": None, "parts": len(group),
                 "fingerprint": job.fingerprint(),
                 "timings": {k: round(sum(e.get("timings", {}).get(k, 0.0) for e in part_entries), 4)
                             for k in ("load", "render", "write", "total")}}
        bad = next((e for e in part_entries if e["status"] != "ok"), None)
        if bad is not None:
            entry.update(status="failed", error=f"{bad['input']} failed")
        else:
            try:
                info = probe(job.path)
                n = join([Path(p.outputs[0]) for p in group], Path(job.outputs[0]), audio_from=job.path,
                         source=info, starts=[p.span[0] * info.time_base for p in group])
                entry["frames"] = n
            except RefocusError as e:
                entry.update(status="failed", error=str(e))
                print(f"refocus: error: {key}: {e}", file=out)
        if entry["status"] == "ok":
            for p in group:
                Path(p.outputs[0]).unlink(missing_ok=True)
        else:
            failed += 1
        report.data["items"].append(entry)
    report.save(final=True)
    return failed
