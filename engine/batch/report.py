"""The batch report (``DIR/batch-report.json``) and resuming from it.

The report is rewritten atomically (temp file + ``os.replace``) as items finish
(at most every ``SAVE_INTERVAL_S`` seconds, and at the end), so a killed batch
leaves a valid report of what it finished. Layout::

    {"version": 1, "started": ISO time, "finished": ISO time or null,
     "summary": {"items", "ok", "failed", "skipped", "elapsed_s", "items_per_s", "workers", "runner"},
     "items": [{"input", "outputs", "status": "ok" | "failed" | "pending", "error",
                "timings": {"load", "render", "write", "total"} (seconds),
                "worker", "fingerprint", "skipped" (true when --resume kept an earlier result)}]}

Resume rule (:meth:`Report.finished`): an item is finished when every output
file exists (outputs are only ever moved into place complete) and the earlier
report does not contradict it -- it has no entry for the item, or an "ok" or
"pending" entry (killed between writing the outputs and saving the report)
made with the same settings (fingerprint). A failed entry, or one made with
other settings, is redone.
"""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("deocused")

REPORT_NAME = "batch-report.json"
SAVE_INTERVAL_S = 1.0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def temp_leftovers(output: str | os.PathLike) -> list[Path]:
    """Temporary files an interrupted write of ``output`` may have left
    (``.NAME.tmpPID`` from image writes, ``.STEM.tmpPID.EXT`` from videos)."""
    p = Path(output)
    if not p.parent.is_dir():
        return []
    found = set(p.parent.glob(f".{p.name}.tmp*")) | set(p.parent.glob(f".{p.stem}.tmp*{p.suffix}"))
    return sorted(q for q in found if q.is_file())


class Report:
    """The report of one batch run in ``out_dir`` (see the module docstring)."""

    def __init__(self, out_dir: str | os.PathLike, jobs, *, runner: str = "local", workers: int = 1):
        self.path = Path(out_dir) / REPORT_NAME
        self.previous = self._load()
        self.started = time.perf_counter()
        self.data = {"version": 1, "started": _now(), "finished": None,
                     "summary": {"items": len(jobs), "runner": runner, "workers": workers},
                     "items": [{"input": j.key, "outputs": j.outputs, "status": "pending", "error": None,
                                "fingerprint": j.fingerprint()} for j in jobs]}
        self.index = {j.key: i for i, j in enumerate(jobs)}
        self._saved = 0.0

    def _load(self) -> dict:
        if not self.path.is_file():
            return {}
        try:
            items = json.loads(self.path.read_text())["items"]
            return {e["input"]: e for e in items}
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("%s: unreadable earlier report (%s); deciding from the outputs alone", self.path, e)
            return {}

    def finished(self, job) -> bool:
        """Whether ``job`` was completed by an earlier run (the resume rule)."""
        if not all(Path(o).is_file() for o in job.outputs):
            return False
        entry = self.previous.get(job.key)
        if entry is None:
            return True
        return entry.get("status") in ("ok", "pending") and entry.get("fingerprint") == job.fingerprint()

    def keep(self, job) -> None:
        """Record ``job`` as finished earlier (skipped by ``--resume``)."""
        entry = dict(self.previous.get(job.key) or {})
        entry.update(input=job.key, outputs=job.outputs, status="ok", error=None,
                     fingerprint=job.fingerprint(), skipped=True)
        self.data["items"][self.index[job.key]] = entry

    def record(self, result: dict) -> dict:
        """Record a worker's result; returns the report entry."""
        entry = self.data["items"][self.index[result["key"]]]
        entry.update({k: v for k, v in result.items() if k not in ("key", "stops_run")})
        entry["timings"] = {k: round(v, 4) for k, v in result.get("timings", {}).items()}
        self.save()
        return entry

    def counts(self) -> dict:
        items = self.data["items"]
        return {"ok": sum(e["status"] == "ok" and not e.get("skipped") for e in items),
                "failed": sum(e["status"] == "failed" for e in items),
                "skipped": sum(bool(e.get("skipped")) for e in items),
                "pending": sum(e["status"] == "pending" for e in items)}

    def failures(self) -> list[dict]:
        return [e for e in self.data["items"] if e["status"] == "failed"]

    def save(self, final: bool = False) -> None:
        """Write the report atomically (throttled unless ``final``)."""
        now = time.perf_counter()
        if not final and now - self._saved < SAVE_INTERVAL_S:
            return
        self._saved = now
        elapsed = now - self.started
        c = self.counts()
        self.data["summary"].update(c, elapsed_s=round(elapsed, 3),
                                    items_per_s=round((c["ok"] + c["failed"]) / elapsed, 4) if elapsed > 0 else None)
        if final:
            self.data["finished"] = _now()
        from ..io.images import write_bytes_atomic

        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(self.path, json.dumps(self.data, indent=1).encode())  # a full disk: the old one stays
