"""The package's shape: imports flow one way (CLI -> apps -> photo layer -> depth and the
backend choice -> backends -> kernels -> render maths -> io -> basics), no import circles,
nothing below the CLI imports it, no oversized modules, every subpackage installed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "engine"  # installed as the `deocused` package
PKG = "deocused"
MAX_LINES = 450

#: Layer of each module or subpackage (dotted, below ``deocused``; the longest matching prefix
#: counts); a module may import only its own layer or lower ones.
LAYERS = {
    "__init__": 9,
    "cli": 8,
    # apps; window/ is the GL window code the viewer and live mode share
    "viewer": 7, "live": 7, "batch": 7, "bench": 7, "window": 7,
    # the photo layer: a photo with its depth, the render settings
    "photo": 6, "settings": 6,
    # depth from a network (worker process); the backend choice
    "depth": 5, "render.backends": 5,
    # the backends with the Renderer contract they implement (and the CPU's sRGB8 frame codec)
    "render.renderer": 4, "render.cpu": 4, "render.gpu": 4,
    # the CPU kernels (Numba) and their loader; the GPU kernels are the .cu files beside render/gpu/backend.py
    "render.cpu.kernels": 3, "render.cpu.refocus": 3, "render.cpu.sampling": 3, "render.cpu.pixels": 3,
    "render.cpu.jit": 3, "render.cpu.blocks": 3,
    # render maths both backends build on: pyramid geometry, optics, apertures
    "render": 2,
    # files in and out: images, headers, depth maps, phone depth, metadata, colour curves, video
    "io": 1,
    # basics every layer may use
    "errors": 0, "constants": 0, "xp": 0, "extras": 0, "lazy": 0,
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


def _layer_key(mod: str) -> str | None:
    parts = mod.split(".")[1:]
    if not parts:
        return "__init__"
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYERS:
            return ".".join(parts[:n])
    return None


def _layer(mod: str) -> int:
    return LAYERS[_layer_key(mod)]


def test_every_module_has_a_layer():
    missing = sorted(m for m in MODULES if _layer_key(m) is None)
    assert not missing, f"add these modules to LAYERS: {missing}"


def test_layers_name_existing_modules():
    stale = sorted(k for k in LAYERS if k != "__init__" and f"{PKG}.{k}" not in MODULES)
    assert not stale, f"LAYERS names modules that do not exist: {stale}"


def test_every_subpackage_and_kernel_file_is_installed():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {p.parent for p in SRC.rglob("__init__.py")}
    packages = {".".join([PKG, *f.relative_to(SRC).parts]) for f in folders}
    assert packages == set(setup["packages"])
    data = setup["package-data"]
    for src in [*SRC.rglob("*.cu"), *SRC.rglob("*.cuh")]:
        pkg = ".".join([PKG, *src.parent.relative_to(SRC).parts])
        assert any(src.match(pattern) for pattern in data.get(pkg, ())), f"{src.relative_to(ROOT)} is not package data"


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
        assert not any(n.split(".")[0] in {"tests", "conftest", "conftest_depth", "helpers"} for n in names), p
