"""``vidlift demo``: the main job on the synthetic world (the offline default) (what ``make demo`` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="zero-shot and linear probe of the tiny ILFM on the procedural video benchmark",
        description="Generate the procedural recognition benchmark (or reuse it), then report zero-shot "
        "and linear-probe (frozen, mean-pooled) accuracy on its appearance and motion label sets; "
        "prints a table and writes results.json and results.png to --out. Runs offline in minutes.",
    )
    p.add_argument("--out", type=Path, default=Path("demo_out"), metavar="DIR", help="default: demo_out")
    p.add_argument("--backbone", default="tiny", metavar="SPEC", help="default: tiny (the project's pretrained ILFM)")
    p.add_argument("--num-videos", type=int, default=2000, metavar="N", help="benchmark size (default 2000)")
    p.add_argument("--frames", type=int, default=8, metavar="F", help="frames per clip (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="processes for generation and decoding (default 2)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(run=run, extras=("demo",))  # matplotlib for results.png (vidlift.extras)


def run(args: argparse.Namespace) -> int:
    from ..synthetic.demo import format_table, run_demo

    result = run_demo(args.out, args.backbone, args.num_videos, args.frames, args.seed, args.workers,
                      progress=not args.no_progress)
    print(f"\nbackbone {result.backbone} ({result.identity}); {result.num_train} train / {result.num_test} test clips")
    print(format_table(result))
    print(f"\ntimes: {result.seconds}")
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.png'}")
    return 0
