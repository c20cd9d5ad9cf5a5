"""Loading the CPU kernels (deocused.render.cpu.jit): one declared signature per kernel, the one
the Python wrappers pass; thread shares that cover every item once; progress on a cold
cache and silence on a warm one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deocused.render.cpu import jit as cpu_jit
from deocused.render.cpu import srgb8 as frames
from deocused.render.cpu.backend import CpuRenderer
from deocused.render.cpu.pixels import run_chunks


def test_no_kernel_uses_numbas_threading_layer():
    """Every kernel is serial (run_chunks spreads it over the cores): a ``parallel=True`` kernel
    run from a thread other than the main one (the viewer's render thread encodes its frames)
    can leave the process hanging at exit in Numba's TBB layer (unload_tbb, numba issue 10556)."""
    assert frames.Srgb8Encoder  # the module that defines the "frames" group is imported
    parallel = [d.py_func.__qualname__ for g in cpu_jit.GROUPS for d, _ in cpu_jit._kernels(g)
                if d.targetoptions.get("parallel")]
    assert parallel == []


def test_each_kernel_is_called_with_exactly_its_declared_signature():
    """A render, a level build and the frame conversions use one specialisation per kernel,
    the declared one: nothing compiles (or loads) at call time beyond what ensure() did."""
    groups = ("photo", "levels", "render", "frames")
    cpu_jit.ensure(*groups)
    before = {d: list(d.signatures) for g in groups for d, _ in cpu_jit._kernels(g)}
    r = CpuRenderer()
    img = np.random.default_rng(1).random((40, 56, 3), dtype=np.float32)
    disp = np.tile(np.linspace(0, 1, 56, dtype=np.float32), (40, 1))
    r.prepare(img, disp)
    r.render(0.2, 30.0)
    r.ensure_levels(99)
    frames.Srgb8Encoder()(img)
    frames.srgb8_to_linear((img * 255).astype(np.uint8))
    for group in groups:
        for disp_, sig in cpu_jit._kernels(group):
            assert sig in [tuple(s) for s in disp_.signatures], disp_.py_func.__name__
            assert disp_.signatures == before[disp_], disp_.py_func.__name__


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 64])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_run_chunks_covers_each_item_once(monkeypatch, n, threads):
    import numba

    monkeypatch.setattr(numba, "get_num_threads", lambda: threads)
    seen = np.zeros(n, np.int64)

    def kernel(lo, hi, out):
        assert 0 <= lo <= hi <= n
        out[lo:hi] += 1

    run_chunks(kernel, n, seen)
    np.testing.assert_array_equal(seen, 1)


def test_run_chunks_hands_out_contiguous_shares_and_passes_an_error_on(monkeypatch):
    """Four contiguous shares per thread, each run once; a share's error reaches the caller after
    the other threads' shares are done (nothing keeps running behind the caller)."""
    import threading

    import numba

    from deocused.render.cpu.pixels import SHARES_PER_THREAD

    monkeypatch.setattr(numba, "get_num_threads", lambda: 2)
    shares, lock = [], threading.Lock()

    def kernel(lo, hi):
        with lock:
            shares.append((lo, hi))

    run_chunks(kernel, 1000)
    n = 2 * SHARES_PER_THREAD
    assert sorted(shares) == [(1000 * k // n, 1000 * (k + 1) // n) for k in range(n)]

    def failing(lo, hi):
        kernel(lo, hi)
        if lo == 500:
            raise ValueError("share 4")

    shares.clear()
    with pytest.raises(ValueError, match="share 4"):
        run_chunks(failing, 1000)
    assert len(shares) >= 5


def _ensure_photo(cache_dir) -> subprocess.CompletedProcess:
    code = ("import logging, sys; h = logging.StreamHandler(sys.stderr); h.setFormatter(logging.Formatter("
            "'refocus: %(message)s')); logging.getLogger('deocused').addHandler(h); "
            "logging.getLogger('deocused').setLevel(logging.INFO); "
            "from deocused.render.cpu import jit as cpu_jit; cpu_jit.ensure('photo'); print(cpu_jit.cold_groups(['photo']))")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)


def test_loading_the_kernels_does_not_import_scipys_linear_algebra():
    """Numba's registries load without their BLAS check (it imports scipy.linalg: ~0.25 s of a command's
    start); np.dot's inner product then runs as a plain loop in Numba code, with numpy's result."""
    code = ("import sys, numpy as np, numba; from deocused.render.cpu import jit; jit.ensure('photo'); "
            "print('scipy.linalg' in sys.modules); f = numba.njit(lambda a, b: np.dot(a, b)); "
            "a = np.arange(5.0); print(f(a, a) == np.dot(a, a)); import numba.np.arraymath as m; print(m._HAVE_BLAS)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["False", "True", "False"]


@pytest.mark.slow
def test_a_cold_cache_shows_one_line_and_a_bar_and_a_warm_one_nothing(tmp_path):
    cold = _ensure_photo(tmp_path)
    assert cold.returncode == 0, cold.stderr
    lines = [ln for ln in cold.stderr.splitlines() if ln.startswith("refocus: ")]
    assert len(lines) == 1 and "compiling the CPU kernels once" in lines[0] and "photo" in lines[0]
    kernels = len(cpu_jit.GROUPS["photo"][1])
    assert "compiling CPU kernels: photo" in cold.stderr and f"{kernels}/{kernels}" in cold.stderr  # the tqdm bar
    assert cold.stdout.strip() == "[]"  # now in the cache
    warm = _ensure_photo(tmp_path)
    assert warm.returncode == 0, warm.stderr
    assert warm.stderr == ""
    assert any(p.suffix == ".nbi" for p in tmp_path.rglob("*"))


def test_the_kernel_sources_hash_covers_the_helpers_that_kernels_inline(tmp_path):
    """Numba keys a cached kernel to its own file; _refocus_tiles inlines sampling.py's helpers and reads
    pyramid.py's constants. The stamp hashes every kernel source: an edit of any of them changes it."""
    from pathlib import Path

    import deocused

    root = Path(deocused.__file__).parent
    for rel in ("render/cpu/refocus.py", "render/cpu/sampling.py", "render/cpu/pixels.py", "render/pyramid.py",
                "constants.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((root / rel).read_bytes())
    before = cpu_jit.sources_hash(tmp_path)
    assert before != cpu_jit.sources_hash(root)  # the copy lacks the other kernel modules
    for rel in ("render/cpu/sampling.py", "render/pyramid.py", "constants.py"):
        path = tmp_path / rel
        text = path.read_bytes()
        path.write_bytes(text + b"\n# edited\n")
        assert cpu_jit.sources_hash(tmp_path) != before, rel
        path.write_bytes(text)
        assert cpu_jit.sources_hash(tmp_path) == before
    (tmp_path / "viewer").mkdir()
    (tmp_path / "viewer" / "app.py").write_text("# not a kernel source")
    assert cpu_jit.sources_hash(tmp_path) == before


@pytest.mark.slow
def test_a_cache_written_from_other_kernel_sources_compiles_again(tmp_path):
    """The stamp next to the cached kernels names the sources they came from; when it differs (an upgrade, an
    edited helper), the cached kernels are dropped and compile again, announced, instead of loading stale code."""
    first = _ensure_photo(tmp_path)
    assert first.returncode == 0, first.stderr
    stamps = list(tmp_path.rglob(cpu_jit.STAMP_NAME))
    assert len(stamps) == 1 and stamps[0].read_text() == cpu_jit.sources_hash()
    assert _ensure_photo(tmp_path).stderr == ""  # the same sources: loaded
    stamps[0].write_text("kernels of another version")
    again = _ensure_photo(tmp_path)
    assert again.returncode == 0, again.stderr
    assert "compiling the CPU kernels once" in again.stderr and "photo" in again.stderr
    assert again.stdout.strip() == "[]" and stamps[0].read_text() == cpu_jit.sources_hash()


def test_refocus_warmup_leaves_every_group_in_the_cache(capsys):
    """(Compiles into the suite's own cache what the other tests load anyway.) It also writes the
    package's bytecode, even where PYTHONDONTWRITEBYTECODE is set."""
    import importlib.util

    import deocused.photo
    from deocused.cli import main

    pyc = Path(importlib.util.cache_from_source(deocused.photo.__file__))
    if not os.access(pyc.parent.parent, os.W_OK):
        pytest.skip("the package's folder is read-only here")
    pyc.unlink(missing_ok=True)
    assert main(["warmup"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CPU kernels ready in the cache")
    assert "Python bytecode of" in out and "up to date" in out
    assert pyc.is_file() and pyc.stat().st_mtime >= Path(deocused.photo.__file__).stat().st_mtime
    assert all(g in out for g in ("photo", "levels", "render", "frames"))
    assert cpu_jit.cold_groups(tuple(cpu_jit.GROUPS)) == []
    for group in cpu_jit.GROUPS:
        for disp, sig in cpu_jit._kernels(group):
            assert cpu_jit._on_disk(disp, sig), disp.py_func.__name__


def test_status_names_the_group_while_it_compiles_and_clears_after(monkeypatch):
    """What the viewer's and live mode's status line show (cpu_jit.status) during a cold compile."""
    seen = []
    real = cpu_jit._kernels

    class FakeKernel:
        overloads: dict = {}

        def compile(self, sig):
            seen.append(cpu_jit.status())

    monkeypatch.setitem(cpu_jit.GROUPS, "fake", (1.0, {}))
    monkeypatch.setattr(cpu_jit, "_kernels", lambda g: [(FakeKernel(), ()), (FakeKernel(), ())] if g == "fake"
                        else real(g))
    monkeypatch.setattr(cpu_jit, "_on_disk", lambda disp, sig: False)
    monkeypatch.setattr(cpu_jit, "_announced", True)
    monkeypatch.setattr(cpu_jit, "_ready", set(cpu_jit._ready))
    cpu_jit.ensure("fake")
    assert seen == ["compiling CPU kernels once: fake 0/2", "compiling CPU kernels once: fake 1/2"]
    assert cpu_jit.status() == ""
    cpu_jit.ensure("fake")  # once per process
    assert len(seen) == 2
