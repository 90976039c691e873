"""``vidlift evaluate``: score a prediction file against a ground-truth file, for any model."""

from __future__ import annotations

import argparse
import importlib
import json
import math
from collections.abc import Callable
from pathlib import Path

from ..table import render_table

# task -> "module:function" with the signature (predictions, ground_truth) -> {metric: value};
# imported when used, so the command needs no extra and a task's own dependencies load only for it.
EVALUATORS = {
    "grounding": "vidlift.tasks.grounding.evaluate:evaluate_files",
    "qa": "vidlift.tasks.qa.evaluate:evaluate_files",
    "captioning": "vidlift.tasks.captioning.evaluate:evaluate_files",
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score a prediction file (grounding, QA, captioning) against the ground truth",
        description="Score a prediction file from vidlift or any other model against a ground-truth file and "
        "print the metrics; grounding follows the official QVHighlights evaluator "
        "(standalone_eval/eval.py of Moment-DETR). --json writes them as JSON.",
    )
    p.add_argument("--task", required=True, choices=sorted(EVALUATORS), help="which task's metrics")
    p.add_argument("--predictions", required=True, type=Path, metavar="P",
                   help="predictions, e.g. a QVHighlights submission (JSON Lines) for grounding")
    p.add_argument("--ground-truth", required=True, type=Path, metavar="G",
                   help="the ground-truth file, e.g. highlight_val_release.jsonl for grounding")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the metrics as JSON here")
    p.set_defaults(run=run)


def load_evaluator(task: str) -> tuple[Callable, object]:
    """(``evaluate_files`` of ``task``, its module). A task whose evaluator is not there is a
    ``ValueError`` saying so; a third-party package it lacks propagates as ``ModuleNotFoundError``
    (the command turns it into the pip line of the extra)."""
    if task not in EVALUATORS:
        raise ValueError(f"no evaluator for task {task!r}; known: {', '.join(sorted(EVALUATORS))}")
    module_name, func_name = EVALUATORS[task].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is None or not (module_name == e.name or module_name.startswith(e.name + ".")):
            raise
        raise ValueError(f"the {task} evaluator ({module_name}) is not available in this vidlift: {e}") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ValueError(f"the {task} evaluator module {module_name} has no function {func_name}()")
    return func, module


def _json_value(v: float) -> float | None:
    return None if isinstance(v, float) and math.isnan(v) else v


def run(args: argparse.Namespace) -> int:
    for what, path in (("predictions", args.predictions), ("ground truth", args.ground_truth)):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such {what} file")
    evaluate, module = load_evaluator(args.task)
    metrics = evaluate(args.predictions, args.ground_truth)
    table = getattr(module, "metrics_table", None)
    if table is not None:
        print(table(metrics))
    else:
        print(render_table(["metric", "value"], [[k, f"{v:.4g}" if isinstance(v, float) else v]
                                                 for k, v in metrics.items()], align="<>"))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        # NaN (an undefined metric, e.g. an empty length bucket) is written as null: strict JSON.
        args.json.write_text(json.dumps({k: _json_value(v) for k, v in metrics.items()}, indent=2) + "\n",
                             encoding="utf-8")
        print(f"wrote {args.json}")
    return 0
