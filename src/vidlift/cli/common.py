"""Arguments shared by several commands."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..data.video import FrameSampler

# Heavy imports (torch, decoders) happen in the commands' run(), so `vidlift --help` and
# worker processes that only parse arguments stay fast.
DTYPE_NAMES = ("float32", "bfloat16", "float16")


def torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def resolve_device(name: str) -> str:
    """``auto`` -> cuda when available, else cpu; a CUDA device that is not there is an error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ValueError(f"--device {name!r}: {e}") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: this torch build or machine has no CUDA device")
    return name


def check_backend(name: str) -> None:
    """Fail before any work when the decoding backend cannot load."""
    from ..data.video import get_backend

    try:
        get_backend(name)
    except ImportError as e:  # BackendUnavailableError: says which package to install
        raise ValueError(str(e)) from e


def add_backbone_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", required=True, metavar="SPEC",
                   help="hf:<dir or hub id> | openclip:<arch>:<file or hub id> | openai:<file> | random:<arch>")


def add_video_args(p: argparse.ArgumentParser, default_frames: int = 8) -> None:
    p.add_argument("--videos", required=True, metavar="PATH",
                   help="a folder (searched recursively) or a list file with one video path per line")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--frames", type=int, default=None, metavar="N",
                   help=f"N frames per video, one from the centre of each of N equal segments "
                        f"(default {default_frames})")
    g.add_argument("--fps", type=float, default=None, metavar="F",
                   help="frames at a fixed rate of F per second instead")
    p.add_argument("--max-frames", type=int, default=None,
                   help="with --fps: keep at most the first M frames of each video "
                        "(the rest of a long video is dropped)")
    p.add_argument("--batch-size", type=int, default=4, metavar="B", help="clips per forward pass (default 4)")
    p.add_argument("--workers", type=int, default=0, help="decoding worker processes (default 0: in the main process)")
    p.add_argument("--backend", default="pyav", choices=("pyav", "opencv", "decord", "torchcodec"),
                   help="video decoding backend (default pyav; the others need their package installed)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    p.add_argument("--dtype", choices=DTYPE_NAMES, default="float32", help="compute precision (autocast)")
    p.set_defaults(default_frames=default_frames)


def make_sampler(args: argparse.Namespace) -> FrameSampler:
    from ..data.video import FpsSampler, SegmentSampler

    if args.fps is not None:
        if args.fps <= 0:
            raise ValueError("--fps must be positive")
        return FpsSampler(args.fps, max_frames=args.max_frames)
    if args.max_frames is not None:
        raise ValueError("--max-frames applies to --fps sampling only")
    frames = args.frames if args.frames is not None else args.default_frames
    if frames < 1:
        raise ValueError("--frames must be at least 1")
    return SegmentSampler(frames, mode="test")
