"""Arrays, memory, streams, events and the device of the CPU stand-in for CuPy.

* Device arrays (:class:`ndarray`) are NumPy arrays (a subclass) whose memory comes
  from the current allocator (:func:`cupy.cuda.set_allocator` works as in CuPy);
  fresh memory is filled with 0xFF bytes (NaN / -1), so reads of never-written
  device memory show.
* Every stream is a worker thread that runs its queue in order: kernel launches,
  copies, event records and waits. Stream and event ordering is therefore real --
  work queued behind a slow kernel has not run until the stream gets there.
* Operations CuPy would run as kernels on the current stream (ufuncs, reductions,
  ``astype``, fancy indexing, ...) first wait for the current stream, then run on
  the host.
* Errors of queued work (a kernel that failed, an exception in a copy) are raised
  by the next synchronisation (``Stream.synchronize``, a blocking copy to the
  host), as CUDA reports asynchronous errors.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
import time

import numpy as np

#: Byte that fresh device memory is filled with.
FILL = int(os.environ.get("CUDAHOST_DEVMEM_FILL", "0xFF"), 0)
#: Exact-size allocations (no alignment slack), so AddressSanitizer's red zones touch every buffer.
EXACT = os.environ.get("CUDAHOST_SANITIZE", "") != ""
#: What memGetInfo reports (bytes).
TOTAL_MEMORY = 80 * 2**30

_errors: list[str] = []
_errors_lock = threading.Lock()


class CUDARuntimeError(RuntimeError):
    """An error of queued device work, raised at the next synchronisation."""


def _report(msg: str) -> None:
    with _errors_lock:
        _errors.append(msg)


def _raise_errors() -> None:
    with _errors_lock:
        if not _errors:
            return
        msg = "; ".join(_errors)
        _errors.clear()
    raise CUDARuntimeError(msg)


# -- memory ------------------------------------------------------------------------------------
class OutOfMemoryError(MemoryError):
    def __init__(self, size, total, limit=0):
        self.size, self.total, self.limit = size, total, limit
        super().__init__(f"Out of memory allocating {size:,} bytes (allocated so far: {total:,} bytes).")


class MemoryPointer:
    """``size`` bytes of "device" memory at ``ptr`` (kept alive by ``_buf``)."""

    def __init__(self, buf: np.ndarray, offset: int, size: int):
        self._buf, self._offset, self.size = buf, offset, size
        self.ptr = buf.ctypes.data + offset


def _default_malloc(size: int) -> MemoryPointer:
    slack = 0 if EXACT else 256  # cudaMalloc returns 256-byte aligned memory
    buf = np.empty(max(size, 1) + slack, np.uint8)
    off = 0 if EXACT else (-buf.ctypes.data) % 256
    buf[off:off + size] = FILL
    return MemoryPointer(buf, off, size)


_allocator = _default_malloc


def get_allocator():
    return _allocator


def set_allocator(allocator=None):
    global _allocator
    _allocator = allocator if allocator is not None else _default_malloc


def _alloc(shape, dtype, order="C") -> ndarray:
    dtype = np.dtype(dtype)
    shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    mem = _allocator(nbytes)
    raw = mem._buf[mem._offset: mem._offset + nbytes]
    a = np.ndarray(shape, dtype, buffer=raw, order=order).view(ndarray)
    a._mem = mem
    return a


# -- streams and events --------------------------------------------------------------------------
_handles = itertools.count(0x1000, 0x10)
_tls = threading.local()


def _stack() -> list:
    if not hasattr(_tls, "stack"):
        _tls.stack = []
    return _tls.stack


class Stream:
    """An in-order queue of device work, run by its own worker thread."""

    null: Stream

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        self.ptr = 0 if null else next(_handles)
        self.non_blocking = non_blocking
        self._q: queue.Queue = queue.Queue()
        self._pending = 0
        self._cv = threading.Condition()
        threading.Thread(target=self._run, daemon=True, name=f"cudahost-stream-{self.ptr:#x}").start()

    def _run(self):
        while True:
            fn, what = self._q.get()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - reported at the next synchronisation
                _report(f"{what} on stream {self.ptr:#x}: {type(e).__name__}: {e}")
            with self._cv:
                self._pending -= 1
                self._cv.notify_all()

    def _enqueue(self, fn, what: str) -> None:
        with self._cv:
            self._pending += 1
        self._q.put((fn, what))

    def synchronize(self) -> None:
        with self._cv:
            self._cv.wait_for(lambda: self._pending == 0)
        _raise_errors()

    @property
    def done(self) -> bool:
        with self._cv:
            return self._pending == 0

    def record(self, event=None):
        event = event if event is not None else Event()
        event.record(self)
        return event

    def wait_event(self, event) -> None:
        fired = event._fired
        if fired is not None:
            self._enqueue(fired.wait, "wait_event")

    def use(self):
        _stack()[:] = [self]
        return self

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().pop()

    def __repr__(self):
        return f"<cudahost Stream {self.ptr:#x}>"


Stream.null = Stream(null=True)


def get_current_stream(device_id=None) -> Stream:
    st = _stack()
    return st[-1] if st else Stream.null


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self._fired: threading.Event | None = None
        self._t = None

    def record(self, stream=None) -> None:
        stream = stream if stream is not None else get_current_stream()
        fired = threading.Event()
        self._fired = fired

        def fire():
            self._t = time.perf_counter()
            fired.set()

        stream._enqueue(fire, "event record")

    def synchronize(self) -> None:
        if self._fired is not None:
            self._fired.wait()
        _raise_errors()

    @property
    def done(self) -> bool:
        return self._fired is None or self._fired.is_set()


def get_elapsed_time(start: Event, end: Event) -> float:
    """Milliseconds between two recorded events (host clock when the stream reached them)."""
    start.synchronize()
    end.synchronize()
    return (end._t - start._t) * 1000.0


class Device:
    """The one emulated device (reports itself as an sm_90 part)."""

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self.attributes = {"ClockRate": 1_000_000, "MultiProcessorCount": 132,
                           "MaxSharedMemoryPerBlockOptin": 232448, "MaxSharedMemoryPerBlock": 49152}
        self.compute_capability = "90"

    def synchronize(self):
        Stream.null.synchronize()

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *a):
        pass


# -- ndarray ------------------------------------------------------------------------------------
def _sync_current():
    get_current_stream().synchronize()


def _plain(x):
    if isinstance(x, ndarray):
        return x.view(np.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


def _wrap(x):
    if isinstance(x, np.ndarray) and not isinstance(x, ndarray):
        return x.view(ndarray)
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    return x


class _Data:
    def __init__(self, a):
        self.ptr = a.__array_interface__["data"][0]
        self.mem = getattr(a, "_mem", None)


class ndarray(np.ndarray):
    """A device array: NumPy memory; host-side reads first wait for the current stream."""

    def __array_finalize__(self, obj):
        pass

    @property
    def data(self):
        return _Data(self)

    @property
    def device(self):
        return Device(0)

    def get(self, stream=None, order="C", out=None, blocking=True):
        stream = stream if stream is not None else get_current_stream()
        res = out if out is not None else np.empty(self.shape, self.dtype, order=order)
        src = self
        stream._enqueue(lambda: np.copyto(res, src.view(np.ndarray)), "device-to-host copy")
        if blocking:
            stream.synchronize()
        return res

    def set(self, arr, stream=None):
        if not isinstance(arr, np.ndarray) or isinstance(arr, ndarray):
            raise TypeError("Only numpy.ndarray can be set to cupy.ndarray")
        if self.dtype != arr.dtype:
            raise TypeError(f"{arr.dtype} array cannot be set to {self.dtype} array")
        if self.shape != arr.shape:
            raise ValueError(f"Shape mismatch. Old shape: {self.shape}, new shape: {arr.shape}")
        snap = np.array(arr, copy=True, order="C")  # pageable host memory: copied before return
        stream = stream if stream is not None else get_current_stream()
        dst = self
        stream._enqueue(lambda: np.copyto(dst.view(np.ndarray), snap), "host-to-device copy")

    def copy(self, order="C"):
        out = _alloc(self.shape, self.dtype, order="F" if order == "F" else "C")
        src = self
        get_current_stream()._enqueue(lambda: np.copyto(out.view(np.ndarray), src.view(np.ndarray)),
                                      "device-to-device copy")
        return out

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if not copy and np.dtype(dtype) == self.dtype:
            return self
        _sync_current()
        return _wrap(np.asarray(self.view(np.ndarray).astype(dtype, order=order)))

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _sync_current()
        kwargs = {k: _plain(v) for k, v in kwargs.items()}  # e.g. where=: a device array too
        if out is not None:
            kwargs["out"] = tuple(_plain(o) for o in out)
        return _wrap(getattr(ufunc, method)(*_plain(inputs), **kwargs))

    def __array_function__(self, func, types, args, kwargs):
        _sync_current()
        return _wrap(func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()}))

    def __getitem__(self, key):
        # A view (slices only) reads nothing; anything else reads values: wait for the stream.
        view = isinstance(key, (slice, type(Ellipsis))) or (
            isinstance(key, tuple) and all(isinstance(k, (slice, type(Ellipsis), type(None))) for k in key))
        if not view:
            _sync_current()
        return super().__getitem__(key)

    def __setitem__(self, key, value):
        _sync_current()
        super().__setitem__(key, _plain(value))

    def __repr__(self):
        _sync_current()
        return "cudahost." + repr(self.view(np.ndarray))

    def __bool__(self):
        _sync_current()
        return bool(self.view(np.ndarray))

    def __float__(self):
        _sync_current()
        return float(self.view(np.ndarray))

    def __int__(self):
        _sync_current()
        return int(self.view(np.ndarray))

    def item(self, *a):
        _sync_current()
        return self.view(np.ndarray).item(*a)

    def tolist(self):
        _sync_current()
        return self.view(np.ndarray).tolist()


def _h2d(arr, dtype=None, order="C") -> ndarray:
    order = "F" if order == "F" else "C"
    arr = np.asarray(arr, dtype=dtype)
    out = _alloc(arr.shape, arr.dtype, order=order)
    out.set(np.array(arr, order=order) if order == "C" else np.ascontiguousarray(arr))
    return out


def _convert(a: ndarray, dtype, order) -> ndarray:
    out = _alloc(a.shape, np.dtype(dtype if dtype is not None else a.dtype), order=order)
    get_current_stream()._enqueue(
        lambda: np.copyto(out.view(np.ndarray), a.view(np.ndarray), casting="unsafe"), "convert")
    return out


def asarray(a, dtype=None, order=None):
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else _convert(a, dtype, "C")
    return _h2d(a, dtype)


def array(a, dtype=None, copy=True, order="K"):
    if isinstance(a, ndarray):
        return a.copy() if dtype is None else _convert(a, dtype, "C")
    return _h2d(a, dtype)


def ascontiguousarray(a, dtype=None):
    if not isinstance(a, ndarray):
        return _h2d(np.ascontiguousarray(a, dtype=dtype))
    if a.flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
        return a
    return _convert(a, dtype, "C")


def asfortranarray(a, dtype=None):
    if not isinstance(a, ndarray):
        out = np.asfortranarray(a, dtype=dtype)
        dev = _alloc(out.shape, out.dtype, order="F")
        get_current_stream()._enqueue(lambda: np.copyto(dev.view(np.ndarray), out), "host-to-device copy")
        return dev
    if a.flags.f_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
        return a
    return _convert(a, dtype, "F")


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get(stream=stream, order=order, out=out, blocking=blocking)
    return np.asarray(a, order=order)


def empty(shape, dtype=float, order="C"):
    return _alloc(shape, dtype, order)


def _filled(shape, dtype, value, order="C"):
    a = _alloc(shape, dtype, order)
    get_current_stream()._enqueue(lambda: a.view(np.ndarray).fill(value), "fill")
    return a


def zeros(shape, dtype=float, order="C"):
    return _filled(shape, dtype, 0, order)


def ones(shape, dtype=float, order="C"):
    return _filled(shape, dtype, 1, order)


def empty_like(a, dtype=None):
    return _alloc(a.shape, dtype or a.dtype)


def zeros_like(a, dtype=None):
    return zeros(a.shape, dtype or a.dtype)
