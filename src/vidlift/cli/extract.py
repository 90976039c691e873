"""``vidlift extract``: frozen per-frame features (and optional layer tokens) for many videos."""

from __future__ import annotations

import argparse

from .common import (
    DTYPE_NAMES,
    add_backbone_arg,
    add_video_args,
    check_backend,
    make_sampler,
    resolve_device,
    torch_dtype,
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "extract",
        help="extract frozen backbone features for a folder or list of videos",
        description="Decode, preprocess and encode every video with a frozen image tower; write one "
        "safetensors file per video plus manifest.jsonl and extraction.json. A bad video is reported "
        "and skipped; rerunning into the same --out skips videos already done.",
    )
    add_backbone_arg(p)
    add_video_args(p)
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--layers", type=int, nargs="*", default=[], metavar="I",
                   help="also save the tokens after these image-tower blocks (negative counts from the end)")
    p.add_argument("--save-dtype", choices=DTYPE_NAMES, default="float32", help="dtype of the saved tensors")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..backbones import load_backbone
    from ..data.sources import list_videos
    from ..features.extract import extract_features

    sampler = make_sampler(args)
    check_backend(args.backend)
    device = resolve_device(args.device)
    items = list_videos(args.videos)
    backbone = load_backbone(args.backbone)
    summary = extract_features(
        backbone, items, args.out, sampler, layers=args.layers, batch_size=args.batch_size,
        workers=args.workers, device=device, compute_dtype=torch_dtype(args.dtype),
        save_dtype=args.save_dtype, backend=args.backend, progress=not args.no_progress,
    )
    print(f"backbone   {backbone.meta.spec}  ({backbone.meta.identity})")
    print(f"sampling   {sampler!r}")
    print(f"videos     {summary.done} written, {summary.skipped} already done, {len(summary.failed)} failed")
    for name, shape in summary.shapes.items():
        print(f"  {name:<11}{tuple(shape)}")
    if summary.done:
        print(f"throughput {summary.frames} frames in {summary.seconds:.2f} s = "
              f"{summary.frames_per_second:.1f} frames/s "
              f"({summary.done / summary.seconds:.2f} videos/s, decode + encode)")
    for vid, reason in summary.failed:
        print(f"failed     {vid}: {reason}")
    print(f"output     {summary.out}")
    return 0
