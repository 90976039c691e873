"""Write small test videos whose frames carry their own index, and read the index back.

Frame ``i`` shows ``i`` in binary as 8 vertical black/white bars over the top half (most
significant bit on the left), a red patch bottom-left and a blue patch bottom-right (to
catch BGR/RGB mix-ups). Bars are 8-pixel aligned so chroma subsampling and lossy codecs
keep them readable.
"""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

RED = (220, 30, 30)
BLUE = (30, 30, 220)
NUM_BITS = 8


def pattern_frame(index: int, width: int = 64, height: int = 48) -> np.ndarray:
    """RGB uint8 (height, width, 3) frame encoding ``index`` (0 <= index < 256)."""
    if not 0 <= index < 2**NUM_BITS:
        raise ValueError(f"index {index} does not fit in {NUM_BITS} bits")
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    bar = width // NUM_BITS
    for k in range(NUM_BITS):
        if index >> (NUM_BITS - 1 - k) & 1:
            frame[: height // 2, k * bar : (k + 1) * bar] = 255
    frame[height // 2 :, : width // 2] = RED
    frame[height // 2 :, width // 2 :] = BLUE
    return frame


def read_index(frame) -> int:
    """Index encoded in an RGB (H, W, 3) frame (numpy array or torch tensor)."""
    frame = np.asarray(frame)
    height, width = frame.shape[:2]
    bar = width // NUM_BITS
    value = 0
    for k in range(NUM_BITS):
        # Centre of the bar only: edges blur under compression.
        patch = frame[height // 8 : 3 * height // 8, k * bar + bar // 4 : (k + 1) * bar - bar // 4]
        value = value << 1 | int(patch.mean() > 127)
    return value


def read_indices(frames) -> list[int]:
    """Indices encoded in frames (T, H, W, 3)."""
    return [read_index(f) for f in np.asarray(frames)]


def write_video(
    path: str | os.PathLike,
    num_frames: int = 48,
    *,
    width: int = 64,
    height: int = 48,
    fps: int = 25,
    codec: str = "libx264",
    gop: int = 12,
    bframes: int = 0,
    start_pts: int = 0,
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> str:
    """Write ``num_frames`` pattern frames; the container follows the file extension.

    Args:
        gop: keyframe interval in frames (large values make seeking matter).
        bframes: max consecutive B-frames (reordered frames make pts != decode order).
        start_pts: presentation timestamp of the first frame, in frames (tests streams
            that do not start at 0).
        options, container_options: FFmpeg options for the encoder / the muxer
            (e.g. ``{"movflags": "faststart"}`` puts the MP4 index first).
    """
    path = os.fspath(path)
    opts = dict(options or {})
    if codec == "libx264":
        # No scene-cut keyframes: keyframes exactly every `gop` frames.
        opts.setdefault("x264-params", f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes={bframes}")
        opts.setdefault("preset", "ultrafast" if bframes == 0 else "veryfast")
    with av.open(path, mode="w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps, options=opts)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = gop
        stream.codec_context.max_b_frames = bframes
        stream.codec_context.time_base = Fraction(1, fps)
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(pattern_frame(i, width, height), format="rgb24")
            frame.pts = start_pts + i
            frame.time_base = Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def write_audio(path: str | os.PathLike, seconds: float = 0.5, rate: int = 16000) -> str:
    """Write an audio-only file (AAC sine tone) to check that it is refused as video."""
    path = os.fspath(path)
    with av.open(path, mode="w") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        t = np.arange(int(seconds * rate)) / rate
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = rate
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path
