// Device helpers shared by pyramid.cu and refocus.cu, and the compile-time constants
// both need. The constants are not written here: engine/render/gpu/backend.py generates them
// as -D options from engine/constants.py and engine/render/pyramid.py (kernel_defines()), so
// each value has one source. Compiling without them fails here, by name.

#pragma once

#ifndef EPS
#error "EPS is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif
#ifndef FILL_BEHIND_RAMP
#error "FILL_BEHIND_RAMP is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif
#ifndef FILL_MIN_COVER
#error "FILL_MIN_COVER is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif
#ifndef FILL_COVER_RAMP
#error "FILL_COVER_RAMP is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif
#ifndef HIGHLIGHT_THRESHOLD
#error "HIGHLIGHT_THRESHOLD is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif
#ifndef HIGHLIGHT_RANGE
#error "HIGHLIGHT_RANGE is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif
#ifndef MAX_BANDS
#error "MAX_BANDS is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif
#ifndef MAX_LEVELS
#error "MAX_LEVELS is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif
#ifndef OUTLINE_FLATNESS
#error "OUTLINE_FLATNESS is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif
#ifndef OUTLINE_MAX_SHARE
#error "OUTLINE_MAX_SHARE is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif
#ifndef OUTLINE_STEPS
#error "OUTLINE_STEPS is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif
#ifndef TILE
#error "TILE is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif

// float32 -> float16 bits, round to nearest even (as NumPy's astype(float16)).
__device__ __forceinline__ unsigned short f2h(float f)
{
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
    return h;
}

// float16 bits -> float32 (exact).
__device__ __forceinline__ float h2f(unsigned short h)
{
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

// RGBA as four float16 in one 8-byte word (x | y << 16, z | w << 16).
__device__ __forceinline__ uint2 pack_half4(float4 v)
{
    uint2 r;
    r.x = (unsigned int)f2h(v.x) | ((unsigned int)f2h(v.y) << 16);
    r.y = (unsigned int)f2h(v.z) | ((unsigned int)f2h(v.w) << 16);
    return r;
}

__device__ __forceinline__ float4 unpack_half4(uint2 v)
{
    return make_float4(h2f((unsigned short)(v.x & 0xFFFFu)), h2f((unsigned short)(v.x >> 16)),
                       h2f((unsigned short)(v.y & 0xFFFFu)), h2f((unsigned short)(v.y >> 16)));
}

// pyramid.band_of: clip((d * n).astype(int32), 0, n - 1); d is finite here (validated).
__device__ __forceinline__ int band_index(float d, int n)
{
    float t = __fmul_rn(d, (float)n);
    int b = (t >= 2147483520.0f) ? n - 1 : (t <= -2147483520.0f ? 0 : (int)t);  // (int) truncates like astype
    return min(max(b, 0), n - 1);
}

__device__ __forceinline__ float clamp01(float v)
{
    return fminf(fmaxf(v, 0.0f), 1.0f);
}

// Outline split (engine/constants.py OUTLINE_MAX_SHARE, engine/render/cpu/pixels.py): code
// (q << 2) | d moves share s = q / OUTLINE_STEPS of the pixel to the band of its
// neighbour in direction d (0 right, 1 down, 2 left, 3 up).
__device__ __forceinline__ void outline_dir(int d, int& dy, int& dx)
{
    dy = (d & 1) * (1 - (d & 2));
    dx = (1 - (d & 1)) * (1 - (d & 2));
}

#define NO_BAND 255

// Pixel (x, y) of img4 ((h, w), rgb + disparity) with colour p: its split share q
// (premultiplied rgb, alpha s) in band *qb; q = 0 and *qb = NO_BAND when it has none.
// The pixel keeps (p.rgb - q.rgb, 1 - s) in its own band.
__device__ __forceinline__ float4 split_of(const float4* __restrict__ img4, const unsigned char* __restrict__ codes,
                                           int w, int n, int x, int y, float4 p, int* qb)
{
    const int c = codes[(long long)y * w + x];
    *qb = NO_BAND;
    if (c == 0) return make_float4(0.f, 0.f, 0.f, 0.f);
    int dy, dx;
    outline_dir(c & 3, dy, dx);
    const float s = __fdiv_rn((float)(c >> 2), OUTLINE_STEPS);
    const float4 nb = img4[(long long)(y + dy) * w + (x + dx)];
    *qb = band_index(nb.w, n);
    return make_float4(fminf(__fmul_rn(s, nb.x), p.x), fminf(__fmul_rn(s, nb.y), p.y),
                       fminf(__fmul_rn(s, nb.z), p.z), s);
}
