"""Transfer paradigms side by side on the generated grounding, QA and captioning benchmarks
with the tiny ILFM: each row is `vidlift fit` then `vidlift test` with the last checkpoint
(or `vidlift test` alone for a zero-shot row); accuracy and cost from the run's metrics.json.

    python benchmarks/task_tables.py --task grounding        # makes its data first if missing
    python benchmarks/task_tables.py --task qa --only fusion lora
    python benchmarks/task_tables.py --task captioning --table-only

The data (``vidlift synth``) goes to ``data/synthetic/<task>`` and the runs to
``runs/tasks/<task>/<row>``; results.json there is written after every row, and rows already
in it are not run again, so an interrupted table resumes where it stopped (``--rerun`` runs
every selected row anew). The tables in docs/grounding.md,
docs/qa.md and docs/captioning.md come from this script.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from vidlift.engine import evaluate, fit, load_config


@dataclass
class Row:
    label: str  # the paradigm family first, then the method
    transfer: list[dict]
    overrides: list[str] = field(default_factory=list)
    train: bool = True


@dataclass
class Table:
    config: str
    synth: list[str]  # `vidlift synth` arguments after --task/--out
    metrics: list[tuple[str, str]]  # (metrics.json key, column)
    rows: list[Row]
    epochs: int = 5
    lr: float = 1e-3
    overrides: list[str] = field(default_factory=list)  # for every row of the table


def _rows(suffix: str, head: list[str], methods: list[tuple[str, list[dict], list[str]]],
          own_lr: bool = True) -> list[Row]:
    """Rows "<method><suffix>" with the head overrides ``head`` plus each method's own
    (without its learning rate where ``own_lr`` is False: the table's rate for every row)."""
    return [Row(label + suffix, transfer, [*head, *(x for x in extra if own_lr or not x.startswith("optim.lr"))])
            for label, transfer, extra in methods]


# The adapted-feature families and tower compression (the student-tower distillation), each with the
# task's post-network head.
ADAPTED = [
    ("adapter: AIM", [{"name": "aim"}], []),
    ("LoRA (q, v)", [{"name": "lora"}], ["optim.lr=2.0e-3"]),
    ("prompt tuning: VPT (deep)", [{"name": "vpt", "depth": "deep"}], []),
    ("partial tuning: last 2 blocks", [{"name": "partial_tuning"}], ["optim.lr=2.0e-4"]),
    ("extra models: divided space-time attention", [{"name": "divided_st"}], ["optim.lr=2.0e-4"]),
    ("full fine-tuning (image tower)", [{"name": "full_finetune", "towers": ["visual"]}], ["optim.lr=2.0e-4"]),
    ("knowledge distillation (student tower)", [{"name": "tower_compression"}], []),
]

# Open-ended QA: one row per frozen-root family plus the two most-used adapted ones (the
# multiple-choice table has every family).
OPEN_FAMILIES = ("zero-shot (question + answer vs video)", "post-network", "side-tuning", "knowledge distillation",
                 "adapter", "LoRA (q, v)")


def _qa_rows(head: str) -> list[Row]:
    """QA rows: zero-shot, the post-network heads, side-tuning, distillation as soft targets from
    the frozen ILFM (the task's ``distill_weight``), and the adapted families with ``head``."""
    return [
        Row("zero-shot (question + answer vs video)", [], ["task.head=similarity"], train=False),
        Row("post-network: fusion transformer", [], ["task.head=fusion"]),
        Row("post-network: temporal transformer", [{"name": "temporal_transformer", "layers": 2}],
            [f"task.head={head}"]),
        Row("side-tuning: EVL", [{"name": "evl"}], [f"task.head={head}"]),
        Row("knowledge distillation: temporal transformer + frozen-ILFM soft targets",
            [{"name": "temporal_transformer", "layers": 2}], [f"task.head={head}", "task.distill_weight=1.0"]),
        *_rows("", [f"task.head={head}"], ADAPTED),
    ]


TABLES: dict[str, Table] = {
    "grounding": Table(
        config="configs/synthetic/grounding.yaml",
        synth=["--num-videos", "200"],
        metrics=[("MR-full-R1@0.5", "R1@0.5"), ("MR-full-R1@0.7", "R1@0.7"), ("MR-full-mAP", "mAP"),
                 ("MR-full-mIoU", "mIoU"), ("HL-min-VeryGood-mAP", "HL mAP"), ("HL-min-VeryGood-Hit1", "HIT@1")],
        rows=[
            Row("post-network: Moment-DETR", [], ["task.head=moment_detr"]),
            Row("post-network: temporal transformer + Moment-DETR", [{"name": "temporal_transformer", "layers": 2}],
                ["task.head=moment_detr"]),
            Row("side-tuning: R²-Tuning", [{"name": "r2_tuning"}], ["task.head=r2"]),
            *_rows(" + Moment-DETR", ["task.head=moment_detr"], ADAPTED, own_lr=False),
        ], epochs=10, lr=5e-4),
    "qa": Table(
        config="configs/synthetic/qa_multiple_choice.yaml",
        synth=["--num-videos", "400"],
        metrics=[("accuracy", "accuracy"), ("acc_C", "causal"), ("acc_T", "temporal"), ("acc_D", "descriptive")],
        rows=_qa_rows("similarity"), epochs=3),
    "qa_open": Table(
        config="configs/synthetic/qa_open.yaml",
        synth=["--num-videos", "400"],
        metrics=[("accuracy", "accuracy"), ("acc_what", "what"), ("acc_how", "how")],
        rows=[r for r in _qa_rows("fusion") if r.label.split(":")[0] in OPEN_FAMILIES], epochs=3),
    "captioning": Table(
        config="configs/synthetic/captioning.yaml",
        synth=["--num-videos", "400"],
        metrics=[("BLEU-4", "BLEU-4"), ("METEOR", "METEOR"), ("ROUGE-L", "ROUGE-L"), ("CIDEr", "CIDEr")],
        rows=[
            Row("post-network: caption decoder", [], []),
            Row("post-network: temporal transformer + decoder", [{"name": "temporal_transformer", "layers": 2}], []),
            Row("side-tuning: R²-Tuning + decoder", [{"name": "r2_tuning"}], []),
            # The decoder trains from scratch: at the towers' 2e-4 it writes no word in 8 epochs.
            *_rows(" + decoder", [], ADAPTED, own_lr=False),
        ], epochs=8, overrides=["data.batch_size=8"]),  # 280 videos: batch 32 gives too few steps to learn words
}


def slug(label: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in label.lower()).strip("_")


def make_data(task: str, table: Table, root: Path) -> None:
    if (root / "meta.json").is_file():
        return
    cmd = [sys.executable, "-m", "vidlift", "synth", "--task", task.split("_")[0], "--out", str(root), *table.synth]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def run_row(table: Table, row: Row, out: Path, data: Path, common: list[str]) -> dict:
    cfg = load_config(table.config, [f"out={out}", f"task.dataset.root={data}", f"transfer={json.dumps(row.transfer)}",
                                     *table.overrides, *common, *row.overrides])
    if row.train and out.exists():
        shutil.rmtree(out)  # a row run again is run anew (vidlift fit refuses a folder with checkpoints)
    start = time.perf_counter()
    if row.train:
        fit(cfg)
    result = evaluate(cfg, "test", str(out / "checkpoints" / "last.ckpt") if row.train else None)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    return result


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def render(table: Table, results: dict) -> str:
    columns = " | ".join(c for _, c in table.metrics)
    head = f"| paradigm | strategies | {columns} | trainable params | GFLOPs / clip |"
    rows = [head, "|---|---|" + "---:|" * (len(table.metrics) + 2)]
    for row in table.rows:
        r = results.get(row.label)
        if not r:
            continue
        m = r.get("metrics", {})
        names = " + ".join(t["name"] for t in row.transfer) or "—"
        cells = " | ".join(_cell(m.get(k)) for k, _ in table.metrics)
        rows.append(f"| {row.label} | `{names}` | {cells} | {r.get('parameters', {}).get('trainable', 0):,} | "
                    f"{r.get('gflops_per_clip', float('nan')):.3f} |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=sorted(TABLES), required=True, help="qa: multiple choice; qa_open: open-ended")
    ap.add_argument("--epochs", type=int, default=None, help="training epochs (default: the table's)")
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default: the table's; rows may override it)")
    ap.add_argument("--data", default=None, help="generated data folder (default data/synthetic/<task>)")
    ap.add_argument("--out", default=None, help="runs folder (default runs/tasks/<task>)")
    ap.add_argument("--only", nargs="*", help="substrings of row labels to run")
    ap.add_argument("--set", nargs="*", default=[], help="extra key=value overrides for every row")
    ap.add_argument("--rerun", action="store_true", help="run rows again that results.json already holds")
    ap.add_argument("--table-only", action="store_true", help="print the table of an earlier run's results.json")
    args = ap.parse_args()
    table = TABLES[args.task]
    root = Path(args.out or f"runs/tasks/{args.task}")
    data = Path(args.data or f"data/synthetic/{args.task.split('_')[0]}")
    results_path = root / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    if args.table_only:
        print(render(table, results))
        return
    make_data(args.task, table, data)
    epochs, lr = args.epochs or table.epochs, args.lr or table.lr
    common = [f"trainer.max_epochs={epochs}", "trainer.enable_progress_bar=false", f"optim.lr={lr}", *args.set]
    for row in table.rows:
        if args.only and not any(s.lower() in row.label.lower() for s in args.only):
            continue
        if row.label in results and not args.rerun:
            print(f"kept: {row.label} (in {results_path}; --rerun to run it again)", flush=True)
            continue
        results[row.label] = run_row(table, row, root / slug(row.label), data.resolve(), common)
        root.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2, default=str))  # after every row: resumable
        print(f"done: {row.label} ({results[row.label]['wall_s']} s)", flush=True)
    print(render(table, results))


if __name__ == "__main__":
    main()
