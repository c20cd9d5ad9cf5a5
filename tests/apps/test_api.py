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
