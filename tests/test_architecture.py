"""The package's shape: imports flow one way (CLI -> apps -> photo layer -> renderer -> backends
-> kernels), no import circles, nothing below the CLI imports it, no oversized modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "engine"  # installed as the `deocused` package
PKG = "deocused"
MAX_LINES = 450

#: Layer of each top-level module/subpackage; a module may import only its own layer or lower ones.
LAYERS = {
    "cli": 5, "__main__": 5,
    "viewer": 4, "live": 4, "batch": 4, "bench": 4, "window": 4,
    "photo": 3, "settings": 3,
    "depth": 2, "samples": 0,
    "backends": 2, "baseline": 2,
    # the Renderer interface sits with the backends that implement it; backends.py picks one
    "renderer": 1, "cpu_backend": 1, "gpu_backend": 1, "cpu_kernels": 1, "cpu_refocus": 1,
    "cpu_pixels": 1, "cpu_jit": 1,
    "xp": 0,
    "pyramid": 0, "aperture": 0, "optics": 0, "constants": 0, "colour": 0, "errors": 0, "imageinfo": 0,
    "images": 0, "video": 0, "depthmap": 0, "resources": 0, "extras": 0, "__init__": 6,
    # the photo's file layer: HEIF/AVIF decoding, XMP, depth embedded in the file, its guided upsampling
    "heif": 0, "xmp": 0, "embedded_depth": 0, "guided": 0, "metadata": 0, "encode": 0, "iccolour": 0,
    "camera_raw": 0, "dynamic_depth": 0,
}


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        rel = p.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join([PKG, *parts])] = p
    return out


MODULES = _modules()


def _imports(name: str, path: Path, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if top_level_only and isinstance(node, ast.If):  # TYPE_CHECKING blocks are not runtime imports
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                mod = ".".join(base[: len(base) - node.level + 1] + ([mod] if mod else []))
            for a in node.names:
                full = f"{mod}.{a.name}"
                found.add(full if full in MODULES else mod)
    return {m for m in found if m == PKG or m.startswith(PKG + ".") or m == "engine" or m.startswith("engine.")}


def _layer(mod: str) -> int:
    parts = mod.split(".")
    return LAYERS[parts[1]] if len(parts) > 1 else LAYERS["__init__"]


def test_every_module_has_a_layer():
    missing = sorted({m.split(".")[1] for m in MODULES if "." in m} - set(LAYERS))
    assert not missing, f"add these modules to LAYERS: {missing}"


def test_nothing_imports_the_old_package_name():
    bad = {m: sorted(i for i in _imports(m, p, False) if i.split(".")[0] == "engine") for m, p in MODULES.items()}
    assert not {m: v for m, v in bad.items() if v}


def test_only_the_cli_imports_the_cli():
    for mod, path in MODULES.items():
        if _layer(mod) >= 5:
            continue
        assert f"{PKG}.cli" not in _imports(mod, path, False), f"{mod} imports the CLI"


def test_imports_flow_downwards():
    wrong = []
    for mod, path in MODULES.items():
        for dep in _imports(mod, path, False):
            if dep in MODULES and dep != PKG and _layer(dep) > _layer(mod) and _layer(mod) < 5:
                wrong.append(f"{mod} -> {dep}")
    assert not wrong, "upward imports: " + ", ".join(sorted(wrong))


def test_no_import_circles():
    graph = {m: {d for d in _imports(m, p, True) if d in MODULES and d != m} for m, p in MODULES.items()}
    # a package's __init__ re-exporting its submodules is not a circle with them
    for m in graph:
        graph[m] = {d for d in graph[m] if not (MODULES[d].name == "__init__.py" and m.startswith(d + "."))}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in graph[m]:
            if state.get(d) == 1:
                pytest.fail("import circle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_size(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines (max {MAX_LINES})"


def test_bench_scripts_do_not_import_tests():
    for p in (ROOT / "bench").glob("*.py"):
        tree = ast.parse(p.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not any(n.split(".")[0] in {"tests", "conftest", "conftest_depth"} for n in names), p
