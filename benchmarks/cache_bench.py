"""Feature-cache benchmark: training a frozen-feature strategy end to end (decode + backbone +
head every step) versus from the feature cache (decode + backbone once, then the head only).

Generates a recognition set with ``vidlift synth``, builds ``tiny`` with a post-network or
side-tuning strategy, and times ``--epochs`` epochs of AdamW on the motion labels both ways.
Prints the seconds per epoch, the one-off cache fill, the speed-up per epoch and the epochs
after which the cache has paid for its fill, and checks that both ways gave the same losses.

    python benchmarks/cache_bench.py                               # temporal_transformer, 128 clips
    python benchmarks/cache_bench.py --strategy evl --clips 256
    python benchmarks/cache_bench.py --backbone random:ViT-B-16 --clips 16 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import torch
import torch.nn.functional as F

from vidlift.backbones import load_backbone
from vidlift.data.clips import VideoClips
from vidlift.data.datasets import read_kinetics
from vidlift.data.sources import VideoItem
from vidlift.data.video import SegmentSampler
from vidlift.engine.optim import transfer_param_groups
from vidlift.features.cache import FeatureCache
from vidlift.synthetic.synth import generate
from vidlift.transfer import TransferModel, get_strategy


def _epoch(model, batches, opt, classes) -> tuple[float, list[float]]:
    start = time.perf_counter()
    losses = []
    for get_features, labels in batches:
        out = model.encode_video_from_features(get_features())
        loss = F.cross_entropy(model.logits(out, classes), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return time.perf_counter() - start, losses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategy", default="temporal_transformer")
    ap.add_argument("--backbone", default="tiny", help="backbone spec (e.g. random:ViT-B-16)")
    ap.add_argument("--clips", type=int, default=128)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        folder = generate("recognition", os.path.join(tmp, "rec"), num_videos=args.clips, seed=0, workers=2,
                          progress=False)
        kin = folder / "kinetics" / "motion"
        rows = [r for split in ("train", "validate", "test")
                for r in read_kinetics(kin / f"{split}.csv", folder / "videos", classes=kin / "classes.txt")]
        items = [VideoItem(r.video_id, r.video_path) for r in rows]
        labels = torch.tensor([r.label_index for r in rows])
        names = (kin / "classes.txt").read_text().split("\n")
        names = [n for n in names if n.strip()]
        sampler = SegmentSampler(args.frames)
        bs = args.batch_size
        spans = [(s, min(s + bs, len(items))) for s in range(0, len(items), bs)]
        results = {}
        losses = {}
        for mode in ("end_to_end", "cache"):
            torch.manual_seed(0)
            backbone = load_backbone(args.backbone)
            model = TransferModel(backbone, [get_strategy(args.strategy)], num_frames=args.frames)
            opt = torch.optim.AdamW(transfer_param_groups(model, 1e-3, 0.01))
            classes = model.encode_classes(names).detach()
            fill = 0.0
            if mode == "end_to_end":
                data = VideoClips(items, sampler, backbone.preprocess)

                def decoded(a, b, data=data, model=model):
                    return lambda: model.video_features(torch.stack([data[i]["video"] for i in range(a, b)]))
                batches = [(decoded(a, b), labels[a:b]) for a, b in spans]
            else:
                t0 = time.perf_counter()
                cached, _ = FeatureCache(os.path.join(tmp, "cache")).fill(
                    backbone, items, sampler, layers=model.cache_layers, batch_size=bs, progress=False)
                fill = time.perf_counter() - t0
                ids = [it.video_id for it in items]

                def from_cache(a, b, cached=cached, model=model, ids=ids):
                    return lambda: model.features_from_cache(cached.batch(ids[a:b]))
                batches = [(from_cache(a, b), labels[a:b]) for a, b in spans]
            times = []
            torch.manual_seed(1)  # the same dropout draws both ways (filling the cache used the generator)
            for _ in range(args.epochs):
                seconds, epoch_losses = _epoch(model, batches, opt, classes)
                times.append(seconds)
                losses.setdefault(mode, []).extend(epoch_losses)
            results[mode] = {"epoch_s": min(times), "fill_s": fill}
        e2e, cache = results["end_to_end"]["epoch_s"], results["cache"]["epoch_s"]
        fill = results["cache"]["fill_s"]
        gap = max(abs(a - b) for a, b in zip(losses["end_to_end"], losses["cache"]))
        report = {
            "backbone": args.backbone, "strategy": args.strategy, "clips": len(items), "frames": args.frames,
            "batch_size": bs,
            "end_to_end_epoch_s": round(e2e, 2), "cache_fill_s": round(fill, 2), "cache_epoch_s": round(cache, 3),
            "speedup_per_epoch": round(e2e / cache, 1), "break_even_epochs": round(fill / max(e2e - cache, 1e-9), 2),
            "max_loss_difference": gap, "torch_threads": args.threads,
            "cpu": platform.processor() or platform.machine(), "load_avg_1min": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
