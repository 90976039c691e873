"""``vidlift fit | validate | test | predict``: run a config through the training engine."""

from __future__ import annotations

import argparse
import json


def _common(p: argparse.ArgumentParser, needs_ckpt: bool) -> None:
    p.add_argument("--config", required=True, metavar="YAML", help="run config (see configs/)")
    p.add_argument("--ckpt_path", "--ckpt-path", dest="ckpt_path", metavar="PATH",
                   help=("resume from this checkpoint ('last' = the run folder's last.ckpt)" if not needs_ckpt
                         else "checkpoint with the trained weights "
                              "(omit to evaluate the untrained model, e.g. zero-shot)"))
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config (defaults, file, overrides) as YAML and exit")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config overrides (values read as YAML), e.g. trainer.max_epochs=5 transfer.0.r=16 "
                   "task.head=linear trainer.val_check_interval=0.5; the trainer section takes any "
                   "lightning.Trainer argument")
    p.set_defaults(extras=("train",))  # lightning, tensorboard (vidlift.extras)


def add_parser(sub) -> None:
    p = sub.add_parser("fit", help="train a backbone × transfer × task config",
                       description="Train, validating every epoch; checkpoints, the trained delta, logs and "
                       "metrics.json go to the config's out folder. Resume with --ckpt_path last.")
    _common(p, needs_ckpt=False)
    p.set_defaults(run=run_fit)
    for name, split in (("validate", "val"), ("test", "test")):
        p = sub.add_parser(name, help=f"evaluate a config on its {split} split",
                           description=f"Evaluate on the {split} split and write metrics.json (metrics, parameters, "
                           "GFLOPs per clip, peak memory, clips/s).")
        _common(p, needs_ckpt=True)
        p.set_defaults(run=run_eval, split=split)
    p = sub.add_parser("predict", help="write predictions for a config's predict split",
                       description="One JSON line per item of the predict split (falls back to test): top-5 "
                                   "classes (recognition), best captions (retrieval), the chosen answer (qa), the "
                                   "generated caption (captioning), or a QVHighlights submission line (grounding).")
    _common(p, needs_ckpt=True)
    p.add_argument("--output", metavar="JSONL", help="default: <out>/predictions.jsonl")
    p.set_defaults(run=run_predict)


def _config(args):
    from ..engine.config import load_config

    return load_config(args.config, args.overrides)


def _print_config(args) -> bool:
    """--print-config: print the resolved config; True when the command should stop there."""
    if not args.print_config:
        return False
    from ..engine.config import dump_config

    print(dump_config(_config(args)), end="")
    return True


_SHOWN = 16  # metrics printed in a run's summary line


def _summary(record: dict) -> None:
    if not record:  # a non-zero rank of a distributed run: rank 0 reports
        return
    from ..tasks.registry import TASKS

    values = {k: v for k, v in record["metrics"].items() if v == v}  # NaN (an empty bucket) left out
    task = TASKS.get(record["task"])
    first = [k for k in getattr(task, "headline_metrics", ()) if k in values]
    shown = (first or list(values))[:_SHOWN]
    metrics = ", ".join(f"{k} {values[k]:.4g}" for k in shown)
    if len(values) > len(shown):  # grounding reports over a hundred: the rest are in metrics.json
        metrics += f", … ({len(values) - len(shown)} more in metrics.json)"
    p = record["parameters"]
    print(f"{record['command']} {record['task']} ({'+'.join(record['transfer']) or 'frozen backbone'}): "
          f"{metrics or 'no metrics'}")
    print(f"parameters {p['trainable']:,} trainable / {p['total']:,} ({p['trainable_percent']}%), "
          f"{record['gflops_per_clip']} GFLOPs per clip, peak memory {record['peak_memory_mib']} MiB, "
          f"clips/s {json.dumps(record['clips_per_second'])}")


def run_fit(args: argparse.Namespace) -> int:
    if _print_config(args):
        return 0
    from ..engine import fit

    cfg = _config(args)
    record = fit(cfg, args.ckpt_path)
    _summary(record)
    if record:
        print(f"run folder: {cfg['out']} (metrics.json, checkpoints/, delta.safetensors)")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    if _print_config(args):
        return 0
    from ..engine import evaluate

    cfg = _config(args)
    record = evaluate(cfg, args.split, args.ckpt_path)
    _summary(record)
    if record:
        print(f"wrote {cfg['out']}/metrics.json")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    if _print_config(args):
        return 0
    from ..engine import predict

    path = predict(_config(args), args.ckpt_path, args.output)
    print(f"wrote {path}")
    return 0
