"""The demo: what a frozen image-language model knows about video, measured.

On the procedural recognition benchmark (``vidlift synth --task recognition``), with the
project's ``tiny`` ILFM (pretrained on still images only), it reports for two label sets of
the same videos — ``appearance`` (colour + shape, visible in any frame) and ``motion``
(direction, rotation sense, grow/shrink, appear/disappear, order of events: each class has a
time-reversed twin made of the same frames) —

- zero-shot accuracy (prompt-ensembled class names vs mean frame embedding);
- linear-probe accuracy on frozen mean-pooled frame embeddings;
- a first transfer paradigm: post-network tuning, a temporal transformer (CLIP4Clip's
  seqTransf) with a linear classifier, trained on the same frozen frame embeddings.

Appearance should be easy for all; motion sits near chance for the first two, since mean
pooling cannot tell a clip from its reversal, and rises with a module that sees frame order.
The other paradigms are compared in ``benchmarks/paradigms.py`` (docs/engine.md).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ..backbones import load_backbone
from ..data.clips import VideoClips
from ..data.datasets import read_kinetics
from ..data.sources import VideoItem
from ..data.video import SegmentSampler
from ..features.runner import iter_clip_features
from ..table import render_table
from ..tasks.recognition.linear_probe import fit_linear_probe, top1_accuracy
from ..tasks.recognition.zero_shot import class_text_embeddings, zero_shot_probabilities
from .synth import generate

LABEL_SETS = ("appearance", "motion")
# Prompts in the words the tiny model was pretrained on ("a photo of a red circle.").
TEMPLATES = {"appearance": ("a photo of a {}.",), "motion": ("a photo of a shape {}.", "a video of a shape {}.")}


@dataclass
class DemoResult:
    backbone: str
    identity: str
    num_train: int
    num_test: int
    accuracy: dict[str, dict[str, float]] = field(default_factory=dict)  # method -> label set -> top-1
    chance: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _benchmark(out: Path, num_videos: int, seed: int, workers: int, progress: bool) -> Path:
    bench = out / "recognition"
    meta = bench / "meta.json"
    if meta.is_file():
        m = json.loads(meta.read_text())
        if m.get("videos") == num_videos and m.get("seed") == seed:
            return bench  # already generated with these settings
    generate("recognition", bench, num_videos=num_videos, seed=seed, workers=workers,
             progress=progress, overwrite=True)
    return bench


def run_demo(out: str | Path = "demo_out", backbone: str = "tiny", num_videos: int = 2000, frames: int = 8,
             seed: int = 0, workers: int = 2, progress: bool = True) -> DemoResult:
    """Generate (or reuse) the benchmark under ``out``, evaluate, write ``results.json`` and
    ``results.png`` there, and return the numbers."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    bench = _benchmark(out, num_videos, seed, workers, progress)
    t_synth = time.perf_counter() - t0

    splits = {}
    for name in LABEL_SETS:
        root = bench / "kinetics" / name
        classes = root / "classes.txt"
        splits[name] = {s: read_kinetics(root / f"{s}.csv", bench / "videos", classes=classes)
                        for s in ("train", "test")}
    # Both label sets name the same videos: embed each video once.
    videos = {r.video_id: r.video_path for s in ("train", "test") for r in splits["motion"][s]}
    items = [VideoItem(vid, path) for vid, path in sorted(videos.items())]

    t0 = time.perf_counter()
    bb = load_backbone(backbone)
    model = bb.model.eval()
    dataset = VideoClips(items, SegmentSampler(frames, mode="test"), bb.preprocess)
    embeds: dict[str, torch.Tensor] = {}
    for r in iter_clip_features(model, dataset, batch_size=32, workers=min(workers, 2)):
        if r.error is not None:
            raise RuntimeError(f"the generated video {r.item.path} could not be read: {r.error}")
        embeds[r.item.video_id] = r.embeds
    t_features = time.perf_counter() - t0

    result = DemoResult(bb.meta.spec, bb.meta.identity, len(splits["motion"]["train"]), len(splits["motion"]["test"]))
    result.accuracy = {"zero-shot": {}, "linear probe (mean-pooled)": {}, TEMPORAL: {}}
    for name in LABEL_SETS:
        train, test = splits[name]["train"], splits[name]["test"]
        x_train = torch.stack([embeds[r.video_id] for r in train])  # (N, T, E)
        x_test = torch.stack([embeds[r.video_id] for r in test])
        y_train = torch.tensor([r.label_index for r in train])
        y_test = torch.tensor([r.label_index for r in test])
        classes = class_text_embeddings(model, bb.tokenizer, list(train.classes), TEMPLATES[name])
        zs = zero_shot_probabilities(model, x_test, classes).argmax(-1)
        result.accuracy["zero-shot"][name] = top1_accuracy(zs, y_test)
        probe = fit_linear_probe(x_train.mean(1), y_train, len(train.classes), seed=seed)
        result.accuracy["linear probe (mean-pooled)"][name] = top1_accuracy(probe.predict(x_test.mean(1)), y_test)
        predict = fit_temporal_head(backbone, x_train, y_train, len(train.classes), seed=seed)
        result.accuracy[TEMPORAL][name] = top1_accuracy(predict(x_test), y_test)
        result.chance[name] = 1.0 / len(train.classes)
    result.seconds = {"synth": round(t_synth, 1), "features": round(t_features, 1)}
    (out / "results.json").write_text(json.dumps(result.__dict__, indent=2))
    plot_results(result, out / "results.png")
    return result


TEMPORAL = "temporal transformer"


def fit_temporal_head(backbone: str, x_train: torch.Tensor, y_train: torch.Tensor, num_classes: int,
                      seed: int = 0, epochs: int = 30, lr: float = 5e-3, batch_size: int = 64):
    """Post-network tuning on frozen frame embeddings x (N, T, E): the ``temporal_transformer``
    strategy (2 layers) and a linear classifier, trained with AdamW from the cached features
    (the backbone is not run again). Returns ``predict(x) -> labels``."""
    from ..transfer import TransferModel, get_strategy

    torch.manual_seed(seed)
    model = TransferModel(load_backbone(backbone), [get_strategy("temporal_transformer", layers=2)],
                          num_frames=x_train.shape[1])
    classifier = torch.nn.Linear(model.embed_dim, num_classes)
    params = [p for _, p in model.trainable_parameters()] + list(classifier.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * -(-len(x_train) // batch_size))
    g = torch.Generator().manual_seed(seed)

    def logits(x: torch.Tensor) -> torch.Tensor:
        return classifier(model.encode_video_from_features(model.features_from_cache({"frames": x})).embedding)

    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x_train), generator=g).split(batch_size):
            loss = F.cross_entropy(logits(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()

    def predict(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return logits(x).argmax(-1)

    return predict


def format_table(result: DemoResult) -> str:
    """Top-1 accuracy (%) per method and label set, and chance."""
    rows = [[method] + [f"{100 * accs[n]:.1f}%" for n in LABEL_SETS] for method, accs in result.accuracy.items()]
    rows.append(["chance"] + [f"{100 * result.chance[n]:.1f}%" for n in LABEL_SETS])
    return render_table(["method", *LABEL_SETS], rows, align="<" + ">" * len(LABEL_SETS))


def plot_results(result: DemoResult, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    methods = list(result.accuracy)
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(LABEL_SETS))]
        bars = ax.bar(xs, [100 * result.accuracy[method][n] for n in LABEL_SETS], width, label=method)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    for j, name in enumerate(LABEL_SETS):
        ax.hlines(100 * result.chance[name], j - 0.45, j + 0.45, colors="k", linestyles="dashed", linewidth=1)
    ax.set_xticks(range(len(LABEL_SETS)), [f"{n}\n({round(1 / result.chance[n])} classes)" for n in LABEL_SETS])
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(f"frozen {result.backbone} on the procedural benchmark (dashed: chance)", fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
