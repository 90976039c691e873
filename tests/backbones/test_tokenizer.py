"""Tokenizers: CLIP's BPE against open_clip's golden ids; HF CLIP and SigLIP directories."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
import random
from pathlib import Path

import pytest
import torch

from vidlift.backbones.tokenizer import (
    DEFAULT_CLIP_BPE_PATH,
    ClipBpeTokenizer,
    HFTokenizer,
    TextTokenizer,
    clean_clip_text,
)

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "openclip_tokenizer_golden.json"
SOT, EOT = 49406, 49407


@pytest.fixture(scope="module")
def clip_tok():
    return ClipBpeTokenizer()


@pytest.fixture(scope="module")
def golden():
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- ClipBpeTokenizer


def test_matches_open_clip_tokenize(clip_tok, golden):
    texts = [case["text"] for case in golden["cases"]]
    expected = torch.tensor([case["ids"] for case in golden["cases"]], dtype=torch.long)
    out = clip_tok(texts)
    assert out.dtype == torch.long and out.shape == (len(texts), golden["context_length"])
    for text, got, want in zip(texts, out, expected):
        assert got.tolist() == want.tolist(), f"ids differ from open_clip for {text!r}"


def test_rows_are_sot_tokens_eot_zero_padded(clip_tok, golden):
    out = clip_tok([case["text"] for case in golden["cases"]])
    for row in out.tolist():
        assert row[0] == SOT
        # Exactly one EOT per row -- even for the caption containing the literal "<|endoftext|>".
        assert row.count(EOT) == 1
        end = row.index(EOT)
        assert all(i == 0 for i in row[end + 1 :])
        # EOT is the row's largest id: open_clip-style text towers pool at argmax(ids).
        assert max(row) == EOT


def test_single_string_and_short_context_truncate_to_eot(clip_tok, golden):
    long_case = next(c for c in golden["cases"] if c["ids"][-1] == EOT)  # a truncated case
    short = ClipBpeTokenizer(context_length=16)
    out = short(long_case["text"])
    assert out.shape == (1, 16)
    assert out[0].tolist() == long_case["ids"][:15] + [EOT]
    assert clip_tok("")[0, :3].tolist() == [SOT, EOT, 0]


def test_attributes_and_protocol(clip_tok):
    assert isinstance(clip_tok, TextTokenizer)
    assert (clip_tok.vocab_size, clip_tok.eos_token_id, clip_tok.pad_token_id, clip_tok.sot_token_id) == (
        49408, EOT, 0, SOT)
    assert clip_tok.context_length == 77
    vocab = clip_tok.get_vocab()
    assert vocab["<|startoftext|>"] == SOT and vocab["!"] == 0 and vocab["a</w>"] == 320


def test_construction_is_cached(clip_tok):
    # Same file -> the same built BPE object, whatever the context length.
    again = ClipBpeTokenizer(DEFAULT_CLIP_BPE_PATH, context_length=32)
    assert again._bpe is clip_tok._bpe
    assert again.context_length == 32


def test_decode_round_trip(clip_tok):
    ids = clip_tok("Café   crème, a 🏄 PHOTO! &amp;amp; 東京")
    assert clip_tok.decode(ids[0]) == "café crème , a 🏄 photo ! & 東京"
    assert clip_tok.decode([]) == ""


def test_clean_clip_text():
    assert clean_clip_text("  Fish &amp;amp; CHIPS\t\n caf\u00c3\u00a9 ") == "fish & chips café"


def test_bad_arguments(tmp_path, clip_tok):
    with pytest.raises(ValueError, match="context_length"):
        ClipBpeTokenizer(context_length=1)
    with pytest.raises(FileNotFoundError, match="nope.txt.gz"):
        ClipBpeTokenizer(tmp_path / "nope.txt.gz")
    with pytest.raises(TypeError, match="int"):
        clip_tok(["ok", 3])


# --------------------------------------------------------------------------- HF CLIP directory


@pytest.fixture(scope="module")
def hf_clip_dirs(tmp_path_factory, clip_tok):
    from transformers import CLIPTokenizer

    raw = tmp_path_factory.mktemp("clip_raw")
    clip_tok.save_pretrained(raw)  # vocab.json + merges.txt + tokenizer_config.json
    with_len = tmp_path_factory.mktemp("clip_hf")
    CLIPTokenizer.from_pretrained(str(raw), model_max_length=77).save_pretrained(str(with_len))
    bare = tmp_path_factory.mktemp("clip_bare")
    clip_tok.save_pretrained(bare)
    (bare / "tokenizer_config.json").unlink()  # vocab + merges only: no length limit anywhere
    without_len = tmp_path_factory.mktemp("clip_hf_nolen")
    CLIPTokenizer.from_pretrained(str(bare)).save_pretrained(str(without_len))
    return with_len, without_len


ORDINARY = [
    "a photo of a cat",
    "a person riding a bicycle, then a dog runs after it!",
    "two people play tennis on a court in 2024",
    "",
    " ".join(["a long caption about a red ball rolling down a hill"] * 10),  # > 77 tokens
]


def test_hf_clip_agrees_with_clip_bpe(hf_clip_dirs, clip_tok):
    hf = HFTokenizer(hf_clip_dirs[0])
    assert isinstance(hf, TextTokenizer)
    assert hf.context_length == 77 and hf.vocab_size == 49408 and hf.eos_token_id == EOT
    ours, theirs = clip_tok(ORDINARY), hf(ORDINARY)
    assert theirs.dtype == torch.long and theirs.shape == (len(ORDINARY), 77)
    for text, a, b in zip(ORDINARY, ours.tolist(), theirs.tolist()):
        end = a.index(EOT)
        assert b[: end + 1] == a[: end + 1], text
        # HF CLIP pads with its pad token (EOT here), open_clip with 0; only the padding differs.
        assert all(i == hf.pad_token_id for i in b[end + 1 :])
    assert theirs[-1].tolist() == ours[-1].tolist()  # truncated row: no padding, EOT last
    assert hf.decode(theirs[1]) == "a person riding a bicycle , then a dog runs after it !"


def test_hf_context_length_sources(hf_clip_dirs, tmp_path):
    with_len, without_len = hf_clip_dirs
    with pytest.raises(ValueError, match="context_length"):
        HFTokenizer(without_len)
    assert HFTokenizer(without_len, context_length=20)(ORDINARY).shape == (len(ORDINARY), 20)
    # A model directory's config wins over the tokenizer's own limit.
    (without_len / "config.json").write_text(json.dumps({"text_config": {"max_position_embeddings": 24}}))
    try:
        assert HFTokenizer(without_len).context_length == 24
    finally:
        (without_len / "config.json").unlink()
    longest = HFTokenizer(with_len, padding="longest")(["a cat", "a photo of a cat"])
    assert longest.shape == (2, 7) and longest[0].tolist() == [SOT, 320, 2368, EOT, EOT, EOT, EOT]


def test_hf_missing_tokenizer_files(tmp_path):
    empty = tmp_path / "weights_only"
    empty.mkdir()
    (empty / "model.safetensors").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="weights_only"):
        HFTokenizer(empty)
    with pytest.raises(ValueError, match="padding"):
        HFTokenizer(empty, padding="do_not_pad")


# --------------------------------------------------------------------------- SigLIP directory

_WORDS = ("a the red green blue yellow circle square triangle ball moves left right up down rotates "
          "appears disappears bounces slowly quickly then after video of person riding dog cat").split()


@pytest.fixture(scope="module")
def siglip_dir(tmp_path_factory):
    import sentencepiece as spm
    from transformers import SiglipTokenizer

    rng = random.Random(0)
    syllables = "ka lo mi su te ra ne po vi da ze fu".split()
    # Made-up words widen the corpus enough for a unigram model of 160 pieces.
    words = list(_WORDS) + ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(300)]
    corpus = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 12))) for _ in range(3000)]
    work = tmp_path_factory.mktemp("spm")
    # SigLIP's layout: pad 0, eos 1, unk 2, no bos.
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus), model_prefix=str(work / "spiece"), vocab_size=160,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2,
    )
    out = tmp_path_factory.mktemp("siglip_hf")
    SiglipTokenizer(vocab_file=str(work / "spiece.model")).save_pretrained(str(out))
    (out / "config.json").write_text(json.dumps(
        {"model_type": "siglip", "text_config": {"max_position_embeddings": 64, "vocab_size": 160}}))
    return out


def test_siglip_pads_to_max_length_and_round_trips(siglip_dir):
    tok = HFTokenizer(siglip_dir)
    assert tok.context_length == 64 and tok.vocab_size == 160
    assert tok.eos_token_id == 1 and tok.pad_token_id == 1  # SigLIP pads with </s>
    texts = ["a red circle moves left", "the dog rotates slowly then appears", "cat"]
    ids = tok(texts)
    assert ids.dtype == torch.long and ids.shape == (3, 64)
    for text, row in zip(texts, ids.tolist()):
        n = row.index(tok.eos_token_id)
        assert n > 0 and all(i == tok.pad_token_id for i in row[n:])
        assert tok.decode(row) == text
    assert tok("cat").shape == (1, 64)
    assert tok.decode(tok("The DOG")[0]) == "the dog"  # SigLIP's tokenizer lower-cases


def test_siglip_truncates_long_text_keeping_eos(siglip_dir):
    tok = HFTokenizer(siglip_dir)
    row = tok(" ".join(_WORDS * 5))[0].tolist()
    assert len(row) == 64 and row[-1] == tok.eos_token_id and row.count(tok.eos_token_id) == 1
