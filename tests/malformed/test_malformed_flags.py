"""Flag values through ``refocus render`` (and ``view``/``live``): NaN, infinities,
out-of-range, huge and non-numeric values are refused with one line naming the
flag; values inside the documented limits render. The limits are those of
README's render section: K in [0, 256], D and the focus disparity in [0, 1],
0 or 3..32 blades, rotation in [-360, 360] degrees, highlight gain in [0, 100],
anamorphic ratio in [0.25, 4], cat-eye strength in [0, 1]."""

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import malformed as m
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deocused.errors import InputError
from deocused.settings import RenderSettings

FLOAT_FLAGS = {"--max-blur": (0.0, 256.0), "--dof": (0.0, 1.0), "--focus-disparity": (0.0, 1.0),
               "--rotation": (-360.0, 360.0), "--highlights": (0.0, 100.0), "--anamorphic": (0.25, 4.0),
               "--cat-eye": (0.0, 1.0)}
BLADES_OK = {0, *range(3, 33)}
ODD_VALUES = ["nan", "NaN", "inf", "-inf", "Infinity", "-1", "1e39", "1e308", "-1e-9", "1e-9", "0", "0.5", "abc", "",
              "1,5", "0x10"]


def expected_float(flag, text):
    try:
        v = float(text)
    except ValueError:
        return False
    lo, hi = FLOAT_FLAGS[flag]
    return math.isfinite(v) and lo <= v <= hi


@pytest.fixture(scope="module")
def ws():
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        (d / "in").mkdir()
        (d / "out").mkdir()
        (d / "in" / "photo.png").write_bytes(m.encode("png", m.test_rgb()))
        np.save(d / "in" / "d.npy", np.tile(np.linspace(0, 1, m.W, dtype=np.float32), (m.H, 1)))
        m.write_video(d / "in" / "v.avi")
        yield d


def render(ws, *extra) -> tuple:
    out = ws / "out" / "o.png"
    out.unlink(missing_ok=True)
    snap = m.Snapshot([ws / "in", ws / "out"], [ws / "in" / "photo.png", ws / "in" / "d.npy"])
    res = m.run_cli("render", ws / "in" / "photo.png", "--depth", ws / "in" / "d.npy", "-o", out, "--device", "cpu",
                    *extra)
    return res, snap, out


def check(ws, flag, text, ok):
    res, snap, out = render(ws, f"{flag}={text}")
    if ok:
        m.expect_ok(res, out)
    else:
        m.expect_refused(res, snap, mention=flag)


@pytest.mark.parametrize("text", ODD_VALUES)
@pytest.mark.parametrize("flag", list(FLOAT_FLAGS))
def test_float_flag_values(ws, flag, text):
    check(ws, flag, text, expected_float(flag, text))


@pytest.mark.parametrize("text", ["0", "3", "32", "33", "1", "2", "-3", "1000000", "nan", "3.5", "abc", ""])
def test_blades_values(ws, text):
    check(ws, "--blades", text, text.isdigit() and int(text) in BLADES_OK)


@pytest.mark.parametrize("text,ok", [("0,0", True), ("63,47", True), ("63.9,47.9", True), ("64,10", False),
                                     ("10,48", False), ("-1,5", False), ("nan,3", False), ("3,nan", False),
                                     ("inf,inf", False), ("1e39,1", False), ("5", False), ("a,b", False),
                                     ("5,5,5", False), ("", False)])
def test_focus_point_values(ws, text, ok):
    check(ws, "--focus", text, ok)


def test_focus_flags_are_exclusive(ws):
    res, snap, _ = render(ws, "--focus", "3,3", "--focus-disparity", "0.5")
    m.expect_refused(res, snap, mention="--focus")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(sorted(FLOAT_FLAGS)),
       value=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**40, 10**40))
def test_any_number_is_rendered_or_refused_by_name(ws, flag, value):
    text = repr(value) if isinstance(value, float) else str(value)
    check(ws, flag, text, expected_float(flag, text))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=12).filter(lambda t: "\0" not in t))
def test_any_text_is_rendered_or_refused_by_name(ws, text):
    check(ws, "--dof", text, expected_float("--dof", text))


# -- the library API: the same limits, as InputError ---------------------------------------

@pytest.mark.parametrize("field,value", [("max_blur", math.nan), ("max_blur", -1.0), ("max_blur", 1e9),
                                         ("dof", math.inf), ("dof", 2.0), ("focus_disparity", math.nan),
                                         ("focus_disparity", 1.5), ("rotation", math.inf), ("rotation", math.nan),
                                         ("rotation", 720.0), ("highlights", math.nan), ("highlights", -1.0),
                                         ("highlights", 1e39), ("blades", 1), ("blades", 10**6), ("blades", 3.5),
                                         ("blades", True), ("focus", (math.nan, 1.0)), ("focus", (-1.0, 1.0)),
                                         ("focus", "3,3"), ("max_blur", "8"), ("cat_eye", math.nan),
                                         ("cat_eye", 1.5), ("cat_eye", -0.1), ("cat_eye", "1")])
def test_render_settings_refuse_bad_values(field, value):
    with pytest.raises(InputError, match=field):
        RenderSettings(**{field: value})


def test_renderer_refuses_bad_render_inputs():
    from deocused.render.aperture import Aperture
    from deocused.render.cpu.backend import CpuRenderer

    with pytest.raises(InputError, match="highlights"):
        CpuRenderer(highlights=math.nan)
    with pytest.raises(InputError, match="blades"):
        Aperture(blades=10**6)
    r = CpuRenderer()
    img = np.full((8, 8, 3), 0.5, np.float32)
    disp = np.tile(np.linspace(0, 1, 8, dtype=np.float32), (8, 1))
    bad = img.copy()
    bad[1, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        r.prepare(bad, disp)
    with pytest.raises(InputError):
        r.prepare(np.zeros((0, 8, 3), np.float32), np.zeros((0, 8), np.float32))
    r.prepare(img, disp)
    for args in ((math.nan, 4.0), (0.5, math.inf), (0.5, -1.0), (2.0, 4.0), (0.5, 4.0, math.nan)):
        with pytest.raises(InputError):
            r.render(*args)


# -- other subcommands -----------------------------------------------------------------------

@pytest.mark.parametrize("flag,text", [("--rotation", "nan"), ("--blades", "99"), ("--highlights", "-1"),
                                       ("--max-blur", "inf"), ("--dof", "abc")])
def test_view_refuses_bad_flags(ws, flag, text):
    res = m.run_cli("view", ws / "in" / "photo.png", "--depth", ws / "in" / "d.npy", f"{flag}={text}")
    m.expect_refused(res, mention=flag)


@pytest.mark.parametrize("flag,text", [("--focus-glide", "nan"), ("--focus-glide", "-1"), ("--depth-alpha", "nan"),
                                       ("--depth-alpha", "0"), ("--scale", "inf"), ("--scale", "2"),
                                       ("--record-fps", "nan"), ("--record-fps", "0"), ("--frames", "0"),
                                       ("--scale", "1e-300"), ("--reconnect-attempts", "-1"),
                                       ("--rotation", "inf"), ("--blades", "1000000"), ("--highlights", "nan")])
def test_live_refuses_bad_flags(ws, flag, text):
    res = m.run_cli("live", "--headless", "--video", ws / "in" / "v.avi", "-o", ws / "out" / "o.avi",
                    f"{flag}={text}", "--device", "cpu")
    m.expect_refused(res, mention=flag)
    assert not (ws / "out" / "o.avi").exists()
