"""GPU backend: parity with the CPU backend, buffer reuse, streams, out-of-memory.

Tolerance of the parity tests (8-bit sRGB output of GpuRenderer vs CpuRenderer):
max abs error <= 2/255 and mean abs error <= 0.05/255. Differences come from
float summation order (cv2.filter2D, partly via DFT, vs the direct sum on the
GPU; hierarchical vs one-step box means) amplified by float16 level storage.

GPU tests are marked ``gpu``. They run on a real device where CuPy has one, and
otherwise on the CUDA host emulation (tests/cudahost: the unchanged kernels compiled
by g++, a CPU stand-in for CuPy), through the ``cupy_device`` / ``renderer_factory``
fixtures of conftest.py. Under emulation the images are small (a few seconds per
prepare); the motorcycle sample is cropped around its focus point.
The kernel compile test needs only ``nvcc`` (skipped where it is not on PATH); the
NVRTC compile check is tests/render/test_nvrtc.py.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import is_emulated

import deocused
from deocused.errors import DeviceError, InputError
from deocused.render.aperture import Aperture, ApertureImage

KERNELS = sorted(Path(deocused.__file__).resolve().parent.rglob("*.cu"))  # each beside the module that launches it
MAX_ERR = 2      # 8-bit levels
MEAN_ERR = 0.05  # 8-bit levels


# -- CPU-only: the kernels compile ---------------------------------------------------------
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not on PATH")
@pytest.mark.parametrize("path", KERNELS, ids=[p.name for p in KERNELS])
def test_kernel_compiles_with_nvcc(path, tmp_path):
    from deocused.render.gpu.backend import NVRTC_OPTIONS

    res = subprocess.run(["nvcc", "--ptx", "-arch=sm_90", *NVRTC_OPTIONS, "-o", str(tmp_path / "k.ptx"), str(path)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr


def test_kernel_files_present():
    names = {p.name for p in KERNELS}
    assert {"pyramid.cu", "refocus.cu"} <= names


# -- GPU -----------------------------------------------------------------------------------
def _scene(h, w, seed, n_regions=5):
    """Random image with a few depth planes plus a smooth ramp, and some bright lights."""
    rng = np.random.default_rng(seed)
    img = rng.random((h, w, 3), dtype=np.float32) ** 2
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    disp = (0.3 * xx / max(w - 1, 1) + 0.2 * yy / max(h - 1, 1)).astype(np.float32)
    for _ in range(n_regions):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(0.1, 0.4) * min(h, w)
        disp = np.where((yy - cy) ** 2 + (xx - cx) ** 2 < r * r, np.float32(rng.uniform(0, 1)), disp)
    lights = rng.random((h, w)) > 0.995
    img[lights] = 1.0
    return img.astype(np.float32), np.clip(disp, 0, 1).astype(np.float32)


def _compare(cpu_img, gpu_img, what=""):
    assert gpu_img.shape == cpu_img.shape and gpu_img.dtype == np.uint8
    diff = np.abs(cpu_img.astype(np.int16) - gpu_img.astype(np.int16))
    assert diff.max() <= MAX_ERR, f"{what}: max abs error {diff.max()}/255 (mean {diff.mean():.4f})"
    assert diff.mean() <= MEAN_ERR, f"{what}: mean abs error {diff.mean():.4f}/255"


def _pair(**opts):
    from deocused.render.cpu.backend import CpuRenderer
    from deocused.render.gpu.backend import GpuRenderer

    return CpuRenderer(**opts), GpuRenderer(**opts)


CASES = [  # (h, w, n_bands, aperture, highlights, renders [(focus, K, dof)])
    (64, 96, 8, Aperture(), 0.0, [(0.5, 12.0, 0.0), (0.1, 30.0, 0.0)]),
    (77, 131, 8, Aperture(), 0.0, [(0.8, 40.0, 0.05), (0.0, 0.0, 0.0), (0.35, 3.0, 0.0)]),
    (100, 70, 4, Aperture(6, 15.0), 2.0, [(0.6, 25.0, 0.0), (0.2, 70.0, 0.1)]),
    (129, 161, 16, Aperture(5), 0.0, [(0.45, 20.0, 0.0), (1.0, 9.0, 0.0)]),
    (90, 120, 1, Aperture(), 1.0, [(0.5, 16.0, 0.0)]),
    (200, 300, 8, Aperture(), 0.5, [(0.3, 64.0, 0.0), (0.7, 130.0, 0.02)]),
    # Lens character: an oval of an asymmetric aperture image (a triangle, grey-graded).
    (80, 110, 8, Aperture(anamorphic=1.6, image=ApertureImage.from_array(np.tril(np.linspace(0.3, 1.0, 32)[:, None]
                                                                                  * np.ones((32, 32))))),
     0.0, [(0.4, 24.0, 0.0), (0.9, 9.0, 0.0)]),
]


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.parametrize("case", range(len(CASES)))
def test_parity_random(case, cupy_device):
    h, w, n, ap, hl, renders = CASES[case]
    img, disp = _scene(h, w, seed=case)
    cpu, gpu = _pair(aperture=ap, n_bands=n, highlights=hl)
    cpu.prepare(img, disp)
    gpu.prepare(img, disp)
    np.testing.assert_array_equal(gpu.band_count, cpu.band_count)
    np.testing.assert_allclose(gpu.band_centre, cpu.band_centre, rtol=1e-5, atol=1e-6)
    for f, K, dof in renders:
        _compare(cpu.render_srgb8(f, K, dof), gpu.render_srgb8(f, K, dof), f"case {case} f={f} K={K} dof={dof}")
        lin_c = cpu.render(f, K, dof)
        lin_g = gpu.to_host(gpu.render(f, K, dof))
        assert lin_g.dtype == np.float32 and lin_g.shape == (h, w, 3)
        assert np.isfinite(lin_g).all()
        assert np.abs(lin_c - lin_g).mean() < 2e-3


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.parametrize("strength,place", [(1.0, None), (0.6, (200, 40, 480, 360))])
def test_parity_cat_eye(strength, place, cupy_device):
    """The cat-eye's taps (refocus.cu layer_at) against the CPU kernels, on a photo and on a crop placed in one."""
    img, disp = _scene(80, 110, seed=11)
    cpu, gpu = _pair(cat_eye=strength)
    cpu.prepare(img, disp, place=place)
    gpu.prepare(img, disp, place=place)
    for f, K in ((0.4, 24.0), (0.9, 9.0), (0.1, 40.0)):
        _compare(cpu.render_srgb8(f, K), gpu.render_srgb8(f, K), f"cat-eye {strength} f={f} K={K}")
        assert np.abs(cpu.render(f, K) - gpu.to_host(gpu.render(f, K))).mean() < 2e-3
    plain = _pair()[0]
    plain.prepare(img, disp)
    assert np.abs(plain.render(0.1, 40.0) - cpu.render(0.1, 40.0)).max() > 0.05  # the cat-eye shows


@pytest.mark.gpu
def test_outline_codes_equal_the_cpu(cupy_device):
    """The outline split is decided per pixel by float32 arithmetic on both backends:
    the codes (share and direction) must be the same bit for bit, on random scenes
    and on a real photo's depth edges."""
    from deocused.io.colour import srgb_to_linear
    from deocused.io.depthmap import to_disparity
    from deocused.io.samples import load_sample

    srgb, raw, (fx, fy) = load_sample("motorcycle")
    ch, cw = EMULATED_CROP
    y0, x0 = int(np.clip(fy - ch // 2, 0, raw.shape[0] - ch)), int(np.clip(fx - cw // 2, 0, raw.shape[1] - cw))
    photo = (srgb_to_linear(srgb)[y0:y0 + ch, x0:x0 + cw], to_disparity(raw)[y0:y0 + ch, x0:x0 + cw])
    for img, disp, hl in (photo + (0.0,), _scene(64, 96, 1) + (2.0,), _scene(77, 131, 2) + (0.0,)):
        cpu, gpu = _pair(highlights=hl)
        cpu.prepare(img, disp)
        gpu.prepare(img, disp)
        h, w = disp.shape
        np.testing.assert_array_equal(gpu._buf["codes"].get(), cpu._codes[:h, :w])
    cpu.prepare(*photo)
    assert np.count_nonzero(cpu._codes) > 100  # the photo has outlines to split


#: Under emulation: the window of the motorcycle sample that is rendered, (height, width) px,
#: centred on the focus point (it holds the bike's depth edges against the background).
EMULATED_CROP = (128, 192)


@pytest.mark.slow
@pytest.mark.gpu
def test_parity_sample_motorcycle(cupy_device):
    pytest.importorskip("skimage")
    from deocused.io.colour import srgb_to_linear
    from deocused.io.depthmap import to_disparity
    from deocused.io.samples import load_sample
    from deocused.render.optics import focus_disparity_at

    srgb, raw, (fx, fy) = load_sample("motorcycle")
    disp = to_disparity(raw)
    lin = srgb_to_linear(srgb)
    f = focus_disparity_at(disp, fx, fy)
    if is_emulated(cupy_device):
        ch, cw = EMULATED_CROP
        y0 = int(np.clip(fy - ch // 2, 0, disp.shape[0] - ch))
        x0 = int(np.clip(fx - cw // 2, 0, disp.shape[1] - cw))
        lin, disp = lin[y0:y0 + ch, x0:x0 + cw], disp[y0:y0 + ch, x0:x0 + cw]
    cpu, gpu = _pair()
    cpu.prepare(lin, disp)
    gpu.prepare(lin, disp)
    for K in (8.0, 24.0, 60.0):
        _compare(cpu.render_srgb8(f, K), gpu.render_srgb8(f, K), f"motorcycle K={K}")


@pytest.mark.slow
@pytest.mark.gpu
def test_cupy_inputs_and_output_type(cupy_device):
    cp = cupy_device
    from deocused.render.gpu.backend import GpuRenderer

    img, disp = _scene(48, 80, seed=11)
    r = GpuRenderer()
    r.prepare(cp.asarray(img), cp.asarray(disp))
    out = r.render(0.4, 20.0)
    assert isinstance(out, cp.ndarray) and out.dtype == cp.float32 and out.shape == (48, 80, 3)
    host = r.to_host(out)
    assert isinstance(host, np.ndarray)
    r2 = GpuRenderer()
    r2.prepare(img, disp)
    np.testing.assert_allclose(r2.to_host(r2.render(0.4, 20.0)), host, atol=1e-5)
    # float64 / non-contiguous cupy inputs are converted
    r2.prepare(cp.asarray(img, dtype=cp.float64), cp.asfortranarray(cp.asarray(disp)))
    np.testing.assert_allclose(r2.to_host(r2.render(0.4, 20.0)), host, atol=1e-5)


def test_input_validation(renderer_factory):
    r = renderer_factory()
    img, disp = _scene(32, 32, seed=3)
    with pytest.raises(InputError, match="RGB"):
        r.prepare(img[:, :, :2], disp)
    with pytest.raises(InputError, match="disparity is"):
        r.prepare(img, disp[:20])
    bad = disp.copy()
    bad[3, 4] = np.nan
    with pytest.raises(InputError, match="NaN"):
        r.prepare(img, bad)
    with pytest.raises(InputError, match="normalised"):
        r.prepare(img, disp * 2.0 + 0.5)
    if renderer_factory.device == "gpu":
        import cupy as cp

        with pytest.raises(InputError, match="normalised"):
            r.prepare(cp.asarray(img), cp.asarray(disp - 0.5))
    with pytest.raises(RuntimeError):
        r.render(0.5, 10.0)
    r.prepare(img, disp)
    with pytest.raises(InputError):
        r.render(1.5, 10.0)



def test_integer_inputs_and_render_before_prepare_are_input_errors(renderer_factory):
    """Both backends refuse integer images (codes, not values in [0, 1]), host or device, and
    render() before prepare(), with InputError."""
    r = renderer_factory()
    img, disp = _scene(24, 32, seed=4)
    with pytest.raises(InputError, match="before prepare"):
        r.render(0.5, 10.0)
    with pytest.raises(InputError, match="uint8"):
        r.prepare((img * 255).astype(np.uint8), disp)
    with pytest.raises(InputError, match="uint16"):
        r.prepare(img, (disp * 65535).astype(np.uint16))
    if renderer_factory.device == "gpu":
        import cupy as cp

        with pytest.raises(InputError, match="uint8"):
            r.prepare(cp.asarray((img * 255).astype(np.uint8)), cp.asarray(disp))
    with pytest.raises(InputError, match="before prepare"):
        r.render(0.5, 10.0)

def test_synchronize_then_result_is_final(renderer_factory):
    """``synchronize()`` is part of the renderer contract; afterwards the result is complete."""
    img, disp = _scene(40, 56, seed=8)
    r = renderer_factory()
    r.prepare(img, disp)
    out = r.render(0.3, 12.0)
    r.synchronize()
    first = r.to_host(out).copy()
    assert np.isfinite(first).all() and first.shape == (40, 56, 3)
    r.synchronize()  # idempotent
    np.testing.assert_array_equal(r.to_host(r.render(0.3, 12.0)), first)


@pytest.mark.slow
@pytest.mark.gpu
def test_buffers_reused(cupy_device):
    from deocused.render.gpu.backend import GpuRenderer

    r = GpuRenderer()
    a, da = _scene(70, 90, seed=1)
    b, db = _scene(70, 90, seed=2)
    r.prepare(a, da)
    r.render(0.5, 40.0)
    p1 = r.buffer_pointers()
    out1 = r.render(0.2, 10.0).data.ptr
    r.prepare(b, db)
    r.render(0.5, 60.0)
    assert r.buffer_pointers() == p1
    assert r.render(0.3, 5.0).data.ptr == out1 == p1["out"]
    # A new size reallocates; back to the old size works again.
    c, dc = _scene(40, 50, seed=3)
    r.prepare(c, dc)
    assert r.render(0.5, 10.0).shape == (40, 50, 3)


_SLEEP = r"""
extern "C" __global__ void sleep_cycles(long long cycles) {
    long long t0 = clock64();
    while (clock64() - t0 < cycles) { }
}
"""


@pytest.mark.slow
@pytest.mark.gpu
def test_stream_honoured(cupy_device):
    cp = cupy_device
    from deocused.render.gpu.backend import GpuRenderer

    stream = cp.cuda.Stream(non_blocking=True)
    r = GpuRenderer(stream=stream)
    assert r.stream is stream
    img, disp = _scene(64, 64, seed=5)
    r.prepare(img, disp)
    first = r.to_host(r.render(0.1, 30.0)).copy()
    expected = r.to_host(r.render(0.9, 30.0)).copy()
    r.render(0.1, 30.0)
    stream.synchronize()
    sleeper = cp.RawKernel(_SLEEP, "sleep_cycles")
    rate = cp.cuda.Device().attributes["ClockRate"] * 1000  # Hz
    with stream:
        sleeper((1,), (1,), (np.int64(rate * 1.0),))  # ~1 s, on `stream`
    t0 = time.perf_counter()
    out = r.render(0.9, 30.0)  # queued behind the sleeper on `stream`
    assert time.perf_counter() - t0 < 0.5, "render() blocked the host"
    assert not stream.done
    other = cp.cuda.Stream(non_blocking=True)
    with other:
        early = cp.asnumpy(out, stream=other)  # does not wait for `stream`
    np.testing.assert_array_equal(early, first)  # render's kernel has not run yet
    stream.synchronize()
    np.testing.assert_array_equal(cp.asnumpy(out), expected)


@pytest.mark.slow
@pytest.mark.gpu
def test_copy_on_caller_stream_not_overwritten(cupy_device):
    """A .copy() of render()'s result queued on the caller's stream sees that result,
    even when the next render() is issued before the copy has run."""
    cp = cupy_device
    from deocused.render.gpu.backend import GpuRenderer

    r = GpuRenderer(stream=cp.cuda.Stream(non_blocking=True))
    img, disp = _scene(64, 64, seed=6)
    r.prepare(img, disp)
    expected = r.to_host(r.render(0.1, 30.0)).copy()
    caller = cp.cuda.Stream(non_blocking=True)
    sleeper = cp.RawKernel(_SLEEP, "sleep_cycles")
    rate = cp.cuda.Device().attributes["ClockRate"] * 1000  # Hz
    with caller:
        out = r.render(0.1, 30.0)
        sleeper((1,), (1,), (np.int64(rate * 0.5),))  # ~0.5 s on the caller's stream
        kept = out.copy()                             # queued behind the sleeper
        r.render(0.9, 30.0)                           # overwrites `out` on the renderer's stream
        got = cp.asnumpy(kept)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.gpu
def test_out_of_memory_is_device_error(monkeypatch, cupy_device):
    cp = cupy_device
    from deocused.render.gpu.backend import GpuRenderer

    r = GpuRenderer()
    img, disp = _scene(64, 64, seed=4)

    def failing_malloc(size):
        raise cp.cuda.memory.OutOfMemoryError(size, 0)

    old = cp.cuda.get_allocator()
    cp.cuda.set_allocator(failing_malloc)
    try:
        with pytest.raises(DeviceError, match="out of memory.*--device cpu"):
            r.prepare(img, disp)
    finally:
        cp.cuda.set_allocator(old)
    # Usable again afterwards.
    r.prepare(img, disp)
    assert r.to_host(r.render(0.5, 10.0)).shape == (64, 64, 3)


@pytest.mark.gpu
def test_make_renderer_gpu(cupy_device):
    from deocused.render.backends import make_renderer
    from deocused.render.gpu.backend import GpuRenderer

    assert isinstance(make_renderer("gpu"), GpuRenderer)
    assert isinstance(make_renderer("auto"), GpuRenderer)


@pytest.mark.slow
@pytest.mark.gpu
def test_out_of_memory_half_way_frees_what_the_renderer_took(cupy_device):
    """The GPU fills up half way through a render's allocations (all of them happen in prepare(); render()
    allocates nothing): a GpuMemoryError (exit code 3, names the image and --device cpu), every buffer
    allocated for the image before the failure is freed (the renderer's small constant tables stay, as
    they do between images), and the same renderer works again once memory is back."""
    import gc
    import weakref

    cp = cupy_device
    from deocused.errors import GpuMemoryError
    from deocused.render.gpu.backend import GpuRenderer

    img, disp = _scene(64, 96, seed=5)
    base = cp.cuda.get_allocator()
    sizes, refs = [], []

    def counting(size):
        sizes.append(size)
        mem = base(size)
        refs.append(weakref.ref(mem))
        return mem

    r0 = GpuRenderer()
    cp.cuda.set_allocator(counting)
    try:
        r0.prepare(img, disp)
    finally:
        cp.cuda.set_allocator(base)
    r0._release()  # what a renderer keeps without an image: its small constant tables
    gc.collect()
    kept = [i for i, ref in enumerate(refs) if ref() is not None]
    assert len(sizes) >= 4 and len(kept) < len(sizes) // 2
    taken = []

    def fills_up(size):
        if len(taken) >= len(sizes) // 2:
            raise cp.cuda.memory.OutOfMemoryError(size, sum(sizes[:len(taken)]))
        mem = base(size)
        taken.append((size, weakref.ref(mem)))
        return mem

    r = GpuRenderer()
    cp.cuda.set_allocator(fills_up)
    try:
        with pytest.raises(GpuMemoryError, match="GPU out of memory for the 96x64 image.*--device cpu") as ei:
            r.prepare(img, disp)
    finally:
        cp.cuda.set_allocator(base)
    assert ei.value.exit_code == 3 and ei.value.__context__ is None  # no traceback holding the buffers
    del ei
    gc.collect()
    assert len(taken) == len(sizes) // 2
    alive = sum(size for size, ref in taken if ref() is not None)
    # no buffer of the image's size survives (a stream's pending copy of a small table may, until it syncs)
    assert alive - sum(sizes[i] for i in kept) < 96 * 64 * 4, "the image's buffers were not freed"
    r.prepare(img, disp)
    assert r.to_host(r.render(0.1, 30.0)).shape == (64, 96, 3)


@pytest.mark.gpu
def test_render_command_out_of_gpu_memory_retries_on_the_cpu_or_exits_3(cupy_device, tmp_path, capsys):
    """`refocus render` when every GPU allocation fails: with --device auto it says so in one line and
    renders on the CPU (the file is byte for byte the --device cpu result); with --device gpu it stops
    with one `refocus: error:` line about GPU memory and exit code 3, writing nothing."""
    import cv2

    cp = cupy_device
    from deocused.cli import main

    img, disp = _scene(64, 96, seed=6)
    src, dpath = tmp_path / "in.png", tmp_path / "in.depth.npy"
    cv2.imwrite(str(src), np.rint(np.clip(img, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8)[:, :, ::-1])
    np.save(dpath, disp)
    common = [str(src), "--depth", str(dpath), "--focus-disparity", "0.3", "--max-blur", "12"]
    assert main(["-q", "render", *common, "-o", str(tmp_path / "cpu.png"), "--device", "cpu"]) == 0
    capsys.readouterr()

    def failing_malloc(size):
        raise cp.cuda.memory.OutOfMemoryError(size, 0)

    old = cp.cuda.get_allocator()
    cp.cuda.set_allocator(failing_malloc)
    try:
        assert main(["render", *common, "-o", str(tmp_path / "auto.png"), "--device", "auto"]) == 0
        err = capsys.readouterr().err
        assert main(["render", *common, "-o", str(tmp_path / "gpu.png"), "--device", "gpu"]) == 3
        err_gpu = capsys.readouterr().err
    finally:
        cp.cuda.set_allocator(old)
    notice = [s for s in err.splitlines() if "GPU out of memory" in s]
    assert len(notice) == 1 and notice[0].endswith("rendering on the CPU instead"), err
    assert (tmp_path / "auto.png").read_bytes() == (tmp_path / "cpu.png").read_bytes()
    errors = [s for s in err_gpu.splitlines() if s.startswith("refocus: error:")]
    assert len(errors) == 1 and "GPU out of memory" in errors[0] and "Traceback" not in err_gpu, err_gpu
    assert not (tmp_path / "gpu.png").exists()
