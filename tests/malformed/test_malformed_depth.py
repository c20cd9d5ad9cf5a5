"""Malformed depth files through ``refocus render --depth``: dtypes, shapes,
non-finite values, corrupt and truncated ``.npy``/``.png``/``.exr``."""

import io

import numpy as np
import pytest
from helpers import malformed as m

from deocused.io.depthmap import load_disparity


@pytest.fixture
def ws(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "in" / "photo.png").write_bytes(m.encode("png", m.test_rgb()))
    return tmp_path


def render(ws, depth, *extra):
    out = ws / "out" / "o.png"
    snap = m.Snapshot([ws / "in", ws / "out"], [ws / "in" / "photo.png", depth])
    res = m.run_cli("render", ws / "in" / "photo.png", "--depth", depth, "-o", out, "--device", "cpu", *extra)
    return res, snap, out


def ramp(dtype=np.float32, shape=(m.H, m.W)):
    return np.tile(np.linspace(0, 200, shape[1]), (shape[0], 1)).astype(dtype)


GOOD_DTYPES = ["uint8", "int8", "uint16", "int16", "int32", "uint32", "int64", "uint64", "float16", "float32",
               "float64", ">f4", ">i2"]
BAD_DTYPES = {"bool": np.zeros((m.H, m.W), bool), "complex64": ramp(np.complex64),
              "complex128": ramp(np.complex128), "str": np.full((m.H, m.W), "ab"),
              "record": np.zeros((m.H, m.W), [("a", "f4"), ("b", "f4")]),
              "datetime": np.zeros((m.H, m.W), "datetime64[s]"), "void": np.zeros((m.H, m.W), "V4")}


@pytest.mark.parametrize("dtype", GOOD_DTYPES)
def test_numeric_dtypes_render(ws, dtype):
    p = ws / "in" / "d.npy"
    np.save(p, ramp(dtype))
    res, _, out = render(ws, p)
    m.expect_ok(res, out)


@pytest.mark.parametrize("name", list(BAD_DTYPES))
def test_non_real_dtypes_are_refused(ws, name):
    p = ws / "in" / "d.npy"
    np.save(p, BAD_DTYPES[name])
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="d.npy")


def test_object_array_is_refused_without_unpickling(ws):
    p = ws / "in" / "d.npy"
    np.save(p, np.array([[1.0, "x"], [None, 2]], dtype=object), allow_pickle=True)
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="d.npy")


@pytest.mark.parametrize("shape", [(0, 0), (0, m.W), (m.H, 0), (0,), (), (m.W,), (1, 1), (1, m.W), (m.H, 1),
                                   (m.H, m.W, 3), (2, m.H, m.W), (m.H, m.W, 0), (1, 1, 0)])
def test_bad_shapes_are_refused(ws, shape):
    p = ws / "in" / "d.npy"
    np.save(p, np.ones(shape, np.float32))
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="d.npy")


@pytest.mark.parametrize("shape", [(m.H, m.W, 1), (1, m.H, m.W), (m.H // 2, m.W // 2), (m.H * 2, m.W * 2)])
def test_singleton_axes_and_same_aspect_sizes_render(ws, shape):
    p = ws / "in" / "d.npy"
    np.save(p, np.ones(shape, np.float32) * np.linspace(0, 1, shape[-1] if shape[-1] > 1 else shape[-2])
            .reshape([1] * (len(shape) - 1) + [-1] if shape[-1] > 1 else [-1, 1]))
    res, _, out = render(ws, p)
    m.expect_ok(res, out)


@pytest.mark.parametrize("shape", [(m.H, m.W * 2), (m.W, m.H), (10, 1000)])
def test_other_aspect_ratio_is_refused(ws, shape):
    p = ws / "in" / "d.npy"
    np.save(p, np.ones(shape, np.float32))
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="aspect ratio")


@pytest.mark.parametrize("fill", ["nan", "inf", "-inf", "mixed"])
def test_all_non_finite_is_refused(ws, fill):
    d = np.full((m.H, m.W), {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "mixed": np.nan}[fill], np.float32)
    if fill == "mixed":
        d[::2] = np.inf
    p = ws / "in" / "d.npy"
    np.save(p, d)
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="d.npy")


@pytest.mark.parametrize("where", ["corner", "column", "checker", "half"])
def test_partial_holes_are_filled_and_render(ws, where):
    d = ramp()
    sel = {"corner": np.s_[:5, :5], "column": np.s_[:, 10], "checker": np.s_[::2, ::2], "half": np.s_[:, 32:]}[where]
    d[sel] = np.nan
    p = ws / "in" / "d.npy"
    np.save(p, d)
    res, _, out = render(ws, p)
    m.expect_ok(res, out)
    assert "non-finite" in res.err


@pytest.mark.parametrize("values", [(-3e38, 3e38), (1.2e-38, 1.0), (1e300, -1e300), (0, 0)])
def test_extreme_values_give_a_finite_disparity(ws, values):
    d = np.zeros((m.H, m.W), np.float64)
    d[:, : m.W // 2], d[:, m.W // 2:] = values
    p = ws / "in" / "d.npy"
    np.save(p, d)
    disp = load_disparity(p)
    assert np.isfinite(disp).all() and disp.min() >= 0 and disp.max() <= 1
    if values[0] != values[1]:
        assert {disp[0, 0], disp[0, -1]} == {0.0, 1.0}
    res, _, out = render(ws, p)
    m.expect_ok(res, out)


def test_metric_depth_without_positive_values_is_refused(ws):
    p = ws / "in" / "d.npy"
    np.save(p, -ramp() - 1)
    res, snap, _ = render(ws, p, "--depth-kind", "depth")
    m.expect_refused(res, snap, mention="d.npy")


def _npy_bytes(arr):
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def _npy_header(shape):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buf.getvalue()


@pytest.mark.parametrize("case", ["truncated_data", "truncated_header", "magic_only", "garbage", "bad_header_dict",
                                  "huge_declared_shape", "negative_shape", "version_9"])
def test_corrupt_npy_is_refused(ws, case):
    data = _npy_bytes(ramp())
    header_end = data.index(b"\n") + 1
    body = {
        "truncated_data": data[: len(data) - 100],
        "truncated_header": data[:20],
        "magic_only": data[:8],
        "garbage": b"\x93NUMPY" + bytes(range(256)) * 4,
        "bad_header_dict": data[:10] + b"{'descr': 'zz9', 'fortran_order': False, 'shape': (48, 64), }".ljust(
            header_end - 11) + b"\n" + data[header_end:],
        "huge_declared_shape": _npy_header((99999, 99999)) + bytes(64),
        "negative_shape": _npy_header((-4, 64)) + bytes(4 * 4 * 64),
        "version_9": data[:6] + b"\x09\x00" + data[8:],
    }[case]
    p = ws / "in" / "d.npy"
    p.write_bytes(body)
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="d.npy")
    if case in ("huge_declared_shape", "negative_shape"):
        assert "declares" in res.error_lines[0]


@pytest.mark.parametrize("frac", [0.05, 0.3, 0.8])
def test_truncated_depth_png_is_refused(ws, frac):
    import cv2

    _, enc = cv2.imencode(".png", ramp(np.uint16))
    p = ws / "in" / "d.png"
    p.write_bytes(enc.tobytes()[: int(len(enc) * frac)])
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="d.png")


def test_huge_declared_depth_png_is_refused(ws):
    p = ws / "in" / "d.png"
    p.write_bytes(m.with_size("png", m.encode("png", ramp(np.uint8)), 30000, 20000))
    res, snap, _ = render(ws, p)
    m.expect_refused(res, snap, mention="declares")


@pytest.mark.parametrize("case", ["good", "garbage", "truncated", "empty_magic"])
def test_exr_depth(ws, case):
    OpenEXR = pytest.importorskip("OpenEXR")
    p = ws / "in" / "d.exr"
    with OpenEXR.File({"type": OpenEXR.scanlineimage}, {"Z": ramp()}) as f:
        f.write(str(p))
    data = p.read_bytes()
    if case == "garbage":
        p.write_bytes(b"\x76\x2f\x31\x01" + bytes(range(256)) * 3)
    elif case == "truncated":
        p.write_bytes(data[: len(data) // 2])
    elif case == "empty_magic":
        p.write_bytes(data[:4])
    res, snap, out = render(ws, p)
    if case == "good":
        m.expect_ok(res, out)
    else:
        m.expect_refused(res, snap, mention="d.exr")
