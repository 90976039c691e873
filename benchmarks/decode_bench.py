"""Video decoding benchmark: time to decode 8 / 16 uniformly sampled frames of a clip.

Compares every installed backend (PyAV, OpenCV, decord, torchcodec) and, for the backends
that take one, the decoding strategy (sequential / seek / auto). Frames are chosen by
``SegmentSampler(n, mode="test")``, as for evaluating a recognition model. Each timing
covers the whole ``decode`` call (open, seek/decode, RGB conversion); the median of
``--repeats`` runs is reported after one warm-up run.

    python benchmarks/decode_bench.py                 # generates a 10 s 398x224 h264 clip
    python benchmarks/decode_bench.py --gop 250       # x264's default (one keyframe per 10 s)
    python benchmarks/decode_bench.py --video my.mp4  # any file
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from fractions import Fraction

import av
import numpy as np

from vidlift.data.video import SegmentSampler, available_backends, decode, get_backend, probe


def write_clip(path: str, seconds: float, width: int, height: int, fps: int, gop: int) -> str:
    """Write a synthetic h264 clip with camera-like content (a textured scene panning
    under moving gradients, a moving object, sensor noise), so bitrate and decode cost
    resemble real footage. Keyframes exactly every ``gop`` frames (no scene-cut ones)."""
    rng = np.random.default_rng(0)
    texture = rng.uniform(0, 255, (2 * height, 2 * width, 3)).astype(np.float32)
    # Blur the noise into blobs a few pixels wide: detail a codec must actually code.
    for axis in (0, 1):
        texture = sum(np.roll(texture, k, axis) for k in range(-2, 3)) / 5
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    x264 = f"keyint={gop}:min-keyint={gop}:scenecut=0"
    with av.open(path, mode="w") as container:
        options = {"preset": "medium", "crf": "23", "x264-params": x264}
        stream = container.add_stream("libx264", rate=fps, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for i in range(round(seconds * fps)):
            t = i / fps
            dx, dy = int(40 * t) % width, int(15 * t) % height
            img = 0.6 * texture[dy : dy + height, dx : dx + width]
            img += 50 * np.sin(xx / 23 + 2.0 * t)[..., None] + 40 * np.cos((xx + yy) / 41 + 0.7 * t)[..., None]
            cx, cy = int((0.5 + 0.4 * np.sin(t)) * width), int((0.5 + 0.4 * np.cos(1.3 * t)) * height)
            img[max(cy - 30, 0) : cy + 30, max(cx - 40, 0) : cx + 40] = (240, 200, 30)
            img += rng.normal(0, 4, img.shape)
            frame = av.VideoFrame.from_ndarray(np.clip(img + 40, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def keyframe_interval(path: str) -> float:
    with av.open(path) as container:
        stream = container.streams.video[0]
        keys = sum(1 for p in container.demux(stream) if p.is_keyframe)
    return probe(path).num_frames / max(keys, 1)


def time_configs(path, configs, repeats) -> dict:
    """(median, min) seconds per (backend, strategy, frame count) config.

    Configs are timed round-robin (one run of each, ``repeats`` times) so that load from
    other processes on a shared machine spreads over all of them instead of skewing one.
    """
    times = {key: [] for key in configs}
    for backend, strategy, indices in configs.values():  # warm-up: page cache, imports
        assert decode(path, indices, backend=backend, strategy=strategy).shape[0] == len(indices)
    for _ in range(repeats):
        for key, (backend, strategy, indices) in configs.items():
            start = time.perf_counter()
            decode(path, indices, backend=backend, strategy=strategy)
            times[key].append(time.perf_counter() - start)
    return {key: (statistics.median(t), min(t)) for key, t in times.items()}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", help="benchmark this file instead of a generated clip")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--size", default="398x224", help="WxH of the generated clip")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--gop", type=int, default=50, help="keyframe interval of the generated clip")
    parser.add_argument("--frames", default="8,16", help="comma-separated frame counts")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--backends", default=None, help="comma-separated; default: all installed")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.video
        if path is None:
            width, height = (int(v) for v in args.size.split("x"))
            path = write_clip(os.path.join(tmp, "bench.mp4"), args.seconds, width, height, args.fps, args.gop)
        info = probe(path)
        backends = args.backends.split(",") if args.backends else available_backends()
        print(
            f"- video: {os.path.basename(path) if args.video else 'generated'}, {info.width}x{info.height}, "
            f"{info.codec}, {info.num_frames} frames at {info.fps:g} fps ({info.duration:.1f} s), "
            f"keyframe every {keyframe_interval(path):.0f} frames, {os.path.getsize(path) / 1e6:.2f} MB"
        )
        print(
            f"- machine: {os.cpu_count()} CPUs, {cpu_model()}; PyAV {av.__version__} (FFmpeg "
            f"{av.ffmpeg_version_info}), backends: {', '.join(backends)}"
        )
        print(
            f"- median of {args.repeats} runs after 1 warm-up, configurations interleaved; each run is one "
            f"`decode` call (open included); auto seek_threshold: backend default; load average "
            f"{os.getloadavg()[0]:.2f} at start\n"
        )
        print(
            "| backend | strategy | "
            + " | ".join(f"{n} frames: median (min) ms" for n in args.frames.split(","))
            + " |"
        )
        print("|---|---|" + "---:|" * len(args.frames.split(",")))
        counts = [int(n) for n in args.frames.split(",")]
        rows = [
            (backend, strategy)
            for backend in backends
            for strategy in (["sequential", "seek", "auto"] if get_backend(backend).supports_strategy else ["auto"])
        ]
        configs = {
            (backend, strategy, n): (backend, strategy, SegmentSampler(n, mode="test")(info).indices)
            for backend, strategy in rows
            for n in counts
        }
        medians = time_configs(path, configs, args.repeats)
        for backend, strategy in rows:
            cells = ["{:.1f} ({:.1f})".format(*(1000 * t for t in medians[backend, strategy, n])) for n in counts]
            print(f"| {backend} | {strategy} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
