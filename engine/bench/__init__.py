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

from .cli import (
           DEFAULT_FOCUS,
           DEFAULT_MAX_BLUR,
           DEFAULT_SIZES,
           add_cli,
           cmd_bench,
           parse_floats,
           parse_max_blur,
           parse_size_specs,
           parse_sizes,
           resolve_devices,
)
from .machine import cpu_model, machine_info
from .render_bench import BASELINE_OF, K_STAGES, STAGES
from .report import SCHEMA_VERSION, markdown_table, merge_reports, plot
from .scenes import DEFAULT_SCENE, SCENES, make_inputs
from .timing import CpuTimer, GpuTimer, refocus_min_bytes, summarise

__all__ = [
           "BASELINE_OF",
           "DEFAULT_FOCUS",
           "DEFAULT_MAX_BLUR",
           "DEFAULT_SCENE",
           "DEFAULT_SIZES",
           "K_STAGES",
           "SCENES",
           "SCHEMA_VERSION",
           "STAGES",
           "CpuTimer",
           "GpuTimer",
           "add_cli",
           "cmd_bench",
           "cpu_model",
           "machine_info",
           "make_inputs",
           "markdown_table",
           "merge_reports",
           "parse_floats",
           "parse_max_blur",
           "parse_size_specs",
           "parse_sizes",
           "plot",
           "refocus_min_bytes",
           "resolve_devices",
           "summarise",
]
