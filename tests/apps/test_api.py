"""The documented Python API: load a photo with its depth, make a renderer, render, save."""

import numpy as np
import pytest

import deocused


@pytest.mark.slow
def test_api_renders_like_the_cli(tmp_path):
    from deocused.cli import main

    photo = deocused.load_photo(sample="synthetic")
    settings = deocused.RenderSettings(focus_disparity=0.6, max_blur=12)
    renderer = deocused.make_renderer("cpu", **settings.renderer_options())
    out = deocused.render_photo(photo, settings, renderer)
    assert out.dtype == np.uint8 and out.shape == (*photo.shape, 3)
    path = deocused.write_image(tmp_path / "api.png", out)
    assert main(["render", "--sample", "synthetic", "--focus-disparity", "0.6", "--max-blur", "12",
                 "--device", "cpu", "-o", str(tmp_path / "cli.png")]) in (0, None)
    np.testing.assert_array_equal(deocused.load_image(path), deocused.load_image(tmp_path / "cli.png"))


def test_api_names_and_errors():
    assert set(deocused.__all__) <= set(dir(deocused))
    with pytest.raises(AttributeError):
        deocused.no_such_thing  # noqa: B018
    with pytest.raises(deocused.InputError):
        deocused.RenderSettings(max_blur=float("nan"))


def test_api_refocus_again_matches_render_photo():
    photo = deocused.load_photo(sample="synthetic")
    renderer = deocused.make_renderer("cpu")
    renderer.prepare(deocused.srgb_to_linear(photo.image_srgb), photo.disparity)
    again = renderer.render_srgb8(focus_disparity=0.8, max_blur=12)
    once = deocused.render_photo(photo, deocused.RenderSettings(focus_disparity=0.8, max_blur=12),
                                 deocused.make_renderer("cpu"))
    np.testing.assert_array_equal(again, once)


def test_api_refuses_integer_images_and_wrong_shapes():
    """Integer codes are not values in [0, 1]: the API refuses them (InputError), as it
    refuses other dtypes and shapes, instead of taking them as floats."""
    photo = deocused.load_photo(sample="synthetic")
    srgb8 = np.rint(photo.image_srgb * 255).astype(np.uint8)
    with pytest.raises(deocused.InputError, match=r"uint8.*255"):
        deocused.Photo(srgb8, photo.disparity)
    with pytest.raises(deocused.InputError, match=r"uint16.*65535"):
        deocused.Photo(photo.image_srgb, (photo.disparity * 65535).astype(np.uint16))
    with pytest.raises(deocused.InputError, match=r"\(H, W, 3\)"):
        deocused.Photo(photo.image_srgb[..., 0], photo.disparity)
    with pytest.raises(deocused.InputError, match="shape"):
        deocused.Photo(photo.image_srgb, photo.disparity[:-1])
    with pytest.raises(deocused.InputError, match="bool"):
        deocused.Photo(photo.image_srgb, photo.disparity > 0.5)
    with pytest.raises(deocused.InputError, match="uint8"):
        deocused.srgb_to_linear(srgb8)
    with pytest.raises(deocused.InputError, match="int64"):
        deocused.linear_to_srgb8(np.zeros((2, 2, 3), np.int64))
    with pytest.raises(deocused.InputError, match="Photo"):
        deocused.render_photo(photo.image_srgb, deocused.RenderSettings(), deocused.make_renderer("cpu"))
    with pytest.raises(deocused.InputError, match="n_bands"):
        deocused.make_renderer("cpu", n_bands=0)
    # a photo made of floats is taken as before
    assert deocused.Photo(srgb8 / np.float32(255), photo.disparity).shape == photo.shape


def test_renderer_refuses_integer_inputs_and_render_before_prepare():
    photo = deocused.load_photo(sample="synthetic")
    linear = deocused.srgb_to_linear(photo.image_srgb)
    renderer = deocused.make_renderer("cpu")
    with pytest.raises(deocused.InputError, match="before prepare"):
        renderer.render(0.5, 10.0)
    with pytest.raises(deocused.InputError, match="uint8"):
        renderer.prepare(np.rint(linear * 255).astype(np.uint8), photo.disparity)
    with pytest.raises(deocused.InputError, match="uint16"):
        renderer.prepare(linear, (photo.disparity * 65535).astype(np.uint16))
    with pytest.raises(deocused.InputError, match="complex"):
        renderer.prepare(linear.astype(np.complex64), photo.disparity)
    with pytest.raises(deocused.InputError, match="object"):
        renderer.prepare(linear, np.array([[0.5, None]], dtype=object))
    with pytest.raises(deocused.InputError, match=r"\(H, W, 3\)"):
        renderer.prepare(linear[:, :, 0], photo.disparity)
    with pytest.raises(deocused.InputError, match="before prepare"):
        renderer.render(0.5, 10.0)  # nothing was prepared by the refused calls
    renderer.prepare(linear.astype(np.float64), photo.disparity.tolist())  # other floats are converted
    assert renderer.render(0.5, 10.0).shape == (*photo.shape, 3)


def test_api_docstring_examples():
    """The examples in the public API's docstrings (``deocused.__all__``) run as shown."""
    import doctest
    import inspect

    finder, runner = doctest.DocTestFinder(recurse=False), doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    examples = 0
    for name in deocused.__all__:
        obj = getattr(deocused, name)
        module = inspect.getmodule(obj)
        for test in finder.find(obj, name, module=module, globs=vars(module)):
            examples += len(test.examples)
            runner.run(test)
    assert runner.failures == 0, f"{runner.failures} docstring example(s) failed (output above)"
    assert examples >= 20  # load_photo, render_photo, RenderSettings, Renderer, make_renderer ...


def test_focus_point_and_its_old_name():
    """``focus_point`` is the pixel (x, y); ``focus``, its old name, is still taken and read."""
    s = deocused.RenderSettings(focus_point=(30, 40), max_blur=8)
    assert deocused.RenderSettings(focus=(30, 40), max_blur=8) == s and s.focus == (30, 40)
    assert s.with_(focus=None).focus_point is None and s.with_(dof=0.1).focus_point == (30, 40)
    with pytest.raises(deocused.InputError, match="not both"):
        deocused.RenderSettings(focus=(1, 2), focus_point=(1, 2))
    photo = deocused.load_photo(sample="synthetic")
    assert photo.focus_point is not None and photo.focus == photo.focus_point


def test_a_photo_from_an_8_bit_file_keeps_its_codes(tmp_path):
    """load_photo keeps an 8-bit file's codes: the float image is made from them only when read
    (the same floats as decode_image), read-only; a new image drops the codes; a render from the
    codes equals one from the floats."""
    from deocused.io.depthmap import save_disparity_png
    from deocused.io.images import decode_image

    rng = np.random.default_rng(5)
    codes = rng.integers(0, 256, (40, 56, 3)).astype(np.uint8)
    path = deocused.write_image(tmp_path / "p.png", codes)
    save_disparity_png(tmp_path / "p.depth.png", np.tile(np.linspace(0, 1, 56, dtype=np.float32), (40, 1)))
    photo = deocused.load_photo(path)
    assert photo.image_codes is not None and np.array_equal(photo.image_codes, codes)
    assert photo.__dict__["_srgb"] is None and photo.shape == (40, 56)  # not made yet
    srgb = photo.image_srgb
    assert np.array_equal(srgb.view(np.uint32), decode_image(path.read_bytes(), str(path)).view(np.uint32))
    with pytest.raises(ValueError, match="read-only"):
        srgb[0, 0, 0] = 0.5
    settings = deocused.RenderSettings(focus_disparity=0.3, max_blur=6)
    from_codes = deocused.render_photo(photo, settings, deocused.make_renderer("cpu"))
    floats = deocused.Photo(srgb.copy(), photo.disparity)
    assert floats.image_codes is None
    np.testing.assert_array_equal(from_codes, deocused.render_photo(floats, settings, deocused.make_renderer("cpu")))
    other = photo.with_depth(photo.disparity[::-1].copy())  # shares the codes, makes no floats
    assert other.image_codes is photo.image_codes and other.image_path == photo.image_path
    photo.image_srgb = np.zeros((40, 56, 3), np.float32)  # a new image: the codes were the old one's
    assert photo.image_codes is None and not photo.image_srgb.any()
    with pytest.raises(deocused.InputError, match="shape"):
        deocused.Photo(np.zeros((4, 4, 3), np.float32), None, image_codes=codes)
    with pytest.raises(deocused.InputError, match="image_codes"):
        deocused.Photo(None, None, image_codes=codes.astype(np.uint16))
