"""Transfer paradigms side by side on the generated benchmarks with the tiny ILFM: accuracy
and cost from the engine's metrics.json (vidlift fit, then vidlift test with the last
checkpoint), one row per paradigm.

    vidlift synth --task recognition --out data/synthetic/recognition --num-videos 2000
    vidlift synth --task retrieval --out data/synthetic/retrieval --num-videos 1000
    python benchmarks/paradigms.py                        # every paradigm, both tasks
    python benchmarks/paradigms.py --only lora aim --epochs 2
    python benchmarks/paradigms.py --tasks recognition --seeds 0 1 2 --augment AUG \
        --out runs/paradigms_aug --baseline runs/paradigms_single_seed_results.json
    # or one process per seed (faster on few cores), then one table:
    python benchmarks/paradigms.py --tasks recognition --seeds 1 --augment AUG --out runs/paradigms_aug_s1
    python benchmarks/paradigms.py --table-only --out runs/paradigms_aug --merge runs/paradigms_aug_s1 ...

``--seeds`` runs every row once per seed (the config's ``seed``: head initialisation, clip
order, frame sampling and augmentation draws) and the table shows mean ± std (sample standard
deviation over the seeds); ``--augment`` is a ``data.augment`` mapping as YAML/JSON;
``--baseline`` an earlier results.json whose top-1 is shown beside.

Recognition uses the motion labels (14 classes in 7 time-reversed pairs): a frame-level model
cannot beat chance on them, so the column measures what each paradigm adds in time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
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


# Rows whose head is text_init train the classifier, as they did before Text4Vis' classifier
# became frozen by default: the table compares augmentation and seeds, not that change.
TEXT_INIT_TRAINED = ["task.freeze_classifier=false"]


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
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help="run every row once per seed and report mean ± std (default: the config's seed, once)")
    ap.add_argument("--augment", default=None, help="a data.augment mapping (YAML), e.g. '{crop: random_resized}'")
    ap.add_argument("--baseline", default=None, help="an earlier results.json whose top-1 the seeds table shows beside")
    ap.add_argument("--table-only", action="store_true", help="print the table of an earlier run's results.json")
    ap.add_argument("--merge", nargs="*", default=[],
                    help="with --table-only: also the seeds of these folders' results.json (one process per seed)")
    args = ap.parse_args()
    root = Path(args.out)
    results_path = root / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for other in args.merge:
        for label, row in json.loads((Path(other) / "results.json").read_text()).items():
            results.setdefault(label, {}).setdefault("recognition_seeds", {}).update(row.get("recognition_seeds", {}))
    baseline = json.loads(Path(args.baseline).read_text()) if args.baseline else {}
    if args.table_only:
        print(seeds_table(results, baseline) if _has_seeds(results) else table(results))
        return
    common = [f"trainer.max_epochs={args.epochs}", "trainer.enable_progress_bar=false", f"optim.lr={args.lr}"]
    if args.augment:
        common.append(f"data.augment={args.augment}")
    for seed in args.seeds or [None]:
        seeded = [*common, f"seed={seed}"] if seed is not None else common
        for label, transfer, head, extra in PARADIGMS:
            if args.only and not any(s.lower() in label.lower() for s in args.only):
                continue
            slug = "".join(c if c.isalnum() else "_" for c in label.lower()).strip("_")
            where = f"seed{seed}/{slug}" if seed is not None else slug
            row = results.setdefault(label, {})
            if "recognition" in args.tasks:
                if seed is not None and str(seed) in row.get("recognition_seeds", {}):
                    continue  # resumable: a row done for this seed is kept
                rec = run_one("configs/synthetic/recognition_motion.yaml", root / "recognition" / where, transfer,
                              [*seeded, f"task.head={head}", *(TEXT_INIT_TRAINED if head == "text_init" else []),
                               *extra], train=head != "zero_shot")
                if seed is None:
                    row["recognition"] = rec
                else:
                    row.setdefault("recognition_seeds", {})[str(seed)] = rec
            if "retrieval" in args.tasks and label in RETRIEVAL:
                ret = run_one("configs/synthetic/retrieval.yaml", root / "retrieval" / where, RETRIEVAL[label],
                              [*seeded, *extra], train=label != "zero-shot")
                row["retrieval" if seed is None else f"retrieval_seed{seed}"] = ret
            root.mkdir(parents=True, exist_ok=True)
            results_path.write_text(json.dumps(results, indent=2, default=str))  # after every row: resumable
            print(f"done: {label} (seed {seed})", flush=True)
    print(seeds_table(results, baseline) if args.seeds else table(results))


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


def _has_seeds(results: dict) -> bool:
    return any("recognition_seeds" in r for r in results.values())


def _mean_std(values: list[float]) -> str:
    if not values:
        return "—"
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def seeds_table(results: dict, baseline: dict | None = None) -> str:
    """Recognition rows over seeds: top-1 and top-5 mean ± std (%), seeds run, and the top-1 of
    ``baseline`` (an earlier single-seed results.json) beside."""
    baseline = baseline or {}
    rows = ["| paradigm | strategies, head | motion top-1 (mean ± std) | motion top-5 (mean ± std) | seeds "
            "| earlier single-seed top-1 | trainable params |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for label, transfer, head, _ in PARADIGMS:
        runs = results.get(label, {}).get("recognition_seeds", {})
        if not runs:
            continue
        top1 = [r["metrics"]["top1"] for r in runs.values()]
        top5 = [r["metrics"]["top5"] for r in runs.values()]
        before = baseline.get(label, {}).get("recognition", {}).get("metrics", {}).get("top1")
        names = " + ".join(t["name"] for t in transfer) or "—"
        trainable = next(iter(runs.values())).get("parameters", {}).get("trainable", 0)
        rows.append(f"| {label} | `{names}`, `{head}` | {_mean_std(top1)} | {_mean_std(top5)} | {len(runs)} | "
                    f"{_pct(before)} | {trainable:,} |")
    return "\n".join(rows)


if __name__ == "__main__":
    main()
