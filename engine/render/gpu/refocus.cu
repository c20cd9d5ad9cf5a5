// Per-focus level selection and compositing of the GPU renderer: one thread per
// pixel, the same algorithm as CpuRenderer.render (engine/render/cpu/backend.py),
// described once, in engine/DESIGN.md (own band, hidden part, background fill, bands in front).
// Here r = K * max(|d - f| - dof, 0) and band b = clip(int(d * n), 0, n - 1).
//
// S_j(r) samples layer j: level 0 is the pixel itself, (rgb * m, m) with m = [b <= j]
// for a pixel without an outline split (else its own part and its share, common.cuh);
// level i >= 1 is read from the packed float16 buffer (table[i * n + j] = offset in
// 8-byte pixels; lvl_w/lvl_h/lvl_s = the level's width, height and scale) with
// bilinear interpolation, pixel centres at (i + 0.5) s, indices clamped at the
// borders (bilinear_at / cv2.resize INTER_LINEAR).
//
// Operations whose float32 result must equal NumPy's (radius, level weights) use
// the _rn intrinsics so that nvcc does not contract them into FMAs. Constants
// (EPS, FILL_*, MAX_BANDS, MAX_LEVELS) come as -D options (see common.cuh).

#include "common.cuh"

#ifndef CAT_EYE_TAPS
#error "CAT_EYE_TAPS is not defined: compile with the -D options of engine/render/gpu/backend.py kernel_defines()"
#endif
#if CAT_EYE_TAPS != 3
#error "refocus.cu implements CAT_EYE_TAPS = 3 (weights 1/4, 1/2, 1/4)"
#endif

// optics.coc_radius in float32: K * (diff * (diff > 0)), diff = |d - f| - dof.
__device__ __forceinline__ float coc(float d, float focus, float K, float dof)
{
    float diff = __fsub_rn(fabsf(__fsub_rn(d, focus)), dof);
    return __fmul_rn(K, diff > 0.0f ? diff : 0.0f);
}

// pyramid.level_weights for one radius over the first n_levels radii.
__device__ __forceinline__ void level_weights(float r, const float* radii, int n_levels, int& i, float& w)
{
    float top = radii[n_levels - 1];
    r = fminf(fmaxf(r, 0.0f), top);
    int c = 0;  // searchsorted(radii, r, side="right")
    for (int k = 0; k < n_levels; ++k) c += (radii[k] <= r) ? 1 : 0;
    i = min(max(c - 1, 0), max(n_levels - 2, 0));
    if (n_levels == 1) {
        w = 1.0f;
        return;
    }
    float lo = radii[i], hi = radii[i + 1];
    float hh = __fmul_rn(hi, hi);
    float num = __fsub_rn(hh, __fmul_rn(r, r));
    float den = __fsub_rn(hh, __fmul_rn(lo, lo));
    w = fminf(fmaxf(__fdiv_rn(num, den), 0.0f), 1.0f);
}

struct Levels {
    const uint2* __restrict__ data;
    const long long* __restrict__ table;
    const int* lw;  // shared-memory copies
    const int* lh;
    const int* ls;
    int n;  // bands
};

// Level i (>= 1) of layer j at the fractional full-resolution position (xf, yf) (the cat-eye's
// taps, any scale): bilinear, pixel centres at (i + 0.5) s, indices clamped.
__device__ __forceinline__ float4 sample_level_at(const Levels& L, int j, int i, float xf, float yf)
{
    const uint2* base = L.data + __ldg(&L.table[i * L.n + j]);
    const int s = L.ls[i], wl = L.lw[i], hl = L.lh[i];
    const float inv = 1.0f / (float)s;  // exact: s is a power of two
    float fy = (yf + 0.5f) * inv - 0.5f;
    float fx = (xf + 0.5f) * inv - 0.5f;
    float y0f = floorf(fy), x0f = floorf(fx);
    float ty = fy - y0f, tx = fx - x0f;
    int y0 = (int)y0f, x0 = (int)x0f;
    int y0c = min(max(y0, 0), hl - 1), y1c = min(max(y0 + 1, 0), hl - 1);
    int x0c = min(max(x0, 0), wl - 1), x1c = min(max(x0 + 1, 0), wl - 1);
    float4 a = unpack_half4(__ldg(&base[(long long)y0c * wl + x0c]));
    float4 b = unpack_half4(__ldg(&base[(long long)y0c * wl + x1c]));
    float4 c = unpack_half4(__ldg(&base[(long long)y1c * wl + x0c]));
    float4 d = unpack_half4(__ldg(&base[(long long)y1c * wl + x1c]));
    float ux = 1.0f - tx, uy = 1.0f - ty;
    float4 r;
    r.x = (a.x * ux + b.x * tx) * uy + (c.x * ux + d.x * tx) * ty;
    r.y = (a.y * ux + b.y * tx) * uy + (c.y * ux + d.y * tx) * ty;
    r.z = (a.z * ux + b.z * tx) * uy + (c.z * ux + d.z * tx) * ty;
    r.w = (a.w * ux + b.w * tx) * uy + (c.w * ux + d.w * tx) * ty;
    return r;
}

// Level i (>= 1) of layer j at full-resolution pixel (x, y): a scale-1 level directly, a
// downsampled one bilinearly (sample_level_at).
__device__ __forceinline__ float4 sample_level(const Levels& L, int j, int i, int x, int y)
{
    if (L.ls[i] != 1) return sample_level_at(L, j, i, (float)x, (float)y);
    const uint2* base = L.data + __ldg(&L.table[i * L.n + j]);
    return unpack_half4(__ldg(&base[(long long)y * L.lw[i] + x]));
}

// The pixel itself (level 0): its own part P (premultiplied RGBA) in band pb and its
// outline split share Q in band qb (see common.cuh split_of).
struct Pixel {
    float4 P;
    int pb;
    float4 Q;
    int qb;
};

// Layer j sampled between levels i and i + 1 (weight w of level i) at pixel (x, y),
// whose own value (level 0) is px.
__device__ __forceinline__ float4 sample_layer(const Levels& L, int n_levels, int j, int i, float w,
                                               int x, int y, const Pixel& px)
{
    if (j < 0) return make_float4(0.f, 0.f, 0.f, 0.f);
    float4 lo = make_float4(0.f, 0.f, 0.f, 0.f), hi = make_float4(0.f, 0.f, 0.f, 0.f);
    if (w != 0.0f || n_levels == 1) {  // w == 0: the result is hi exactly
        if (i == 0) {
            if (px.pb <= j) lo = px.P;
            if (px.qb <= j) lo = make_float4(lo.x + px.Q.x, lo.y + px.Q.y, lo.z + px.Q.z, lo.w + px.Q.w);
        } else {
            lo = sample_level(L, j, i, x, y);
        }
    }
    if (n_levels == 1 || w == 1.0f) return lo;  // w == 1: the result is lo exactly
    hi = sample_level(L, j, i + 1, x, y);  // i + 1 >= 1
    float u = 1.0f - w;
    return make_float4(w * lo.x + u * hi.x, w * lo.y + u * hi.y, w * lo.z + u * hi.z, w * lo.w + u * hi.w);
}

// Cat-eye (engine/render/cateye.py): per pixel, per unit of blur radius, the tap disc radius kf,
// the tap spacing tf, the centroid offset (ox, oy) and the chord direction (evx, evy).
struct CatPix {
    float kf, tf, ox, oy, evx, evy;
    bool on;
};

__device__ __forceinline__ CatPix cat_pixel(int x, int y, float strength, float cxo, float cyo, float hinv)
{
    CatPix c;
    c.on = strength > 0.0f;
    c.kf = c.tf = c.ox = c.oy = c.evx = c.evy = 0.0f;
    if (!c.on) return c;
    float px = ((float)x + cxo) * hinv, py = ((float)y + cyo) * hinv;
    float pl = sqrtf(px * px + py * py);
    float a = fminf(0.5f * strength * pl, 1.0f);
    float s = sqrtf(1.0f - a * a);
    float ac = acosf(a);
    float seg = ac - a * s;
    float i0 = 0.5f * seg;
    float i1 = s * s * s / 3.0f;
    float i3 = (3.0f * ac - a * (5.0f - 2.0f * a * a) * s) / 8.0f;
    float i2 = i0 - i3;
    float vu = 2.0f / seg * (i2 - 2.0f * a * i1 + a * a * i0);
    float vv = 2.0f / 3.0f * i3 / seg;
    c.kf = 2.0f * sqrtf(fmaxf(vu, 0.0f));
    c.tf = sqrtf(2.0f * fmaxf(vv - vu, 0.0f));
    float inv = pl > 0.0f ? 1.0f / pl : 0.0f;
    float half = 0.5f * strength;
    c.ox = half * px;
    c.oy = half * py;
    c.evx = -py * inv;
    c.evy = px * inv;
    return c;
}

// Layer j at pixel (x, y) blurred with radius R: without the cat-eye the level pair (i, w) of R
// (sample_layer); with it, CAT_EYE_TAPS taps at the tap radius kf R (``lower``: its lower level
// alone), moved outward by R (ox, oy) and spread by +-tf R along the chord, weights 1/4, 1/2, 1/4
// (one tap where tf R = 0); level 0 (the pixel itself) is not moved.
__device__ __forceinline__ float4 layer_at(const Levels& L, int n_levels, const float* radii, int j, float R,
                                          int i, float w, bool lower, int x, int y, const Pixel& px,
                                          const CatPix& ce)
{
    if (!ce.on) return sample_layer(L, n_levels, j, i, w, x, y, px);
    if (j < 0) return make_float4(0.f, 0.f, 0.f, 0.f);
    level_weights(ce.kf * R, radii, n_levels, i, w);
    if (lower) w = 1.0f;
    const float cy = R * ce.oy, cx = R * ce.ox, sp = ce.tf * R;
    const int d0 = sp > 0.0f ? -1 : 0, d1 = sp > 0.0f ? 1 : 0;
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int d = d0; d <= d1; ++d) {
        const float tw = sp > 0.0f ? (d == 0 ? 0.5f : 0.25f) : 1.0f;
        const float yf = (float)y - (cy + (float)d * sp * ce.evy);
        const float xf = (float)x - (cx + (float)d * sp * ce.evx);
        float4 lo = make_float4(0.f, 0.f, 0.f, 0.f), v;
        if (w != 0.0f || n_levels == 1) {
            if (i == 0) {
                if (px.pb <= j) lo = px.P;
                if (px.qb <= j) lo = make_float4(lo.x + px.Q.x, lo.y + px.Q.y, lo.z + px.Q.z, lo.w + px.Q.w);
            } else {
                lo = sample_level_at(L, j, i, xf, yf);
            }
        }
        if (n_levels == 1 || w == 1.0f) {
            v = lo;
        } else {
            float4 hi = sample_level_at(L, j, i + 1, xf, yf);
            float u = 1.0f - w;
            v = make_float4(w * lo.x + u * hi.x, w * lo.y + u * hi.y, w * lo.z + u * hi.z, w * lo.w + u * hi.w);
        }
        acc = make_float4(acc.x + tw * v.x, acc.y + tw * v.y, acc.z + tw * v.z, acc.w + tw * v.w);
    }
    return acc;
}

// The own band (cr, cg, cb, ca) plus the part of the pixel's neighbourhood that bands in
// front hide (1 - here_a), coloured as layer b sampled at HIDDEN_FILL_RADIUS times the
// pixel's radius r and renormalised: the hidden background continues what lies next to
// the pixel (engine/constants.py).
__device__ __forceinline__ void hidden_fill(const Levels& L, int n_levels, const float* radii, int b, float r,
                                            float here_a, int x, int y, const Pixel& px, const CatPix& ce,
                                            float& cr, float& cg, float& cb, float& ca)
{
    int i;
    float w;
    const float rh = __fmul_rn(r, HIDDEN_FILL_RADIUS);
    level_weights(rh, radii, n_levels, i, w);
    float4 hn = layer_at(L, n_levels, radii, b, rh, i, 1.0f, true, x, y, px, ce);  // the lower level alone
    float hid = clamp01(hn.w / FILL_BEHIND_RAMP) * (1.0f - here_a);  // > HIDDEN_MIN_SHARE here
    float na = fmaxf(hn.w, EPS);
    cr += hid * (hn.x / na);
    cg += hid * (hn.y / na);
    cb += hid * (hn.z / na);
    ca += hid;
}

// Block: 32 x 8 threads (any 2-D shape with >= 64 threads works).
extern "C" __global__ void refocus(const float4* __restrict__ img4, const unsigned char* __restrict__ codes,
                                   int w, int h, int n, int n_levels,
                                   float focus, float K, float dof,
                                   const uint2* __restrict__ levels, const long long* __restrict__ table,
                                   const int* __restrict__ lvl_w, const int* __restrict__ lvl_h,
                                   const int* __restrict__ lvl_s, const float* __restrict__ radii, int n_radii,
                                   const float* __restrict__ band_centre, const int* __restrict__ band_count,
                                   float cat, float cxo, float cyo, float hinv, float* __restrict__ out)
{
    __shared__ float s_radii[MAX_LEVELS];
    __shared__ int s_lw[MAX_LEVELS], s_lh[MAX_LEVELS], s_ls[MAX_LEVELS];
    __shared__ int s_bi[MAX_BANDS];
    __shared__ float s_bw[MAX_BANDS];
    __shared__ float s_br[MAX_BANDS];
    __shared__ int s_act[MAX_BANDS];
    __shared__ int s_cnt[MAX_BANDS];
    const int tid = threadIdx.y * blockDim.x + threadIdx.x;
    if (tid < n_radii) {
        s_radii[tid] = radii[tid];
        s_lw[tid] = lvl_w[tid];
        s_lh[tid] = lvl_h[tid];
        s_ls[tid] = lvl_s[tid];
    }
    __syncthreads();
    if (tid < n) {
        // Front band k: radius from the band's mean disparity, one level pair for all pixels.
        float R = coc(band_centre[tid], focus, K, dof);
        int bi;
        float bw;
        level_weights(R, s_radii, n_levels, bi, bw);
        s_bi[tid] = bi;
        s_bw[tid] = bw;
        s_br[tid] = R;
        s_act[tid] = band_count[tid] > 0 ? 1 : 0;  // R == 0: outline splits of the pixels behind
        s_cnt[tid] = band_count[tid] > 0 ? 1 : 0;
    }
    __syncthreads();

    const int x = blockIdx.x * blockDim.x + threadIdx.x;
    const int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    Levels L{levels, table, s_lw, s_lh, s_ls, n};
    const long long o = (long long)y * w + x;
    const float4 p = img4[o];
    const int b = band_index(p.w, n);
    Pixel px;
    px.pb = b;
    px.Q = split_of(img4, codes, w, n, x, y, p, &px.qb);
    px.P = make_float4(p.x - px.Q.x, p.y - px.Q.y, p.z - px.Q.z, 1.0f - px.Q.w);
    const float r = coc(p.w, focus, K, dof);
    int i;
    float wt;
    level_weights(r, s_radii, n_levels, i, wt);
    const CatPix ce = cat_pixel(x, y, cat, cxo, cyo, hinv);  // cat == 0: off (ce.on false)

    // 1-2: own band at own radius over the renormalised content behind it.
    float4 here = layer_at(L, n_levels, s_radii, b, r, i, wt, false, x, y, px, ce);
    float4 behind = layer_at(L, n_levels, s_radii, b - 1, r, i, wt, false, x, y, px, ce);
    float ca = here.w - behind.w;
    float cr = here.x - behind.x, cg = here.y - behind.y, cb = here.z - behind.z;
    if (HIDDEN_FILL_RADIUS > 0.0f && 1.0f - here.w > HIDDEN_MIN_SHARE) hidden_fill(L, n_levels, s_radii, b, r, here.w, x, y, px, ce, cr, cg, cb, ca);
    // g: how much of the fill to use, continuous in the background's coverage
    // (no threshold that float16 rounding of the levels could flip).
    const float g = clamp01(behind.w / FILL_BEHIND_RAMP);
    float cover = ca;
    if (g > 0.0f) {
        float ba = fmaxf(behind.w, EPS);
        float fr = behind.x / ba, fg = behind.y / ba, fb = behind.z / ba;
        // Prefer the hidden background blurred by its own radius (the nearest
        // non-empty band behind) where it covers enough of the neighbourhood.
        int nb = b - 1;
        while (nb >= 0 && !s_cnt[nb]) --nb;
        if (nb >= 0) {
            float4 near = layer_at(L, n_levels, s_radii, b - 1, s_br[nb], s_bi[nb], s_bw[nb], false, x, y, px, ce);
            float t = clamp01((near.w - FILL_MIN_COVER) / FILL_COVER_RAMP + 0.5f);
            float na = fmaxf(near.w, EPS);
            fr += t * (near.x / na - fr);
            fg += t * (near.y / na - fg);
            fb += t * (near.z / na - fb);
        }
        float k = g * (1.0f - ca);
        cr += k * fr;
        cg += k * fg;
        cb += k * fb;
        cover = ca + k;
    }
    if (cover > EPS) {  // normalised: what lies behind the bands in front is opaque
        cr /= cover;
        cg /= cover;
        cb /= cover;
        cover = 1.0f;
    }
    // 3: bands in front, far to near, each at its own radius.
    for (int k = b + 1; k < n; ++k) {
        if (!s_act[k]) continue;
        const int bi = s_bi[k];
        const float bw = s_bw[k];
        float4 f1 = layer_at(L, n_levels, s_radii, k, s_br[k], bi, bw, false, x, y, px, ce);
        float4 f0 = layer_at(L, n_levels, s_radii, k - 1, s_br[k], bi, bw, false, x, y, px, ce);
        float fa = f1.w - f0.w;
        float u = 1.0f - fa;
        cr = (f1.x - f0.x) + u * cr;
        cg = (f1.y - f0.y) + u * cg;
        cb = (f1.z - f0.z) + u * cb;
        cover = fa + u * cover;
    }
    // 4: normalise by coverage.
    float c = fmaxf(cover, EPS);
    out[3 * o] = cr / c;
    out[3 * o + 1] = cg / c;
    out[3 * o + 2] = cb / c;
}
