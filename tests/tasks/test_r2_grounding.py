"""R²-Tuning's grounding heads: targets, losses and decoding on worked-out cases, pyramid
shapes, batch independence, a short overfit, and the end-to-end fit."""

from __future__ import annotations

import math

import pytest
import torch

from vidlift.tasks.grounding.heads import GroundingInputs, GroundingTargets, TextQuery
from vidlift.tasks.grounding.r2_head import (
    ConvPyramid,
    R2GroundingHead,
    clip_unit_windows,
    focal_loss,
    info_nce,
    make_points,
    point_targets,
    sampled_nce,
)
from vidlift.transfer.frozen.r2_tuning import R2Pass

C = 16


def _inputs(n: list[int], seed: int = 0, k: int = 2) -> GroundingInputs:
    g = torch.Generator().manual_seed(seed)
    b, p, L = len(n), max(n), 5
    mask = torch.arange(p)[None] < torch.tensor(n)[:, None]
    states = torch.randn(b, p, C, generator=g)
    qmask = torch.tensor([[True] * 3 + [False] * 2] * b)
    r2 = R2Pass(states, torch.randn(b, L, C, generator=g), qmask,
                [torch.randn(b, p, C, generator=g) for _ in range(k)],
                [torch.randn(b, L, C, generator=g) for _ in range(k)])
    text = TextQuery(torch.zeros(b, L, 8), qmask, torch.zeros(b, 4))
    return GroundingInputs(states, mask, torch.zeros(b, p, 4), text, {"r2": r2})


def _row(inputs: GroundingInputs, i: int, n: int) -> GroundingInputs:
    r2 = inputs.extras["r2"]
    one = R2Pass(r2.states[i:i + 1, :n], r2.query[i:i + 1], r2.query_mask[i:i + 1],
                 [v[i:i + 1, :n] for v in r2.layer_video], [q[i:i + 1] for q in r2.layer_query])
    t = inputs.text
    return GroundingInputs(inputs.clips[i:i + 1, :n], inputs.clip_mask[i:i + 1, :n], inputs.clip_embedding[i:i + 1, :n],
                           TextQuery(t.tokens[i:i + 1], t.mask[i:i + 1], t.embedding[i:i + 1]), {"r2": one})


def test_focal_loss_worked_out():
    # p = 0.5 either way: BCE ln 2 times (1 − 0.5)^2
    got = focal_loss(torch.tensor([0.0, 0.0]), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(got, torch.full((2,), math.log(2) / 4))
    # a confident correct point costs almost nothing, a confident wrong one ≈ its BCE
    x = torch.tensor([4.0])
    assert focal_loss(x, torch.ones(1)) < 1e-4
    torch.testing.assert_close(focal_loss(x, torch.zeros(1)), torch.tensor([4 + math.log1p(math.exp(-4))]) *
                               torch.sigmoid(x) ** 2)


def test_sampled_nce_and_info_nce_worked_out():
    states = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])
    query = torch.tensor([[1.0, 0.0]])
    # clip 2 is more salient than the positive (clip 0), so it leaves the denominator: row term
    # −log(e^{s} / (e^{s} + e^{0})), s = 1/0.07; the column term has one video (0)
    got = sampled_nce(states, query, torch.ones(1, 3, dtype=torch.bool), torch.tensor([[2.0, 1.0, 3.0]]),
                      torch.tensor([0]))
    torch.testing.assert_close(got, torch.tensor(math.log1p(math.exp(-1 / 0.07))))
    a = torch.eye(3)[None]
    torch.testing.assert_close(info_nce(a, a), torch.tensor(math.log(1 + 2 * math.exp(-1 / 0.07))))


def test_points_and_targets_worked_out():
    pts = make_points([10, 5], (1, 2, 4, 8))
    assert pts.shape == (15, 4)
    torch.testing.assert_close(pts[10:, 0], torch.tensor([0.0, 2, 4, 6, 8]))
    torch.testing.assert_close(pts[0, 1:], torch.tensor([0.0, 2, 1]))
    torch.testing.assert_close(pts[10, 1:], torch.tensor([2.0, 4, 2]))
    cls, reg = point_targets(pts, torch.tensor([[2.0, 6.0]]), 1.5)
    # stride 1: centre region [2.5, 5.5] holds 3, 4, 5; only 4 has max distance (2) in [0, 2]
    # stride 2: region [2, 6] holds 2, 4, 6, max distances 4, 2, 4, all in [2, 4]
    assert cls[:10].nonzero().flatten().tolist() == [4]
    assert cls[10:].nonzero().flatten().tolist() == [1, 2, 3]
    torch.testing.assert_close(reg[4], torch.tensor([2.0, 2.0]))
    torch.testing.assert_close(reg[11:14], torch.tensor([[0.0, 2.0], [1.0, 1.0], [2.0, 0.0]]))
    # two windows holding point 4: the shorter one is regressed
    cls, reg = point_targets(pts[:10], torch.tensor([[2.0, 6.0], [3.5, 5.5]]), 1.5)
    torch.testing.assert_close(reg[4], torch.tensor([0.5, 1.5]))
    # sub-clip windows become the clip around their centre, kept inside the video
    w = clip_unit_windows(torch.tensor([[0.1, 0.15], [0.0, 0.02], [0.2, 0.5]]), 10)
    torch.testing.assert_close(w, torch.tensor([[0.75, 1.75], [0.0, 1.0], [2.0, 5.0]]))


def test_pyramid_shapes_for_odd_lengths():
    pyr = ConvPyramid(C, (1, 2, 4, 8))
    assert [p.shape[1] for p in pyr(torch.randn(2, 7, C))] == [7, 3, 1]
    assert [p.shape[1] for p in pyr(torch.randn(1, 17, C))] == [17, 8, 4, 2]
    with pytest.raises(ValueError, match="powers of two"):
        ConvPyramid(C, (1, 3))


def test_decoding_is_inside_the_video_and_independent_of_the_batch():
    torch.manual_seed(0)
    head = R2GroundingHead(C, 8, 4).eval()
    inputs = _inputs([7, 4, 1])
    with torch.no_grad():
        out = head(inputs)
        assert out.windows.shape[:2] == out.scores.shape and out.saliency.shape == (3, 7)
        assert out.windows.min() >= 0 and out.windows.max() <= 1
        assert (out.windows[..., 1] >= out.windows[..., 0]).all()
        for i, n in enumerate([7, 4, 1]):
            alone = head(_row(inputs, i, n))
            q = alone.scores.shape[1]
            assert q == n + n // 2 + n // 4 + n // 8  # every point of an n-clip video, up to 50
            torch.testing.assert_close(out.windows[i, :q], alone.windows[0], atol=1e-5, rtol=0)
            torch.testing.assert_close(out.scores[i, :q], alone.scores[0], atol=1e-5, rtol=0)
            torch.testing.assert_close(out.saliency[i, :n], alone.saliency[0], atol=1e-5, rtol=0)
            assert (out.scores[i, q:] == 0).all() and (out.saliency[i, n:] == 0).all()
            assert out.window_mask[i].tolist() == [True] * q + [False] * (out.scores.shape[1] - q)
            assert (out.scores[i, :q].diff() <= 0).all()  # sorted


def test_saliency_merges_class_scores_and_query_cosine():
    torch.manual_seed(0)
    head = R2GroundingHead(C, 8, 4, merge_cls_sal=False, strides=(1,)).eval()
    inputs = _inputs([5])
    with torch.no_grad():
        out = head(inputs)
        torch.testing.assert_close(out.saliency[0], out.extras["out_class"][0].sigmoid())
        merged = R2GroundingHead(C, 8, 4, strides=(1,)).eval()
        merged.load_state_dict(head.state_dict())
        cos = torch.cosine_similarity(inputs.clips[0], head.pooling(inputs.extras["r2"].query, inputs.text.mask)[0], -1)
        torch.testing.assert_close(merged(inputs).saliency[0], out.saliency[0] * cos)


def _targets(inputs: GroundingInputs) -> GroundingTargets:
    mask = inputs.clip_mask
    windows = [torch.tensor([[2 / 7, 5 / 7]]), torch.tensor([[0.0, 0.5]]), torch.tensor([[0.0, 1.0]])]
    rel = torch.zeros_like(mask)
    rel[0, 2:5], rel[1, 0:2], rel[2, 0] = True, True, True
    return GroundingTargets(windows, rel.float() * 2, mask, rel)


def test_losses_and_a_short_overfit():
    torch.manual_seed(0)
    head = R2GroundingHead(C, 8, 4)
    inputs = _inputs([7, 4, 1])
    targets = _targets(inputs)
    losses = head.loss(head(inputs), targets)
    assert set(losses) == {"loss_cls", "loss_reg", "loss_sal", "loss_video_cal", "loss_layer_cal"}
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        total = sum(head.loss(head(inputs), targets).values())
        first = first if first is not None else float(total.detach())
        opt.zero_grad()
        total.backward()
        opt.step()
    assert float(total.detach()) < 0.5 * first
    # a zero weight drops the loss
    assert "loss_reg" not in R2GroundingHead(C, 8, 4, loss_reg=0.0).loss(head(inputs), targets)


def test_r2_head_needs_the_r2_video_head():
    head = R2GroundingHead(C, 8, 4)
    inputs = _inputs([3])
    inputs.extras.clear()
    with pytest.raises(ValueError, match="r2_tuning"):
        head(inputs)


def test_vidlift_fit_with_r2_tuning_and_the_r2_head(tmp_path):
    import csv
    import json

    import yaml

    from vidlift.cli import main
    from vidlift.synthetic.synth import generate

    root = generate("grounding", tmp_path / "data", num_videos=4, num_frames=32, size=32, seed=0, workers=0,
                    progress=False)
    q = "qvhighlights/highlight_train_release.jsonl"
    run = tmp_path / "run"
    cfg = {
        "seed": 0, "out": str(run), "backbone": "tiny", "transfer": [{"name": "r2_tuning", "dims": 32, "heads": 4}],
        "task": {"name": "grounding", "head": "r2", "frames": 4, "nms_threshold": 0.7,
                 "dataset": {"format": "qvhighlights", "root": str(root), "video_root": "videos",
                             "train": q, "val": q, "test": q}},
        "data": {"batch_size": 2, "num_workers": 0},
        "optim": {"lr": 1e-3},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "enable_progress_bar": False,
                    "log_every_n_steps": 1},
    }
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["fit", "--config", str(path)]) == 0
    record = json.loads((run / "metrics.json").read_text())
    m = record["metrics"]
    assert {"MR-full-mAP", "MR-full-R1@0.5", "HL-min-VeryGood-mAP"} <= set(m) and 0 <= m["MR-full-mAP"] <= 100
    assert record["parameters"]["trainable"] > 0
    with open(next((run / "csv").glob("version_*/metrics.csv"))) as f:
        logged = set(next(csv.reader(f)))
    assert {"train/loss_cls", "train/loss_reg", "train/loss_sal", "train/loss_video_cal",
            "train/loss_layer_cal"} <= logged
    assert main(["predict", "--config", str(path), "--ckpt_path", str(run / "checkpoints" / "last.ckpt")]) == 0
    lines = [json.loads(x) for x in (run / "predictions.jsonl").read_text().splitlines()]
    assert lines
    for line in lines:
        assert 1 <= len(line["pred_relevant_windows"]) <= 10
        for s, e, score in line["pred_relevant_windows"]:
            assert 0 <= s <= e and 0 <= score <= 1


@pytest.mark.parametrize("strategies", [["mean_pool"], ["lora"], ["st_adapter"]])
def test_r2_head_without_the_r2_video_head_is_refused_at_setup(strategies):
    from vidlift.backbones import load_backbone
    from vidlift.tasks.registry import build_task
    from vidlift.transfer import TransferModel, get_strategy

    task = build_task({"name": "grounding", "frames": 4, "head": "r2",
                       "dataset": {"format": "qvhighlights", "root": "/nonexistent", "train": "t.jsonl"}})
    model = TransferModel(load_backbone("tiny"), [get_strategy(n) for n in strategies], num_frames=4)
    with pytest.raises(ValueError, match=rf"head 'r2'.*r2_tuning.*{strategies[0]}"):
        task.setup(model)
