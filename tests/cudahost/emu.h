// CUDA built-ins for the host C++ compiler: runs unchanged engine/render/gpu/*.cu on the CPU.
//
// Execution model (see README.md):
// * every CUDA thread of a block is its own OS thread (std::thread); blocks of a launch run
//   one after another;
// * the threads of a block take turns: exactly one runs at a time, and it runs until it
//   reaches a barrier or exits, then hands over to the next runnable thread in thread-index
//   order (a futex hand-over). So each phase between two __syncthreads runs its threads in
//   order 0, 1, .., n-1: a read of a value another thread writes in the same phase (a
//   missing __syncthreads) deterministically sees the old contents (fresh shared memory is
//   filled with 0xFF bytes: NaN / -1);
// * __syncthreads is an exact barrier over the block's live threads (threads that exited
//   drop out, as on a GPU); barriers reached at different source lines in one phase are
//   reported ("divergent __syncthreads"); if no thread can run any more the launch fails
//   with "deadlock" instead of hanging;
// * warp shuffles exchange through per-warp slots between two warp-level barriers;
// * atomics are std::atomic_ref on shared and global memory;
// * __shared__ variables (rewritten by rewrite.py) are one allocation per block each, and
//   dynamic shared memory one more, so AddressSanitizer sees every overflow;
// * float16 conversions are bit-exact with NumPy (round to nearest even, subnormals,
//   independent of the FTZ/DAZ mode); flush-to-zero is on, as CuPy compiles with -ftz=true.
#pragma once
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <xmmintrin.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __shared__ __CUDAHOST_SHARED_NOT_REWRITTEN__
#define __constant__ __CUDAHOST_CONSTANT_NOT_SUPPORTED__
#define __launch_bounds__(...)

// ---- vector types -------------------------------------------------------------------
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
struct alignas(8) uint2 { unsigned int x, y; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(16) uint4 { unsigned int x, y, z, w; };
struct alignas(2) uchar2 { unsigned char x, y; };
struct alignas(4) uchar4 { unsigned char x, y, z, w; };
struct uint3 { unsigned int x, y, z; };
struct dim3 { unsigned int x = 1, y = 1, z = 1; };
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
static inline float2 make_float2(float x, float y) { return {x, y}; }
static inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
static inline int2 make_int2(int x, int y) { return {x, y}; }
static inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
static inline uchar2 make_uchar2(unsigned char x, unsigned char y) { return {x, y}; }
static inline uchar4 make_uchar4(unsigned char x, unsigned char y, unsigned char z, unsigned char w) { return {x, y, z, w}; }

thread_local uint3 threadIdx, blockIdx;
thread_local dim3 blockDim, gridDim;
static constexpr int warpSize = 32;

// ---- math ----------------------------------------------------------------------------
using std::isfinite;
using std::isnan;
using std::isinf;
#define EMU_MINMAX(T)                                                         \
    static inline T min(T a, T b) { return a < b ? a : b; }                   \
    static inline T max(T a, T b) { return a > b ? a : b; }
EMU_MINMAX(int)
EMU_MINMAX(unsigned int)
EMU_MINMAX(long long)
EMU_MINMAX(unsigned long long)
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }

static inline int __float_as_int(float f) { int i; std::memcpy(&i, &f, 4); return i; }
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned i; std::memcpy(&i, &f, 4); return i; }
static inline float __uint_as_float(unsigned i) { float f; std::memcpy(&f, &i, 4); return f; }
template <class T> static inline T __ldg(const T* p) { return *p; }
static inline float __saturatef(float x) { return x != x ? 0.0f : fminf(fmaxf(x, 0.0f), 1.0f); }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline float __fdividef(float x, float y) { return x / y; }

// _rn intrinsics: never contracted into an FMA (the empty asm hides the operands and the
// result from GCC's -ffp-contract, as nvcc never fuses these).
#define EMU_BARRIER_F(v) __asm__("" : "+x"(v))
static inline float __fmul_rn(float a, float b) { EMU_BARRIER_F(a); EMU_BARRIER_F(b); float r = a * b; EMU_BARRIER_F(r); return r; }
static inline float __fadd_rn(float a, float b) { EMU_BARRIER_F(a); EMU_BARRIER_F(b); float r = a + b; EMU_BARRIER_F(r); return r; }
static inline float __fsub_rn(float a, float b) { EMU_BARRIER_F(a); EMU_BARRIER_F(b); float r = a - b; EMU_BARRIER_F(r); return r; }
static inline float __fdiv_rn(float a, float b) { EMU_BARRIER_F(a); EMU_BARRIER_F(b); float r = a / b; EMU_BARRIER_F(r); return r; }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }

// ---- float16 (bit exact, round to nearest even; independent of MXCSR FTZ/DAZ) ------------
static inline unsigned short __emu_f32_to_f16_rn(float f)
{
    unsigned int x = __float_as_uint(f);
    unsigned int sign = (x >> 16) & 0x8000u;
    unsigned int exp = (x >> 23) & 0xFFu, man = x & 0x7FFFFFu;
    if (exp == 0xFFu) return (unsigned short)(sign | 0x7C00u | (man ? (0x200u | (man >> 13)) : 0u));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (unsigned short)(sign | 0x7C00u);  // overflow -> inf (RN)
    if (e <= 0) {                                         // subnormal half (or zero)
        if (e < -10) return (unsigned short)sign;
        man |= 0x800000u;
        int shift = 14 - e;  // 1 - e + 13
        unsigned int hm = man >> shift, rem = man & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (hm & 1u))) ++hm;
        return (unsigned short)(sign | hm);
    }
    unsigned int hm = man >> 13, rem = man & 0x1FFFu;
    unsigned int h = sign | ((unsigned)e << 10) | hm;
    if (rem > 0x1000u || (rem == 0x1000u && (hm & 1u))) ++h;  // carries into exponent correctly
    return (unsigned short)h;
}
static inline float __emu_f16_to_f32(unsigned short h)
{
    unsigned int sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
    unsigned int x;
    if (exp == 0) {
        if (man == 0) x = sign;
        else {  // subnormal: normalise
            int e = -1;
            do { ++e; man <<= 1; } while (!(man & 0x400u));
            x = sign | ((unsigned)(127 - 15 - e) << 23) | ((man & 0x3FFu) << 13);
        }
    } else if (exp == 31) x = sign | 0x7F800000u | (man << 13);
    else x = sign | ((exp + 127 - 15) << 23) | (man << 13);
    return __uint_as_float(x);
}
// PTX instructions that rewrite.py maps inline asm to.
static inline unsigned short __ptx_cvt_rn_f16_f32(float f) { return __emu_f32_to_f16_rn(f); }
static inline float __ptx_cvt_f32_f16(unsigned short h) { return __emu_f16_to_f32(h); }
typedef _Float16 __half;
static inline __half __float2half(float f) { unsigned short b = __emu_f32_to_f16_rn(f); __half h; std::memcpy(&h, &b, 2); return h; }
static inline float __half2float(__half h) { unsigned short b; std::memcpy(&b, &h, 2); return __emu_f16_to_f32(b); }

// ---- atomics ---------------------------------------------------------------------------
template <class T> static inline T __emu_atomic_add(T* p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }
static inline int atomicAdd(int* p, int v) { return __emu_atomic_add(p, v); }
static inline unsigned atomicAdd(unsigned* p, unsigned v) { return __emu_atomic_add(p, v); }
static inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) { return __emu_atomic_add(p, v); }
static inline float atomicAdd(float* p, float v) { return __emu_atomic_add(p, v); }
static inline double atomicAdd(double* p, double v) { return __emu_atomic_add(p, v); }
template <class T> static inline T __emu_atomic_min(T* p, T v)
{
    std::atomic_ref<T> a(*p);
    T o = a.load();
    while (v < o && !a.compare_exchange_weak(o, v)) {}
    return o;
}
template <class T> static inline T __emu_atomic_max(T* p, T v)
{
    std::atomic_ref<T> a(*p);
    T o = a.load();
    while (v > o && !a.compare_exchange_weak(o, v)) {}
    return o;
}
static inline int atomicMin(int* p, int v) { return __emu_atomic_min(p, v); }
static inline int atomicMax(int* p, int v) { return __emu_atomic_max(p, v); }
static inline unsigned atomicMin(unsigned* p, unsigned v) { return __emu_atomic_min(p, v); }
static inline unsigned atomicMax(unsigned* p, unsigned v) { return __emu_atomic_max(p, v); }
static inline int atomicExch(int* p, int v) { return std::atomic_ref<int>(*p).exchange(v); }
static inline int atomicCAS(int* p, int c, int v) { std::atomic_ref<int>(*p).compare_exchange_strong(c, v); return c; }

static inline long long clock64()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ---- blocks, barriers, hand-over --------------------------------------------------------
namespace __emu {

struct Abort {};  // thrown in threads resumed after the launch failed (deadlock)

inline std::mutex errors_mutex;
inline std::string errors;  // problems of the current launch (empty: it ran fine)
inline void report(const std::string& msg)
{
    std::lock_guard<std::mutex> g(errors_mutex);
    if (errors.size() < 20000 && errors.find(msg) == std::string::npos) errors += msg + "\n";
}

inline void futex_wait(std::atomic<uint32_t>& a, uint32_t v)
{
    while (a.load(std::memory_order_acquire) == v)
        syscall(SYS_futex, reinterpret_cast<uint32_t*>(&a), FUTEX_WAIT_PRIVATE, v, nullptr, nullptr, 0);
}
inline void futex_bump(std::atomic<uint32_t>& a)
{
    a.fetch_add(1, std::memory_order_release);
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&a), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

enum State { READY, WAITING, DONE };

struct Barrier {
    const char* what;
    int expected, count = 0, line = -1;
};

struct Block {
    int n;
    unsigned char fill;
    std::vector<int> state, waiting_on;
    std::vector<Barrier> bars;  // 0: the block, 1 + w: warp w
    std::vector<int> warp_exited;
    std::vector<unsigned long long> slots;  // shuffle exchange: two buffers of one slot per thread
    std::vector<std::pair<void*, size_t>> allocs;
    void* dyn = nullptr;
    bool aborted = false;
    uint3 idx;
    Block(int n_, size_t smem, unsigned char fill_, uint3 idx_)
        : n(n_), fill(fill_), state(n_, READY), waiting_on(n_, -1), warp_exited((n_ + 31) / 32, 0), slots(2 * n_), idx(idx_)
    {
        bars.push_back({"__syncthreads", n});
        for (int w = 0; w < (n + 31) / 32; ++w) bars.push_back({"warp shuffle", std::min(32, n - 32 * w)});
        if (posix_memalign(&dyn, 16, smem ? smem : 1) != 0) std::abort();
        std::memset(dyn, fill, smem ? smem : 1);
    }
    ~Block()
    {
        for (auto& a : allocs) std::free(a.first);
        std::free(dyn);
    }
};

struct Launch {
    Block* blk = nullptr;
    std::unique_ptr<std::atomic<uint32_t>[]> go;  // per thread: bumped to hand it the turn
    std::atomic<uint32_t> block_done{0};
    bool quit = false;
};

inline thread_local Launch* launch_ = nullptr;
inline thread_local Block* blk = nullptr;
inline thread_local int lin = 0;        // linear thread index in the block
inline thread_local int alloc_idx = 0;  // next __shared__ declaration of this thread
inline thread_local uint32_t seen = 0;  // last value of go[lin] this thread saw
inline thread_local int shfl_buf = 0;   // slot buffer of this thread's next shuffle
inline std::atomic<size_t> static_smem_bytes{0};

inline void wait_turn()
{
    futex_wait(launch_->go[lin], seen);
    seen = launch_->go[lin].load(std::memory_order_acquire);
}

// Hand the turn to the next READY thread after `from` (wrapping), or finish the block.
inline void pass_turn(int from)
{
    Block& b = *blk;
    for (int k = 1; k <= b.n; ++k) {
        int i = (from + k) % b.n;
        if (b.state[i] == READY) {
            futex_bump(launch_->go[i]);
            return;
        }
    }
    bool all_done = true;
    for (int s : b.state) all_done = all_done && s == DONE;
    if (!all_done) {  // everyone left waits: a deadlock; resume them to abort
        std::string at;
        for (int i = 0; i < b.n && at.size() < 200; ++i)
            if (b.state[i] == WAITING)
                at += " thread " + std::to_string(i) + " at " + b.bars[b.waiting_on[i]].what + " line " +
                      std::to_string(b.bars[b.waiting_on[i]].line) + ";";
        report("deadlock in block (" + std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) + "):" + at);
        b.aborted = true;
        for (int i = 0; i < b.n; ++i)
            if (b.state[i] == WAITING) b.state[i] = READY;
        pass_turn(from);
        return;
    }
    futex_bump(launch_->block_done);
}

inline void release(int id)
{
    Block& b = *blk;
    for (int i = 0; i < b.n; ++i)
        if (b.state[i] == WAITING && b.waiting_on[i] == id) b.state[i] = READY;
    b.bars[id].count = 0;
    b.bars[id].line = -1;
}

inline void arrive_and_wait(int id, int line)
{
    Block& b = *blk;
    Barrier& B = b.bars[id];
    if (B.count == 0) B.line = line;
    else if (B.line != line)
        report(std::string("divergent ") + B.what + ": one phase reached at lines " + std::to_string(B.line) + " and " +
               std::to_string(line) + " (block " + std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) + ")");
    b.state[lin] = WAITING;
    b.waiting_on[lin] = id;
    if (++B.count == B.expected) release(id);
    pass_turn(lin);
    wait_turn();
    if (b.aborted) throw Abort();
}

inline void thread_exit()
{
    Block& b = *blk;
    b.state[lin] = DONE;
    b.warp_exited[lin / 32] += 1;
    for (int id : {0, 1 + lin / 32}) {
        Barrier& B = b.bars[id];
        --B.expected;
        if (B.count > 0 && B.count == B.expected) release(id);
    }
    pass_turn(lin);
}

inline void* shared_alloc(size_t size, size_t align)
{
    int k = alloc_idx++;
    if (k == (int)blk->allocs.size()) {
        void* p = nullptr;
        if (posix_memalign(&p, align < 16 ? 16 : align, size ? size : 1) != 0) std::abort();
        std::memset(p, blk->fill, size);
        blk->allocs.push_back({p, size});
    } else if (k > (int)blk->allocs.size() || blk->allocs[k].second != size) {
        report("threads of a block declare different __shared__ variables (order or size differs)");
        blk->aborted = true;
        throw Abort();
    }
    return blk->allocs[k].first;
}

inline void syncthreads(int line) { arrive_and_wait(0, line); }

template <class T> inline T shfl_xor(unsigned mask, T v, int lane_mask, int line)
{
    static_assert(sizeof(T) <= 8, "shuffle of a type over 8 bytes");
    Block& b = *blk;
    const int w = lin / 32, lane = lin % 32;
    if (mask == 0xffffffffu && (b.warp_exited[w] > 0 || b.n - 32 * w < 32))
        report("__shfl_xor_sync(0xffffffff) at line " + std::to_string(line) +
               " with lanes of the warp exited or missing (undefined on a GPU)");
    // Two slot buffers used alternately: a lane writes a buffer again only two shuffles
    // later, after the barrier of the shuffle in between, which every lane reaches only
    // after reading this one -- so one barrier per shuffle suffices.
    unsigned long long* slots = b.slots.data() + shfl_buf * b.n;
    shfl_buf ^= 1;
    unsigned long long bits = 0;
    std::memcpy(&bits, &v, sizeof(T));
    slots[lin] = bits;
    arrive_and_wait(1 + w, line);
    const int src = 32 * w + (lane ^ lane_mask);
    T r = v;
    if (src < b.n) std::memcpy(&r, &slots[src], sizeof(T));
    return r;
}

inline void set_ftz()
{
    const char* s = std::getenv("CUDAHOST_FTZ");
    if (!s || std::atoi(s)) _mm_setcsr(_mm_getcsr() | 0x8040);  // FTZ | DAZ, as NVRTC -ftz=true
}

// Blocks of one launch run on up to CUDAHOST_BLOCKS_IN_PARALLEL lanes (default: the number of
// CPUs), each lane with its own pool of one OS thread per CUDA thread.
inline int blocks_in_parallel(long n_blocks)
{
    const char* s = std::getenv("CUDAHOST_BLOCKS_IN_PARALLEL");
    long p = s ? std::atol(s) : (long)std::thread::hardware_concurrency();
    return (int)std::max(1L, std::min(p, n_blocks));
}

// The threads of a lane take turns, so they share one CPU: a hand-over is then a switch
// on the same core (no cross-CPU wake-up), several times cheaper.
inline void pin_lane(std::vector<std::thread>& pool, int k)
{
    const char* s = std::getenv("CUDAHOST_PIN");
    if (s && !std::atoi(s)) return;
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) return;
    int n = CPU_COUNT(&allowed), cpu = -1;
    for (int c = 0, seen_ = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &allowed) && seen_++ == k % n) { cpu = c; break; }
    if (cpu < 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    for (auto& th : pool) pthread_setaffinity_np(th.native_handle(), sizeof(one), &one);
}

inline int run_grid(const std::function<void()>& body, const unsigned* grid, const unsigned* block, size_t smem)
{
    errors.clear();
    const long nth = (long)block[0] * block[1] * block[2];
    if (nth <= 0 || nth > 1024) {
        errors = "invalid block of " + std::to_string(nth) + " threads (1..1024)";
        return 1;
    }
    if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0 || grid[1] > 65535 || grid[2] > 65535) {
        errors = "invalid grid";
        return 1;
    }
    const char* f = std::getenv("CUDAHOST_SMEM_FILL");
    const unsigned char fill = f ? (unsigned char)std::strtol(f, nullptr, 0) : 0xFF;
    const long n_blocks = (long)grid[0] * grid[1] * grid[2];
    std::atomic<long> next_block{0};
    std::atomic<bool> stop{false};
    std::atomic<size_t> max_static{0};

    auto lane = [&](int k) {
        Launch L;
        L.go.reset(new std::atomic<uint32_t>[nth]);
        for (long t = 0; t < nth; ++t) L.go[t].store(0);
        auto worker = [&](int t) {
            set_ftz();
            launch_ = &L;
            lin = t;
            seen = 0;
            threadIdx = {(unsigned)(t % block[0]), (unsigned)((t / block[0]) % block[1]),
                         (unsigned)(t / (block[0] * block[1]))};
            blockDim = {block[0], block[1], block[2]};
            gridDim = {grid[0], grid[1], grid[2]};
            for (;;) {
                wait_turn();
                if (L.quit) return;
                blk = L.blk;
                blockIdx = blk->idx;
                alloc_idx = 0;
                shfl_buf = 0;
                try {
                    if (!blk->aborted) body();
                } catch (Abort&) {
                }
                thread_exit();
            }
        };
        std::vector<std::thread> pool;
        pool.reserve(nth);
        for (int t = 0; t < nth; ++t) pool.emplace_back(worker, t);
        pin_lane(pool, k);
        uint32_t done_seen = 0;
        for (long i = next_block++; i < n_blocks && !stop; i = next_block++) {
            const unsigned x = (unsigned)(i % grid[0]), y = (unsigned)((i / grid[0]) % grid[1]),
                           z = (unsigned)(i / ((long)grid[0] * grid[1]));
            Block b((int)nth, smem, fill, uint3{x, y, z});
            L.blk = &b;
            futex_bump(L.go[0]);  // thread 0 starts the block; the others follow in turn
            futex_wait(L.block_done, done_seen);
            done_seen = L.block_done.load(std::memory_order_acquire);
            size_t st = 0;
            for (auto& a : b.allocs) st += a.second;
            for (size_t m = max_static.load(); st > m && !max_static.compare_exchange_weak(m, st);) {}
            if (b.aborted) stop = true;
        }
        L.quit = true;
        for (int t = 0; t < nth; ++t) futex_bump(L.go[t]);
        for (auto& th : pool) th.join();
    };
    const int p = blocks_in_parallel(n_blocks);
    std::vector<std::thread> lanes;
    for (int k = 1; k < p; ++k) lanes.emplace_back(lane, k);
    lane(0);
    for (auto& th : lanes) th.join();
    static_smem_bytes = max_static.load();
    return errors.empty() ? 0 : 1;
}

template <class T> inline const char* type_code()
{
    using U = std::remove_cv_t<T>;
    if constexpr (std::is_pointer_v<U>) return "p";
    else if constexpr (std::is_floating_point_v<U>) return sizeof(U) == 4 ? "f4" : sizeof(U) == 8 ? "f8" : "f?";
    else if constexpr (std::is_integral_v<U>) {
        if constexpr (std::is_signed_v<U>) return sizeof(U) == 1 ? "i1" : sizeof(U) == 2 ? "i2" : sizeof(U) == 4 ? "i4" : "i8";
        else return sizeof(U) == 1 ? "u1" : sizeof(U) == 2 ? "u2" : sizeof(U) == 4 ? "u4" : "u8";
    } else return "s";
}

template <class... A, size_t... I> inline void call_with(void (*f)(A...), void** p, std::index_sequence<I...>)
{
    f(*reinterpret_cast<std::remove_cv_t<std::remove_reference_t<A>>*>(p[I])...);
}

// Launch wrapper: params[i] points at the i-th argument's value (as cuLaunchKernel's).
template <class... A> inline int launch(void (*f)(A...), const unsigned* grid, const unsigned* block, size_t smem, void** params)
{
    std::function<void()> body = [&] { call_with(f, params, std::index_sequence_for<A...>{}); };
    return run_grid(body, grid, block, smem);
}

// Parameter type codes, comma-separated: p (pointer), f4, f8, i1..i8, u1..u8, s (struct).
template <class... A> inline std::string signature(void (*)(A...))
{
    std::string s;
    ((s += std::string(type_code<A>()) + ","), ...);
    return s;
}

}  // namespace __emu

template <class A> static inline A& __emu_shared() { return *reinterpret_cast<A*>(__emu::shared_alloc(sizeof(A), alignof(A))); }
#define __emu_dyn_shared() (__emu::blk->dyn)
#define __syncthreads() __emu::syncthreads(__LINE__)
#define __shfl_xor_sync(mask, v, lm, ...) __emu::shfl_xor((mask), (v), (lm), __LINE__)

extern "C" const char* __emu_errors() { return __emu::errors.c_str(); }
extern "C" size_t __emu_static_smem() { return __emu::static_smem_bytes.load(); }
