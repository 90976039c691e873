"""RetrievalTask on a generated MSR-VTT-style set with tiny random backbones: data contract,
training (loss falls, gradients reach exactly the trainable parts), evaluation equal to a
brute-force recomputation, X-Pool, caption truncation, prediction."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
import torch.nn.functional as F

from vidlift.backbones.losses import clip_loss
from vidlift.data.clips import collate_clips
from vidlift.synthetic.synth import generate
from vidlift.tasks.retrieval import RetrievalTask, XPoolHead
from vidlift.transfer import TransferModel, get_strategy

from ..transfer.conftest import tiny_backbone

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FRAMES = 4


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate("retrieval", tmp_path_factory.mktemp("ret") / "set", num_videos=12, size=32, seed=0, workers=0,
                    progress=False)


def config(root, **extra):
    return {"format": "msrvtt", "root": str(root), "video_root": "videos",
            "train": "msrvtt/train_val_videodatainfo.json", "val": "msrvtt/train_val_videodatainfo.json",
            "test": "msrvtt/test_videodatainfo.json", **extra}


def build(synth, strategies=(), arch="tiny-clip", **task_kwargs):
    bb = tiny_backbone(arch)
    model = TransferModel(bb, list(strategies), num_frames=FRAMES)
    task = RetrievalTask(task_kwargs.pop("dataset", config(synth)), frames=FRAMES, **task_kwargs)
    task.setup(model)
    return model, task, bb.preprocess


def batches(ds, size):
    return [collate_clips([ds[i] for i in range(s, min(s + size, len(ds)))]) for s in range(0, len(ds), size)]


def test_splits_and_items(synth):
    _, task, tf = build(synth)
    train, val, test = (task.dataset(s, tf) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (8, 2, 2)
    item = train[3]
    assert item["video"].shape == (FRAMES, 3, 32, 32)
    assert item["caption"] in task.records["train"][3].captions
    # The caption is a function of (seed, epoch, index): same again, and it moves across epochs.
    assert train[3]["caption"] == item["caption"]
    picks = []
    for epoch in range(6):
        task.set_epoch(epoch)
        picks.append([train[i]["caption"] for i in range(len(train))])
    assert len({tuple(p) for p in picks}) > 1
    # The engine's sampler keys items by (epoch, index): same draws as set_epoch + index.
    assert [train[(e, i)]["caption"] for e in range(6) for i in range(len(train))] == sum(picks, [])
    ev = test[0]
    assert len(ev["captions"]) == 5 and ev["video_id"] == task.records["test"][0].video_id
    batch = collate_clips([test[0], test[1]])
    assert batch["video"].shape == (2, FRAMES, 3, 32, 32) and len(batch["captions"][1]) == 5
    # Every pair an item (CLIP4Clip's expanded sentences).
    _, task_all, _ = build(synth, train_caption="all")
    ds = task_all.dataset("train", tf)
    assert len(ds) == 40 and [ds[i]["caption"] for i in range(5)] == list(task_all.records["train"][0].captions)


def test_msrvtt_1ka_format(synth):
    cfg = config(synth, format="msrvtt_1ka", test="msrvtt/MSRVTT_JSFUSION_test.csv")
    _, task, tf = build(synth, dataset=cfg)
    test = task.dataset("test", tf)
    assert len(test) == 2 and all(len(r.captions) == 1 for r in task.records["test"])
    # 9k-style training set: every video of the train file (train + validate) but the test CSV's.
    assert len(task.dataset("train", tf)) == 10
    with pytest.raises(ValueError):
        RetrievalTask({"format": "lsmdc"})
    with pytest.raises(ValueError, match="no 'train' split"):
        RetrievalTask({"format": "msrvtt", "test": "x.json"}).read_split("train")


def _train(model, task, batch, steps=15, lr=1e-2):
    params = [p for p in model.parameters() if p.requires_grad] + [p for p in task.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        out = task.training_step(model, batch)
        out.loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    return losses


def _grad_owners(model, task):
    grads = {f"model.{n}" for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    grads |= {f"task.{n}" for n, p in task.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    return grads


def test_temporal_transformer_training_reduces_loss_and_only_head_gets_gradients(synth):
    torch.manual_seed(0)
    model, task, tf = build(synth, [get_strategy("temporal_transformer", layers=1)])
    batch = collate_clips([task.dataset("train", tf)[i] for i in range(6)])
    model.train()
    first = task.training_step(model, batch)
    expected = clip_loss(model.logits(model.encode_video(batch["video"]),
                                              model.encode_text(model.tokenize(batch["caption"]))))
    assert float(first.loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    assert first.logs["logit_scale"] == pytest.approx(math.exp(float(model.backbone.logit_scale)))
    losses = _train(model, task, batch)
    assert losses[-1] < 0.5 * losses[0]
    grads = _grad_owners(model, task)
    trainable = {f"model.{n}" for n, p in model.named_parameters() if p.requires_grad}
    assert grads and grads <= trainable and all(".roles.video_head." in n for n in trainable)
    assert any("frame_position_embeddings" in n for n in grads)
    assert not any(p.grad is not None for p in model.backbone.parameters())
    assert list(task.parameters()) == []


def test_auxiliary_losses_are_added(synth, monkeypatch):
    model, task, tf = build(synth, [get_strategy("temporal_transformer", layers=1)])
    batch = collate_clips([task.dataset("train", tf)[i] for i in range(3)])
    monkeypatch.setattr(model, "auxiliary_losses", lambda video, **context: {"Distill": torch.tensor(2.0)})
    out = task.training_step(model, batch)
    assert float(out.loss.detach()) == pytest.approx(out.logs["retrieval_loss"] + 2.0) and out.logs["Distill"] == 2.0


def test_xpool_head_matches_reference_and_trains(synth):
    torch.manual_seed(0)
    head = XPoolHead(8, heads=2, dropout=0.0)
    for p in head.parameters():  # away from the identity init, so the check means something
        torch.nn.init.normal_(p, std=0.3)
    text, frames = torch.randn(3, 8), torch.randn(2, 5, 8)
    pooled = head(text, frames)
    assert pooled.shape == (2, 3, 8)
    a = head.cross_attn
    for b in range(2):
        for m in range(3):
            t, f = head.layer_norm1(text[m]), head.layer_norm1(frames[b])
            q, k, v = a.q_proj(t).view(2, 4), a.k_proj(f).view(5, 2, 4), a.v_proj(f).view(5, 2, 4)
            w = torch.stack([(k[:, h] @ q[h] / 2.0).softmax(0) for h in range(2)])  # (heads, frames)
            att = a.out_proj(torch.cat([w[h] @ v[:, h] for h in range(2)]))
            att = head.layer_norm2(att)
            ref = head.layer_norm3(att + head.linear_proj(att))
            torch.testing.assert_close(pooled[b, m], ref, rtol=1e-5, atol=1e-5)
    sim = head.similarity(text, frames)
    torch.testing.assert_close(sim[1, 2], F.cosine_similarity(text[2], pooled[1, 2], dim=0))
    torch.testing.assert_close(head.similarity_matrix(text, frames, max_pairs=1), sim.t())
    # In the task: only the X-Pool head trains on a frozen backbone, and the loss falls.
    model, task, tf = build(synth, head="xpool")
    assert isinstance(task.xpool, XPoolHead) and task.xpool.cross_attn.heads == 1
    assert task.xpool.dropout.p == 0.3  # X-Pool's default
    model, task, tf = build(synth, head="xpool", xpool_dropout=0.0)  # a noiseless loss curve
    batch = collate_clips([task.dataset("train", tf)[i] for i in range(6)])
    task.train()
    losses = _train(model, task, batch, steps=30)
    assert losses[-1] < 0.6 * losses[0]
    grads = _grad_owners(model, task)
    assert grads and all(n.startswith("task.xpool.") for n in grads)
    assert {"task.xpool.cross_attn.q_proj.weight", "task.xpool.linear_proj.weight"} <= grads


def test_xpool_pools_temporal_transformer_frames(synth):
    model, task, tf = build(synth, [get_strategy("temporal_transformer", layers=1)], head="xpool")
    batch = collate_clips([task.dataset("train", tf)[i] for i in range(4)])
    task.training_step(model, batch).loss.backward()
    grads = _grad_owners(model, task)
    assert any(n.startswith("task.xpool.") for n in grads) and any(".roles.video_head." in n for n in grads)


def _brute_force_ranks(sim, owner):
    """Plain loops: rank = 1 + #higher + #equal at a lower index (the argsort tie rule)."""
    def rank(row, j):
        return 1 + sum(1 for i, s in enumerate(row) if s > row[j] or (s == row[j] and i < j))
    t2v = [rank(sim[m], owner[m]) for m in range(len(owner))]
    v2t = []
    for v in range(len(sim[0])):
        col = [sim[m][v] for m in range(len(owner))]
        v2t.append(min(rank(col, m) for m in range(len(owner)) if owner[m] == v))
    return t2v, v2t


def _summary(ranks):
    r = sorted(ranks)
    mid = (r[(len(r) - 1) // 2] + r[len(r) // 2]) / 2
    return {"R@1": 100 * sum(x <= 1 for x in r) / len(r), "R@5": 100 * sum(x <= 5 for x in r) / len(r),
            "R@10": 100 * sum(x <= 10 for x in r) / len(r), "MdR": mid, "MnR": sum(r) / len(r)}


@pytest.mark.parametrize("head", ["video_embedding", "xpool"])
def test_metrics_equal_brute_force(synth, head):
    # Evaluate the 8 training videos (40 captions) as the "test" split: a richer gallery.
    cfg = config(synth, test="msrvtt/train_val_videodatainfo.json", splits={"test": ["train"]})
    torch.manual_seed(1)
    model, task, tf = build(synth, [get_strategy("temporal_transformer", layers=1)], dataset=cfg, head=head)
    if task.xpool is not None:
        for p in task.xpool.parameters():
            torch.nn.init.normal_(p, mean=float(p.detach().mean()), std=0.1)
    model.eval(), task.eval()
    ds = task.dataset("test", tf)
    outs = [task.evaluation_step(model, b) for b in batches(ds, 3)]  # uneven last batch
    outs.append(task.evaluation_step(model, collate_clips([ds[0]])))  # a duplicate (distributed padding)
    gathered = {k: torch.cat([o[k] for o in outs]) for k in outs[0]}
    assert gathered["text_embedding"].shape[0] == 45 and gathered["video_index"].shape == (9,)
    metrics = task.compute_metrics(gathered, "test")
    assert metrics["num_videos"] == 8 and metrics["num_texts"] == 40
    # Brute force: each video and caption encoded alone, scored pair by pair.
    with torch.no_grad():
        sim, owner = [], []
        items = [ds[i] for i in range(len(ds))]
        videos = [task.encode_videos(model, {"video": item["video"][None]}) for item in items]
        for v, item in enumerate(items):
            for caption in item["captions"]:
                text = task.encode_texts(model, [caption])
                sim.append([float(task.logits(model, video, frames, text)[0, 0]) for video, frames in videos])
                owner.append(v)
    t2v, v2t = _brute_force_ranks(sim, owner)
    for direction, ranks in (("t2v", t2v), ("v2t", v2t)):
        for k, v in _summary(ranks).items():
            assert metrics[f"{direction}_{k}"] == pytest.approx(v), (direction, k)


def test_max_words_truncation(synth):
    model, task, _ = build(synth, max_words=4)
    text = model.backbone.require_text("test")
    ids = model.tokenize(["a b c d e f", "a b"])
    cut = text.truncate(ids, 4)
    torch.testing.assert_close(cut, model.tokenize(["a b", "a b"]))  # start, 2 words, end
    with torch.no_grad():
        expected = model.encode_text(model.tokenize(["a b"]))
        torch.testing.assert_close(task.encode_texts(model, ["a b c d e f"]), expected)
        _, untruncated, _ = build(synth)
        torch.testing.assert_close(untruncated.encode_texts(model, ["a b c d e f"]),
                                   model.encode_text(model.tokenize(["a b c d e f"])))
    # SigLIP-style (no start token, end then padding with the end id, last-token pooling).
    sig = tiny_backbone("tiny-siglip")
    sids = sig.tokenizer(["a b c d e f"])
    torch.testing.assert_close(sig.model.require_text("test").truncate(sids, 3), sig.tokenizer(["a b"]))


def test_siglip_backbone_trains_and_evaluates(synth):
    model, task, tf = build(synth, [get_strategy("temporal_transformer", layers=1)], arch="tiny-siglip", max_words=6)
    batch = collate_clips([task.dataset("train", tf)[i] for i in range(4)])
    out = task.training_step(model, batch)
    out.loss.backward()
    assert math.isfinite(float(out.loss.detach()))
    model.eval()
    test = task.dataset("test", tf)
    o = task.evaluation_step(model, collate_clips([test[0], test[1]]))
    m = task.compute_metrics(o, "test")
    assert m["num_videos"] == 2 and m["num_texts"] == 10 and 0 <= m["t2v_R@1"] <= 100


@pytest.mark.parametrize("head", ["video_embedding", "xpool"])
def test_predict_top_captions(synth, head):
    model, task, tf = build(synth, head=head, predict_top_k=3)
    model.eval(), task.eval()
    ds = task.dataset("predict", tf)  # defaults to the test split
    batch = collate_clips([ds[0], ds[1]])
    recs = task.predict_step(model, batch)
    assert [r["video_id"] for r in recs] == batch["video_id"] and len(recs[0]["captions"]) == 5
    gallery = [c for r in task.records["predict"] for c in r.captions]
    for r in recs:
        assert [t["rank"] for t in r["top"]] == [1, 2, 3]
        scores = [t["score"] for t in r["top"]]
        assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
        assert all(t["text"] in gallery and t["video_id"] in {"video2", "video3"} for t in r["top"])
    # The top score is the best cosine over the whole gallery.
    texts, _, emb = task.gallery(model)
    with torch.no_grad():
        video, frames = task.encode_videos(model, batch)
        full = task.similarity_matrix(emb, frames if head == "xpool" else video.embedding)
    assert recs[0]["top"][0]["score"] == pytest.approx(float(full[:, 0].max()), abs=1e-5)
    # Free queries instead of the split's captions.
    cfg = config(synth, queries=["a red square moves left", "a blue circle spins"])
    model, task, tf = build(synth, dataset=cfg, predict_top_k=5)
    recs = task.predict_step(model, collate_clips([task.dataset("predict", tf)[0]]))
    assert len(recs[0]["top"]) == 2 and recs[0]["top"][0]["video_id"] is None


def test_setup_refuses_video_conditioned_texts(synth):
    bb = tiny_backbone("tiny-clip")
    model = TransferModel(bb, [get_strategy("xclip_prompt", layers=1)], num_frames=FRAMES)
    with pytest.raises(ValueError, match="xclip_prompt"):
        RetrievalTask(config(synth), frames=FRAMES).setup(model)


def test_other_formats_are_read(tmp_path):
    (tmp_path / "captions.txt").write_text("# MSVD\nv1 a dog runs\nv2 a cat sleeps\nv1 a dog is running\n")
    (tmp_path / "test_list.txt").write_text("v1\nv2\n")
    task = RetrievalTask({"format": "msvd", "root": str(tmp_path), "captions": "captions.txt", "test": "test_list.txt"})
    assert [r.captions for r in task.read_split("test")] == [("a dog runs", "a dog is running"), ("a cat sleeps",)]
    moments = [{"annotation_id": i, "description": d, "video": "x.mov", "times": [[0, 1]]}
               for i, d in enumerate(["a man walks", "he sits"])]
    (tmp_path / "test_data.json").write_text(json.dumps(moments))
    task = RetrievalTask({"format": "didemo", "root": str(tmp_path), "test": "test_data.json"})
    assert [r.captions for r in task.read_split("test")] == [("a man walks he sits",)]  # a paragraph
    task = RetrievalTask({"format": "didemo", "root": str(tmp_path), "test": "test_data.json", "paragraph": False})
    assert len(task.read_split("test")) == 2
    anet = {"v_a": {"duration": 10.0, "timestamps": [[0, 4], [4, 9]], "sentences": [" One.", " Two."]}}
    (tmp_path / "val_1.json").write_text(json.dumps(anet))
    task = RetrievalTask({"format": "activitynet", "root": str(tmp_path), "val": "val_1.json", "test": "val_1.json"})
    assert [r.captions for r in task.read_split("val")] == [("One. Two.",)]
