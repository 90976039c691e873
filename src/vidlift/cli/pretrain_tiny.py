"""``vidlift pretrain-tiny``: pretrain the project's tiny ILFM on captioned stills, or evaluate one."""

from __future__ import annotations

import argparse
import json

from ..synthetic.recipe import DEFAULT_EVAL_IMAGES, HELDOUT_SEED, Recipe


def add_parser(sub) -> None:
    default = Recipe()
    p = sub.add_parser(
        "pretrain-tiny",
        help="pretrain the tiny ILFM (a small CLIP) on generated still images with captions",
        description="Train the `tiny-ilfm` CLIP from scratch with a contrastive image-text loss on "
        "procedurally generated stills with captions (appearance only), write it as an HF-format "
        "directory to --out and print its zero-shot accuracy on held-out stills. The defaults are the "
        "recipe of the shipped `tiny` backbone (about 90 minutes on 2 CPU cores). With --eval-only, "
        "evaluate a backbone instead of training.",
    )
    p.add_argument("--out", default="tiny_ilfm", metavar="DIR", help="checkpoint directory (default: %(default)s)")
    p.add_argument("--steps", type=int, default=default.steps, metavar="N",
                   help="optimizer steps (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=default.batch_size, metavar="B",
                   help="image-caption pairs per step (default: %(default)s)")
    p.add_argument("--seed", type=int, default=default.seed, metavar="S",
                   help="seed of the initialisation, the training stills and their order (default: %(default)s)")
    p.add_argument("--pool-size", type=int, default=default.pool_size, metavar="N",
                   help="training stills rendered once before training (default: %(default)s)")
    p.add_argument("--workers", type=int, default=default.workers, metavar="W",
                   help="processes rendering the stills (default: %(default)s; results do not depend on it)")
    p.add_argument("--eval-images", type=int, default=DEFAULT_EVAL_IMAGES, metavar="N",
                   help=f"held-out stills for the zero-shot evaluation (seed {HELDOUT_SEED}; default: %(default)s)")
    p.add_argument("--eval-only", metavar="SPEC", help="only evaluate this backbone (e.g. tiny, hf:DIR); no training")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..synthetic.pretrain import format_eval, pretrain, zero_shot_eval

    if args.eval_only:
        from ..backbones import load_backbone

        backbone = load_backbone(args.eval_only)
        ev = zero_shot_eval(backbone.model, backbone.tokenizer, backbone.preprocess, args.eval_images)
        print(f"{args.eval_only} ({backbone.meta.identity}): {format_eval(ev)}")
        return 0
    for name in ("steps", "batch_size", "pool_size", "eval_images"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
    recipe = Recipe(steps=args.steps, batch_size=args.batch_size, seed=args.seed, pool_size=args.pool_size,
                    workers=args.workers)
    record = pretrain(recipe, args.out, progress=not args.no_progress, eval_images=args.eval_images)
    p = record["parameters"]
    print(f"tiny ILFM: {p['total'] / 1e6:.2f}M parameters (image tower {p['image_tower'] / 1e6:.2f}M, "
          f"text tower {p['text_tower'] / 1e6:.2f}M), final loss {record['final_loss']:.3f}")
    print(format_eval(record["eval"]))
    w = record["wall_time_s"]
    print(f"wall time {w['total']:.0f} s (stills {w['data']:.0f} s, training {w['train']:.0f} s, "
          f"evaluation {w['eval']:.0f} s)")
    print(f"checkpoint written to {args.out} (load it with --backbone hf:{args.out}); record: "
          f"{json.dumps(str(args.out) + '/training.json')}")
    return 0
