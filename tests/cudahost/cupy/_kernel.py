"""``RawModule`` / ``RawKernel`` of the CPU stand-in: kernels compiled by the host compiler.

A module's source goes through ``tests/cudahost/rewrite.py`` and is compiled by g++
(C++20) with ``tests/cudahost/emu.h`` into a shared library, loaded with ctypes. The
NVRTC options are honoured where they mean something on the host: ``-D``/``--define-macro``
and ``-I``/``--include-path``; the others (``--std``, ``--gpu-architecture``, ...) are
accepted and ignored.

Libraries are cached in ``$CUDAHOST_BUILD_DIR`` (default: ``cudahost-<uid>`` in the
temporary folder), named by a hash of the source, the options, the emulation sources
and the compiler flags, so a changed kernel is rebuilt and an unchanged one is not.
``CUDAHOST_SANITIZE=address`` builds with AddressSanitizer and UBSan (the Python process
must then run with libasan preloaded, see ``tests/render/test_cuda_host.py``).

Launches check every argument against the kernel's parameter list, as CuPy does not:
the count, scalar types (CuPy passes a Python int as int64 and a float as float64, so
an unconverted value is an error here), device arrays only for pointer parameters,
the array dtype against the pointee type, alignment and contiguity. A mismatch is a
``TypeError`` naming the kernel and the parameter, raised by the launch call.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from ._core import _report, get_current_stream, ndarray

HERE = Path(__file__).resolve().parents[1]  # tests/cudahost
EMU_H = HERE / "emu.h"
SANITIZE = os.environ.get("CUDAHOST_SANITIZE", "")  # "" or "address"
LOG = os.environ.get("CUDAHOST_LOG", "")            # file to append launches to (optional)

_spec = importlib.util.spec_from_file_location("_cudahost_rewrite", HERE / "rewrite.py")
rewrite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rewrite)


class CompileException(Exception):
    """The host compiler (or the rewriter) rejected a module's source."""


def build_dir() -> Path:
    d = os.environ.get("CUDAHOST_BUILD_DIR") or str(Path(tempfile.gettempdir()) / f"cudahost-{os.getuid()}")
    return Path(d)


def _gxx_flags() -> list[str]:
    flags = ["-std=c++20", "-fPIC", "-shared", "-pthread", "-Wall", "-Wno-unused-function",
             "-Wno-unused-variable", "-Wno-unused-but-set-variable"]
    if SANITIZE == "address":
        return flags + ["-O1", "-g", "-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                        "-fno-sanitize-recover=undefined"]
    if SANITIZE:
        raise ValueError(f"CUDAHOST_SANITIZE={SANITIZE!r}: only 'address' is supported")
    return flags + ["-O2"]


def _parse_options(options) -> tuple[list[str], list[str]]:
    """(g++ -D options, include folders) of NVRTC options."""
    defines, includes = [], []
    for o in options:
        if not isinstance(o, str):
            raise TypeError(f"NVRTC option {o!r} is not a str")
        for prefix, target in (("-D", defines), ("--define-macro=", defines),
                               ("-I", includes), ("--include-path=", includes)):
            if o.startswith(prefix):
                target.append(o[len(prefix):])
                break
    return [f"-D{d}" for d in defines], includes


_build_lock = threading.Lock()
_launch_lock = threading.Lock()


def build(code: str, options=()) -> tuple[ctypes.CDLL, str, list[str]]:
    """Compile (or take from the cache) the module: (library, expanded source, kernel names)."""
    defines, includes = _parse_options(options)
    try:
        expanded, kernels = rewrite.rewrite(code, "<module>.cu", includes)
    except rewrite.RewriteError as e:
        raise CompileException(str(e)) from None
    flags = _gxx_flags() + defines
    key = hashlib.sha256("\0".join([expanded, *flags, EMU_H.read_text(), (HERE / "rewrite.py").read_text()])
                         .encode()).hexdigest()[:20]
    d = build_dir()
    so = d / f"m_{key}{'.' + SANITIZE if SANITIZE else ''}.so"
    with _build_lock:
        if not so.exists():
            d.mkdir(parents=True, exist_ok=True)
            cpp = d / f"m_{key}.cpp"
            cpp.write_text(expanded)
            tmp = d / f".{so.name}.{os.getpid()}.tmp"
            cmd = ["g++", *flags, "-include", str(EMU_H), "-o", str(tmp), str(cpp)]
            res = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                raise CompileException(f"g++ failed:\n{res.stderr}")
            os.replace(tmp, so)
    return ctypes.CDLL(str(so)), expanded, kernels


# -- argument checks ------------------------------------------------------------------------------
_DECL = re.compile(r'extern\s+"C"\s+__global__\s+void\s+(\w+)\s*\(([^)]*)\)', re.DOTALL)
#: Array dtypes accepted for a pointer parameter, by pointee type.
POINTEE_DTYPES = {
    "float": (np.float32,), "double": (np.float64,), "int": (np.int32,), "unsigned int": (np.uint32,),
    "long long": (np.int64,), "unsigned long long": (np.uint64,), "short": (np.int16,),
    "unsigned short": (np.uint16, np.float16), "char": (np.int8,), "unsigned char": (np.uint8, np.bool_),
    "float2": (np.float32,), "float4": (np.float32,), "int2": (np.int32,), "int4": (np.int32,),
    "uint2": (np.uint32, np.uint16, np.float16), "uint4": (np.uint32,), "uchar2": (np.uint8,), "uchar4": (np.uint8,),
}
#: Alignment a GPU requires of a pointer to the type (bytes).
POINTEE_ALIGN = {"float2": 8, "float4": 16, "int2": 8, "int4": 16, "uint2": 8, "uint4": 16, "uchar2": 2,
                 "uchar4": 4, "double": 8, "long long": 8, "unsigned long long": 8}
_SCALAR_NAMES = {"f4": "float32", "f8": "float64", "i1": "int8", "i2": "int16", "i4": "int32", "i8": "int64",
                 "u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64"}


def parameters(source: str, name: str) -> list[tuple[str, str]]:
    """(type text without qualifiers, parameter name) of kernel ``name`` in ``source``."""
    for m in _DECL.finditer(source):
        if m.group(1) == name:
            out = []
            for p in m.group(2).split(","):
                p = " ".join(p.replace("__restrict__", " ").split())
                pm = re.match(r"^(.*?)([A-Za-z_]\w*)$", p)
                out.append((pm.group(1).replace("const", " ").strip() if pm else p, pm.group(2) if pm else "?"))
            return [(" ".join(t.split()), n) for t, n in out]
    raise CompileException(f"kernel {name} not found in the source")


def _errors(lib) -> str:
    f = getattr(lib, "__emu_errors")
    f.restype = ctypes.c_char_p
    return f().decode().strip()


def _static_smem(lib) -> int:
    f = getattr(lib, "__emu_static_smem")
    f.restype = ctypes.c_size_t
    return int(f())


class RawKernel:
    """One kernel of a compiled module; calling it queues a launch on a stream."""

    def __init__(self, code=None, name=None, options=(), backend="nvrtc", *, jitify=False,
                 enable_cooperative_groups=False, translate_cucomplex=False, _module=None):
        if _module is None:
            _module = RawModule(code=code, options=options)
        self.name = name
        self._lib = _module._lib
        if name not in _module._kernels:
            raise RuntimeError(f"CUDA_ERROR_NOT_FOUND: named symbol not found ({name})")
        self._fn = getattr(self._lib, f"__emu_launch_{name}")
        self._fn.restype = ctypes.c_int
        self._fn.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_uint), ctypes.c_size_t,
                             ctypes.POINTER(ctypes.c_void_p)]
        sig = getattr(self._lib, f"__emu_sig_{name}")
        sig.restype = ctypes.c_char_p
        self.signature = [s for s in sig().decode().split(",") if s]
        self.params = parameters(_module._source, name)
        self._max_dyn = 48 * 1024

    @property
    def max_dynamic_shared_size_bytes(self) -> int:
        return self._max_dyn

    @max_dynamic_shared_size_bytes.setter
    def max_dynamic_shared_size_bytes(self, v: int) -> None:
        if v > 232448:
            raise RuntimeError("CUDA_ERROR_INVALID_VALUE: more than 227 KiB of dynamic shared memory")
        self._max_dyn = int(v)

    def _marshal(self, args) -> tuple[ctypes.Array, list, list[str]]:
        """Pointers to the argument values (cuLaunchKernel's kernelParams), checked."""
        if len(args) != len(self.signature):
            raise TypeError(f"kernel {self.name}: {len(args)} arguments for {len(self.signature)} parameters")
        keep, ptrs, notes = [], [], []
        for i, (a, want, (ctype, pname)) in enumerate(zip(args, self.signature, self.params)):
            where = f"kernel {self.name} argument {i} ({ctype} {pname})"
            if isinstance(a, ndarray):
                if want != "p":
                    raise TypeError(f"{where}: a device array passed for a scalar parameter")
                pointee = ctype.rstrip("*").strip()
                ok = POINTEE_DTYPES.get(pointee)
                if ok is not None and a.dtype.type not in ok:
                    raise TypeError(f"{where}: {a.dtype} array passed for {ctype} "
                                    f"(expected {' or '.join(np.dtype(t).name for t in ok)})")
                addr = a.__array_interface__["data"][0]
                align = POINTEE_ALIGN.get(pointee, a.dtype.itemsize)
                if addr % align:
                    raise TypeError(f"{where}: address {addr:#x} is not {align}-byte aligned")
                if not a.flags.c_contiguous:
                    raise TypeError(f"{where}: non-contiguous array")
                c = ctypes.c_void_p(addr)
                keep.append((a, c))
                ptrs.append(ctypes.addressof(c))
                notes.append(f"{pname}={a.dtype}{list(a.shape)}")
                continue
            if want == "p":
                raise TypeError(f"{where}: {type(a).__name__} passed for a pointer parameter")
            if isinstance(a, np.ndarray):
                if a.size != 1:
                    raise TypeError(f"{where}: numpy.ndarray of shape {a.shape} passed as a scalar")
                val = a.reshape(())[()]
            elif isinstance(a, np.generic):
                val = a
            elif isinstance(a, bool):
                val = np.bool_(a)
            elif isinstance(a, int):
                val = np.int64(a)  # what CuPy passes for a Python int
            elif isinstance(a, float):
                val = np.float64(a)  # what CuPy passes for a Python float
            else:
                raise TypeError(f"{where}: unsupported argument type {type(a).__name__}")
            code = {"f": "f", "i": "i", "u": "u", "b": "u"}[val.dtype.kind] + str(val.dtype.itemsize)
            if code != want:
                raise TypeError(f"{where}: {val.dtype} value {val!r} passed for a {_SCALAR_NAMES.get(want, want)} "
                                f"parameter (convert it, e.g. np.{_SCALAR_NAMES.get(want, 'float32')}(...))")
            buf = ctypes.create_string_buffer(val.tobytes(), 16)
            keep.append(buf)
            ptrs.append(ctypes.addressof(buf))
            notes.append(f"{pname}={val!r}")
        arr = (ctypes.c_void_p * max(len(ptrs), 1))(*ptrs)
        keep.append(arr)
        return arr, keep, notes

    def __call__(self, grid, block, args, shared_mem=0, stream=None, enable_cooperative_groups=False):
        grid = tuple(int(g) for g in (tuple(grid) + (1, 1))[:3])
        block = tuple(int(b) for b in (tuple(block) + (1, 1))[:3])
        if shared_mem > self._max_dyn:
            raise RuntimeError(f"CUDA_ERROR_INVALID_VALUE: kernel {self.name}: {shared_mem} bytes of dynamic "
                               f"shared memory, {self._max_dyn} allowed (set max_dynamic_shared_size_bytes)")
        params, keep, notes = self._marshal(tuple(args))
        stream = stream if stream is not None else get_current_stream()
        g, b = (ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block)
        lib, name = self._lib, self.name

        def run():
            t0 = time.perf_counter()
            with _launch_lock:  # one kernel at a time (the library's error state is global)
                rc = self._fn(g, b, ctypes.c_size_t(int(shared_mem)), params)
                static, errors = _static_smem(lib), _errors(lib)
            del keep[:]  # the arguments lived until the kernel ran
            if LOG:
                with open(LOG, "a") as f:
                    f.write(f"{name} grid={grid} block={block} smem={shared_mem}+{static} "
                            f"{time.perf_counter() - t0:.3f}s {', '.join(notes)}\n")
            if static + int(shared_mem) > max(self._max_dyn, 48 * 1024):
                _report(f"kernel {name}: {static} static + {shared_mem} dynamic bytes of shared memory "
                        f"exceed the {max(self._max_dyn, 48 * 1024)} allowed")
            if rc != 0:
                _report(f"kernel {name} failed: {errors}")

        stream._enqueue(run, f"kernel {name}")


class RawModule:
    """A compiled ``.cu`` module (``code`` or ``path``, NVRTC ``options``)."""

    def __init__(self, *, code=None, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, name_expressions=None, jitify=False):
        if code is None:
            code = Path(path).read_text()
        self.code, self.options = code, tuple(options)
        self._lib, self._source, kernels = build(code, self.options)
        self._kernels = set(kernels)

    def get_function(self, name: str) -> RawKernel:
        return RawKernel(name=name, _module=self)
