"""Transfer paradigms side by side on the generated benchmarks with the tiny ILFM: accuracy
and cost from the engine's metrics.json (vidlift fit, then vidlift test with the last
checkpoint), one row per paradigm.

    vidlift synth --task recognition --out data/synthetic/recognition --num-videos 2000
    vidlift synth --task retrieval --out data/synthetic/retrieval --num-videos 1000
    python benchmarks/paradigms.py                        # every paradigm, both tasks
    python benchmarks/paradigms.py --only lora aim --epochs 2

Recognition uses the motion labels (14 classes in 7 time-reversed pairs): a frame-level model
cannot beat chance on them, so the column measures what each paradigm adds in time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from vidlift.engine import evaluate, fit, load_config

# (label, transfer strategies, recognition head, extra overrides); rows the issue asks for first.
PARADIGMS = [
    ("zero-shot", [], "zero_shot", []),
    ("linear probe (frozen, mean-pooled)", [{"name": "mean_pool"}], "linear", []),
    ("mean-pool + Text4Vis classifier", [{"name": "mean_pool"}], "text_init", []),
    ("temporal transformer (seqTransf)", [{"name": "temporal_transformer", "layers": 2}], "text_init", []),
    ("side-tuning: EVL", [{"name": "evl"}], "text_init", []),
    ("adapter: AIM", [{"name": "aim"}], "text_init", []),
    ("adapter: ST-Adapter", [{"name": "st_adapter"}], "text_init", []),
    ("LoRA (q, v)", [{"name": "lora"}], "text_init", ["optim.lr=2.0e-3"]),
    ("LoRA + temporal transformer", [{"name": "lora"}, {"name": "temporal_transformer", "layers": 2}], "text_init",
     ["optim.lr=2.0e-3"]),
    ("prompt tuning: CoOp", [{"name": "coop", "n_ctx": 8}], "similarity", []),
    ("prompt tuning: VPT (deep)", [{"name": "vpt", "depth": "deep"}], "text_init", []),
    ("full fine-tuning", [{"name": "full_finetune", "towers": ["visual"]}], "text_init", ["optim.lr=2.0e-4"]),
]

RETRIEVAL = {  # label -> transfer (retrieval needs a trainable video side; zero-shot is evaluated only)
    "zero-shot": [],
    "temporal transformer (seqTransf)": [{"name": "temporal_transformer", "layers": 2}],
    "side-tuning: EVL": [{"name": "evl"}],
    "adapter: AIM": [{"name": "aim"}],
    "LoRA (q, v)": [{"name": "lora"}],
    "full fine-tuning": [{"name": "full_finetune", "towers": ["visual"]}],
}


def run_one(config_path: str, out: Path, transfer: list, overrides: list[str], train: bool) -> dict:
    cfg = load_config(config_path, [f"out={out}", f"transfer={json.dumps(transfer)}", *overrides])
    if train and out.exists():
        shutil.rmtree(out)  # a row run again is run anew (vidlift fit refuses a folder with checkpoints)
    start = time.perf_counter()
    fitted = fit(cfg) if train else None
    tested = evaluate(cfg, "test", str(out / "checkpoints" / "last.ckpt") if train else None)
    tested["wall_s"] = round(time.perf_counter() - start, 1)
    tested["train_clips_per_second"] = (fitted or {}).get("clips_per_second", {}).get("train_clips_per_second")
    return tested


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--lr", type=float, default=5e-3, help="learning rate (rows may override it)")
    ap.add_argument("--out", default="runs/paradigms")
    ap.add_argument("--only", nargs="*", help="substrings of paradigm labels to run")
    ap.add_argument("--tasks", nargs="*", default=["recognition", "retrieval"])
    ap.add_argument("--table-only", action="store_true", help="print the table of an earlier run's results.json")
    args = ap.parse_args()
    root = Path(args.out)
    results_path = root / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    if args.table_only:
        print(table(results))
        return
    common = [f"trainer.max_epochs={args.epochs}", "trainer.enable_progress_bar=false", f"optim.lr={args.lr}"]
    for label, transfer, head, extra in PARADIGMS:
        if args.only and not any(s.lower() in label.lower() for s in args.only):
            continue
        slug = "".join(c if c.isalnum() else "_" for c in label.lower()).strip("_")
        if "recognition" in args.tasks:
            rec = run_one("configs/synthetic/recognition_motion.yaml", root / "recognition" / slug, transfer,
                          [*common, f"task.head={head}", *extra], train=head != "zero_shot")
            results.setdefault(label, {})["recognition"] = rec
        if "retrieval" in args.tasks and label in RETRIEVAL:
            ret = run_one("configs/synthetic/retrieval.yaml", root / "retrieval" / slug, RETRIEVAL[label],
                          [*common, *extra], train=label != "zero-shot")
            results.setdefault(label, {})["retrieval"] = ret
        root.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2, default=str))  # after every row: resumable
        print(f"done: {label}", flush=True)
    print(table(results))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def table(results: dict) -> str:
    rows = ["| paradigm | strategies, head | motion top-1 | motion top-5 | retrieval t2v R@1 | trainable params "
            "| GFLOPs / clip |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for label, transfer, head, _ in PARADIGMS:
        r = results.get(label)
        if not r:
            continue
        rec, ret = r.get("recognition", {}), r.get("retrieval", {})
        m = rec.get("metrics", {})
        names = " + ".join(t["name"] for t in transfer) or "—"
        r1 = ret.get("metrics", {}).get("t2v_R@1")
        rows.append(
            f"| {label} | `{names}`, `{head}` | {_pct(m.get('top1'))} | {_pct(m.get('top5'))} | "
            f"{'—' if r1 is None else f'{r1:.1f}'} | {rec.get('parameters', {}).get('trainable', 0):,} | "
            f"{rec.get('gflops_per_clip', float('nan')):.3f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
