// Blur pyramid of the GPU renderer (see engine/render/pyramid.py and engine/render/cpu/backend.py).
//
// Layer j of the image is the premultiplied RGBA (rgb * m, m) with m = [band <= j],
// where a pixel with an outline split (common.cuh) counts as (rgb - q.rgb, 1 - s) in
// its band and q = (q.rgb, s) in its split's band;
// level i of layer j is that layer box-downsampled by s = level_scale(rho_i) and
// convolved (true convolution, zero outside the padded level) with the aperture
// kernel of radius small_radius(rho_i, s), stored as float16 RGBA (4 x 16 bit,
// one 8-byte word per pixel) in one packed buffer.
//
// Kernels (all launched by engine/render/gpu/backend.py on the renderer's stream):
//   stats_init     zero the per-prepare statistics
//   ingest         boost highlights, pack (r, g, b, disparity) as float4, per-band
//                  pixel counts and disparity sums, min/max and non-finite count
//   outline_codes  the outline split of every pixel (see common.cuh split_of)
//   down_from_image scale-2 box downsample of every layer + per-pixel band range
//   down_from_down next power-of-two scale from the previous one (mean of 2x2 means
//                  == mean of the 4x4 block)
//   conv_full      one scale-1 level of every layer, straight from the packed image
//   conv_down      one downsampled level of every layer
//
// The convolution kernels work on 16x16 output tiles with the input tile (+ halo)
// and the kernel weights in shared memory. Layers are cumulative, so inside a
// tile whose pixels span bands [bmin, bmax] layer j is zero for j < bmin and equal
// to layer bmax for j > bmax: only bmax - bmin + 1 convolutions are computed per
// tile (usually one or two instead of n_bands).
//
// Float arithmetic that must match NumPy's float32 results bit for bit (band
// index, highlight boost) uses the _rn intrinsics, which nvcc never fuses.
// Constants (TILE, MAX_BANDS, HIGHLIGHT_*) come as -D options (see common.cuh).

#include "common.cuh"

#define EMPTY_BAND 255

// float -> int with the same order (for atomicMin/atomicMax on floats).
__device__ __forceinline__ int ordered(float f)
{
    int i = __float_as_int(f);
    return i >= 0 ? i : i ^ 0x7FFFFFFF;
}

__device__ __forceinline__ int warp_min(int v)
{
    for (int o = 16; o > 0; o >>= 1) v = min(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

__device__ __forceinline__ int warp_max(int v)
{
    for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// stats_i: [0, n) counts, n: ordered min, n + 1: ordered max (of the finite disparities), n + 2: non-finite
// disparities, n + 3: pixels with a non-finite channel (after the highlight boost)
// stats_d: [0, n) disparity sums
extern "C" __global__ void stats_init(int* stats_i, double* stats_d, int n)
{
    int t = threadIdx.x;
    for (int k = t; k < n; k += blockDim.x) {
        stats_i[k] = 0;
        stats_d[k] = 0.0;
    }
    if (t == 0) {
        stats_i[n] = 0x7FFFFFFF;
        stats_i[n + 1] = (int)0x80000000;
        stats_i[n + 2] = 0;
        stats_i[n + 3] = 0;
    }
}

// One thread per pixel, 1-D blocks of >= MAX_BANDS threads; n_bands <= MAX_BANDS.
extern "C" __global__ void ingest(const float* __restrict__ image, const float* __restrict__ disp,
                                      long long n_pix, int n, float gain,
                                      float4* __restrict__ img4, int* stats_i, double* stats_d)
{
    __shared__ int s_count[MAX_BANDS];
    __shared__ float s_sum[MAX_BANDS];
    __shared__ int s_min, s_max, s_bad, s_bad_image;
    int t = threadIdx.x;
    if (t < MAX_BANDS) {
        s_count[t] = 0;
        s_sum[t] = 0.0f;
    }
    if (t == 0) {
        s_min = 0x7FFFFFFF;
        s_max = (int)0x80000000;
        s_bad = 0;
        s_bad_image = 0;
    }
    __syncthreads();

    long long p = (long long)blockIdx.x * blockDim.x + t;
    int omin = 0x7FFFFFFF, omax = (int)0x80000000;
    if (p < n_pix) {
        float r = image[3 * p], g = image[3 * p + 1], b = image[3 * p + 2];
        float d = disp[p];
        if (gain > 0.0f) {
            // boost_highlights: m = max(rgb); t = clip((m - thr) / (1 - thr), 0, 1);
            // rgb * (1 + gain * t * t); HIGHLIGHT_RANGE = float32(1 - threshold)
            float m = fmaxf(fmaxf(r, g), b);
            float u = __fdiv_rn(__fsub_rn(m, HIGHLIGHT_THRESHOLD), HIGHLIGHT_RANGE);
            u = fminf(fmaxf(u, 0.0f), 1.0f);
            float f = __fadd_rn(1.0f, __fmul_rn(__fmul_rn(gain, u), u));
            r = __fmul_rn(r, f);
            g = __fmul_rn(g, f);
            b = __fmul_rn(b, f);
        }
        img4[p] = make_float4(r, g, b, d);
        if (!(isfinite(r) && isfinite(g) && isfinite(b))) atomicAdd(&s_bad_image, 1);
        if (isfinite(d)) {
            int k = band_index(d, n);
            atomicAdd(&s_count[k], 1);
            atomicAdd(&s_sum[k], d);
            omin = omax = ordered(d);
        } else {
            atomicAdd(&s_bad, 1);
        }
    }
    omin = warp_min(omin);
    omax = warp_max(omax);
    if ((t & 31) == 0) {
        atomicMin(&s_min, omin);
        atomicMax(&s_max, omax);
    }
    __syncthreads();
    if (t < n && s_count[t] > 0) {
        atomicAdd(&stats_i[t], s_count[t]);
        atomicAdd(&stats_d[t], (double)s_sum[t]);
    }
    if (t == 0) {
        atomicMin(&stats_i[n], s_min);
        atomicMax(&stats_i[n + 1], s_max);
        if (s_bad) atomicAdd(&stats_i[n + 2], s_bad);
        if (s_bad_image) atomicAdd(&stats_i[n + 3], s_bad_image);
    }
}

// Outline split code of every pixel (0: none), as engine/render/cpu/pixels.py outline_codes:
// the 4-neighbour whose band differs most (first in direction order on ties), share
// t = (p - F).(B - F) / |B - F|^2 (F: the pixel on the far side, B: the neighbour)
// times the flatness 1 - |F2 - F|^2 / (OUTLINE_FLATNESS^2 |B - F|^2) (F2: beyond F),
// clamped to OUTLINE_MAX_SHARE, q = (int)(t * OUTLINE_STEPS + 0.5), in float32 with
// the _rn intrinsics in the same order (bit-equal to the CPU). Block (16, 16).
extern "C" __global__ void outline_codes(const float4* __restrict__ img4, int w, int h, int n,
                                        unsigned char* __restrict__ codes)
{
    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    const long long o = (long long)y * w + x;
    const float4 p = img4[o];
    const int b = band_index(p.w, n);
    int best = -1, most = 0;
    for (int d = 0; d < 4; ++d) {
        int dy, dx;
        outline_dir(d, dy, dx);
        if (y + dy >= 0 && y + dy < h && x + dx >= 0 && x + dx < w) {
            int diff = abs(band_index(img4[(long long)(y + dy) * w + x + dx].w, n) - b);
            if (diff > most) {
                best = d;
                most = diff;
            }
        }
    }
    unsigned char code = 0;
    int dy, dx;
    outline_dir(best < 0 ? 0 : best, dy, dx);
    if (best >= 0 && y - dy >= 0 && y - dy < h && x - dx >= 0 && x - dx < w) {
        const float4 f = img4[(long long)(y - dy) * w + x - dx];
        const float4 nb = img4[(long long)(y + dy) * w + x + dx];
        const float v0 = __fsub_rn(nb.x, f.x), v1 = __fsub_rn(nb.y, f.y), v2 = __fsub_rn(nb.z, f.z);
        const float num = __fadd_rn(__fadd_rn(__fmul_rn(__fsub_rn(p.x, f.x), v0), __fmul_rn(__fsub_rn(p.y, f.y), v1)),
                                    __fmul_rn(__fsub_rn(p.z, f.z), v2));
        const float den = __fadd_rn(__fadd_rn(__fmul_rn(v0, v0), __fmul_rn(v1, v1)), __fmul_rn(v2, v2));
        if (den > 0.0f) {
            const float t = __fdiv_rn(num, den);
            int y2 = y - 2 * dy, x2 = x - 2 * dx;
            if (!(y2 >= 0 && y2 < h && x2 >= 0 && x2 < w)) {
                y2 = y - dy;
                x2 = x - dx;
            }
            const float4 f2 = img4[(long long)y2 * w + x2];
            const float g0 = __fsub_rn(f2.x, f.x), g1 = __fsub_rn(f2.y, f.y), g2 = __fsub_rn(f2.z, f.z);
            const float dF = __fadd_rn(__fadd_rn(__fmul_rn(g0, g0), __fmul_rn(g1, g1)), __fmul_rn(g2, g2));
            const float flat = __fsub_rn(1.0f, __fdiv_rn(dF, __fmul_rn(__fmul_rn(OUTLINE_FLATNESS, OUTLINE_FLATNESS), den)));
            if (t > 0.0f && flat > 0.0f) {
                const float ts = fminf(__fmul_rn(t, flat), OUTLINE_MAX_SHARE);
                const int q = (int)__fadd_rn(__fmul_rn(ts, OUTLINE_STEPS), 0.5f);
                if (q > 0) code = (unsigned char)((q << 2) | best);
            }
        }
    }
    codes[o] = code;
}

// Scale-2 downsample of all layers. down: n layers of (hl, wl) float4; range: (hl, wl)
// band range (min, max) of the image pixels in the 2x2 block, (255, 0) if none.
// img4 is (h, w); the padded full-resolution grid is (2 hl, 2 wl).
extern "C" __global__ void down_from_image(const float4* __restrict__ img4, const unsigned char* __restrict__ codes,
                                         int w, int h, int n, float4* __restrict__ down, uchar2* __restrict__ range,
                                         int wl, int hl)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= wl || y >= hl) return;
    float4 px[4], sq[4];  // own part (rgb, alpha) and outline split share
    int bd[4], bq[4];
    int bmin = EMPTY_BAND, bmax = 0;
    for (int k = 0; k < 4; ++k) {
        int gx = 2 * x + (k & 1), gy = 2 * y + (k >> 1);
        if (gx < w && gy < h) {
            float4 p = img4[(long long)gy * w + gx];
            bd[k] = band_index(p.w, n);
            sq[k] = split_of(img4, codes, w, n, gx, gy, p, &bq[k]);
            px[k] = make_float4(p.x - sq[k].x, p.y - sq[k].y, p.z - sq[k].z, 1.0f - sq[k].w);
            bmin = min(bmin, bd[k]);
            bmax = max(bmax, bd[k]);
            if (bq[k] != NO_BAND) {
                bmin = min(bmin, bq[k]);
                bmax = max(bmax, bq[k]);
            }
        } else {
            px[k] = sq[k] = make_float4(0.f, 0.f, 0.f, 0.f);
            bd[k] = bq[k] = 1 << 20;  // in no layer
        }
    }
    long long plane = (long long)wl * hl, o = (long long)y * wl + x;
    range[o] = make_uchar2((unsigned char)bmin, (unsigned char)bmax);
    for (int j = 0; j < n; ++j) {
        float4 s = make_float4(0.f, 0.f, 0.f, 0.f);
        for (int k = 0; k < 4; ++k) {
            if (bd[k] <= j) {
                s.x += px[k].x;
                s.y += px[k].y;
                s.z += px[k].z;
                s.w += px[k].w;
            }
            if (bq[k] <= j) {
                s.x += sq[k].x;
                s.y += sq[k].y;
                s.z += sq[k].z;
                s.w += sq[k].w;
            }
        }
        down[j * plane + o] = make_float4(s.x * 0.25f, s.y * 0.25f, s.z * 0.25f, s.w * 0.25f);
    }
}

// Next scale: dst (hl, wl) from src (2 hl, 2 wl), every layer.
extern "C" __global__ void down_from_down(const float4* __restrict__ src, const uchar2* __restrict__ src_range,
                                          int n, float4* __restrict__ dst, uchar2* __restrict__ dst_range,
                                          int wl, int hl)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= wl || y >= hl) return;
    int ws = 2 * wl;
    long long splane = (long long)ws * (2 * hl), dplane = (long long)wl * hl;
    long long s0 = (long long)(2 * y) * ws + 2 * x, s1 = s0 + ws;
    uchar2 r0 = src_range[s0], r1 = src_range[s0 + 1], r2 = src_range[s1], r3 = src_range[s1 + 1];
    int bmin = min(min((int)r0.x, (int)r1.x), min((int)r2.x, (int)r3.x));
    int bmax = max(max((int)r0.y, (int)r1.y), max((int)r2.y, (int)r3.y));
    long long o = (long long)y * wl + x;
    dst_range[o] = make_uchar2((unsigned char)bmin, (unsigned char)bmax);
    for (int j = 0; j < n; ++j) {
        const float4* sp = src + j * splane;
        float4 a = sp[s0], b = sp[s0 + 1], c = sp[s1], d = sp[s1 + 1];
        dst[j * dplane + o] = make_float4((a.x + b.x + c.x + d.x) * 0.25f, (a.y + b.y + c.y + d.y) * 0.25f,
                                          (a.z + b.z + c.z + d.z) * 0.25f, (a.w + b.w + c.w + d.w) * 0.25f);
    }
}

// Shared memory layout of the convolution kernels (dynamic):
//   conv_down: float4 tile[(TILE + 2R)^2]; float kw[(2R + 1)^2]
//   conv_full: float4 tile[(TILE + 2R)^2], tileq[(TILE + 2R)^2]; int tband[(TILE + 2R)^2]; float kw[...]
// kern holds the *flipped* kernel, so out(y, x) = sum kw[a][b] * in(y + a - R, x + b - R)
// is the true convolution with the aperture kernel (cv2.filter2D with the flipped kernel).

__device__ __forceinline__ void load_weights(float* kw, const float* __restrict__ kern, int kk, int tid, int nthreads)
{
    for (int k = tid; k < kk; k += nthreads) kw[k] = kern[k];
}

// Block-wide min/max of per-thread values into s_rng (called by all threads).
__device__ __forceinline__ void block_range(int lo, int hi, int* s_rng)
{
    lo = warp_min(lo);
    hi = warp_max(hi);
    int lin = threadIdx.y * blockDim.x + threadIdx.x;
    if ((lin & 31) == 0) {
        atomicMin(&s_rng[0], lo);
        atomicMax(&s_rng[1], hi);
    }
}

// Scale-1 level of every layer. Block (16, 16); grid covers (hl, wl) = padded size.
// levels: packed half RGBA (one uint2 per pixel); layer_off[j]: offset of layer j of
// this level in uint2 units.
extern "C" __global__ void conv_full(const float4* __restrict__ img4, const unsigned char* __restrict__ codes,
                                     int w, int h, int n, const float* __restrict__ kern, int R,
                                     uint2* __restrict__ levels, const long long* __restrict__ layer_off,
                                     int wl, int hl)
{
    extern __shared__ float4 smem[];
    __shared__ int s_rng[2];
    const int tw = TILE + 2 * R, kw_n = 2 * R + 1;
    float4* tile = smem;                 // own part: (rgb - q.rgb, 1 - s)
    float4* tileq = smem + tw * tw;      // outline split share q
    int* tband = (int*)(smem + 2 * tw * tw);  // band | split band << 8 (NO_BAND: none)
    float* kw = (float*)(tband + tw * tw);
    const int tid = threadIdx.y * TILE + threadIdx.x, nth = TILE * TILE;
    if (tid == 0) {
        s_rng[0] = 1 << 20;
        s_rng[1] = -1;
    }
    __syncthreads();
    const int x0 = blockIdx.x * TILE - R, y0 = blockIdx.y * TILE - R;
    int lo = 1 << 20, hi = -1;
    for (int k = tid; k < tw * tw; k += nth) {
        int gx = x0 + k % tw, gy = y0 + k / tw;
        float4 v = make_float4(0.f, 0.f, 0.f, 0.f), q = v;
        int bb = NO_BAND | (NO_BAND << 8);  // outside the image: in no layer
        if (gx >= 0 && gy >= 0 && gx < w && gy < h) {
            float4 p = img4[(long long)gy * w + gx];
            int b = band_index(p.w, n), qb;
            q = split_of(img4, codes, w, n, gx, gy, p, &qb);
            v = make_float4(p.x - q.x, p.y - q.y, p.z - q.z, 1.0f - q.w);
            bb = b | (qb << 8);
            lo = min(lo, b);
            hi = max(hi, b);
            if (qb != NO_BAND) {
                lo = min(lo, qb);
                hi = max(hi, qb);
            }
        }
        tile[k] = v;
        tileq[k] = q;
        tband[k] = bb;
    }
    load_weights(kw, kern, kw_n * kw_n, tid, nth);
    block_range(lo, hi, s_rng);
    __syncthreads();
    const int bmin = s_rng[0], bmax = s_rng[1];

    const int x = blockIdx.x * TILE + threadIdx.x, y = blockIdx.y * TILE + threadIdx.y;
    const bool inside = x < wl && y < hl;
    const long long o = (long long)y * wl + x;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int j = 0; j < n; ++j) {
        if (j >= bmin && j <= bmax) {  // block-uniform
            acc = make_float4(0.f, 0.f, 0.f, 0.f);
            for (int a = 0; a < kw_n; ++a) {
                const int r0 = (threadIdx.y + a) * tw + threadIdx.x;
                const float* krow = kw + a * kw_n;
                for (int b = 0; b < kw_n; ++b) {
                    float wt = krow[b];
                    if (wt != 0.0f) {
                        const int bb = tband[r0 + b];
                        if ((bb & 255) <= j) {
                            float4 p = tile[r0 + b];
                            acc.x += wt * p.x;
                            acc.y += wt * p.y;
                            acc.z += wt * p.z;
                            acc.w += wt * p.w;
                        }
                        if ((bb >> 8) <= j) {
                            float4 q = tileq[r0 + b];
                            acc.x += wt * q.x;
                            acc.y += wt * q.y;
                            acc.z += wt * q.z;
                            acc.w += wt * q.w;
                        }
                    }
                }
            }
        }
        // j < bmin: zero; j > bmax: same as layer bmax (acc kept).
        if (inside) levels[layer_off[j] + o] = pack_half4(acc);
    }
}

// Downsampled level (scale s > 1) of every layer from the down buffers of scale s:
// down: n layers of (hl, wl) float4, range: (hl, wl) band ranges.
extern "C" __global__ void conv_down(const float4* __restrict__ down, const uchar2* __restrict__ range, int n,
                                     const float* __restrict__ kern, int R,
                                     uint2* __restrict__ levels, const long long* __restrict__ layer_off,
                                     int wl, int hl)
{
    extern __shared__ float4 smem[];
    __shared__ int s_rng[2];
    const int tw = TILE + 2 * R, kw_n = 2 * R + 1;
    float4* tile = smem;
    float* kw = (float*)(smem + tw * tw);
    const int tid = threadIdx.y * TILE + threadIdx.x, nth = TILE * TILE;
    if (tid == 0) {
        s_rng[0] = 1 << 20;
        s_rng[1] = -1;
    }
    __syncthreads();
    const int x0 = blockIdx.x * TILE - R, y0 = blockIdx.y * TILE - R;
    int lo = 1 << 20, hi = -1;
    for (int k = tid; k < tw * tw; k += nth) {
        int gx = x0 + k % tw, gy = y0 + k / tw;
        if (gx >= 0 && gy >= 0 && gx < wl && gy < hl) {
            uchar2 r = range[(long long)gy * wl + gx];
            if (r.x <= r.y) {  // else: no image pixel in this block
                lo = min(lo, (int)r.x);
                hi = max(hi, (int)r.y);
            }
        }
    }
    load_weights(kw, kern, kw_n * kw_n, tid, nth);
    block_range(lo, hi, s_rng);
    __syncthreads();
    const int bmin = s_rng[0], bmax = s_rng[1];

    const int x = blockIdx.x * TILE + threadIdx.x, y = blockIdx.y * TILE + threadIdx.y;
    const bool inside = x < wl && y < hl;
    const long long plane = (long long)wl * hl, o = (long long)y * wl + x;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int j = 0; j < n; ++j) {
        if (j >= bmin && j <= bmax) {  // block-uniform
            const float4* src = down + j * plane;
            __syncthreads();  // previous layer's tile no longer in use
            for (int k = tid; k < tw * tw; k += nth) {
                int gx = x0 + k % tw, gy = y0 + k / tw;
                tile[k] = (gx >= 0 && gy >= 0 && gx < wl && gy < hl) ? src[(long long)gy * wl + gx]
                                                                      : make_float4(0.f, 0.f, 0.f, 0.f);
            }
            __syncthreads();
            acc = make_float4(0.f, 0.f, 0.f, 0.f);
            for (int a = 0; a < kw_n; ++a) {
                const float4* row = tile + (threadIdx.y + a) * tw + threadIdx.x;
                const float* krow = kw + a * kw_n;
                for (int b = 0; b < kw_n; ++b) {
                    float wt = krow[b];
                    if (wt != 0.0f) {
                        float4 p = row[b];
                        acc.x += wt * p.x;
                        acc.y += wt * p.y;
                        acc.z += wt * p.z;
                        acc.w += wt * p.w;
                    }
                }
            }
        }
        if (inside) levels[layer_off[j] + o] = pack_half4(acc);
    }
}
