"""The viewer in a real window: Xvfb + Mesa (llvmpipe) OpenGL 3.3 core.

Tolerances: at 1:1 (window = image size, or a bigger window with the image in
the middle at 1:1) the image area read back with glReadPixels must equal
``render_srgb8`` within 2/255 per channel (it is in fact exact: the texture is
the renderer's sRGB8 output, sampled at texel centres). When the window is
resized so that the image is scaled, the texture is sampled with GL_LINEAR;
the comparison is with the renderer's output resized by OpenCV INTER_LINEAR
(same pixel-centre convention) within 4/255 per channel and 1/255 on average.
Letterbox bars must be exactly black. The HUD panel (top-left) is masked out.
"""

import functools
import shutil
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

glfw = pytest.importorskip("glfw")
pytest.importorskip("OpenGL")
cv2 = pytest.importorskip("cv2")

pytestmark = pytest.mark.display

W, H = 160, 120


def synthetic():
    """160x120 test card: far left half (disparity 0.1), near right half (0.9)."""
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.zeros((H, W, 3), np.float32)
    img[..., 0] = xx / (W - 1)
    img[..., 1] = ((xx // 8 + yy // 8) % 2) * 0.8 + 0.1
    img[..., 2] = yy / (H - 1)
    disp = np.where(xx < W // 2, 0.1, 0.9).astype(np.float32)
    return img, disp


@pytest.fixture
def viewer(xdisplay):
    from deocused.viewer.app import Source, Viewer

    img, disp = synthetic()
    title = f"refocus-test-{uuid.uuid4().hex[:8]}"
    v = Viewer([Source("card", image=img, disparity=disp)], device="cpu", size=(W, H), title=title)
    v.test_title = title
    v.test_disp = disp
    assert v.run_until_idle(30)
    yield v
    v.close()


def expected(v):
    _, focus, k, dof, *_ = v.scheduler.shown
    return v.scheduler.renderer.render_srgb8(focus, k, dof)


def hud_mask(v, shape):
    m = np.ones(shape[:2], bool)
    r = v.hud_rect
    if r is not None:
        m[r.y:r.y + r.h, r.x:r.x + r.w] = False
    return m


def resize_window(v, w, h, timeout=5.0):
    glfw.set_window_size(v.window, w, h)
    end = time.monotonic() + timeout
    while v.win_size != (w, h) and time.monotonic() < end:
        v.step(wait=0.01)
    assert v.win_size == (w, h), f"window did not resize: {v.win_size}"
    assert v.run_until_idle(10)


def test_window_opens_with_gl33_core(viewer):
    from OpenGL import GL

    major = GL.glGetIntegerv(GL.GL_MAJOR_VERSION)
    minor = GL.glGetIntegerv(GL.GL_MINOR_VERSION)
    assert (int(major), int(minor)) >= (3, 3)
    assert int(GL.glGetIntegerv(GL.GL_CONTEXT_PROFILE_MASK)) & GL.GL_CONTEXT_CORE_PROFILE_BIT
    assert viewer.win_size == (W, H) and viewer.fb_size == (W, H)
    assert viewer.frames_presented >= 1
    shown = viewer.scheduler.shown
    assert shown is not None and shown[1] == pytest.approx(0.9)  # centre box: 5 of 9 columns near


def test_framebuffer_equals_render_at_1_to_1(viewer):
    fb = viewer.read_framebuffer(overlay=False)
    assert fb.shape == (H, W, 3)
    assert np.abs(fb.astype(int) - expected(viewer)).max() <= 2
    with_hud = viewer.read_framebuffer(overlay=True)  # what is on screen
    m = hud_mask(viewer, fb.shape)
    assert m.sum() > 0.3 * m.size
    assert np.abs(with_hud.astype(int) - expected(viewer))[m].max() <= 2
    assert (with_hud[~m] != fb[~m]).any()  # the HUD is drawn


def test_click_via_callback_refocuses(viewer):
    p = viewer.on_click(20.0, 60.0)
    assert p == (20.0, 60.0)
    assert viewer.run_until_idle(30)
    assert viewer.focus_disparity == pytest.approx(0.1) and viewer.scheduler.shown[1] == pytest.approx(0.1)
    fb = viewer.read_framebuffer(overlay=False)
    exp = expected(viewer)
    assert np.abs(fb.astype(int) - exp).max() <= 2
    # the focused (left) half is sharp: equal to the input photo
    src = np.rint(synthetic()[0] * 255).astype(int)
    assert np.abs(fb[:, :60].astype(int) - src[:, :60]).max() <= 2
    assert np.abs(fb[:, 100:].astype(int) - src[:, 100:]).max() > 20  # the other half is blurred


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool not installed")
def test_click_with_xdotool_on_the_x_window(viewer):
    wid = subprocess.run(["xdotool", "search", "--name", viewer.test_title], capture_output=True, text=True,
                         timeout=10).stdout.split()
    assert wid, "xdotool did not find the window"
    subprocess.run(["xdotool", "mousemove", "--window", wid[0], "130", "40", "click", "1"], check=True, timeout=10)
    end = time.monotonic() + 10
    while viewer.focus_point is None or int(viewer.focus_point[0]) != 130:
        viewer.step(wait=0.01)
        assert time.monotonic() < end, "click not delivered"
    assert (int(viewer.focus_point[0]), int(viewer.focus_point[1])) == (130, 40)
    assert viewer.focus_disparity == pytest.approx(0.9)
    assert viewer.run_until_idle(30)
    fb = viewer.read_framebuffer(overlay=False)
    assert np.abs(fb.astype(int) - expected(viewer)).max() <= 2
    # keys through X too: "+" (typed character) raises K, "d" toggles the depth view
    k0 = viewer.max_blur
    subprocess.run(["xdotool", "key", "--window", wid[0], "plus", "d"], check=True, timeout=10)
    end = time.monotonic() + 10
    while not (viewer.depth_view and viewer.max_blur > k0):
        viewer.step(wait=0.01)
        assert time.monotonic() < end, "keys not delivered"
    assert viewer.max_blur == pytest.approx(k0 * 1.25, abs=0.01)


def test_resize_letterboxes_and_keeps_click_mapping(viewer):
    resize_window(viewer, 320, 120)  # pillarbox: image 1:1 at x = 80..239
    assert viewer.image_rect is None or True
    fb = viewer.read_framebuffer(overlay=True)
    m = hud_mask(viewer, fb.shape)
    assert (fb[:, :80][m[:, :80]] == 0).all() and (fb[:, 240:][m[:, 240:]] == 0).all()
    img = fb[:, 80:240].astype(int)
    assert np.abs(img - expected(viewer))[m[:, 80:240]].max() <= 2
    assert viewer.on_click(80 + 130, 40) == (130.0, 40.0)
    assert viewer.on_click(40, 40) is None  # on the bar: ignored
    assert viewer.run_until_idle(30) and viewer.scheduler.shown[1] == pytest.approx(0.9)

    resize_window(viewer, 240, 240)  # letterbox: image scaled 1.5x at y = 30..209
    fb = viewer.read_framebuffer(overlay=False)
    assert (fb[:30] == 0).all() and (fb[210:] == 0).all()
    exp = cv2.resize(expected(viewer).astype(np.float32), (240, 180), interpolation=cv2.INTER_LINEAR)
    diff = np.abs(fb[30:210].astype(np.float32) - exp)
    assert diff.max() <= 4 and diff.mean() <= 1
    assert viewer.on_click(20 * 1.5, 30 + 60 * 1.5) == (20.0, 60.0)
    assert viewer.run_until_idle(30) and viewer.scheduler.shown[1] == pytest.approx(0.1)


def test_keys_change_state(viewer):
    k0 = viewer.max_blur
    viewer.on_key(glfw.KEY_EQUAL)
    assert viewer.max_blur == pytest.approx(k0 * 1.25, abs=0.01)
    viewer.on_key(glfw.KEY_MINUS)
    viewer.on_key(glfw.KEY_MINUS)
    assert viewer.max_blur == pytest.approx(k0 / 1.25, abs=0.02)
    viewer.on_scroll(+2)
    assert viewer.max_blur == pytest.approx(k0 * 1.25, abs=0.05)
    assert viewer.run_until_idle(30) and viewer.scheduler.shown[2] == pytest.approx(viewer.max_blur)
    assert np.abs(viewer.read_framebuffer(overlay=False).astype(int) - expected(viewer)).max() <= 2

    photo = viewer.read_framebuffer(overlay=False)
    viewer.on_key(glfw.KEY_D)
    assert viewer.depth_view
    viewer.run_until_idle(5)
    depth = viewer.read_framebuffer(overlay=False)
    assert (depth != photo).any()
    assert (depth[:, :70] == depth[0, 0]).all() and (depth[:, 90:] == depth[0, -1]).all()  # two flat colours
    viewer.on_key(glfw.KEY_D)
    assert not viewer.depth_view

    viewer.on_key(glfw.KEY_H)
    assert viewer.help
    viewer.run_until_idle(5)
    assert (viewer.read_framebuffer() != viewer.read_framebuffer(overlay=False)).any()
    viewer.on_key(glfw.KEY_H)
    assert not viewer.help

    viewer.on_click(10, 10)
    viewer.on_key(glfw.KEY_R)
    assert viewer.max_blur == pytest.approx(k0) and viewer.focus_disparity == pytest.approx(0.9)

    viewer.on_key(glfw.KEY_F)
    assert viewer.fullscreen
    end = time.monotonic() + 5
    while viewer.fb_size != (1280, 800) and time.monotonic() < end:
        viewer.step(wait=0.01)
    assert viewer.fb_size == (1280, 800)
    viewer.on_key(glfw.KEY_F)
    assert not viewer.fullscreen

    viewer.on_key(glfw.KEY_Q)
    assert viewer.should_close


def test_save_never_overwrites_and_skips_bad_files(xdisplay, tmp_path):
    from deocused.io.depthmap import save_disparity_png
    from deocused.viewer.app import Source, Viewer

    img, disp = synthetic()
    good = tmp_path / "card.png"
    cv2.imwrite(str(good), np.rint(img[..., ::-1] * 255).astype(np.uint8))
    save_disparity_png(tmp_path / "card.depth.png", disp)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image at all")
    sources = [Source("broken.png", path=bad), Source("card.png", path=good)]
    with Viewer(sources, device="cpu", size=(W, H)) as v:
        assert v.index == 1 and v.slots[0].status == "failed"
        assert "broken.png" in v.message and "skipped" in v.message
        assert v.run_until_idle(30)
        assert "broken.png" in " ".join(v._hud_lines)  # the message is on the HUD
        v.on_key(glfw.KEY_S)
        v.on_key(glfw.KEY_S)  # while the first save runs: another name
        assert v.saver.busy and "saving card.refocus" in v._status()
        assert v.run_until_idle(30)
        assert [p.name for p in v.saved] == ["card.refocus.png", "card.refocus-1.png"]
        first = (tmp_path / "card.refocus.png").read_bytes()
        saved = cv2.imread(str(v.saved[0]))[..., ::-1]
        assert np.array_equal(saved, expected(v))
        v.on_key(glfw.KEY_RIGHT)  # the only other file is broken: stays on card.png
        assert v.index == 1
        v.on_key(glfw.KEY_S)
        assert v.run_until_idle(30)
        assert (tmp_path / "card.refocus.png").read_bytes() == first
        assert len(list(tmp_path.glob("card.refocus*.png"))) == 3
        assert good.exists() and (tmp_path / "card.depth.png").exists()


def test_left_right_move_between_images(xdisplay, tmp_path):
    from deocused.viewer.app import Source, Viewer

    img, disp = synthetic()
    a = Source("a", image=img, disparity=disp)
    b = Source("b", image=img[::-1].copy(), disparity=disp)
    with Viewer([a, b], device="cpu", size=(W, H)) as v:
        assert v.run_until_idle(30) and v.index == 0
        v.on_key(glfw.KEY_RIGHT)
        assert v.index == 1 and v.run_until_idle(30) and v.scheduler.shown[0] == 1
        assert np.abs(v.read_framebuffer(overlay=False).astype(int) - expected(v)).max() <= 2
        v.on_key(glfw.KEY_LEFT)
        assert v.index == 0 and v.run_until_idle(30) and v.scheduler.shown[0] == 0


def test_viewer_never_imports_tensorflow():
    code = ("import sys, deocused.cli, deocused.viewer, deocused.viewer.app, deocused.window.layout, deocused.viewer.hud; "
            "deocused.cli.build_parser(); print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_photo_without_depth_uses_the_depth_worker(xdisplay, tmp_path, monkeypatch):
    """No depth file: the viewer shows "computing depth..." and keeps running until the worker answers."""
    import deocused.depth
    from deocused.viewer.app import Source, Viewer

    img, disp = synthetic()
    photo = tmp_path / "nodepth.png"
    cv2.imwrite(str(photo), np.rint(img[..., ::-1] * 255).astype(np.uint8))
    calls = {"polls": 0, "closed": False}

    class FakeWorker:
        def __init__(self, model=None, model_path=None):
            pass

        def submit(self, image_srgb):
            assert image_srgb.shape == (H, W, 3)

        def result(self, timeout=None):
            calls["polls"] += 1
            if calls["polls"] < 5:
                raise TimeoutError
            return disp * 3.0 + 1.0  # any scale: the viewer normalises

        def close(self):
            calls["closed"] = True

    monkeypatch.setattr(deocused.depth, "DepthWorker", FakeWorker, raising=False)
    with Viewer([Source("nodepth.png", path=photo)], device="cpu", size=(W, H)) as v:
        assert v.slots[0].status == "depth"
        v.step()
        assert "computing depth..." in v._hud_lines[-1]
        assert v.run_until_idle(30)
        assert calls["polls"] >= 5 and v.slots[0].status == "ready"
        assert v.on_click(20, 60) and v.focus_disparity == pytest.approx(0.0, abs=1e-6)  # min-max normalised
    assert calls["closed"]


# --------------------------------------------------------------------------- progressive CPU preview
#
# Images above deocused.viewer.app.PREVIEW_MIN_PIXELS (0.6 MP) on the CPU renderer: each new focus first
# shows a render of a ~0.3 MP downscaled copy, upscaled bilinearly. Tolerances: the preview on screen
# (1:1) equals the preview renderer's sRGB8 output resized by OpenCV INTER_LINEAR (what the viewer
# uploads) within 2/255; once idle the screen equals the full renderer's render_srgb8 within 2/255.

BW, BH = 1024, 640  # 0.66 MP: just above the threshold, to keep the tests fast


@functools.lru_cache(maxsize=1)
def big_scene():
    from deocused.io.samples import synthetic_scene

    img, depth = synthetic_scene(BW, BH)
    inv = 1.0 / depth
    return img, ((inv - inv.min()) / (inv.max() - inv.min())).astype(np.float32)


@pytest.fixture(scope="module")
def big_viewer(xdisplay):
    from deocused.viewer.app import Source, Viewer

    img, disp = big_scene()
    with Viewer([Source("big", image=img, disparity=disp)], device="cpu", size=(BW, BH)) as v:
        v.scheduler.preview_if_slower_ms = -1.0  # always a preview first, however fast the full render
        assert v.fb_size == (BW, BH)
        assert v.run_until_idle(60)
        yield v


def expected_preview(v):
    _, focus, k, dof, *_ = v.scheduler.shown
    pw, ph = v.scheduler.preview_size()
    small = v.scheduler.preview_renderer.render_srgb8(focus, k * pw / BW, dof)
    assert small.shape == (ph, pw, 3)
    return cv2.resize(small, (BW, BH), interpolation=cv2.INTER_LINEAR)


def click_until_preview(v, fx, fy, timeout=30.0):
    """Click at (fx, fy) of the frame; step until the preview is on screen. Returns the framebuffer then."""
    before = v.scheduler.shown
    v.on_click(fx * BW, fy * BH)
    assert v.wanted != before, "pick a point at another depth"
    end = time.monotonic() + timeout
    while not v.scheduler.showing_preview:
        v.step(wait=0.005)
        assert v.scheduler.shown == before, "the full render was shown before the preview"
        assert time.monotonic() < end, "no preview shown"
    return v.read_framebuffer(overlay=False)


def test_preview_renderer_setup(big_viewer):
    v = big_viewer
    click_until_preview(v, 0.5, 0.95)  # the image opened without one; a click makes it
    assert v.run_until_idle(60)
    pw, ph = v.scheduler.preview_size()
    assert 0.25e6 <= pw * ph <= 0.4e6 and abs(pw / ph - BW / BH) < 0.01
    r, p = v.scheduler.renderer, v.scheduler.preview_renderer
    assert p is not r and p.device == "cpu" and p.shape == (ph, pw)
    assert (p.n_bands, p.highlights, p.aperture) == (r.n_bands, r.highlights, r.aperture)


def test_click_shows_preview_then_full(big_viewer):
    v = big_viewer
    fb_prev = click_until_preview(v, 0.34, 0.62)  # the sphere
    assert v.scheduler.shown != v.wanted
    assert "preview" in v._status() and "preview" in v._hud_lines[-1]  # on the HUD as presented
    assert v.busy
    assert v.run_until_idle(60)
    assert not v.scheduler.showing_preview and "preview" not in v._status()
    fb = v.read_framebuffer(overlay=False)
    full = expected(v)
    assert np.abs(fb.astype(int) - full).max() <= 2
    prev = expected_preview(v)
    assert np.abs(fb_prev.astype(int) - prev).max() <= 2
    # it is a lower-resolution version of the same picture, not the full render
    d = np.abs(fb_prev.astype(float) - full)
    assert 0.0 < d.mean() < 8.0


def test_save_during_preview_writes_the_full_render(big_viewer, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    v = big_viewer
    n = len(v.saved)
    click_until_preview(v, 0.5, 0.95)  # the floor
    v.on_key(glfw.KEY_S)
    assert len(v.saved) == n and v.saver.busy  # rendered at full resolution in the background, not the preview
    assert v.run_until_idle(60)
    assert len(v.saved) == n + 1
    saved = cv2.imread(str(v.saved[-1]))[..., ::-1]
    assert saved.shape == (BH, BW, 3)
    assert np.array_equal(saved, expected(v))


def test_click_during_full_render_gets_its_preview_next(big_viewer):
    from deocused.viewer.scheduler import JobKind

    v = big_viewer
    click_until_preview(v, 0.34, 0.62)  # the sphere; its full render is now running
    assert v.scheduler.job is not None and v.scheduler.job.kind is JobKind.FULL
    v.on_click(0.85 * BW, 0.45 * BH)  # the far card, before that render is done
    want = v.wanted
    end = time.monotonic() + 30
    while not (v.scheduler.showing_preview and v.scheduler.preview_done == want):
        v.step(wait=0.005)
        assert v.scheduler.shown != want, "full render of the new focus before its preview"
        assert time.monotonic() < end
    assert v.run_until_idle(60) and v.scheduler.shown == want


def test_unthreaded_preview_then_full_in_two_steps(xdisplay):
    """threaded=False: the image opens straight to its full frame (the photo is on screen meanwhile, a
    preview would only delay it); a click's first step renders and presents the preview, the next one
    the full frame."""
    from deocused.viewer.app import Source, Viewer

    img, disp = big_scene()
    with Viewer([Source("big", image=img, disparity=disp)], device="cpu", size=(BW, BH), threaded=False) as v:
        v.step()
        assert not v.scheduler.showing_preview and v.scheduler.shown == v.wanted and v.scheduler.preview_renderer is None
        v.scheduler.preview_if_slower_ms = -1.0  # every render is "slow"
        first = v.scheduler.shown
        v.on_click(0.85 * BW, 0.45 * BH)
        v.step()
        assert v.scheduler.showing_preview and v.scheduler.shown == first and "preview" in v._hud_lines[-1]
        assert np.abs(v.read_framebuffer(overlay=False).astype(int) - expected_preview_for(v)).max() <= 2
        v.step()
        assert not v.scheduler.showing_preview and v.scheduler.shown == v.wanted and not v.busy
        assert np.abs(v.read_framebuffer(overlay=False).astype(int) - expected(v)).max() <= 2


def test_quick_full_render_skips_the_preview(xdisplay):
    """Once the image's full render is known to be quick, a click renders the full frame straight away;
    a slow one keeps the preview first."""
    from deocused.viewer.app import Source, Viewer

    img, disp = big_scene()
    with Viewer([Source("big", image=img, disparity=disp)], device="cpu", size=(BW, BH), threaded=False) as v:
        assert v.run_until_idle(120) and v.scheduler.render_ms is not None
        v.scheduler.preview_if_slower_ms = v.scheduler.render_ms + 1e6  # quick enough
        v.on_click(0.34 * BW, 0.62 * BH)
        v.step()
        assert not v.scheduler.showing_preview and v.scheduler.shown == v.wanted
        v.scheduler.preview_if_slower_ms = -1.0  # every render is "slow"
        v.on_click(0.85 * BW, 0.45 * BH)
        v.step()
        assert v.scheduler.showing_preview and v.scheduler.shown != v.wanted
        v.step()
        assert not v.scheduler.showing_preview and v.scheduler.shown == v.wanted


def test_idle_viewer_completes_the_pyramid_of_the_current_blur(xdisplay):
    """A CPU render builds only the full-resolution level tiles it reads; once the frame
    is shown, the idle viewer builds the rest of the levels the current K needs, so the
    next click only renders. The status line stays empty meanwhile."""
    from deocused.render.cpu.backend import _FULL
    from deocused.render.pyramid import levels_needed
    from deocused.viewer.app import Source, Viewer

    img, disp = big_scene()
    with Viewer([Source("big", image=img, disparity=disp)], device="cpu", size=(BW, BH), threaded=False) as v:
        assert v.run_until_idle(120) and v.scheduler.shown == v.wanted
        r, n = v.scheduler.renderer, levels_needed(v.max_blur)
        assert r._n_levels >= n and r._built[:sum(1 for i in _FULL if i < n)].all()
        assert v._status() == ""


def expected_preview_for(v):
    _, focus, k, dof, *_ = v.wanted
    pw, _ = v.scheduler.preview_size()
    small = v.scheduler.preview_renderer.render_srgb8(focus, k * pw / BW, dof)
    return cv2.resize(small, (BW, BH), interpolation=cv2.INTER_LINEAR)


def test_no_preview_option(xdisplay):
    from deocused.viewer.app import Source, Viewer

    img, disp = big_scene()
    with Viewer([Source("big", image=img, disparity=disp)], device="cpu", size=(BW, BH), threaded=False,
                preview=False) as v:
        assert v.scheduler.preview_size() is None
        v.step()  # unthreaded: the full render comes straight away
        assert not v.scheduler.showing_preview and v.scheduler.preview_renderer is None
        assert v.scheduler.shown == v.wanted and not v.busy and "preview" not in v._hud_lines[-1]


# --------------------------------------------------------------------------- fit view at the window's resolution


def test_fit_view_renders_at_the_window_resolution(xdisplay):
    """A photo larger than the window: the renderer is prepared on the photo resampled to the framebuffer
    pixels that show it (K scaled alike); the screen shows that render 1:1; clicks map to photo pixels."""
    from deocused.viewer.app import Source, Viewer

    img, disp = big_scene()
    with Viewer([Source("big", image=img, disparity=disp)], device="cpu", size=(BW // 2, BH // 2),
                threaded=False) as v:
        assert v.fb_size == (BW // 2, BH // 2) and v.scheduler.display_size() == (BW // 2, BH // 2)
        assert v.run_until_idle(60) and v.scheduler.shown == v.wanted
        assert v.scheduler.renderer.shape == (BH // 2, BW // 2)
        assert v.on_click(0.34 * BW / 2, 0.62 * BH / 2) == pytest.approx((0.34 * BW, 0.62 * BH))
        assert v.run_until_idle(60) and v.scheduler.shown == v.wanted
        _, focus, k, dof, size, _ = v.scheduler.shown
        assert size == (BW // 2, BH // 2)
        fb = v.read_framebuffer(overlay=False)
        assert np.abs(fb.astype(int) - v.scheduler.renderer.render_srgb8(focus, k / 2, dof)).max() <= 2
        resize_window(v, BW // 4, BH // 4)  # a smaller window: prepared again at its size
        assert v.scheduler.renderer.shape == (BH // 4, BW // 4) and v.scheduler.shown[4] == (BW // 4, BH // 4)


def test_save_is_byte_identical_to_refocus_render(xdisplay, tmp_path):
    """S renders the full-resolution photo in the background (input stays live, the HUD shows it) and
    writes the same bytes as `refocus render` with the focus, K and dof shown."""
    from deocused.cli import main
    from deocused.io.depthmap import save_disparity_png
    from deocused.viewer.app import Source, Viewer

    img, disp = big_scene()
    photo = tmp_path / "big.png"
    cv2.imwrite(str(photo), np.rint(img[..., ::-1] * 255).astype(np.uint8))
    save_disparity_png(tmp_path / "big.depth.png", disp)
    with Viewer([Source("big.png", path=photo)], device="cpu", size=(BW // 2, BH // 2)) as v:
        assert v.run_until_idle(60)
        v.on_click(0.85 * BW / 2, 0.45 * BH / 2)
        v.on_scroll(1)
        assert v.run_until_idle(60)
        _, focus, k, dof, *_ = v.scheduler.shown
        out = v.save()
        assert out == tmp_path / "big.refocus.png" and v.saver.busy
        end = time.monotonic() + 5
        while v._needs_draw and time.monotonic() < end:  # (the HUD waits while the wheel turn lasts)
            v.step(wait=0.01)
        assert "saving big.refocus.png" in v._hud_lines[-1]
        v.on_click(0.34 * BW / 2, 0.62 * BH / 2)  # input stays live: a new focus while saving
        assert v.run_until_idle(60) and v.saved == [out] and v.scheduler.shown[1] != focus
    assert main(["render", str(photo), "--focus-disparity", repr(focus), "--max-blur", repr(k), "--dof", repr(dof),
                 "--output", str(tmp_path / "cli.png")]) == 0
    assert cv2.imread(str(out)).shape == (BH, BW, 3)
    assert out.read_bytes() == (tmp_path / "cli.png").read_bytes()


def test_focus_drag_renders_at_the_interaction_resolution_then_the_full_frame(xdisplay):
    """Press-and-drag pulls focus continuously: while the pointer moves, frames render at the preview
    resolution (a newer position supersedes an older one) and the display-resolution frame waits;
    once the pointer has rested ``interaction_s``, the full frame follows."""
    from deocused.viewer.app import Source, Viewer

    img, disp = big_scene()
    with Viewer([Source("big", image=img, disparity=disp)], device="cpu", size=(BW, BH), threaded=False) as v:
        assert v.run_until_idle(120)
        v.scheduler.preview_if_slower_ms = -1.0  # every display-resolution render counts as slow
        v.interaction_s = 3.0  # (0.05 s in use; longer than an unthreaded preview step on a loaded machine)
        n = v.scheduler.frames_rendered
        for fx, fy in ((0.34, 0.62), (0.85, 0.45), (0.5, 0.95)):  # sphere, far card, floor
            v.on_drag(fx * BW, fy * BH)
            v.step()
            assert v.interacting and v.scheduler.showing_preview and v.scheduler.shown != v.wanted
        assert v.scheduler.frames_rendered == n + 3
        assert np.abs(v.read_framebuffer(overlay=False).astype(int) - expected_preview_for(v)).max() <= 2
        time.sleep(v.interaction_s)
        v.step()
        assert not v.scheduler.showing_preview and v.scheduler.shown == v.wanted
        assert np.abs(v.read_framebuffer(overlay=False).astype(int) - expected(v)).max() <= 2


def test_large_jpeg_opens_from_a_reduced_decode_and_saves_full_resolution(xdisplay, tmp_path, monkeypatch):
    """A JPEG (with a depth file) larger than the screen is decoded at 1/2..1/8 of its size for the fit
    view; clicks map to photo pixels; S decodes the whole photo in the background and writes the same
    bytes as `refocus render`."""
    import deocused.viewer.app as app
    from deocused.cli import main
    from deocused.io.depthmap import save_disparity_png

    monkeypatch.setattr(app, "screen_pixels", lambda: (320, 200))
    img, disp = big_scene()  # 1024x640
    photo = tmp_path / "big.jpg"
    cv2.imwrite(str(photo), np.rint(img[..., ::-1] * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 95])
    save_disparity_png(tmp_path / "big.depth.png", disp)
    with app.Viewer([app.Source("big.jpg", path=photo)], device="cpu", size=(256, 160)) as v:
        slot = v.slots[0]
        assert slot.reduced and slot.image.shape == (320, 512, 3) and slot.size == (BW, BH)  # 1/2
        assert slot.disparity.shape == (BH, BW)
        assert v.run_until_idle(60) and v.scheduler.shown[4] == (256, 160) and v.scheduler.renderer.shape == (160, 256)
        assert v.on_click(0.85 * 256, 0.45 * 160) == pytest.approx((0.85 * BW, 0.45 * BH))
        assert v.run_until_idle(60)
        _, focus, k, dof, *_ = v.scheduler.shown
        out = v.save()
        assert v.run_until_idle(60) and v.saved == [out]
        v.on_zoom(1, 128, 80)  # 1:1: the whole photo decoded (on the render thread) for the region shown
        assert v.run_until_idle(60) and v.scheduler.shown[5][0] == (384, 240, 640, 400)
        zoomed = v.read_framebuffer(overlay=False)
    assert main(["render", str(photo), "--focus-disparity", repr(focus), "--max-blur", repr(k), "--dof", repr(dof),
                 "--output", str(tmp_path / "cli.png")]) == 0
    assert cv2.imread(str(out)).shape == (BH, BW, 3)
    assert out.read_bytes() == (tmp_path / "cli.png").read_bytes()
    full = cv2.imread(str(out))[..., ::-1]  # the full-resolution render, as saved
    assert np.abs(zoomed.astype(int) - full[240:400, 384:640]).max() <= 1


def test_zoom_renders_the_region_from_the_full_resolution_photo(xdisplay):
    """Zoomed in (fit -> 1:1 -> 2:1 -> 4:1 about the pointer), the window shows the photo pixels there
    rendered from the full-resolution photo (Renderer.render_region: equal to the crop of the full
    render), as 4x4 blocks at 4:1; clicks map through the zoom; a drag pans; 0 goes back to the fit."""
    from deocused.io.colour import srgb_to_linear
    from deocused.render.cpu.backend import CpuRenderer
    from deocused.viewer.app import Source, Viewer

    img, disp = big_scene()
    full = CpuRenderer()
    full.prepare(srgb_to_linear(img), disp)
    with Viewer([Source("big", image=img, disparity=disp)], device="cpu", size=(BW // 2, BH // 2),
                threaded=False) as v:
        assert v.run_until_idle(60)
        _, focus, k, dof, *_ = v.scheduler.shown
        v.on_zoom(1, BW / 4, BH / 4)  # 1:1 about the window's centre: the photo's centre stays there
        assert v.run_until_idle(60)
        assert v.scheduler.shown[5] == ((BW // 4, BH // 4, 3 * BW // 4, 3 * BH // 4), (0, 0), 1)
        ref = full.render_srgb8(focus, k, dof)
        fb = v.read_framebuffer(overlay=False)
        assert np.abs(fb.astype(int) - ref[BH // 4:3 * BH // 4, BW // 4:3 * BW // 4]).max() <= 1
        assert v.on_click(10, 20) == (BW // 4 + 10, BH // 4 + 20)
        assert v.run_until_idle(60)
        v.on_zoom(2, 0, 0)  # 4:1 about the top-left corner: photo pixel (256, 160) stays there
        assert v.run_until_idle(60)
        (x0, y0, x1, y1), origin, zoom = v.scheduler.shown[5]
        assert (x0, y0, zoom, origin) == (BW // 4, BH // 4, 4, (0, 0)) and (x1 - x0, y1 - y0) == (128, 80)
        fb = v.read_framebuffer(overlay=False).astype(int)
        _, focus, k, dof, *_ = v.scheduler.shown
        ref = full.render_srgb8(focus, k, dof)[y0:y1, x0:x1].astype(int)
        assert np.abs(fb - np.repeat(np.repeat(ref, 4, 0), 4, 1)).max() <= 1  # pixels as 4x4 blocks
        v.on_click(200, 100)
        v.on_drag(160, 100)  # 40 framebuffer pixels left: 10 photo pixels
        assert v.run_until_idle(60) and v.scheduler.shown[5][0][0] == x0 + 10
        v.on_key(glfw.KEY_0)
        assert v.run_until_idle(60) and v.scheduler.shown[5] is None and v.scheduler.renderer.shape == (BH // 2, BW // 2)
        _, focus, k, dof, *_ = v.scheduler.shown
        fit = v.scheduler.renderer.render_srgb8(focus, k / 2, dof)  # the fit view: K at the display's scale
        assert np.abs(v.read_framebuffer(overlay=False).astype(int) - fit).max() <= 2


def test_a_zoomed_region_keeps_the_cat_eye_of_its_place_in_the_photo(xdisplay):
    """With --cat-eye the viewer's zoomed region (render_region of a window of the photo) is told where it
    lies in the photo: the crop of the full-resolution render with the cat-eye, not a render of the crop
    as if it were the photo."""
    from deocused.io.colour import srgb_to_linear
    from deocused.render.cpu.backend import CpuRenderer
    from deocused.viewer.app import Source, Viewer

    img, disp = big_scene()
    full, plain = CpuRenderer(cat_eye=1.0), CpuRenderer()
    full.prepare(srgb_to_linear(img), disp)
    plain.prepare(srgb_to_linear(img), disp)
    with Viewer([Source("big", image=img, disparity=disp)], device="cpu", size=(BW // 2, BH // 2),
                threaded=False, renderer_options={"cat_eye": 1.0}) as v:
        assert v.run_until_idle(60)
        v.on_click(401, 206)  # focus on the near block (photo pixel 802, 412): the far top-left blurs
        assert v.run_until_idle(60)
        v.on_zoom(2, 0, 0)  # 2:1 about the top-left corner: the photo's top-left quarter
        assert v.run_until_idle(60)
        (x0, y0, x1, y1), _, zoom = v.scheduler.shown[5]
        assert zoom == 2 and (x0, y0) == (0, 0)
        _, focus, k, dof, *_ = v.scheduler.shown
        ref = full.render_srgb8(focus, k, dof)[y0:y1, x0:x1].astype(int)
        fb = v.read_framebuffer(overlay=False).astype(int)
        assert np.abs(fb - np.repeat(np.repeat(ref, 2, 0), 2, 1)).max() <= 1
        assert np.abs(plain.render_srgb8(focus, k, dof)[y0:y1, x0:x1].astype(int) - ref).max() > 8  # it shows
