"""CUDA -> OpenGL fast path: the GPU-rendered frame goes to the display texture
through a pixel buffer object registered with CUDA, with no copy through host memory.

Only :func:`try_gpu_uploader` is called by the viewer, and only when the
renderer is the CuPy backend (``renderer.device == "gpu"``). It uses the CUDA
driver API (``libcuda``, present wherever CuPy runs on an NVIDIA GPU) through
ctypes: ``cuGraphicsGLRegisterBuffer`` once per frame size, then per frame
``cuGraphicsMapResources`` -> ``cuGraphicsResourceGetMappedPointer`` -> a
device-to-device copy of the sRGB8 frame -> ``cuGraphicsUnmapResources`` and a
``glTexSubImage2D`` sourced from the bound PBO (a GPU-side copy).
The CUDA context must be the one CuPy uses (the device's primary context) and
the GL context must be current on the calling thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util

from OpenGL import GL

CU_GRAPHICS_REGISTER_FLAGS_WRITE_DISCARD = 2
CUDA_MEMCPY_DEVICE_TO_DEVICE = 3


def _libcuda():
    for name in ("libcuda.so.1", "libcuda.so", ctypes.util.find_library("cuda"), "nvcuda.dll"):
        if not name:
            continue
        try:
            return ctypes.CDLL(name)
        except OSError:
            continue
    raise OSError("libcuda (the NVIDIA driver's CUDA library) not found")


class CudaGLPixelBuffer:
    """A GL pixel-unpack buffer of ``nbytes`` registered with CUDA for writing."""

    def __init__(self, nbytes: int):
        import cupy

        cupy.zeros(1)  # make sure CuPy's (primary) context exists and is current on this thread
        self._cu = _libcuda()
        self._cu.cuGraphicsGLRegisterBuffer.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint, ctypes.c_uint]
        self._cu.cuGraphicsMapResources.argtypes = [ctypes.c_uint, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
        self._cu.cuGraphicsUnmapResources.argtypes = [ctypes.c_uint, ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p]
        self._cu.cuGraphicsResourceGetMappedPointer_v2.argtypes = [
            ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_size_t), ctypes.c_void_p]
        self._cu.cuGraphicsUnregisterResource.argtypes = [ctypes.c_void_p]
        self.nbytes = int(nbytes)
        self.pbo = int(GL.glGenBuffers(1))
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, self.pbo)
        GL.glBufferData(GL.GL_PIXEL_UNPACK_BUFFER, self.nbytes, None, GL.GL_STREAM_DRAW)
        GL.glBindBuffer(GL.GL_PIXEL_UNPACK_BUFFER, 0)
        self._res = ctypes.c_void_p()
        self._check(self._cu.cuGraphicsGLRegisterBuffer(ctypes.byref(self._res), self.pbo,
                                                        CU_GRAPHICS_REGISTER_FLAGS_WRITE_DISCARD),
                    "cuGraphicsGLRegisterBuffer")

    def _check(self, status: int, what: str) -> None:
        if status != 0:
            raise RuntimeError(f"{what} failed with CUDA error {status}")

    def write(self, device_array) -> None:
        """Copy a C-contiguous CuPy array of exactly ``nbytes`` into the buffer (GPU to GPU)."""
        import cupy

        a = cupy.ascontiguousarray(device_array)
        if a.nbytes != self.nbytes:
            raise ValueError(f"frame is {a.nbytes} bytes, buffer {self.nbytes}")
        stream = cupy.cuda.get_current_stream()
        sp = ctypes.c_void_p(stream.ptr)
        self._check(self._cu.cuGraphicsMapResources(1, ctypes.byref(self._res), sp), "cuGraphicsMapResources")
        try:
            ptr, size = ctypes.c_uint64(), ctypes.c_size_t()
            self._check(self._cu.cuGraphicsResourceGetMappedPointer_v2(ctypes.byref(ptr), ctypes.byref(size),
                                                                       self._res),
                        "cuGraphicsResourceGetMappedPointer")
            if size.value < self.nbytes:
                raise RuntimeError(f"mapped buffer is {size.value} bytes, need {self.nbytes}")
            cupy.cuda.runtime.memcpyAsync(ptr.value, a.data.ptr, self.nbytes, CUDA_MEMCPY_DEVICE_TO_DEVICE,
                                          stream.ptr)
        finally:
            self._check(self._cu.cuGraphicsUnmapResources(1, ctypes.byref(self._res), sp),
                        "cuGraphicsUnmapResources")

    def close(self) -> None:
        if self._res:
            self._cu.cuGraphicsUnregisterResource(self._res)
            self._res = ctypes.c_void_p()
        if self.pbo:
            GL.glDeleteBuffers(1, [self.pbo])
            self.pbo = 0


class GpuUploader:
    """Uploads CuPy sRGB8 frames (H, W, 3) into a :class:`~deocused.window.gl.Texture` via CUDA-GL interop."""

    def __init__(self):
        self._buf: CudaGLPixelBuffer | None = None

    def upload(self, texture, frame_srgb8_device) -> None:
        h, w = frame_srgb8_device.shape[:2]
        nbytes = h * w * 3
        if self._buf is None or self._buf.nbytes != nbytes:
            if self._buf is not None:
                self._buf.close()
            self._buf = CudaGLPixelBuffer(nbytes)
        texture.allocate(w, h, GL.GL_RGB8)
        self._buf.write(frame_srgb8_device)
        texture.upload_from_pbo(self._buf.pbo)

    def close(self) -> None:
        if self._buf is not None:
            self._buf.close()
            self._buf = None


def make_gpu_uploader() -> GpuUploader:
    """The interop uploader; call only on the GPU path (CuPy renderer)."""
    return GpuUploader()


def try_gpu_uploader() -> GpuUploader | None:
    """:func:`make_gpu_uploader`, or None (host upload) when interop is not available."""
    import logging

    try:
        return make_gpu_uploader()
    except Exception as e:  # no libcuda, or a GL driver without interop
        logging.getLogger("deocused").info("CUDA-OpenGL interop unavailable (%s); uploading frames through "
                                           "host memory", e)
        return None
