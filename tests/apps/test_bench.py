"""``refocus bench``: JSON schema, a tiny run through the CLI, the baseline, the plot."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from deocused import bench
from deocused.bench import baseline
from deocused.cli import main

SCHEMA = Path(__file__).resolve().parents[2] / "bench" / "bench_schema.json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


def _is_type(value, t: str) -> bool:
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[t])


def validate(value, schema: dict, root: dict | None = None, path: str = "$") -> list[str]:
    """A small JSON Schema validator for the keywords bench_schema.json uses."""
    root = root if root is not None else schema
    if "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        target = root
        for part in ref[2:].split("/"):
            target = target[part]
        return validate(value, target, root, path)
    errors = []
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_is_type(value, t) for t in types):
            return [f"{path}: {value!r} is not of type {types}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} != const {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "minimum" in schema and _is_type(value, "number") and value < schema["minimum"]:
        errors.append(f"{path}: {value} < minimum {schema['minimum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                errors.append(f"{path}: missing required '{key}'")
        for key, v in value.items():
            if key in props:
                errors += validate(v, props[key], root, f"{path}.{key}")
            elif schema.get("additionalProperties", True) is False:
                errors.append(f"{path}: unexpected property '{key}'")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, v in enumerate(value):
                errors += validate(v, schema["items"], root, f"{path}[{i}]")
    return errors


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads(SCHEMA.read_text())


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    js, png, md = out / "b.json", out / "b.png", out / "b.md"
    t0 = time.perf_counter()
    rc = main(["bench", "--device", "cpu", "--sizes", "96x64", "--max-blur", "8", "--repeat", "2",
               "--json", str(js), "--plot", str(png), "--markdown", str(md), "--no-progress", "--quiet-table"])
    wall = time.perf_counter() - t0
    return rc, wall, json.loads(js.read_text()), png, md


def test_validator_catches_errors(schema):
    assert validate({"schema": "x"}, schema)  # wrong const, missing keys
    rec = {"device": "cpu"}
    assert validate(rec, schema["$defs"]["result"], schema)


@pytest.mark.slow
def test_tiny_run_matches_schema(tiny_run, schema):
    rc, wall, report, _, md = tiny_run
    assert rc == 0
    assert wall < 20, f"tiny bench took {wall:.1f} s"
    assert validate(report, schema) == []
    assert report["schema_version"] == bench.SCHEMA_VERSION
    stages = {r["stage"] for r in report["results"]}
    for s in ("decode_jpeg", "decode_png", "to_linear", "pyramid", "refocus", "full_frame", "new_photo", "display",
              "baseline_stack", "baseline_select", "baseline_full"):
        assert s in stages, s
    for r in report["results"]:
        assert r["repeats"] == 2 and len(r["samples_ms"]) == 2
        assert r["min_ms"] <= r["median_ms"] <= r["p95_ms"]
        # median_ms is rounded to 0.1 us: fps agrees within that rounding (sub-ms stages)
        assert r["fps"] == pytest.approx(1e3 / r["median_ms"], rel=1e-3 + 0.5e-4 / r["median_ms"])
        assert r["megapixels_per_s"] == pytest.approx(r["fps"] * 96 * 64 / 1e6, rel=1e-3)
        if r["stage"] in bench.BASELINE_OF:
            assert r["ratio_to_baseline"] is not None and r["ratio_to_baseline"] > 0
    # depth: timed or skipped with a reason, never silently missing
    assert "depth" in stages or any(s["stage"] == "depth" and s["reason"] for s in report["skipped"])
    m = report["machine"]
    assert m["cpu"]["usable_cores"] >= 1 and m["versions"]["numpy"] == np.__version__
    assert m["versions"]["opencv"] == cv2.__version__
    assert report["refocus_floor"] and report["refocus_floor"][0]["bytes"] > 0
    assert "| 96x64 | 8 |" in md.read_text()
    assert report["config"]["scene"] == "motorcycle"
    mem = report["memory"]
    assert [(m["width"], m["height"]) for m in mem] == [(96, 64)]
    # measured in a child process: at least the inputs' bytes, at most the whole process
    assert 96 * 64 * 16 / 2 ** 20 < mem[0]["inputs_peak_rss_mib"] <= mem[0]["peak_rss_mib"]
    assert mem[0]["peak_rss_mib"] <= mem[0]["process_peak_rss_mib"]


def test_schema_rejects_a_broken_report(tiny_run, schema):
    report = json.loads(json.dumps(tiny_run[2]))
    report["results"][0]["stage"] = "teleport"
    del report["results"][1]["median_ms"]
    report["results"][2]["extra"] = 1
    errors = validate(report, schema)
    assert len(errors) == 3, errors


def test_plot_is_png(tiny_run):
    png = tiny_run[3]
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC
    img = cv2.imread(str(png))
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 100


def test_from_json_regenerates_outputs(tiny_run, tmp_path, capsys):
    src = tmp_path / "in.json"
    src.write_text(json.dumps(tiny_run[2]))
    png = tmp_path / "again.png"
    assert main(["bench", "--from-json", str(src), str(src), "--plot", str(png)]) == 0
    assert "| 96x64 | 8 |" in capsys.readouterr().out
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_bad_arguments_are_one_line_errors(capsys):
    assert main(["bench", "--sizes", "100by50"]) == 2
    assert main(["bench", "--max-blur", "0"]) == 2
    assert main(["bench", "--repeat", "0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("refocus: error:") == 3


def _scene(w=96, h=64):
    from deocused.io.colour import srgb_to_linear

    inputs = bench.make_inputs(w, h, scene="synthetic")
    return srgb_to_linear(inputs["srgb"]), inputs["disparity"]


def test_baseline_is_a_gaussian_stack():
    lin, disp = _scene()
    k = 14.0
    sigmas = baseline.baseline_sigmas(k)
    assert len(sigmas) == 8 and sigmas[0] == 0 and sigmas[-1] == pytest.approx(k / 2)
    stack = baseline.baseline_stack(lin, k)
    assert np.array_equal(stack[0], lin)
    for i in (1, 4, 7):
        direct = cv2.GaussianBlur(lin, (0, 0), float(sigmas[i]))
        np.testing.assert_allclose(stack[i], direct, atol=1e-6)
    # a plane whose blur radius r = 2 * sigma_i selects exactly level i
    for i in (0, 3, 7):
        plane = np.full(disp.shape, i / 7, np.float32)
        out = baseline.baseline_select(stack, plane, 0.0, k)
        np.testing.assert_allclose(out, stack[i], atol=1e-5)
    # half-way between two levels: the average of both
    plane = np.full(disp.shape, 2.5 / 7, np.float32)
    np.testing.assert_allclose(baseline.baseline_select(stack, plane, 0.0, k), 0.5 * (stack[2] + stack[3]), atol=1e-5)


def test_baseline_and_engine_render_the_same_input():
    from deocused.render.backends import make_renderer

    lin, disp = _scene()
    k, focus = 8.0, 0.3
    r = make_renderer("cpu")
    r.prepare(lin, disp)
    ours = r.render(focus, k)
    base = baseline.baseline_render(lin, disp, focus, k)
    assert ours.shape == base.shape == lin.shape
    assert ours.dtype == base.dtype == np.float32
    # both keep in-focus pixels sharp and blur the rest: close on average, not equal
    sharp = np.abs(disp - focus) < 1e-3
    if sharp.any():
        np.testing.assert_allclose(base[sharp], lin[sharp], atol=1e-5)
    assert float(np.abs(ours - base).mean()) < 0.05


def test_refocus_floor_bytes():
    disp = np.zeros((64, 96), np.float32)
    # everything in focus: read disparity + write colour + the image (level 0) twice (levels 0 and 1 weights)
    b0 = bench.refocus_min_bytes(disp, 0.0, 16.0)
    assert b0 == 64 * 96 * (4 + 12 + 12)
    b1 = bench.refocus_min_bytes(np.ones_like(disp), 0.0, 16.0)
    assert 64 * 96 * 16 < b1 < b0  # blurred levels are stored at lower resolution


def test_parse_sizes():
    assert bench.parse_sizes("1280x720, 1920X1080") == [(1280, 720), (1920, 1080)]


def test_size_specs_and_default_k():
    assert bench.parse_size_specs("1920x1080,6000x4000@default/32") == [(1920, 1080, None),
                                                                       (6000, 4000, ["default", 32.0])]
    assert bench.parse_max_blur("16,default") == [16.0, "default"]
    assert main(["bench", "--sizes", "96x64@0"]) == 2


def test_motorcycle_scene_is_cropped_and_scaled_with_nearest_depth():
    from deocused.bench.scenes import crop_to_aspect, scaled_photo

    img = np.random.default_rng(0).random((50, 80, 3)).astype(np.float32)
    disp = np.repeat(np.linspace(0, 1, 80, dtype=np.float32)[None], 50, axis=0)
    assert crop_to_aspect(img, 16, 9).shape == (45, 80, 3)  # too tall: rows cropped
    assert crop_to_aspect(img, 1, 1).shape == (50, 50, 3)  # too wide: centred columns
    np.testing.assert_array_equal(crop_to_aspect(disp, 1, 1), disp[:, 15:65])
    big_img, big_disp = scaled_photo(img, disp, 200, 100)
    assert big_img.shape == (100, 200, 3) and big_disp.shape == (100, 200)
    assert set(np.unique(big_disp)) <= set(np.unique(disp))  # nearest neighbour: no new depths
    small = bench.make_inputs(64, 48)
    assert small["srgb"].shape == (48, 64, 3) and small["disparity"].shape == (48, 64)
    assert small["disparity"].min() >= 0 and small["disparity"].max() <= 1


def test_a_device_failure_keeps_the_sizes_other_stages(monkeypatch):
    """A renderer that cannot take the image (e.g. its pyramid does not fit) skips that device's
    engine and baseline stages with the reason; decode stages and the memory record remain."""
    from deocused.bench.render_bench import run_size
    from deocused.errors import DeviceError
    from deocused.render.cpu.backend import CpuRenderer

    def refuse(self, image, disparity):
        raise DeviceError("not enough memory for the test")

    monkeypatch.setattr(CpuRenderer, "prepare", refuse)
    out = run_size({"devices": ["cpu"], "size": [64, 48], "max_blur": [4.0], "repeat": 1, "warmup": 0,
                    "focus": [0.3, 0.7], "depth": False, "scene": "synthetic"})
    stages = {r["stage"] for r in out["results"]}
    assert {"decode_jpeg", "decode_png", "to_linear"} <= stages and "refocus" not in stages
    skipped = {(s["stage"], s["max_blur"]) for s in out["skipped"]}
    assert ("pyramid", 4.0) in skipped and ("new_photo", 4.0) in skipped
    assert all("not enough memory" in s["reason"] for s in out["skipped"])
    assert out["memory"]["peak_rss_mib"] > 0


def test_no_baseline_skips_only_the_baseline_stages():
    """--no-baseline (24 MP baselines take minutes): every engine stage is measured, each
    baseline stage is listed as skipped with the reason, and the table still prints."""
    from deocused.bench.render_bench import run_size
    from deocused.bench.report import build_report, markdown_table

    out = run_size({"devices": ["cpu"], "size": [64, 48], "max_blur": [4.0], "repeat": 1, "warmup": 0,
                    "focus": [0.3, 0.7], "depth": False, "scene": "synthetic", "baseline": False})
    stages = {r["stage"] for r in out["results"]}
    assert {"pyramid", "refocus", "full_frame", "new_photo"} <= stages
    assert not any(s.startswith("baseline") for s in stages)
    skipped = {s["stage"]: s["reason"] for s in out["skipped"]}
    assert set(skipped) == {"baseline_stack", "baseline_select", "baseline_full"}
    assert all("--no-baseline" in r for r in skipped.values())
    report = build_report({"devices": ["cpu"], "sizes": [[64, 48]], "max_blur": [4.0], "repeat": 1, "warmup": 0,
                           "focus": [0.3, 0.7], "scene": "synthetic"}, "test", 0.0,
                          [{"device": "cpu", "available": True, "reason": None, "timer": "perf_counter"}], [out], False)
    assert "| 64x48 | 4 |" in markdown_table(report)
