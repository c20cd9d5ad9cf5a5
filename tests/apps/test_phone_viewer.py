"""The viewer's saved image keeps the photo's metadata (EXIF, XMP, ICC), as render does."""

from __future__ import annotations

import io

import numpy as np
import pytest

glfw = pytest.importorskip("glfw")
pytest.importorskip("OpenGL")

from helpers import malformed as m  # noqa: E402
from helpers import phone_files as pf  # noqa: E402

pytestmark = pytest.mark.display


def test_viewer_save_keeps_icc_and_exif(xdisplay, tmp_path):
    from PIL import Image

    from deocused.viewer.app import Source, Viewer

    icc = pf.icc_profile(2.2, "viewer profile")
    buf = io.BytesIO()
    Image.fromarray(m.test_rgb()).save(buf, format="JPEG", quality=95, icc_profile=icc, exif=pf.exif_block(1))
    photo = tmp_path / "card.jpg"
    photo.write_bytes(buf.getvalue())
    np.save(tmp_path / "card.depth.npy", np.tile(np.linspace(0, 1, m.W, dtype=np.float32), (m.H, 1)))
    with Viewer([Source("card.jpg", path=photo)], device="cpu", size=(m.W, m.H)) as v:
        assert v.run_until_idle(30)
        v.on_key(glfw.KEY_S)
        assert v.run_until_idle(30)  # the save renders the full photo in the background
        assert len(v.saved) == 1
        with Image.open(v.saved[0]) as im:
            assert im.info.get("icc_profile") == icc
            assert im.getexif()[0x010F] == "TestMake"
        _, focus, k, dof, *_ = v.scheduler.shown
    from deocused.cli import main  # the same bytes as render with the settings shown (tone curve, metadata)

    assert main(["render", str(photo), "--focus-disparity", repr(focus), "--max-blur", repr(k), "--dof", repr(dof),
                 "--output", str(tmp_path / "cli.png")]) == 0
    assert v.saved[0].read_bytes() == (tmp_path / "cli.png").read_bytes()
