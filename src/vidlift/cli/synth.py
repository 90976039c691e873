"""``vidlift synth``: write one task of the procedural video-text benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..synthetic.scenarios import TASKS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "synth",
        help="generate the procedural video-text benchmark (videos + public-format annotations)",
        description="Write procedural videos (coloured, textured shapes that move, turn, grow, appear, "
        "change colour ...) as H.264 MP4 files with annotations in the public formats of the task: "
        "Kinetics CSV and SSv2 JSON (recognition), MSR-VTT JSON (retrieval, captioning), QVHighlights "
        "JSONL (grounding), NExT-QA CSV and MSRVTT-QA JSON (qa). Same seed, same files.",
    )
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output folder (new or empty)")
    p.add_argument("--num-videos", type=int, default=None, metavar="N",
                   help="videos to write (default 1000; 200 for grounding)")
    p.add_argument("--frames", type=int, default=None, metavar="F",
                   help="frames per video (default 8; 96 for grounding)")
    p.add_argument("--fps", type=float, default=None, help="frame rate (default 8; 4 for grounding)")
    p.add_argument("--size", type=int, default=64, metavar="PX", help="frame side in pixels, even (default 64)")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--workers", type=int, default=2, metavar="W",
                   help="render/encode processes (default 2); the output does not depend on it")
    p.add_argument("--overwrite", action="store_true", help="replace DIR if it holds an earlier generated set")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..synthetic.synth import generate  # av and the renderer only when this command runs

    num_videos = args.num_videos if args.num_videos is not None else (200 if args.task == "grounding" else 1000)
    generate(args.task, args.out, num_videos=num_videos, num_frames=args.frames, size=args.size, seed=args.seed,
             workers=args.workers, fps=args.fps, overwrite=args.overwrite, progress=not args.no_progress, log=print)
    return 0
