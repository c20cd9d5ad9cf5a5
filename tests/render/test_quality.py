"""Ground-truth quality (bench/quality.py) on one shared scene; skipped without ../shared."""

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
GT = ROOT.parent / "shared" / "groundtruth"
sys.path.insert(0, str(ROOT / "bench"))

pytestmark = pytest.mark.skipif(not (GT / "scene00" / "params.json").exists(),
                                reason="ground truth not present (../shared/groundtruth)")


def test_psnr_and_edge_band_helpers():
    from quality import edge_band, psnr

    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 255
    assert psnr(a, b) == pytest.approx(10 * np.log10(48), abs=1e-9)  # mse = 255^2 / 48
    d = np.zeros((40, 40), np.float32)
    d[:, 20:] = 1.0
    band = edge_band(d)
    assert band[:, 11:29].all() and not band[:, :10].any() and not band[:, 30:].any()


@pytest.mark.slow
def test_engine_beats_gaussian_stack_on_ground_truth(tmp_path):
    from quality import edge_band, run_engine, scores

    from deocused.bench.baseline import baseline_render
    from deocused.io.colour import linear_to_srgb8, srgb_to_linear
    from deocused.io.depthmap import load_disparity
    from deocused.io.images import load_image

    scene = GT / "scene00"
    setting = json.loads((scene / "params.json").read_text())["settings"][2]  # focus far
    truth = cv2.imread(str(scene / setting["file"]))[:, :, ::-1]
    ours, _ = run_engine(scene / "image.png", scene / "disparity.png", setting, "cpu", tmp_path / "o.png")
    disparity = load_disparity(scene / "disparity.png")
    base = linear_to_srgb8(baseline_render(srgb_to_linear(load_image(scene / "image.png")), disparity,
                                          setting["d_focus"], setting["K"]))
    band = edge_band(disparity)
    e, b = scores(ours, truth, band), scores(base, truth, band)
    # Margins well inside what bench/results/quality_cpu.json records for this setting.
    assert e["psnr_all"] > b["psnr_all"] + 1.0
    assert e["psnr_edge"] > b["psnr_edge"] + 1.5
    assert e["ssim_all"] > b["ssim_all"]
