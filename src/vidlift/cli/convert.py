"""``vidlift convert``: write any loadable backbone in another public format."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    p = sub.add_parser(
        "convert",
        help="save a backbone as an HF, open_clip or OpenAI-layout checkpoint",
        description="Load SPEC and write it to DIR: 'hf' (config.json + model.safetensors + tokenizer, "
        "loadable by transformers and by hf:DIR), 'openclip' (open_clip_model.safetensors + "
        "open_clip_config.json) or 'openai' (model.pt, a plain state dict in OpenAI's layout).",
    )
    p.add_argument("--backbone", required=True, metavar="SPEC")
    p.add_argument("--to", choices=("hf", "openclip", "openai"), default="hf")
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..backbones import count_parameters, load_backbone, save_backbone

    backbone = load_backbone(args.backbone)
    out = save_backbone(backbone.model, args.out, args.to, tokenizer=backbone.tokenizer)
    n = count_parameters(backbone.model)
    print(f"wrote {args.to} checkpoint of {args.backbone} ({n / 1e6:.1f}M parameters) to {out}")
    return 0
