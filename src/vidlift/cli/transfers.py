"""``vidlift transfers``: every transfer strategy with its root, family, paper and defaults;
with ``--backbone``, the trainable and total parameters of each on that backbone."""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    p = sub.add_parser(
        "transfers",
        help="list the transfer strategies (root, family, paper, defaults, parameter counts)",
        description="List every transfer strategy of the survey's taxonomy. With --backbone, build each "
        "strategy on that backbone (random:ViT-B-16 for the published counts) and add its trainable "
        "and total parameters; with --strategy, print one strategy's declarations in detail.",
    )
    p.add_argument("--backbone", metavar="SPEC", help="count parameters on this backbone (e.g. random:ViT-B-16)")
    p.add_argument("--frames", type=int, default=8, help="frames per clip the temporal modules are built for")
    p.add_argument("--strategy", metavar="NAME", action="append",
                   help="only these strategies (repeat to compose several into one model)")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="hyper-parameter override for --strategy, VALUE parsed as JSON (e.g. --set r=16)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def _parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run(args: argparse.Namespace) -> int:
    from ..transfer import STRATEGIES, TransferModel
    from ..transfer.registry import get_strategy

    names = args.strategy or sorted(STRATEGIES, key=lambda n: (STRATEGIES[n]().root, STRATEGIES[n].family, n))
    overrides = _parse_overrides(args.set)
    if overrides and not args.strategy:
        raise ValueError("--set needs --strategy")
    rows = []
    for name in names:
        s = get_strategy(name, **{k: v for k, v in overrides.items() if k in STRATEGIES[name].__dataclass_fields__})
        rows.append({"name": name, "root": s.root, "family": s.family, "paper": s.paper, "defaults": s.hyperparameters()})
    if args.backbone:
        from ..backbones import load_backbone

        backbone = load_backbone(args.backbone)
        if args.strategy and len(args.strategy) > 1:
            model = TransferModel(backbone, [get_strategy(r["name"], **{k: v for k, v in overrides.items()
                                                                         if k in STRATEGIES[r["name"]].__dataclass_fields__})
                                             for r in rows], num_frames=args.frames)
            print(model.parameter_report().table())
            return 0
        for r in rows:
            fresh = load_backbone(args.backbone)
            model = TransferModel(fresh, [get_strategy(r["name"], **(overrides if args.strategy else {}))], num_frames=args.frames)
            rep = model.parameter_report()
            r.update(trainable=rep.trainable, total=rep.total, trainable_percent=round(rep.trainable_percent, 3))
            if args.strategy:
                print(rep.table())
        del backbone
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    cols = ["name", "root", "family", "paper"] + (["trainable", "total", "%"] if args.backbone else [])
    table = [cols] + [[r["name"], r["root"], r["family"], r["paper"]] +
                      ([f"{r['trainable']:,}", f"{r['total']:,}", f"{r['trainable_percent']:.2f}"] if args.backbone else [])
                      for r in rows]
    widths = [max(len(row[c]) for row in table) for c in range(len(cols))]
    for i, row in enumerate(table):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    if not args.backbone:
        print("\ndefaults:")
        for r in rows:
            print(f"  {r['name']}: " + ", ".join(f"{k}={v!r}" for k, v in r["defaults"].items()))
    return 0
