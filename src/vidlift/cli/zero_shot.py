"""``vidlift zero-shot``: rank text labels for each video with an image-language model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..tasks.recognition.prompts import DEFAULT_TEMPLATES
from .common import add_backbone_arg, add_video_args, check_backend, make_sampler, resolve_device, torch_dtype


def add_parser(sub) -> None:
    p = sub.add_parser(
        "zero-shot",
        help="zero-shot classification of videos against text labels",
        description="Average the frame embeddings of each video and rank the labels by similarity to "
        "their prompt-ensembled text embeddings. Prints a table; --json writes all scores.",
    )
    add_backbone_arg(p)
    add_video_args(p)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--labels", help='comma-separated labels, e.g. "riding a bike,walking a dog"')
    g.add_argument("--labels-file", type=Path, help="a text file with one label per line")
    p.add_argument("--templates", nargs="+", default=list(DEFAULT_TEMPLATES),
                   help="prompt templates, each with one {} for the label (default: %(default)s)")
    p.add_argument("--top-k", type=int, default=3, help="labels shown per video in the table")
    p.add_argument("--json", type=Path, metavar="OUT", help="write predictions (all scores) as JSON here")
    p.set_defaults(run=run)


def read_labels(args: argparse.Namespace) -> list[str]:
    if args.labels is not None:
        labels = [s.strip() for s in args.labels.split(",") if s.strip()]
        source = "--labels"
    else:
        if not args.labels_file.is_file():
            raise FileNotFoundError(f"{args.labels_file}: no such labels file")
        labels = [s.strip() for s in args.labels_file.read_text(encoding="utf-8").splitlines()]
        labels = [s for s in labels if s and not s.startswith("#")]
        source = str(args.labels_file)
    if not labels:
        raise ValueError(f"{source}: no labels given")
    dupes = sorted({x for x in labels if labels.count(x) > 1})
    if dupes:
        raise ValueError(f"{source}: duplicate labels {dupes}")
    return labels


def run(args: argparse.Namespace) -> int:
    import torch

    from ..backbones import load_backbone
    from ..data.clips import VideoClips
    from ..data.sources import list_videos
    from ..features.runner import iter_clip_features
    from ..tasks.recognition.zero_shot import class_text_embeddings, zero_shot_probabilities

    labels = read_labels(args)
    sampler = make_sampler(args)
    check_backend(args.backend)
    device = resolve_device(args.device)
    items = list_videos(args.videos)
    backbone = load_backbone(args.backbone)
    model = backbone.model.to(device).eval()
    classes = class_text_embeddings(model, backbone.tokenizer, labels, args.templates)
    dataset = VideoClips(items, sampler, backbone.preprocess, backend=args.backend)
    predictions, failed = [], []
    width = max(len(i.video_id) for i in items)
    print(f"{'video':<{width}}  top-{args.top_k} labels (probability)")
    for r in iter_clip_features(model, dataset, args.batch_size, (), args.workers, device, torch_dtype(args.dtype)):
        if r.error is not None:
            failed.append({"video_id": r.item.video_id, "path": str(r.item.path), "error": r.error})
            print(f"{r.item.video_id:<{width}}  FAILED: {r.error}")
            continue
        probs = zero_shot_probabilities(model, r.embeds[None], classes)[0].cpu()
        order = torch.argsort(probs, descending=True).tolist()
        top = [{"label": labels[k], "score": round(float(probs[k]), 6)} for k in order]
        predictions.append({"video_id": r.item.video_id, "path": str(r.item.path), "prediction": labels[order[0]],
                            "top": top, "frames": int(r.embeds.shape[0])})
        shown = ", ".join(f"{t['label']} ({t['score']:.3f})" for t in top[: args.top_k])
        print(f"{r.item.video_id:<{width}}  {shown}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        result = {"backbone": backbone.meta.spec, "identity": backbone.meta.identity, "labels": labels,
                  "templates": args.templates, "sampling": repr(sampler),
                  "scores": model.score_activation,
                  "predictions": predictions, "failed": failed}
        args.json.write_text(json.dumps(result, indent=2))
        print(f"predictions written to {args.json}")
    if failed:
        print(f"{len(failed)} of {len(items)} videos failed and were skipped")
    return 0
