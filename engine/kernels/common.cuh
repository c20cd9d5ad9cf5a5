// Device helpers shared by pyramid.cu and refocus.cu, and the compile-time constants
// both need. The constants are not written here: engine/gpu_backend.py generates them
// as -D options from engine/constants.py and engine/pyramid.py (kernel_defines()), so
// each value has one source. Compiling without them fails here, by name.

#pragma once

#ifndef EPS
#error "EPS is not defined: compile with the -D options of engine/gpu_backend.py kernel_defines()"
#endif
#ifndef FILL_BEHIND_RAMP
#error "FILL_BEHIND_RAMP is not defined: compile with the -D options of engine/gpu_backend.py kernel_defines()"
#endif
#ifndef FILL_MIN_COVER
#error "FILL_MIN_COVER is not defined: compile with the -D options of engine/gpu_backend.py kernel_defines()"
#endif
#ifndef FILL_COVER_RAMP
#error "FILL_COVER_RAMP is not defined: compile with the -D options of engine/gpu_backend.py kernel_defines()"
#endif
#ifndef HIGHLIGHT_THRESHOLD
#error "HIGHLIGHT_THRESHOLD is not defined: compile with the -D options of engine/gpu_backend.py kernel_defines()"
#endif
#ifndef HIGHLIGHT_RANGE
#error "HIGHLIGHT_RANGE is not defined: compile with the -D options of engine/gpu_backend.py kernel_defines()"
#endif
#ifndef MAX_BANDS
#error "MAX_BANDS is not defined: compile with the -D options of engine/gpu_backend.py kernel_defines()"
#endif
#ifndef MAX_LEVELS
#error "MAX_LEVELS is not defined: compile with the -D options of engine/gpu_backend.py kernel_defines()"
#endif
#ifndef TILE
#error "TILE is not defined: compile with the -D options of engine/gpu_backend.py kernel_defines()"
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
