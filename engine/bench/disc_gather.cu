// A naive per-pixel disc gather for the GPU benchmark (engine/bench/gpu_check.py), not used by
// the renderer ("baseline" in the benchmarks is the Gaussian stack of baseline.py). Every pixel averages the image over the disc of its own
// blur radius r = K * |d - focus| (no occlusion handling, no pyramid): the
// straightforward "gather" renderer the pyramid is compared with.

extern "C" __global__ void disc_gather(const float* __restrict__ img, const float* __restrict__ disp,
                                       int w, int h, float focus, float K, float* __restrict__ out)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= w || y >= h) return;
    long long o = (long long)y * w + x;
    float r = K * fabsf(disp[o] - focus);
    int R = (int)ceilf(r);
    float r2 = r * r;
    float sr = 0.f, sg = 0.f, sb = 0.f, sw = 0.f;
    for (int dy = -R; dy <= R; ++dy) {
        int yy = y + dy;
        if (yy < 0 || yy >= h) continue;
        for (int dx = -R; dx <= R; ++dx) {
            int xx = x + dx;
            if (xx < 0 || xx >= w || (float)(dx * dx + dy * dy) > r2 + 0.5f) continue;
            const float* p = img + 3 * ((long long)yy * w + xx);
            sr += p[0];
            sg += p[1];
            sb += p[2];
            sw += 1.0f;
        }
    }
    out[3 * o] = sr / sw;
    out[3 * o + 1] = sg / sw;
    out[3 * o + 2] = sb / sw;
}
