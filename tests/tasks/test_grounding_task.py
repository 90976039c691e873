"""The grounding task's pieces: one frame per clip unit, padding to whole windows, targets from
annotations, windowed encoding equal to one pass, and gradients reaching exactly the head's
parameters when the strategy is frozen."""

from __future__ import annotations

import os

import pytest
import torch

from vidlift.backbones import load_backbone
from vidlift.data.video import VideoInfo
from vidlift.synthetic.synth import generate
from vidlift.tasks.grounding.clips import ClipUnitSampler, collate_grounding, num_clip_units, pad_videos
from vidlift.tasks.grounding.heads import GroundingOutput
from vidlift.tasks.registry import build_task
from vidlift.transfer import TransferModel, get_strategy

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def test_one_frame_at_the_middle_of_each_clip_unit():
    info = VideoInfo("v.mp4", num_frames=32, fps=4.0, duration=8.0, width=32, height=32, codec="h264")
    sample = ClipUnitSampler(2.0)(info)
    assert sample.timestamps.tolist() == [1.0, 3.0, 5.0, 7.0] and sample.indices.tolist() == [4, 12, 20, 28]
    assert num_clip_units(150.02, 2.0) == 75 and num_clip_units(151.0, 2.0) == 76 and num_clip_units(0.5, 2.0) == 1
    with pytest.raises(ValueError, match="clip_length"):
        ClipUnitSampler(0)


def test_padding_to_whole_windows_repeats_the_last_frame():
    a = torch.arange(3.0).reshape(3, 1, 1, 1).expand(3, 3, 2, 2)
    b = torch.arange(5.0).reshape(5, 1, 1, 1).expand(5, 3, 2, 2)
    video, mask = pad_videos([a, b], multiple=4)
    assert video.shape == (2, 8, 3, 2, 2)
    assert mask.tolist() == [[True] * 3 + [False] * 5, [True] * 5 + [False] * 3]
    assert video[0, :, 0, 0, 0].tolist() == [0, 1, 2, 2, 2, 2, 2, 2]
    ok = {"index": 0, "video_id": "a", "video": a, "timestamps": torch.zeros(3), "qid": 7, "query": "q",
          "windows": [[0.0, 2.0]]}
    batch = collate_grounding([ok, {"index": 1, "video_id": "b", "error": "b.mp4: no such file"}], multiple=4)
    assert batch["video"].shape == (1, 4, 3, 2, 2) and batch["num_clips"].tolist() == [3]
    assert batch["windows"] == [[[0.0, 2.0]]] and batch["video_id"] == ["a"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = generate("grounding", tmp_path_factory.mktemp("g") / "set", num_videos=4, num_frames=32, size=32, seed=5,
                    workers=0, progress=False)
    q = "qvhighlights/highlight_train_release.jsonl"
    task = build_task({"name": "grounding", "frames": 2, "seed": 0,
                       "head_args": {"hidden_dim": 32, "heads": 4, "dim_feedforward": 64},
                       "dataset": {"format": "qvhighlights", "root": str(root), "video_root": "videos", "train": q}})
    model = TransferModel(load_backbone("tiny"), [get_strategy("mean_pool")], num_frames=2)
    task.setup(model)
    ds = task.dataset("train", model.preprocess)
    return task, model, task.collate([ds[0], ds[1]])


def test_targets_from_the_annotation(setup):
    task, _, batch = setup
    t = task.targets(batch)
    for i in range(2):
        n = int(batch["num_clips"][i])
        assert n == 4
        expected = torch.tensor(batch["windows"][i]) / (n * 2.0)
        assert torch.allclose(t.windows[i], expected)
        ids = batch["relevant_clip_ids"][i]
        assert t.relevant[i].nonzero().flatten().tolist() == sorted(ids)
        for c, scores in zip(ids, batch["saliency_scores"][i]):
            assert float(t.saliency[i, c]) == sum(scores)  # summed over the three annotators


def test_windowed_encoding_matches_one_pass(setup):
    task, model, batch = setup
    text = task.encode_query(model, list(batch["query"]))
    assert text.tokens.shape[1] == 32 and bool(text.mask[:, 0].all())
    ends = text.mask.sum(1)
    assert bool((ends > 2).all()) and bool((ends < 32).all())  # start token .. end token, not padding
    with torch.no_grad():
        a, emb, _, _ = task.clip_sequence(model, batch["video"], batch["clip_mask"], text)
        b, _, _, _ = task.clip_sequence(model, batch["video"], batch["clip_mask"], text, group=1)
        whole = model.video_features(batch["video"]).frames
    assert a.shape == (2, 4, model.embed_dim) and torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(a, whole, atol=1e-5) and torch.allclose(emb, whole, atol=1e-5)


def test_gradients_reach_exactly_the_head_with_a_frozen_strategy(setup):
    task, model, batch = setup
    torch.manual_seed(0)
    out = task.training_step(model, batch)
    assert {"loss_span", "loss_giou", "loss_label", "loss_saliency"} <= set(out.logs)
    assert float(out.loss) == pytest.approx(sum(out.logs.values()), rel=1e-5)
    task.zero_grad()
    model.zero_grad()
    out.loss.backward()
    with_grad = {n for n, p in task.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    head = {f"head.{n}" for n, _ in task.head.named_parameters()}
    assert with_grad and with_grad <= head
    assert {"head.query_embed.weight", "head.saliency_proj.weight", "head.span_embed.layers.2.weight"} <= with_grad
    assert not any(p.grad is not None for p in model.parameters())


def test_clip_length_must_match_the_annotation(setup, tmp_path):
    task, _, _ = setup
    bad = build_task({"name": "grounding", "clip_length": 1.0, "dataset": dict(task.data.options)})
    with pytest.raises(ValueError, match="clip_length"):
        bad.read_split("train")


def _submission_task(**kw):
    return build_task({"name": "grounding", "frames": 2,
                       "dataset": {"format": "qvhighlights", "root": "/nonexistent", "train": "t.jsonl"}, **kw})


def test_padded_windows_never_reach_the_submission():
    # A head that decodes a different number of windows per row pads the short rows; the mask
    # keeps the padding out of the submission, so a query's lines do not depend on its batch.
    task = _submission_task(round_to_clip=False)
    windows = torch.tensor([[[0.0, 0.5], [0.5, 1.0], [0.5, 1.0]], [[0.1, 0.2], [0.2, 0.3], [0.3, 0.4]]])
    scores = torch.tensor([[0.9, 0.2, 0.0], [0.8, 0.7, 0.6]])
    mask = torch.tensor([[True, True, False], [True, True, True]])
    out = GroundingOutput(windows, scores, torch.zeros(2, 4), window_mask=mask)
    batch = {"num_clips": torch.tensor([4, 4]), "duration": torch.tensor([8.0, 8.0]), "qid": [1, 2],
             "query": ["a", "b"], "video_id": ["v", "w"], "annotated_duration": torch.tensor([8.0, 8.0])}
    records = task.predictions(out, batch)
    assert records[0]["pred_relevant_windows"] == [[0.0, 4.0, 0.9], [4.0, 8.0, 0.2]]
    assert len(records[1]["pred_relevant_windows"]) == 3


def test_metrics_score_the_first_ten_windows_whatever_is_written():
    # The official evaluator cuts every query to its first 10 windows; writing more (here 12)
    # must not let a correct 11th window count in metrics.json.
    task = _submission_task(max_predicted_windows=12)
    wrong = [[0.0, 2.0, 0.9 - 0.01 * i] for i in range(10)]
    sub = [{"qid": 1, "pred_relevant_windows": [*wrong, [4.0, 8.0, 0.5]], "pred_saliency_scores": [0, 0, 0, 1]}]
    gt = [{"qid": 1, "duration": 8.0, "relevant_windows": [[4.0, 8.0]], "relevant_clip_ids": [2, 3],
           "saliency_scores": [[4, 4, 4], [4, 4, 4]]}]
    m = task.compute_metrics({"submission": sub, "ground_truth": gt}, "val")
    assert m["MR-full-mAP"] == 0.0 and m["MR-full-R1@0.5"] == 0.0


def test_targets_say_which_queries_have_saliency_annotation(setup):
    task, _, batch = setup
    assert task.targets(batch).annotated.tolist() == [True, True]
    plain = {**batch, "relevant_clip_ids": [[], []], "saliency_scores": [[], []],
             "windows": [[[2.0, 6.0]], [[0.0, 2.5]]]}
    t = task.targets(plain)
    assert t.annotated.tolist() == [False, False]
    # clips whose middle (1, 3, 5, 7 s) lies in a window are relevant, saliency 1
    assert t.relevant[0].tolist() == [False, True, True, False]
    assert t.relevant[1].tolist() == [True, False, False, False]
    assert t.saliency[0].tolist() == [0.0, 1.0, 1.0, 0.0]
