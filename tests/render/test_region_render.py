"""Renderer.render_region: a region of the photo refocused from that region and the kernel's reach
around it only, equal to the crop of the whole photo's render. On every backend (the CPU, and the GPU:
a real device or the CUDA kernels run on the host); tolerance one 8-bit sRGB step (the CPU is exact
to float32 rounding)."""

import numpy as np
import pytest
from conftest import emulated_subset

from deocused.errors import InputError
from deocused.io.colour import linear_to_srgb8, srgb_to_linear
from deocused.render.renderer import BandStats


@pytest.fixture(scope="module")
def photo():
    from deocused.bench.scenes import scene_arrays

    img, disp = scene_arrays(320, 224, "motorcycle")  # a real photo: every band, depth edges, texture
    return srgb_to_linear(img), disp


REGIONS = [(130, 90, 200, 150), (0, 0, 80, 60), (250, 170, 320, 224), (0, 0, 320, 224)]


@pytest.mark.slow
@pytest.mark.parametrize("focus,k,cat_eye", [(0.25, 6.0, 0.0), (0.8, 20.0, 0.0), (0.25, 14.0, 1.0), (0.8, 20.0, 0.6)])
def test_region_equals_the_crop_of_the_full_render(renderer_factory, photo, focus, k, cat_eye):
    """Also with the cat-eye: a region knows where it lies in the photo, and the CPU builds the
    full-resolution level tiles that its taps read beyond the region's own."""
    emulated_subset(renderer_factory, (k, cat_eye), keep=((20.0, 0.0), (20.0, 0.6)))
    lin, disp = photo
    full = renderer_factory(cat_eye=cat_eye)
    full.prepare(lin, disp)
    ref = full.to_host(full.render(focus, k))
    whole = BandStats.of(disp, full.n_bands)
    r = renderer_factory(cat_eye=cat_eye)
    regions = REGIONS[:2] if renderer_factory.emulated else REGIONS  # (seconds per launch on the host)
    for x0, y0, x1, y1 in regions:
        out = r.to_host(r.render_region(lin, disp, (x0, y0, x1, y1), focus, k, whole=whole))
        assert out.shape == (y1 - y0, x1 - x0, 3)
        crop = ref[y0:y1, x0:x1]
        diff = np.abs(linear_to_srgb8(out).astype(int) - linear_to_srgb8(crop).astype(int))
        assert diff.max() <= 1, (x0, y0, x1, y1)
        if renderer_factory.device == "cpu":
            assert np.abs(out - crop).max() < 1e-5
        if (x1 - x0) * 2 < 320:  # an inner region: prepared on its window, not on the photo
            assert r.shape[0] * r.shape[1] < 0.6 * 320 * 224


def test_region_window_covers_the_reach_and_the_level_grid(photo):
    from deocused.render.pyramid import MAX_SCALE
    from deocused.render.renderer import aligned_window, region_reach

    _, disp = photo
    whole = BandStats.of(disp, 8)
    reach = region_reach(whole, 0.8, 20.0, 0.0)
    assert reach >= 20.0 * max(abs(whole.d_lo - 0.8), abs(whole.d_hi - 0.8))
    x0, y0, x1, y1 = aligned_window((130, 90, 200, 150), reach, disp.shape)
    assert x0 % MAX_SCALE == 0 and y0 % MAX_SCALE == 0
    assert x0 <= 130 - reach and y0 <= 90 - reach and x1 >= 200 + reach and y1 >= 150 + reach


def test_region_outside_the_photo_is_refused(photo):
    from deocused.render.cpu.backend import CpuRenderer

    lin, disp = photo
    with pytest.raises(InputError, match="not within"):
        CpuRenderer().render_region(lin, disp, (300, 0, 400, 50), 0.5, 10.0)
    assert np.array_equal(BandStats.of(disp, 8).counts.sum(), disp.size)


@pytest.mark.parametrize("shape", [(1, 1), (17, 5), (224, 320), (1000, 37)])
def test_band_stats_of_every_backend_count_the_bands(renderer_factory, photo, shape):
    """Renderer.band_stats (the CPU: a Numba kernel, one pass over the rows) against a count per band
    written out with NumPy masks: pixels, float64 disparity sums, smallest and largest disparity.
    Values on the bands' edges (k / 8) and at 0 and 1 included."""
    rng = np.random.default_rng(7)
    disp = photo[1] if shape == (224, 320) else rng.random(shape, dtype=np.float32)
    disp = disp.copy()
    disp.reshape(-1)[:9] = np.array([0, 1, 0.125, 0.25, 0.5, 0.875, 0.99999994, 0.375, 0.625], np.float32)[:disp.size]
    stats = renderer_factory().band_stats(disp)
    band = np.minimum((disp * np.float32(8)).astype(np.int64), 7)
    for k in range(8):
        assert stats.counts[k] == np.count_nonzero(band == k)
        assert stats.sums[k] == pytest.approx(float(disp[band == k].astype(np.float64).sum()), rel=1e-12, abs=1e-12)
    assert (stats.d_lo, stats.d_hi) == (float(disp.min()), float(disp.max()))
    ref = BandStats.of(disp, 8)
    assert np.array_equal(stats.counts, ref.counts) and (stats.d_lo, stats.d_hi) == (ref.d_lo, ref.d_hi)


@pytest.mark.slow
@pytest.mark.parametrize("bits,cat_eye", [(8, 0.0), (16, 0.0), (8, 1.0)])
def test_render_photo_in_strips_equals_the_whole_render(renderer_factory, photo, monkeypatch, bits, cat_eye):
    """A photo above STRIP_ABOVE_PIXELS renders in horizontal strips (render_region per strip): the same codes
    as one prepare + render of the whole photo within one step (the CPU: equal here)."""
    import deocused.constants as constants
    from deocused.io.colour import linear_to_srgb
    from deocused.photo import Photo, _strip_rows, render_photo
    from deocused.settings import RenderSettings

    emulated_subset(renderer_factory, 20.0, keep=(20.0,))
    if renderer_factory.emulated and (bits == 16 or cat_eye):
        pytest.skip("the emulated GPU takes seconds per launch: its 8-bit case covers the strips")
    lin, disp = photo
    h, w = disp.shape
    srgb = linear_to_srgb(lin)
    settings = RenderSettings(focus_disparity=0.8, max_blur=20.0)
    whole = render_photo(Photo(srgb, disp), settings, renderer_factory(cat_eye=cat_eye), bit_depth=bits)
    assert _strip_rows(h, w) == h and _strip_rows(2160, 3840) == 2160  # 4K and below: whole
    monkeypatch.setattr(constants, "STRIP_PIXELS", h * w // 3)
    monkeypatch.setattr(constants, "STRIP_ABOVE_PIXELS", h * w // 3)
    assert _strip_rows(h, w) == 56  # four strips: 224 rows, ceil(320 * 224 / 23893) = 4
    strips = render_photo(Photo(srgb, disp), settings, renderer_factory(cat_eye=cat_eye), bit_depth=bits)
    assert strips.dtype == whole.dtype == (np.uint8 if bits == 8 else np.uint16) and strips.shape == (h, w, 3)
    diff = np.abs(strips.astype(int) - whole.astype(int)).max()
    assert diff <= (1 if bits == 8 else 257)
    if renderer_factory.device == "cpu":
        assert diff == 0


def test_an_8_bit_photo_is_linearised_per_code_as_a_whole_decode(photo):
    """render_photo decodes an 8-bit photo (every value code * float32(1/255), as decode_image makes it)
    through a table of the 256 codes, per strip window: bit for bit every value decoded, for the
    sRGB curve and an ICC profile's own curves; anything else is decoded as before."""
    from deocused.io.colour import codes8
    from deocused.io.iccolour import _GRID, Transfer
    from deocused.photo import Photo

    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (61, 47, 3)).astype(np.uint8)
    codes[0, :3] = [[0, 255, 1], [254, 128, 2], [3, 4, 5]]
    srgb = np.multiply(codes, np.float32(1 / 255), dtype=np.float32)
    assert np.array_equal(codes8(srgb), codes)
    own = Transfer([_GRID ** 1.8, _GRID ** 2.2, np.sqrt(_GRID)], "test curves")
    assert not own.is_srgb
    for transfer in (None, own):
        p = Photo(srgb, None)
        rows = p.linear_rows(transfer)
        ref = srgb_to_linear(srgb) if transfer is None else transfer.decode(srgb)  # every value decoded
        for y0, y1 in ((0, 61), (10, 33), (60, 61)):
            assert np.array_equal(rows(y0, y1).view(np.uint32), ref[y0:y1].view(np.uint32))
        buf = np.full((40, 47, 3), np.nan, np.float32)  # a strip's rows decode into the caller's buffer
        got = rows(10, 33, buf[:23])
        assert np.shares_memory(got, buf) and np.array_equal(buf[:23].view(np.uint32), ref[10:33].view(np.uint32))
    lin, _ = photo
    divided = (linear_to_srgb8(lin) / np.float32(255)).astype(np.float32)  # code / 255: not always the same float
    assert codes8(divided) is None or np.array_equal(codes8(divided), linear_to_srgb8(lin))
    for other in (np.where(srgb == 0, np.float32(-0.0), srgb), srgb + np.float32(1e-3), -srgb, srgb * 1.002,
                  srgb.astype(np.float64), np.asfortranarray(srgb)):
        assert codes8(other) is None


def test_a_cpu_renderer_prepared_for_a_box_renders_that_box_only_and_exactly(photo):
    """prepare_for(box) builds the scale-1 levels' tile masks under the box's tile rows only, and the
    downsampled levels in the tiles the box reads: render_crop of the box equals the whole render's crop
    bit for bit; rendering more than the box (in rows or in columns) is refused."""
    from deocused.render.cpu.backend import CpuRenderer

    lin, disp = photo
    full = CpuRenderer()
    full.prepare(lin, disp)
    r = CpuRenderer()
    box = (40, 70, 250, 131)
    r.prepare_for(box, lin, disp)
    for k in (12.0, 40.0):  # 40: levels at 1/2 and 1/4 of the resolution too
        assert np.array_equal(r.render_crop(0.5, k, 0.0, box), full.render(0.5, k)[70:131, 40:250]), k
    with pytest.raises(RuntimeError, match="prepare_for"):
        r.render(0.5, 12.0)
    with pytest.raises(RuntimeError, match="prepare_for"):
        r.render_crop(0.5, 12.0, 0.0, (0, 0, 320, 224))
    with pytest.raises(RuntimeError, match="prepare_for"):
        r.render_crop(0.5, 12.0, 0.0, (0, 70, 320, 131))
