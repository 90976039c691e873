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
                   help="hyper-parameter override for --strategy, the syntax of `vidlift fit` overrides: VALUE "
                   "read as YAML (--set r=16, --set 'targets=[attn_q, attn_v]'); KEY is a field of the chosen "
                   "strategies or STRATEGY.FIELD for one of a composition")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def _parse_overrides(items: list[str]) -> dict:
    """--set items -> {key: value}, parsed as ``vidlift fit`` overrides are (engine.config)."""
    from ..engine.config import parse_override

    return dict(parse_override(item, source="--set") for item in items)


def _fields(name: str) -> list[str]:
    """The strategy's hyper-parameters (dataclass fields; not its ClassVars such as ``name``)."""
    import dataclasses

    from ..transfer import STRATEGIES

    return [f.name for f in dataclasses.fields(STRATEGIES[name])]


def _describe(names: list[str]) -> str:
    return "; ".join(f"{n} takes {', '.join(_fields(n)) or 'no hyper-parameters'}" for n in names)


def split_overrides(names: list[str], overrides: dict) -> dict[str, dict]:
    """--set KEY=VALUE pairs -> {strategy: {field: value}}. KEY is ``field`` (every selected
    strategy with that field) or ``strategy.field`` (that one only). A key that no selected
    strategy takes is a ValueError naming the strategies and their fields."""
    per: dict[str, dict] = {n: {} for n in names}
    for key, value in overrides.items():
        owner, dot, field = key.rpartition(".")
        if dot and owner not in per:
            raise ValueError(f"--set {key}: {owner!r} is not among the chosen strategies ({', '.join(names)})")
        targets = [owner] if dot else names
        hit = [n for n in targets if field in _fields(n)]
        if not hit:
            which = targets[0] if len(targets) == 1 else "none of " + ", ".join(targets)
            raise ValueError(f"--set {key}: {which} has no hyper-parameter {field!r} ({_describe(targets)})")
        for n in hit:
            per[n][field] = value
    return per


def run(args: argparse.Namespace) -> int:
    import copy
    import dataclasses

    from ..backbones import BackboneCapabilityError
    from ..transfer import STRATEGIES, TransferCompositionError, TransferModel
    from ..transfer.registry import get_strategy

    if args.strategy:
        unknown = [n for n in args.strategy if n not in STRATEGIES]
        if unknown:
            raise ValueError(f"unknown transfer strategy {unknown[0]!r}; known: {', '.join(sorted(STRATEGIES))}")
    names = args.strategy or sorted(STRATEGIES, key=lambda n: (STRATEGIES[n]().root, STRATEGIES[n].family, n))
    overrides = _parse_overrides(args.set)
    if overrides and not args.strategy:
        raise ValueError("--set needs --strategy")
    per = split_overrides(names, overrides)
    strategies = [get_strategy(n, **per[n]) for n in names]
    rows = [{"name": s.name, "root": s.root, "family": s.family, "paper": s.paper, "defaults": s.hyperparameters()}
            for s in strategies]
    if args.backbone:
        from ..backbones import load_backbone

        backbone = load_backbone(args.backbone)  # loaded once; strategies change a backbone in place
        if args.strategy and len(strategies) > 1:  # one composed model
            model = TransferModel(backbone, strategies, num_frames=args.frames)
            rep = model.parameter_report()
            for r in rows:
                r["trainable"] = sum(i.parameters for i in rep.insertions if i.strategy == r["name"])
            if args.json:
                out = {"strategies": rows, "trainable": rep.trainable, "total": rep.total,
                       "trainable_percent": round(rep.trainable_percent, 3),
                       "insertions": [vars(i) for i in rep.insertions]}
                print(json.dumps(out, indent=2))
            else:
                print(rep.table())
            return 0
        for i, (r, s) in enumerate(zip(rows, strategies)):
            # Every model needs a backbone of its own: a copy of the loaded one (the last uses it).
            own = backbone if i == len(rows) - 1 else dataclasses.replace(backbone, model=copy.deepcopy(backbone.model))
            try:
                model = TransferModel(own, [s], num_frames=args.frames)
            except (BackboneCapabilityError, TransferCompositionError) as e:
                # A refusal is an answer about this backbone, not a failure of the listing.
                r.update(trainable=None, total=None, trainable_percent=None, refused=str(e))
                continue
            rep = model.parameter_report()
            r.update(trainable=rep.trainable, total=rep.total, trainable_percent=round(rep.trainable_percent, 3))
            if args.strategy and not args.json:
                print(rep.table())
            del model, own
        del backbone
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from ..table import render_table

    cols = ["name", "root", "family", "paper"] + (["trainable", "total", "%"] if args.backbone else [])
    def counts(r: dict) -> list[str]:
        if r.get("refused"):
            return ["refused", "", ""]
        return [f"{r['trainable']:,}", f"{r['total']:,}", f"{r['trainable_percent']:.2f}"]

    table = [[r["name"], r["root"], r["family"], r["paper"]] + (counts(r) if args.backbone else []) for r in rows]
    print(render_table(cols, table, align="<<<<" + (">>>" if args.backbone else "")))
    for r in rows:
        if r.get("refused"):
            print(f"\n{r['name']} refused: {r['refused']}")
    if not args.backbone:
        print("\ndefaults:")
        for r in rows:
            print(f"  {r['name']}: " + ", ".join(f"{k}={v!r}" for k, v in r["defaults"].items()))
    return 0
