"""Source rewriter: a ``.cu`` file (unchanged on disk) into C++ that g++ compiles with ``emu.h``.

Only these constructs change, each in place so that line numbers stay those of the
original file (compiler errors and sanitizer reports point at the real source):

* ``__shared__ T a[N], b;``    -> ``auto& a = __emu_shared<T[N]>(); auto& b = __emu_shared<T>();``
  (one allocation per block, see ``emu.h``)
* ``extern __shared__ T s[];`` -> ``T* const s = (T*)__emu_dyn_shared();`` (the launch's dynamic shared memory)
* ``asm("cvt.rn.f16.f32 %0, %1;" : "=h"(out) : "f"(in));`` -> ``out = __ptx_cvt_rn_f16_f32(in);``
  (every inline-asm statement must be of this one-output, one-input form; ``emu.h``
  implements the PTX instructions used)
* ``#include "name"`` is resolved against the ``-I`` folders and inlined (rewritten the
  same way) between ``#line`` markers; ``#pragma once`` is honoured.

Then a launch wrapper ``__emu_launch_<k>`` and a signature function ``__emu_sig_<k>`` are
appended for every ``extern "C" __global__`` kernel ``k``. Anything not understood
(other asm, pointer ``__shared__`` declarations, unsized static arrays, a missing
include) raises :class:`RewriteError` instead of guessing.
"""

from __future__ import annotations

import re
from pathlib import Path

SHARED = re.compile(r"(extern\s+)?__shared__\s+([^;]*);")
ASM = re.compile(r'\basm\s*(?:volatile\s*)?\(\s*"([^"]*)"\s*:\s*"=(\w)"\s*\(\s*(\w+)\s*\)'
                 r'\s*:\s*"(\w)"\s*\(\s*([^()]*)\s*\)\s*\)\s*;')
KERNEL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(')
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$', re.MULTILINE)
FIRST_DECL = re.compile(r"^(?P<type>.*?[\w>\s])\s*(?P<name>[A-Za-z_]\w*)\s*(?P<dims>(\[[^\]]*\])*)$")
NEXT_DECL = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*(?P<dims>(\[[^\]]*\])*)\s*$")


class RewriteError(Exception):
    """A construct the rewriter does not handle (the message quotes it)."""


def _split_top(s: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in s:
        depth += ch in "[(<"
        depth -= ch in "])>"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    return [*parts, cur]


def _shared(m: re.Match) -> str:
    ext, body = m.group(1), m.group(2)
    decls = _split_top(body)
    first = FIRST_DECL.match(decls[0].strip())
    if not first or "*" in first.group("type") or "&" in first.group("type"):
        raise RewriteError(f"cannot rewrite __shared__ declaration {m.group(0)!r}")
    typ = first.group("type").strip()
    items = [(first.group("name"), first.group("dims"))]
    for d in decls[1:]:
        dm = NEXT_DECL.match(d)
        if not dm:
            raise RewriteError(f"cannot parse declarator {d!r} in {m.group(0)!r}")
        items.append((dm.group("name"), dm.group("dims")))
    out = []
    for name, dims in items:
        if ext:
            if dims != "[]":
                raise RewriteError(f"extern __shared__ must be 'T name[]': {m.group(0)!r}")
            out.append(f"{typ}* const {name} = ({typ}*)__emu_dyn_shared();")
        else:
            if "[]" in dims:
                raise RewriteError(f"unsized static __shared__ array: {m.group(0)!r}")
            out.append(f"auto& {name} = __emu_shared<{typ}{dims}>();")
    return " ".join(out)


def _asm(m: re.Match) -> str:
    text, _, out, _, inp = m.groups()
    op, _, operands = text.strip().rstrip(";").strip().partition(" ")
    if operands.replace(" ", "") != "%0,%1":
        raise RewriteError(f"unsupported asm operands: {m.group(0)!r}")
    return f"{out} = __ptx_{op.replace('.', '_')}({inp});"


def rewrite_text(src: str, name: str) -> str:
    """``__shared__`` and asm rewritten; the line count is unchanged."""
    n_asm = len(re.findall(r"\basm\b", src))
    out = SHARED.sub(_shared, src)
    out, k = ASM.subn(_asm, out)
    if k != n_asm:
        raise RewriteError(f"{name}: {n_asm - k} asm statement(s) not understood")
    if out.count("\n") != src.count("\n"):
        raise RewriteError(f"{name}: rewrite changed the line count")
    return out


def _expand(src: str, name: str, include_dirs: list[Path], seen: set[Path]) -> str:
    src = rewrite_text(src, name)
    pieces, pos = [], 0
    for m in INCLUDE.finditer(src):
        line = src.count("\n", 0, m.start()) + 1
        found = next((d / m.group(1) for d in include_dirs if (d / m.group(1)).is_file()), None)
        if found is None:
            raise RewriteError(f'{name}:{line}: #include "{m.group(1)}" not found in -I {[str(d) for d in include_dirs]}')
        found = found.resolve()
        pieces.append(src[pos:m.start()])
        text = found.read_text()
        once = re.search(r"^\s*#\s*pragma\s+once\s*$", text, re.MULTILINE) is not None
        if not (once and found in seen):
            seen.add(found)
            body = re.sub(r"^\s*#\s*pragma\s+once\s*$", "", text, flags=re.MULTILINE)
            pieces.append(f'#line 1 "{found}"\n{_expand(body, str(found), include_dirs, seen)}\n')
        pieces.append(f'#line {line + 1} "{name}"')
        pos = m.end()
    pieces.append(src[pos:])
    return "".join(pieces)


def rewrite(src: str, name: str, include_dirs=()) -> tuple[str, list[str]]:
    """The C++ translation unit for ``src`` (named ``name`` in diagnostics) and its kernels."""
    dirs = [Path(d) for d in include_dirs]
    body = _expand(src, name, dirs, set())
    kernels = KERNEL.findall(body)
    tail = ["", "// ---- generated by tests/cudahost/rewrite.py: launch wrappers ----"]
    for k in kernels:
        tail.append(f'extern "C" int __emu_launch_{k}(const unsigned* g, const unsigned* b, size_t smem, void** p)'
                    f" {{ return __emu::launch(&{k}, g, b, smem, p); }}")
        tail.append(f'extern "C" const char* __emu_sig_{k}()'
                    f" {{ static std::string s = __emu::signature(&{k}); return s.c_str(); }}")
    tail.append(f'extern "C" const char* __emu_kernels() {{ return "{",".join(kernels)}"; }}')
    return f'#line 1 "{name}"\n{body}\n' + "\n".join(tail) + "\n", kernels
