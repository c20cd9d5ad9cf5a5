"""Loading the CPU kernels: each group of Numba kernels is compiled (or loaded from
Numba's on-disk cache) once per process, before its first use, with one explicit
argument-type signature per kernel, and with progress shown when it has to compile.

Groups: ``photo`` (a new photo: bands, outline splits, tile masks), ``levels`` (the
blur pyramid), ``render`` (one focus), and those modules above add with
:func:`define_group` (``frames``: 8-bit sRGB <-> linear for the viewer, live mode and
video). A command loads only the groups its path uses.

Compiling happens once per install (Numba caches by source file, in ``__pycache__``
next to the sources or, where that is read-only, in the user's cache directory;
``NUMBA_CACHE_DIR`` overrides it; a stamp there keys the cache to every kernel source,
:data:`KERNEL_SOURCES`, not just each kernel's own file): :func:`announce` prints one line saying so, and
:func:`ensure` a tqdm bar per group; nothing when the cache is warm.
:func:`status` gives the same as one line for an app's status line.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import sys
import threading
import time
from pathlib import Path

from numba.core import types

log = logging.getLogger("deocused")

_T = {"i8": types.int64, "u1": types.uint8, "u8": types.uint64, "f4": types.float32, "f8": types.float64,
      "b1": types.boolean, "none": types.none}


def _type(spec: str):
    """"f4[3]": a C-contiguous writable 3-d float32 array; "f4": a scalar; "plan": the
    tuple of :func:`deocused.render.cpu.kernels.kernel_plan`."""
    if spec == "plan":
        return types.Tuple(tuple(_type(s) for s in "i8[2] i8[2] f4[2] i8[1] i8[1] f4[1] i8[1]".split()))
    if "[" in spec:
        return types.Array(_T[spec[:2]], int(spec[3]), "C")
    return _T[spec]


#: Per group: the estimated compile time (CPU seconds on a 2-core EPYC, measured with
#: bench/compile_time.py) and each kernel ("module:function", "module:function#variant" for another
#: signature) with its argument types, the types the Python wrappers pass (a call with other types
#: compiles another specialisation).
GROUPS: dict[str, tuple[float, dict[str, str]]] = {
    "photo": (3.0, {
        "pixels:_band_stats_rows": "i8 i8 f4[2] i8 i8[2] f8[2] f4[1] f4[1]",
        "pixels:_ingest_rows": "i8 i8 f4[3] f4[2] i8 f4[3] u1[2] f4[2] f4[2] u8[2] i8[2] f8[2] i8[2]",
        "pixels:_outline_rows": "i8 i8 f4[3] u1[2] i8 i8 i8 f4 f4 f4 u1[2] u8[2]",
        "pixels:_pixel_masks_rows": "i8 i8 u1[2] u1[2] i8 u8[2]",
        "kernels:_tile_masks_bands_tiles": "i8 i8 u8[2] i8[1] u8[3]",
        "kernels:_halve_mask_rows": "i8 i8 u8[2] u8[2]",
        "blocks:slot_table": "u8[2] i8",
        "blocks:count_blocks": "u8[2]",
    }),
    "levels": (8.0, {
        "kernels:_conv_full_tiles": "i8 i8 f4[3] u1[2] u1[2] i8 plan u8[3] i8[4] b1[3] f4[4] f4",
        "kernels:_down_from_image_rows": "i8 i8 f4[3] u1[2] u1[2] i8 i8[1] f4 f4[4] u8[2]",
        "kernels:_down_from_down_rows": "i8 i8 f4[4] u8[2] f4[4] u8[2]",
        "kernels:_conv_down_tiles": "i8 i8 f4[4] i8[1] i8 plan u8[3] i8[4] b1[3] f4[4]",
        "blocks:number_blocks": "i8[1] i8[1] i8[1] b1[3] i8 i8",
    }),
    "render": (9.0, {
        "refocus:front_tiles": "u8[1] i8[1] i8[1] i8[1] i8[1] i8[1] i8[1] f4[1] b1[1] u8[2] i8 i8 i8",
        "refocus:_levels_needed_tiles": "i8 i8 f4[2] f4[2] u8[2] u8[2] f4 f4 f4 f4[1] i8 i8[1] i8[1] f4 b1[3]",
        # the cat-eye off: None, its code pruned (the "cat-eye" group has the other specialisation)
        "refocus:_refocus_tiles": "i8 i8 f4[4] i8[2] i8[1] u1[2] i8[1] f4[2] "  # the RowCache
                                  "f4[3] u1[2] u1[2] f4[2] i8 f4 f4 f4 f4[1] i8 i8[1] i8[1] i8[1] f4[1] "
                                  "i8[1] i8[1] i8[1] i8[1] f4[1] u8[2] i8[1] f4 f4 f4 f4 f4 f4 none f4 f4 f4 "
                                  "f4[1] f4 i8[1] i8 i8 i8 i8 f4[3]",
    }),
    # the per-focus kernel with the cat-eye's taps: compiled only for a renderer with the cat-eye on
    "cat-eye": (28.0, {
        "refocus:_refocus_tiles#cat-eye": "i8 i8 f4[4] i8[2] i8[1] u1[2] i8[1] f4[2] "
                                          "f4[3] u1[2] u1[2] f4[2] i8 f4 f4 f4 f4[1] i8 i8[1] i8[1] i8[1] "
                                          "f4[1] i8[1] i8[1] i8[1] i8[1] f4[1] u8[2] i8[1] f4 f4 f4 f4 f4 f4 f4 f4 "
                                          "f4 f4 f4[1] f4 i8[1] i8 i8 i8 i8 f4[3]",
    }),
}
#: The groups a CPU render uses (and "cat-eye" with the cat-eye on).
RENDER_GROUPS = ("photo", "levels", "render")

_lock = threading.RLock()
_ready: set[str] = set()
_announced = False
_status = ""


def define_group(name: str, seconds: float, kernels: dict[str, str]) -> None:
    """Add a kernel group (as in :data:`GROUPS`; module names relative to ``deocused.render.cpu``)."""
    GROUPS[name] = (seconds, kernels)


def status() -> str:
    """One line while kernels compile (for a viewer's status line; any thread), else ""."""
    return _status


#: The files whose code or constants the kernels may compile in (relative to the package): the whole CPU
#: backend (a few of its modules define no kernel: an edit there recompiles too, which is safe) and the modules
#: it takes constants from. Numba keys each kernel's cache entry to the kernel's own file only, but a kernel
#: inlines helpers from the others (``sampling.py`` into ``refocus.py``...) and freezes their module constants.
KERNEL_SOURCES = ("render/cpu/*.py", "render/pyramid.py", "render/cateye.py", "constants.py")
#: Written next to the cached kernels: the hash of :data:`KERNEL_SOURCES` they were compiled from.
STAMP_NAME = "deocused-kernel-sources.txt"
_checked = False


def sources_hash(root: Path | None = None) -> str:
    """Hash of the contents of :data:`KERNEL_SOURCES` under ``root`` (None: this package)."""
    root = Path(__file__).resolve().parents[2] if root is None else root
    h = hashlib.sha256()
    for pattern in KERNEL_SOURCES:
        for path in sorted(root.glob(pattern)):
            h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:32]


def _drop_stale_cache() -> None:
    """Once per process, before a kernel is looked up in Numba's cache: if the cache was written from other
    kernel sources (an upgrade, or an edit of a helper that a kernel inlines), remove its kernels, so that
    they compile again (announced, with a progress bar) instead of loading stale code."""
    global _checked
    if _checked:
        return
    _checked = True
    disp = _kernels("photo")[0][0]
    folder = getattr(getattr(disp, "_cache", None), "_cache_path", None)  # caching off: None
    if folder is None:
        return
    stamp, want = Path(folder) / STAMP_NAME, sources_hash()
    with contextlib.suppress(OSError):
        if stamp.read_text() == want:
            return
    for f in Path(folder).glob("*.nb[ic]"):  # this folder holds this package's CPU kernels only
        with contextlib.suppress(OSError):
            f.unlink()
    with contextlib.suppress(OSError):
        Path(folder).mkdir(parents=True, exist_ok=True)
        stamp.write_text(want)


def _kernels(group: str):
    """(dispatcher, argument types) of each kernel of ``group``."""
    out = []
    for name, spec in GROUPS[group][1].items():
        mod, fn = name.split("#")[0].split(":")  # "#...": another signature of the same kernel
        disp = getattr(importlib.import_module(f"{__package__}.{mod}"), fn)
        out.append((disp, tuple(_type(s) for s in spec.split())))
    return out


def _cached(disp, sig) -> bool:
    """Whether ``disp`` is loaded for ``sig`` in this process or :func:`_on_disk`."""
    return tuple(sig) in disp.overloads or _on_disk(disp, sig)


def _on_disk(disp, sig) -> bool:
    """Whether Numba's cache holds ``disp`` compiled for ``sig`` from the current source
    (the check Numba itself makes on a call: the index entry of that signature, with a
    matching source stamp)."""
    cache = getattr(disp, "_cache", None)
    try:
        key = cache._index_key(tuple(sig), disp.targetctx.codegen())
        return key in cache._cache_file._load_index()
    except Exception:  # no cache (caching off) or another Numba: treat as not cached
        return False


def cold_groups(groups) -> list[str]:
    """The groups (of ``groups``) with some kernel neither loaded nor in the cache."""
    with _lock:
        _drop_stale_cache()
        return [g for g in groups if g not in _ready and not all(_cached(d, s) for d, s in _kernels(g))]


def announce(groups=RENDER_GROUPS) -> list[str]:
    """If some of ``groups`` must compile: one line (log, INFO) saying so and about how long,
    once per process. Returns the cold groups."""
    global _announced
    cold = cold_groups(groups)
    if cold and not _announced:
        _announced = True
        secs = sum(GROUPS[g][0] for g in cold)
        log.info("compiling the CPU kernels once for this install (%s: about %.0f s on an idle 2-core CPU, "
                 "longer on a busy one); later runs load them from the cache", ", ".join(cold), secs)
    return cold


def ensure(*groups: str) -> None:
    """Compile or load every kernel of ``groups`` now (thread-safe; a group is done once
    per process), with a tqdm bar per group that has to compile. Groups loaded already return at
    once, without the lock (another thread may be loading a further group meanwhile)."""
    if all(g in _ready for g in groups):  # a group once ready stays ready
        return
    with _lock:
        todo = [g for g in groups if g not in _ready]
        if not todo:
            return
        cold = announce(todo)
        _load_registries()
        try:
            for g in todo:
                _load(g, g in cold)
                _ready.add(g)
        finally:
            _set_status("")


def _load_registries() -> None:
    """Load Numba's typing and lowering registries (the first kernel would) without their BLAS check:
    it imports SciPy (~0.25 s of CPU at a command's start on the 2-core CPU) only to let ``np.dot``'s
    inner products call BLAS (a plain loop otherwise), and no kernel here calls it. Where the
    registries or SciPy's linalg are loaded already, nothing changes."""
    if "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    from numba.core.registry import cpu_target
    from numba.np import linalg

    def no_blas():
        raise ImportError("BLAS check skipped (deocused.render.cpu.jit)")

    check, linalg.ensure_blas = linalg.ensure_blas, no_blas
    try:
        cpu_target.target_context.refresh()
    finally:
        linalg.ensure_blas = check


def _load(group: str, cold: bool) -> None:
    """Compile (``cold``: with a tqdm bar and :func:`status`) or load one group's kernels."""
    kernels = _kernels(group)
    if not cold:
        for disp, sig in kernels:
            disp.compile(sig)
        return
    from tqdm import tqdm

    t0 = time.monotonic()
    with tqdm(total=len(kernels), desc=f"compiling CPU kernels: {group}", unit="kernel", file=sys.stderr,
              disable=not log.isEnabledFor(logging.INFO), dynamic_ncols=True) as bar:
        for k, (disp, sig) in enumerate(kernels):
            _set_status(f"compiling CPU kernels once: {group} {k}/{len(kernels)}")
            disp.compile(sig)
            bar.update()
    log.debug("CPU kernels %s compiled in %.1f s", group, time.monotonic() - t0)


def _set_status(text: str) -> None:
    global _status
    _status = text


def warmup(groups=None) -> dict[str, float]:
    """Compile ``groups`` (None: every group defined) into the cache (``refocus warmup``);
    seconds per group."""
    out = {}
    for g in tuple(GROUPS) if groups is None else groups:
        t0 = time.monotonic()
        ensure(g)
        out[g] = time.monotonic() - t0
    return out
