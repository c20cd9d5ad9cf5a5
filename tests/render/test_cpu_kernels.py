"""The fast CPU backend (Numba kernels, sparse tiled levels) against the
straightforward NumPy/OpenCV implementation of the same algorithm
(tests/helpers/reference_renderer.py) and against brute-force counts of its storage.

Tolerances are in linear light: the two differ only by float32 summation order.
"""

import numpy as np
import pytest
from helpers.reference import smooth_texture
from helpers.reference_renderer import ReferenceRenderer, outline_split

import deocused.render.cpu.kernels as ck
import deocused.render.cpu.refocus as cr
from deocused.render.aperture import Aperture, ApertureImage
from deocused.render.cpu.backend import BLOCK_BYTES, CpuRenderer
from deocused.render.pyramid import LEVEL_RADII, level_scale, padded_shape

TOL = 2e-5


def scene(h, w, seed, kind):
    """(image, disparity) with several bands: blocks, a ramp, or noise."""
    rng = np.random.default_rng(seed)
    img = smooth_texture(h, w, seed)
    img[rng.random((h, w)) < 0.01] = 1.0  # bright specks
    if kind == "blocks":
        disp = np.full((h, w), 0.05, np.float32)
        disp[h // 4: 3 * h // 4, w // 5: w // 2] = 0.93
        disp[h // 3:, 2 * w // 3:] = 0.52
        disp[5: h // 3, w // 2: w // 2 + 20] = 0.31
    elif kind == "ramp":
        disp = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
    else:
        disp = rng.random((h, w)).astype(np.float32)
    return img, disp


CASES = [
    ("blocks", {}, [(0.05, 30.0, 0.0), (0.93, 60.0, 0.0), (0.52, 12.0, 0.1), (0.3, 256.0, 0.0)]),
    ("ramp", {}, [(0.5, 40.0, 0.0), (0.0, 9.0, 0.0), (1.0, 100.0, 0.2)]),
    ("noise", {}, [(0.4, 20.0, 0.0)]),
    ("blocks", {"n_bands": 3}, [(0.93, 50.0, 0.0), (0.05, 7.0, 0.0)]),
    ("blocks", {"n_bands": 13, "highlights": 2.0}, [(0.31, 45.0, 0.0)]),
    ("ramp", {"aperture": Aperture(blades=6, rotation=15.0)}, [(0.2, 33.0, 0.0)]),
    ("blocks", {"aperture": Aperture(anamorphic=0.5, image=ApertureImage.from_array(np.triu(np.ones((16, 16)))))},
     [(0.6, 28.0, 0.0)]),
    # Cat-eye: every sample (own band, hidden part, fill, bands in front) through three moved taps.
    ("blocks", {"cat_eye": 1.0}, [(0.05, 30.0, 0.0), (0.93, 60.0, 0.0), (0.52, 12.0, 0.1), (0.3, 5.0, 0.0)]),
    ("ramp", {"cat_eye": 0.5, "n_bands": 5}, [(0.5, 40.0, 0.0)]),
]


@pytest.mark.parametrize("kind,opts,renders", CASES)
def test_fast_renderer_equals_the_reference_implementation(kind, opts, renders):
    img, disp = scene(75, 133, len(kind) + len(opts), kind)
    fast, ref = CpuRenderer(**opts), ReferenceRenderer(**opts)
    fast.prepare(img, disp)
    ref.prepare(img, disp)
    np.testing.assert_array_equal(fast.band_count, ref.band_count)
    np.testing.assert_array_equal(fast.band_centre, ref.band_centre)
    for f, k, dof in renders:
        a, b = fast.render(f, k, dof), ref.render(f, k, dof)
        assert a.dtype == np.float32 and a.shape == img.shape
        err = np.abs(a - b)
        assert err.max() < TOL, (f, k, dof, float(err.max()))
    # A second photo on the same renderer: nothing of the first one is left.
    img2, disp2 = scene(64, 90, 9, "noise")
    fast.prepare(img2, disp2)
    ref.prepare(img2, disp2)
    assert np.abs(fast.render(0.7, 25.0) - ref.render(0.7, 25.0)).max() < TOL


def test_a_crop_placed_in_its_photo_renders_its_cat_eye_as_the_reference():
    """The cat-eye's frame position comes from ``place`` (the crop's origin in the photo and the photo's size)."""
    img, disp = scene(75, 133, 5, "blocks")
    place = (160, 20, 400, 300)
    fast, ref = CpuRenderer(cat_eye=0.8), ReferenceRenderer(cat_eye=0.8)
    fast.prepare(img, disp, place=place)
    ref.prepare(img, disp, place=place)
    a, b = fast.render(0.05, 40.0), ref.render(0.05, 40.0)
    assert np.abs(a - b).max() < TOL
    ref.prepare(img, disp)  # the crop taken for the photo: other positions, another result
    assert np.abs(a - ref.render(0.05, 40.0)).max() > 100 * TOL


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def _prepare_after(first, second) -> tuple[CpuRenderer, dict]:
    """A renderer that rendered photo ``first`` up to 60 px, then prepared ``second``; the
    addresses of its pool and padded image before and after."""
    used = CpuRenderer()
    used.prepare(*first)
    used.render(0.05, 60.0)  # every level up to 60 px built
    before = {"pool": _address(used._pool), "image": _address(used._image_p)}
    used.prepare(*second)
    after = {"pool": _address(used._pool), "image": _address(used._image_p)}
    fresh = CpuRenderer()
    fresh.prepare(*second)
    for f, k in ((0.5, 40.0), (0.0, 9.0), (1.0, 100.0)):
        np.testing.assert_array_equal(used.render(f, k), fresh.render(f, k))
    return before, after


def test_a_photo_of_the_same_size_reuses_the_buffers_and_renders_as_on_a_fresh_renderer():
    """Same-size photos reuse the previous photo's block pool and padded image (no fresh
    pages per live frame): nothing of the previous photo may show through."""
    # the first needs more blocks than the second photo
    before, after = _prepare_after(scene(75, 133, 4, "ramp"), scene(75, 133, 3, "blocks"))
    assert after == before


def test_a_smaller_photo_reuses_the_larger_ones_buffers_and_renders_as_on_a_fresh_renderer():
    """The strips of a one-shot render differ in size: a smaller photo after a larger one
    reuses its padded image (margins and padding cleared of the larger photo's pixels)."""
    img, disp = scene(90, 150, 4, "ramp")
    img[:] = 0.9  # bright where the smaller photo's margins and padding fall
    before, after = _prepare_after((img, disp), scene(70, 133, 3, "blocks"))  # 133: padding columns in the first
    assert after["image"] == before["image"]


def test_a_pool_made_for_a_much_larger_image_serves_a_few_smaller_ones_then_is_freed_first():
    """The viewer goes back and forth between a zoomed region and its smaller fit view: after a large image,
    a small one keeps the large block pool (no fresh pages at the next zoom) and renders as on a fresh
    renderer. Once the large image is no longer among the latest (scratch.RECENT), the large pool is freed
    before the next small image's buffers, which get a pool of their own size."""
    from deocused.render.cpu.scratch import RECENT

    big = CpuRenderer()
    big.prepare(*scene(160, 240, 4, "ramp"))
    big.render(0.05, 60.0)
    large = big._scratch._kept["pool"]
    small = scene(60, 90, 3, "blocks")
    fresh = CpuRenderer()
    fresh.prepare(*small)
    big.prepare(*small)
    assert _address(big._scratch._kept["pool"]) == _address(large)  # kept for the next zoom
    np.testing.assert_array_equal(big.render(0.3, 30.0), fresh.render(0.3, 30.0))
    for _ in range(RECENT - 1):
        big.prepare(*small)
        big.render(0.3, 30.0)
    assert _address(big._scratch._kept["pool"]) == _address(large)  # RECENT prepares after the large image
    held, take = [], big._scratch.take
    big._scratch.take = lambda name, *a, **k: (held.append((name, "pool" in big._scratch._kept)), take(name, *a, **k))[1]
    big.prepare(*small)
    assert held[0] == ("image", False)  # the large pool was gone before the small image's first buffer
    assert big._scratch._kept["pool"].size == fresh._scratch._kept["pool"].size < large.size / 2
    np.testing.assert_array_equal(big.render(0.3, 30.0), fresh.render(0.3, 30.0))


def test_regions_one_after_another_reuse_the_box_means_and_a_whole_image_keeps_none():
    """The strips of a one-shot render keep the per-band box means of the downsampled scales, the
    pixel masks and the block pool for the next one: filled with NaN in between, the next region
    still renders as on a fresh renderer. A whole image (a viewer's fit view) keeps no box means
    after its render."""
    img, disp = scene(90, 150, 4, "ramp")
    used = CpuRenderer()
    used.render_region(img, disp, (0, 0, 150, 40), 0.05, 60.0)
    kept = {k: b for k, b in used._scratch._kept.items() if k.startswith(("down", "pixel", "pool"))}
    assert {"down 2", "down masks 2", "pixel masks", "pool"} <= set(kept)
    for b in kept.values():
        b[:] = 0xFF  # NaN floats, all-bands masks
    got = used.render_region(img, disp, (0, 40, 150, 90), 0.05, 60.0)
    assert all(_address(used._scratch._kept[k]) == _address(b) for k, b in kept.items())
    np.testing.assert_array_equal(got, CpuRenderer().render_region(img, disp, (0, 40, 150, 90), 0.05, 60.0))
    used.prepare(img, disp)
    used.render(0.05, 60.0)
    assert not [k for k in used._scratch._kept if k.startswith("down")]


def dense_level(r: CpuRenderer, i: int, j: int) -> np.ndarray:
    """Layer j of level i rebuilt from the sparse blocks (zero where the slot is -1)."""
    hp, wp = r._band_p.shape
    s = level_scale(LEVEL_RADII[i])
    masks = r._masks[i]
    nty, ntx = masks.shape
    slots = r._slots[r._soff[i]: r._soff[i] + masks.size * r.n_bands].reshape(nty, ntx, r.n_bands)
    T = ck.TILE
    out = np.zeros((nty * T, ntx * T, 4), np.float32)
    for ty in range(nty):
        for tx in range(ntx):
            if slots[ty, tx, j] >= 0:
                out[ty * T:(ty + 1) * T, tx * T:(tx + 1) * T] = r._pool[slots[ty, tx, j]]
    return out[: hp // s, : wp // s]


def test_sparse_levels_equal_the_reference_dense_layers():
    img, disp = scene(70, 150, 3, "blocks")
    fast, ref = CpuRenderer(), ReferenceRenderer()
    fast.prepare(img, disp)
    ref.prepare(img, disp)
    n = 17  # up to 80 px: scales 1 .. 16
    fast.ensure_levels(n)
    ref.ensure_levels(n)
    for i in range(1, n):
        for j in range(fast.n_bands):
            want, _ = ref.level(j, i)
            got = dense_level(fast, i, j)
            assert got.shape == want.shape
            assert np.abs(got - want).max() < 1e-5, (i, j)


def bands_near_tiles(band_p, other_p, n, s, R):
    """Brute force: the set of bands within each tile (TILE level pixels) grown by R
    level pixels, at scale s; a pixel holds its band and its outline split's
    (``other_p``, n where none)."""
    hp, wp = band_p.shape
    hl, wl = hp // s, wp // s
    both = np.stack([band_p, other_p], axis=-1)
    blocks = both.reshape(hl, s, wl, s, 2).transpose(0, 2, 1, 3, 4).reshape(hl, wl, 2 * s * s)
    T = ck.TILE
    out = {}
    for ty in range(-(-hl // T)):
        for tx in range(-(-wl // T)):
            win = blocks[max(ty * T - R, 0): ty * T + T + R, max(tx * T - R, 0): tx * T + T + R]
            out[ty, tx] = set(np.unique(win).tolist()) - {n}
    return out


def split_bands(r: CpuRenderer, h: int, w: int) -> np.ndarray:
    """Padded map of the band each pixel's outline split goes to (n_bands: none), from
    the reference's vectorised split, after checking the kernel's codes equal it."""
    m = ck.MARGIN
    codes, other, _ = outline_split(r._image_p[m:m + h, m:m + w, :3], r._band_p[:h, :w])
    np.testing.assert_array_equal(r._codes[:h, :w], codes)  # the kernel's splits, exactly
    assert codes.any()
    other_p = np.full_like(r._band_p, r.n_bands)
    other_p[:h, :w] = np.where(codes > 0, other, r.n_bands)
    return other_p


@pytest.mark.parametrize("i", [1, 6, 7, 10, 14, 19, 22])
def test_tile_masks_hold_exactly_the_bands_in_reach(i):
    rng = np.random.default_rng(i)
    h, w = 150, 230
    disp = np.zeros((h, w), np.float32)
    for _ in range(12):  # random rectangles at random depths
        y, x = rng.integers(0, h), rng.integers(0, w)
        disp[y: y + rng.integers(3, 60), x: x + rng.integers(3, 60)] = rng.random()
    r = CpuRenderer()
    r.prepare(smooth_texture(h, w, 1), disp)
    s = level_scale(LEVEL_RADII[i])
    R = r._kernels[i].shape[0] // 2
    other_p = split_bands(r, *disp.shape)
    want = bands_near_tiles(r._band_p, other_p, r.n_bands, s, R)
    masks = r._masks[i]
    for (ty, tx), bands in want.items():
        got = {b for b in range(r.n_bands) if int(masks[ty, tx]) >> b & 1}
        assert got == bands, (ty, tx)


def test_level_bytes_counts_the_blocks_to_build():
    img, disp = scene(64, 96, 5, "ramp")
    r = CpuRenderer()
    r.prepare(img, disp)
    hp, wp = padded_shape(64, 96)
    n = 10  # levels 1..9: radii 1 .. 12.5, scales 1 and 2
    other_p = split_bands(r, 64, 96)
    blocks = 0
    for i in range(1, n):
        s = level_scale(LEVEL_RADII[i])
        sets = bands_near_tiles(r._band_p, other_p, r.n_bands, s, r._kernels[i].shape[0] // 2)
        blocks += sum(len(v) for v in sets.values())
    # + the per-band box means at half resolution while the scale-2 levels are built
    down = r.n_bands * (hp // 2) * (wp // 2) * 16
    assert r.level_bytes(n) == blocks * BLOCK_BYTES + down
    dense = 8 * 16 * hp * wp * (6 + 3 / 4)  # every layer of every level, float32
    assert blocks * BLOCK_BYTES < dense
    r.ensure_levels(n)
    assert r.level_bytes(n) == 0  # built: nothing more to allocate


def test_level_weights_match_the_shared_numpy_helper():
    from deocused.render.pyramid import level_weights

    radii = np.asarray(LEVEL_RADII, np.float32)
    r = np.concatenate([radii, radii + np.float32(0.37), np.float32([0, 1e-7, 255.99, 300.0])])
    r = np.concatenate([r, np.random.default_rng(0).random(2000).astype(np.float32) * 270]).astype(np.float32)
    for n_levels in (1, 2, 7, 14, len(LEVEL_RADII)):
        i_np, w_np = level_weights(r, n_levels)
        got = [cr.level_weights1(v, radii, n_levels) for v in r]
        np.testing.assert_array_equal(np.array([g[0] for g in got]), i_np)
        np.testing.assert_array_equal(np.array([g[1] for g in got], np.float32), w_np)


def test_warm_up_runs_the_kernels_on_a_renderer_of_its_own(monkeypatch):
    """warm_up() (the command line runs it on a thread while the photo decodes and renders; the live
    pipeline before the first frame) renders a tiny scene at the largest radius on a renderer of its
    own: the renderer's prepared photo, and a render running beside it, come out as on a fresh renderer."""
    import threading

    import deocused.render.cpu.backend as cb

    levels, real = [], CpuRenderer._ensure_levels
    monkeypatch.setattr(CpuRenderer, "_ensure_levels", lambda self, n, need=None: (levels.append(n), real(self, n, need)))
    monkeypatch.setattr(cb, "_WARM", False)  # as in a fresh process
    img, disp = scene(70, 90, 6, "blocks")
    r, fresh = CpuRenderer(), CpuRenderer()
    for x in (r, fresh):
        x.prepare(img, disp)
    r.warm_up()
    assert cb._WARM and max(levels) == len(LEVEL_RADII)  # every level kernel ran
    np.testing.assert_array_equal(r.render(0.93, 40.0), fresh.render(0.93, 40.0))
    monkeypatch.setattr(cb, "_WARM", False)
    warm = threading.Thread(target=r.warm_up)
    warm.start()
    got = r.render_region(img, disp, (0, 30, 90, 70), 0.2, 50.0)
    warm.join()
    np.testing.assert_array_equal(got, fresh.render_region(img, disp, (0, 30, 90, 70), 0.2, 50.0))


def test_an_interrupt_inside_a_kernel_call_stays_an_interrupt():
    """A signal handler's KeyboardInterrupt that lands while Numba calls back into Python
    comes out of the dispatcher as SystemError; the renderer gives it back as Ctrl-C."""
    from deocused.render.cpu.backend import _interruptible

    def interrupted_kernel():
        try:
            raise KeyboardInterrupt("signal 15")
        except KeyboardInterrupt as k:
            try:
                raise SystemError("_numba_unpickle returned a result with an exception set") from k
            except SystemError as inner:
                raise SystemError("CPUDispatcher returned a result with an exception set") from inner

    with pytest.raises(KeyboardInterrupt, match="signal 15"), _interruptible():
        interrupted_kernel()
    with pytest.raises(SystemError, match="other"), _interruptible():
        raise SystemError("other")


@pytest.mark.parametrize("kind", ["blocks", "ramp", "noise"])
def test_renders_that_build_full_resolution_tiles_on_demand_equal_renders_from_the_whole_pyramid(kind):
    """render() builds the scale-1 levels only in the tiles it reads (a later render
    builds what it lacks): a sequence of clicks equals, bit for bit, the same clicks on
    a renderer whose whole pyramid was built first."""
    img, disp = scene(150, 230, 7, kind)
    lazy, whole = CpuRenderer(), CpuRenderer()
    lazy.prepare(img, disp)
    whole.prepare(img, disp)
    whole.ensure_levels(len(LEVEL_RADII))
    assert lazy._built.sum() == 0 and whole._built.all()
    clicks = [(0.05, 20.0, 0.0), (0.9, 5.0, 0.0), (0.5, 60.0, 0.1), (0.3, 2.0, 0.0), (0.7, 12.0, 0.05), (0.05, 20.0, 0.0)]
    for f, k, dof in clicks:
        np.testing.assert_array_equal(lazy.render(f, k, dof), whole.render(f, k, dof))
    assert 0 < lazy._built.sum() < lazy._built.size  # some tiles were left unbuilt by these clicks
    lazy.ensure_levels(len(LEVEL_RADII))  # the rest on request
    assert lazy._built.all()
    np.testing.assert_array_equal(lazy.render(0.6, 30.0), whole.render(0.6, 30.0))


def test_the_row_cache_reads_the_same_bits_as_the_bilinear_read():
    """Every downsampled level read through the per-tile row cache equals _bilinear2's read at the pixel
    (the same float32 operations), over every layer and level of a 13-band photo: more pairs per tile
    than the cache holds, so it also starts afresh mid-tile."""
    from numba import njit

    from deocused.render.cpu import sampling as cs

    @njit
    def both(L, RC, i, j, xs, ys, xt, yt, w, got, want):
        for k in range(xs.size):
            a = cs._cached_level2(RC, L, i, j, xs[k], ys[k], xt, yt, w)
            inv = cs._INV_SCALE[L.scales[i]]
            b = cs._bilinear2(L.slots, L.soff[i], L.ntx[i], L.n, L.data, L.lh[i], L.lw[i], j,
                              (ys[k] + 0.5) * inv - 0.5, (xs[k] + 0.5) * inv - 0.5, True)
            for c in range(8):
                got[k, c], want[k, c] = a[c], b[c]

    img, disp = scene(70, 150, 3, "ramp")
    r = CpuRenderer(n_bands=13)
    r.prepare(img, disp)
    r.ensure_levels(len(LEVEL_RADII))
    hp, wp = r._band_p.shape
    scales = np.array([level_scale(x) for x in LEVEL_RADII], np.int64)
    L = cr.Levels(r._slots, r._soff, r._ntx, r.n_bands, r._pool.reshape(-1), scales, hp // scales, wp // scales)
    RC = cs.RowCache(*(a[0] for a in cs.row_caches(1, r.n_bands, len(LEVEL_RADII))))
    rng = np.random.default_rng(0)
    pairs = [(i, j) for i in range(1, len(LEVEL_RADII)) if scales[i] >= 2 for j in range(r.n_bands)]
    assert len(pairs) > cs.ROW_CACHE_ENTRIES
    h, w = disp.shape
    for yt, xt in ((0, 0), (32, 64), (64, 144)):  # the last tile: the image's bottom and right edges
        cs.clear_row_cache(RC)
        ys = rng.integers(yt, min(yt + ck.TILE, h), 40)
        xs = rng.integers(xt, min(xt + ck.TILE, w), 40)
        for i, j in pairs:
            got, want = np.empty((40, 8), np.float32), np.empty((40, 8), np.float32)
            both(L, RC, i, j, xs, ys, xt, yt, w, got, want)
            np.testing.assert_array_equal(got, want, err_msg=f"level {i} layer {j} tile ({yt}, {xt})")
        assert RC.used[0] <= cs.ROW_CACHE_ENTRIES
