"""The CUDA host emulation (tests/cudahost) catches what a GPU run would show.

Each test launches a tiny kernel through the CPU stand-in for CuPy and checks a
result known in closed form (or against NumPy), or that a planted bug -- a missing
``__syncthreads``, an out-of-bounds write, a wrong argument type, divergent barriers --
is reported. These run wherever g++ is available, with or without a GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cudahost
import numpy as np
import pytest

ok, why = cudahost.available()
pytestmark = pytest.mark.skipif(not ok, reason=why)

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cp():
    return cudahost.load()["cupy"]


def run(cp, src, name, grid, block, args, shared_mem=0, options=()):
    fn = cp.RawModule(code=src, options=options).get_function(name)
    fn(grid, block, args, shared_mem=shared_mem)
    cp.cuda.get_current_stream().synchronize()


# -- barriers -----------------------------------------------------------------------------------
ROTATE = r"""
extern "C" __global__ void rotate(const float* in, float* out)
{
    __shared__ float s[128];
    const int t = threadIdx.x, n = blockDim.x;
    s[t] = in[blockIdx.x * n + t];
#ifdef WITH_SYNC
    __syncthreads();
#endif
    out[blockIdx.x * n + t] = s[(t + 1) % n];
}
"""


def test_syncthreads_makes_other_threads_writes_visible(cp):
    x = np.arange(3 * 128, dtype=np.float32)
    out = cp.empty(x.size, cp.float32)
    run(cp, ROTATE, "rotate", (3,), (128,), (cp.asarray(x), out), options=("-DWITH_SYNC",))
    np.testing.assert_array_equal(out.get(), np.roll(x.reshape(3, 128), -1, axis=1).ravel())


def test_missing_syncthreads_is_visible(cp):
    """Without the barrier, thread t reads s[t + 1] before thread t + 1 wrote it: the
    emulation runs each phase in thread order, so the read deterministically sees the
    fresh shared memory's fill (NaN), not the value."""
    x = np.arange(2 * 128, dtype=np.float32)
    out = cp.empty(x.size, cp.float32)
    run(cp, ROTATE, "rotate", (2,), (128,), (cp.asarray(x), out))
    got = out.get().reshape(2, 128)
    assert np.isnan(got[:, :127]).all()


def test_divergent_syncthreads_is_an_error(cp):
    src = r"""
    extern "C" __global__ void k(int* out)
    {
        if (threadIdx.x < 16) __syncthreads();
        else __syncthreads();
        out[threadIdx.x] = 1;
    }
    """
    out = cp.zeros(64, cp.int32)
    with pytest.raises(RuntimeError, match="divergent __syncthreads"):
        run(cp, src, "k", (1,), (64,), (out,))


def test_deadlock_is_an_error_not_a_hang(cp):
    """A warp shuffle that only some lanes reach while the others wait at a block barrier."""
    src = r"""
    extern "C" __global__ void k(int* out)
    {
        int v = threadIdx.x;
        if (threadIdx.x < 32) v = __shfl_xor_sync(0xffffffffu, v, 1);
        __syncthreads();
        if (threadIdx.x >= 32) v = __shfl_xor_sync(0xffffffffu, v, 1);
        out[threadIdx.x] = v;
    }
    """
    out = cp.zeros(64, cp.int32)
    # Lanes 0..31 shuffle, then everyone meets at the barrier, then warp 1 shuffles: fine.
    run(cp, src, "k", (1,), (64,), (out,))
    np.testing.assert_array_equal(out.get(), np.arange(64) ^ 1)
    bad = src.replace("__syncthreads();\n", "if (threadIdx.x < 48) __syncthreads();\n")
    with pytest.raises(RuntimeError, match="deadlock in block"):
        run(cp, bad, "k", (1,), (64,), (out,))


# -- warps, atomics, shared memory ------------------------------------------------------------------
def test_warp_shuffle_butterfly_reduction(cp):
    src = r"""
    extern "C" __global__ void wsum(const int* in, int* out)
    {
        const int i = blockIdx.x * blockDim.x + threadIdx.x;
        int v = in[i];
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
        out[i] = v;
    }
    """
    x = np.random.default_rng(0).integers(-1000, 1000, 4 * 96).astype(np.int32)
    out = cp.empty(x.size, cp.int32)
    run(cp, src, "wsum", (4,), (96,), (cp.asarray(x), out))
    expected = np.repeat(x.reshape(-1, 32).sum(axis=1), 32)
    np.testing.assert_array_equal(out.get(), expected)


def test_atomics_on_shared_and_global_memory(cp):
    """Per-block histogram in shared memory, merged into global memory with atomics."""
    src = r"""
    extern "C" __global__ void hist(const int* v, long long n, int* counts, float* sums, int* vmax)
    {
        __shared__ int s_count[16];
        __shared__ float s_sum[16];
        const int t = threadIdx.x;
        if (t < 16) { s_count[t] = 0; s_sum[t] = 0.0f; }
        __syncthreads();
        const long long i = (long long)blockIdx.x * blockDim.x + t;
        if (i < n) {
            atomicAdd(&s_count[v[i]], 1);
            atomicAdd(&s_sum[v[i]], 0.5f);
            atomicMax(vmax, v[i]);
        }
        __syncthreads();
        if (t < 16) { atomicAdd(&counts[t], s_count[t]); atomicAdd(&sums[t], s_sum[t]); }
    }
    """
    v = np.random.default_rng(1).integers(0, 16, 5000).astype(np.int32)
    counts, sums, vmax = cp.zeros(16, cp.int32), cp.zeros(16, cp.float32), cp.zeros(1, cp.int32)
    run(cp, src, "hist", ((v.size + 127) // 128,), (128,), (cp.asarray(v), np.int64(v.size), counts, sums, vmax))
    np.testing.assert_array_equal(counts.get(), np.bincount(v, minlength=16))
    np.testing.assert_array_equal(sums.get(), 0.5 * np.bincount(v, minlength=16))
    assert int(vmax.get()[0]) == v.max()


def test_dynamic_shared_memory_per_block(cp):
    src = r"""
    extern "C" __global__ void reverse(const float* in, float* out)
    {
        extern __shared__ float buf[];
        const int t = threadIdx.x, n = blockDim.x, o = blockIdx.x * n;
        buf[t] = in[o + t];
        __syncthreads();
        out[o + t] = buf[n - 1 - t];
    }
    """
    x = np.arange(5 * 64, dtype=np.float32)
    out = cp.empty(x.size, cp.float32)
    fn = cp.RawModule(code=src).get_function("reverse")
    fn((5,), (64,), (cp.asarray(x), out), shared_mem=64 * 4)
    np.testing.assert_array_equal(out.get(), x.reshape(5, 64)[:, ::-1].ravel())
    with pytest.raises(RuntimeError, match="dynamic shared memory"):
        fn((1,), (64,), (cp.asarray(x), out), shared_mem=64 * 1024)  # over 48 KiB without opting in


# -- numerics ---------------------------------------------------------------------------------------
HALF = r"""
extern "C" __global__ void to_half(const float* in, unsigned short* h, float* back, long long n)
{
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    unsigned short b;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(b) : "f"(in[i]));
    h[i] = b;
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(b));
    back[i] = f;
}
"""


def test_float16_conversion_bit_exact_with_numpy(cp):
    rng = np.random.default_rng(2)
    bits = rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32)
    special = np.array([0.0, -0.0, 65504.0, 65519.99, 65520.0, 1e9, -np.inf, np.inf, 6.1e-5, 5.96e-8,
                        2.98e-8, 2.99e-8, 1e-10, 1.0009765625, 1.00048828125, 1.00146484375, 0.1, 1e-3],
                       np.float32)
    x = np.concatenate([bits.view(np.float32), special, -special,
                        np.float16(np.arange(2048) * 2.0**-24).astype(np.float32)])  # every half subnormal
    x = x[~np.isnan(x)]
    h, back = cp.empty(x.size, cp.uint16), cp.empty(x.size, cp.float32)
    run(cp, HALF, "to_half", ((x.size + 255) // 256,), (256,), (cp.asarray(x), h, back, np.int64(x.size)))
    with np.errstate(over="ignore"):  # 65520 and up round to inf, as on the GPU
        ref = x.astype(np.float16)
    np.testing.assert_array_equal(h.get(), ref.view(np.uint16))
    np.testing.assert_array_equal(back.get().view(np.uint32), ref.astype(np.float32).view(np.uint32))


def test_flush_to_zero_as_cupy_compiles(cp):
    """CuPy compiles with -ftz=true: a subnormal float32 product is flushed to zero."""
    src = r"""
    extern "C" __global__ void mul(const float* a, float* out) { out[0] = a[0] * a[1]; out[1] = a[0] * 2.0f; }
    """
    out = cp.empty(2, cp.float32)
    run(cp, src, "mul", (1,), (1,), (cp.asarray(np.array([1e-20, 1e-20], np.float32)), out))
    np.testing.assert_array_equal(out.get(), np.array([0.0, 2e-20], np.float32))


# -- arguments --------------------------------------------------------------------------------------
SCALE = r"""
extern "C" __global__ void scale(const float* in, float* out, float k, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = k * in[i];
}
"""


def test_arguments_checked_against_the_signature(cp):
    fn = cp.RawModule(code=SCALE).get_function("scale")
    x = cp.asarray(np.arange(8, dtype=np.float32))
    out = cp.empty(8, cp.float32)
    fn((1,), (8,), (x, out, np.float32(2), np.int32(8)))
    cp.cuda.get_current_stream().synchronize()
    np.testing.assert_array_equal(out.get(), 2 * np.arange(8, dtype=np.float32))
    with pytest.raises(TypeError, match=r"scale argument 0 \(float\* in\): float64 array"):
        fn((1,), (8,), (cp.asarray(np.arange(8.0)), out, np.float32(2), np.int32(8)))
    with pytest.raises(TypeError, match=r"argument 2 \(float k\): float64 value"):
        fn((1,), (8,), (x, out, 2.0, np.int32(8)))  # a Python float is a double to CuPy
    with pytest.raises(TypeError, match=r"argument 3 \(int n\): int64 value"):
        fn((1,), (8,), (x, out, np.float32(2), 8))  # a Python int is a long long to CuPy
    with pytest.raises(TypeError, match="scalar parameter"):
        fn((1,), (8,), (x, out, x, np.int32(8)))
    with pytest.raises(TypeError, match="3 arguments for 4 parameters"):
        fn((1,), (8,), (x, out, np.float32(2)))


def test_renderer_kernel_arguments_checked(cp):
    """The real kernels' signatures are checked too (what gpu_backend passes)."""
    from deocused.render.gpu.backend import KERNEL_DIR, NVRTC_OPTIONS

    mod = cp.RawModule(code=(KERNEL_DIR / "pyramid.cu").read_text(), options=NVRTC_OPTIONS)
    stats_init = mod.get_function("stats_init")
    with pytest.raises(TypeError, match=r"stats_init argument 1 \(double\* stats_d\): float32 array"):
        stats_init((1,), (64,), (cp.empty(11, cp.int32), cp.empty(8, cp.float32), np.int32(8)))


# -- compilation --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_constants_come_from_the_defines(cp):
    """The kernels do not compile without gpu_backend's -D options (one source for constants)."""
    from deocused.render.gpu.backend import KERNEL_DIR, NVRTC_OPTIONS

    without = tuple(o for o in NVRTC_OPTIONS if not o.startswith("-DEPS="))
    with pytest.raises(cp.CompileException, match="EPS is not defined"):
        cp.RawModule(code=(KERNEL_DIR / "refocus.cu").read_text(), options=without)


def test_unknown_inline_asm_is_refused(cp):
    src = r"""
    extern "C" __global__ void k(float* a) { float f; asm("sqrt.approx.f32 %0, %1, %2;" : "=f"(f) : "f"(a[0])); a[0] = f; }
    """
    with pytest.raises(cp.CompileException, match="asm"):
        cp.RawModule(code=src)


@pytest.mark.slow
def test_build_cache_keyed_by_source(cp, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDAHOST_BUILD_DIR", str(tmp_path))
    cp.RawModule(code=SCALE)
    libs = sorted(tmp_path.glob("*.so"))
    assert len(libs) == 1
    stamp = libs[0].stat().st_mtime_ns
    cp.RawModule(code=SCALE)  # cached: not rebuilt
    assert sorted(tmp_path.glob("*.so")) == libs and libs[0].stat().st_mtime_ns == stamp
    cp.RawModule(code=SCALE.replace("k * in[i]", "k + in[i]"))
    assert len(list(tmp_path.glob("*.so"))) == 2


# -- sanitizer ----------------------------------------------------------------------------------------
OOB = r"""
extern "C" __global__ void fill(float* out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) out[i] = 1.0f;  // planted bug: i == n writes one past the end
}
"""

ASAN_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import cudahost
    cp = cudahost.load()["cupy"]
    src, n = sys.argv[1], int(sys.argv[2])
    out = cp.empty(n, cp.float32)
    cp.RawModule(code=src).get_function("fill")((1,), (64,), (out, np.int32(n)))
    cp.cuda.get_current_stream().synchronize()
    print("finished", float(out.get().sum()))
""")


def _libasan() -> str | None:
    res = subprocess.run(["g++", "-print-file-name=libasan.so"], capture_output=True, text=True, check=False)
    path = res.stdout.strip()
    return path if res.returncode == 0 and os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.slow
def test_out_of_bounds_write_caught_by_address_sanitizer(tmp_path):
    asan = _libasan()
    if asan is None:
        pytest.skip("g++ has no AddressSanitizer runtime (libasan)")
    env = dict(os.environ, CUDAHOST_SANITIZE="address", CUDAHOST_BUILD_DIR=str(tmp_path), LD_PRELOAD=asan,
               ASAN_OPTIONS="detect_leaks=0", PYTHONPATH=os.pathsep.join([str(TESTS), str(TESTS.parent)]))

    def go(n):
        return subprocess.run([sys.executable, "-c", ASAN_SCRIPT, OOB, str(n)], env=env, capture_output=True,
                              text=True, timeout=300, check=False)

    clean = go(64)  # 64 threads, i <= 63 < n: in bounds
    assert clean.returncode == 0, clean.stderr[-3000:]
    assert "finished 64.0" in clean.stdout
    bad = go(40)  # thread 40 writes out[40] of a 40-element array
    assert bad.returncode != 0
    assert "heap-buffer-overflow" in bad.stderr and "WRITE of size 4" in bad.stderr, bad.stderr[-3000:]


def test_stand_in_ufuncs_take_device_arrays_in_every_argument():
    """NumPy ufunc keywords (out=, where=) may hold stand-in arrays too (the engine's
    in-place colour conversion passes both)."""
    x = np.linspace(-1, 1, 11, dtype=np.float32)
    with cudahost.installed() as cp:
        a = cp.asarray(x)
        out = cp.zeros_like(a)
        np.divide(a, 2.0, out=out, where=a > 0)
        np.testing.assert_array_equal(cp.asnumpy(out), np.where(x > 0, x / 2, 0).astype(np.float32))
