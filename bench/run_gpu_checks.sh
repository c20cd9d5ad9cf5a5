#!/usr/bin/env bash
# One prepared GPU session: install (no deps), NVRTC compile check, GPU tests, benchmark.
# Usage (repository root, on the GPU machine): bash bench/run_gpu_checks.sh
# Everything is tee'd into $OUT (default: bench/results/run); the JSON the
# benchmark writes is copied there too. Expected to finish in < 8 min on an H100.
# The kernels take their constants as -D options from engine/render/gpu/backend.py
# (NVRTC_OPTIONS); the tests compile them with exactly those options.
set -u
OUT=${OUT:-bench/results/run}
mkdir -p "$OUT"
log="$OUT/gpu_checks.log"
{
  echo "== $(date -u +%FT%TZ) $(hostname)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 || true
  python -c "import cupy, numpy, cv2; print('cupy', cupy.__version__, 'numpy', numpy.__version__, 'cv2', cv2.__version__)"
  python -c "from deocused.render.gpu.backend import NVRTC_OPTIONS; print('NVRTC options:', ' '.join(NVRTC_OPTIONS))"
  echo "== pip install --no-deps -e ."
  timeout 120 python -m pip install --no-deps -q -e . 2>&1 | tail -3
} 2>&1 | tee "$log"
echo "== pytest tests/render/test_nvrtc.py tests/render/test_gpu_backend.py" | tee -a "$log"
timeout 300 python -m pytest tests/render/test_nvrtc.py tests/render/test_gpu_backend.py -q -p no:cacheprovider 2>&1 \
  | tee "$OUT/pytest_gpu.log" | tee -a "$log"
test_rc=${PIPESTATUS[0]}
echo "== python bench/gpu_parity.py" | tee -a "$log"
timeout 120 python bench/gpu_parity.py --out bench/results/gpu_parity.json 2>&1 | tee -a "$log"
echo "== python -m deocused.bench.gpu_check" | tee -a "$log"
timeout 300 python -m deocused.bench.gpu_check --out bench/results 2>&1 | tee "$OUT/bench.log" | tee -a "$log"
bench_rc=${PIPESTATUS[0]}
cp bench/results/gpu_*.json "$OUT"/ 2>/dev/null || true
echo "== pytest rc=$test_rc bench rc=$bench_rc" | tee -a "$log"
exit $(( test_rc != 0 || bench_rc != 0 ))
