"""CaptioningTask with the project's tiny CLIP on a generated MSR-VTT-style set: teacher-forcing
targets from the CLIP BPE tokenizer, the decoder's causal mask, the copied and tied word table,
the loss falling when overfitting two videos (gradients reach the decoder only), generation and
prediction records, and the strategies the task refuses."""

from __future__ import annotations

import os

import pytest
import torch

from vidlift.backbones import load_backbone
from vidlift.data.clips import collate_clips
from vidlift.synthetic.synth import generate
from vidlift.tasks.captioning.decoder import CaptionDecoder
from vidlift.tasks.captioning.task import CaptioningTask
from vidlift.tasks.captioning.tokens import IGNORE, CaptionVocabulary
from vidlift.transfer import TransferModel, get_strategy

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FRAMES = 4


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return generate("captioning", tmp_path_factory.mktemp("cap") / "set", num_videos=6, size=32, seed=0, workers=0,
                    progress=False)


@pytest.fixture
def tiny():
    return load_backbone("tiny")


def build(synth, strategies=(), **kw):
    model = TransferModel(load_backbone("tiny"), list(strategies), num_frames=FRAMES)
    dataset = {"format": "msrvtt", "root": str(synth), "video_root": "videos",
               "train": "msrvtt/train_val_videodatainfo.json", "test": "msrvtt/test_videodatainfo.json"}
    kw = {"frames": FRAMES, "max_words": 16, "layers": 1, "encoder_layers": 1, "metrics": ["bleu", "rouge", "cider"],
          **kw}
    task = CaptioningTask(dataset, **kw)
    task.setup(model)
    return model, task


def test_teacher_forcing_pairs_from_clip_bpe(tiny):
    vocab = CaptionVocabulary(tiny.tokenizer, max_words=6)
    assert vocab.adds_start and vocab.start_id == 49406 and vocab.end_id == 49407  # CLIP's SOT / EOT
    inputs, targets = vocab.teacher_forcing(["a red circle.", "a big blue square moves left slowly"])
    ids = tiny.tokenizer(["a red circle."])[0].tolist()  # SOT a red circle . EOT
    assert inputs[0].tolist() == ids[:5] and targets[0].tolist() == [*ids[1:6], IGNORE][:5]
    # Truncated to max_words = 6 tokens with its end token: SOT + 4 words + EOT.
    assert inputs.shape == (2, 5) and targets[1, -1] == vocab.end_id and (targets[1] != IGNORE).all()
    assert vocab.decode(targets[0, :-1].tolist() + [vocab.end_id, 320]) == "a red circle ."


def test_causal_mask_future_tokens_do_not_change_earlier_logits():
    torch.manual_seed(0)
    dec = CaptionDecoder(30, video_dim=8, width=16, heads=2, layers=2, encoder_layers=1, max_frames=4).eval()
    memory = dec.encode(torch.randn(2, 4, 8))
    a = torch.randint(0, 30, (2, 7))
    b = a.clone()
    b[:, 4:] = torch.randint(0, 30, (2, 3))
    la, lb = dec(a, memory), dec(b, memory)
    assert torch.allclose(la[:, :4], lb[:, :4], atol=1e-6)
    assert not torch.allclose(la[:, 4:], lb[:, 4:])
    # The video matters: other frames, other logits.
    assert not torch.allclose(dec(a, dec.encode(torch.randn(2, 4, 8))), la)


def test_word_table_copied_from_text_tower_and_tied(synth, tiny):
    table = tiny.model.require_text("test").token_embedding_weight
    model, task = build(synth)
    dec = task.decoder
    assert dec.word.weight.shape == table.shape and torch.equal(dec.word.weight.detach(), table.detach())
    assert dec.word.weight.data_ptr() != table.data_ptr()  # a copy: the frozen backbone stays frozen
    # Tied: the output projection is the word table itself (V x W counted once); the rest is small.
    v, w = table.shape
    assert sum(p.numel() for p in task.parameters()) < v * w + 200_000
    _, other = build(synth, word_init="random")
    assert not torch.equal(other.decoder.word.weight.detach(), table.detach())
    with pytest.raises(ValueError, match="word_init"):
        build(synth, width=32)


def test_loss_falls_when_overfitting_two_videos(synth, tiny):
    torch.manual_seed(0)
    model, task = build(synth, dropout=0.0)
    ds = task.dataset("train", tiny.preprocess)
    batch = collate_clips([ds[0], ds[1]])
    params = [p for p in task.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-3)
    losses = []
    for _ in range(12):
        out = task.training_step(model, batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.logs["caption_loss"])
    assert losses[-1] < 0.5 * losses[0], losses
    assert all(p.grad is None for p in model.parameters())  # the frozen backbone gets no gradient
    assert task.decoder.word.weight.grad is not None and task.decoder.video_proj.weight.grad.abs().sum() > 0


def test_generation_and_prediction_records(synth, tiny):
    model, task = build(synth, beam_size=2)
    task.eval()
    test = task.dataset("test", tiny.preprocess)
    batch = collate_clips([test[i] for i in range(len(test))])
    out = task.evaluation_step(model, batch)
    assert out["video_id"] == list(batch["video_id"]) and len(out["caption"]) == len(test)
    assert all(isinstance(c, str) for c in out["caption"]) and out["references"][0] == list(batch["captions"][0])
    # Generation is deterministic in eval mode: the same captions again.
    assert task.evaluation_step(model, batch)["caption"] == out["caption"]
    metrics = task.compute_metrics({k: v + v for k, v in out.items()}, "test")  # duplicates count once
    assert metrics["num_videos"] == len(test) and set(metrics) == {"BLEU-4", "ROUGE-L", "CIDEr", "num_videos"}
    rows = task.predict_step(model, batch)
    assert rows == [{"video_id": v, "caption": c} for v, c in zip(out["video_id"], out["caption"])]


@pytest.mark.parametrize("strategy, message", [("coop", "class prompt"), ("xclip_prompt", "conditions texts")])
def test_refused_strategies_name_task_and_strategy(synth, strategy, message):
    with pytest.raises(ValueError, match=f"captioning.*{message}") as err:
        build(synth, strategies=[get_strategy(strategy)])
    assert strategy in str(err.value)


def test_bad_options(synth):
    ds = {"format": "msrvtt", "root": str(synth), "train": "msrvtt/train_val_videodatainfo.json"}
    for kw, msg in (({"metrics": ["spice"]}, "metrics"), ({"search": "sample"}, "search"),
                    ({"max_words": 2}, "max_words"), ({"train_caption": "first"}, "train_caption")):
        with pytest.raises(ValueError, match=msg):
            CaptioningTask(ds, **kw)
