"""``refocus bench`` and every benchmark's shared parts.

Modules: :mod:`.timing` (timers, statistics, bandwidth floor), :mod:`.machine`
(what ran it), :mod:`.scenes` (inputs: the motorcycle photo or the synthetic
scene at any size), :mod:`.memory` (a child process per size, peak RSS),
:mod:`.render_bench` (the stages of one size), :mod:`.report` (JSON, Markdown,
plot), :mod:`.cli` (the subcommand), :mod:`.gpu_check` (GPU parity and
timings with CUDA events), :mod:`.standin` (stand-in depth networks).
Importing this package loads only the argument parsing.
"""

from __future__ import annotations

from ..lazy import lazy_names

#: public name -> submodule that defines it (imported on first use: the command line's parser needs only ``cli``)
_API = {
    "DEFAULT_FOCUS": "cli", "DEFAULT_MAX_BLUR": "cli", "DEFAULT_SIZES": "cli", "add_cli": "cli", "cmd_bench": "cli",
    "parse_floats": "cli", "parse_max_blur": "cli", "parse_size_specs": "cli", "parse_sizes": "cli", "resolve_devices": "cli",
    "cpu_model": "machine", "machine_info": "machine",
    "BASELINE_OF": "render_bench", "K_STAGES": "render_bench", "STAGES": "render_bench",
    "SCHEMA_VERSION": "report", "markdown_table": "report", "merge_reports": "report", "plot": "report",
    "DEFAULT_SCENE": "scenes", "SCENES": "scenes", "make_inputs": "scenes",
    "CpuTimer": "timing", "GpuTimer": "timing", "refocus_min_bytes": "timing", "summarise": "timing",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_names(__name__, _API, globals())
