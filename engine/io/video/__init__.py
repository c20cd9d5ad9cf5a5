"""Video files in and out with PyAV (FFmpeg): the io layer for ``batch``, ``live`` and depth sidecar videos.

* :mod:`.codecs` -- the output codecs (``--video-codec``), their encoders and containers,
  the start-up check of the encoders PyAV's FFmpeg carries.
* :mod:`.reader` -- :func:`probe` (what a file holds) and :class:`VideoReader` (upright RGB
  frames with their presentation timestamps).
* :mod:`.writer` -- :class:`VideoWriter` (encode RGB frames at given timestamps, copy the
  input's audio packets, colour tags and creation time; atomic or fragmented MP4).

Conventions: frames are RGB, upright (the container's display rotation applied); a
timestamp ``pts`` counts ticks of the stream's ``time_base`` (a Fraction of a second).
SDR video (BT.709/BT.601/sRGB transfer) is decoded with the sRGB curve, which the engine
inverts to linear light; PQ and HLG (HDR) sources are refused.
"""

from .codecs import CODECS, check_encoders, codec_for, missing_encoders
from .reader import DamagedVideo, VideoInfo, VideoReader, probe
from .writer import VideoWriter

probe_video = probe  # the name the package's top level exports

__all__ = ["CODECS", "DamagedVideo", "VideoInfo", "VideoReader", "VideoWriter", "check_encoders", "codec_for", "missing_encoders",
           "probe", "probe_video"]
