"""Text tokenizers for the text towers of CLIP-family models.

Every tokenizer here is a callable that turns one string or a batch of strings into a
``torch.LongTensor`` of shape ``(N, context_length)``, ready for a text tower:

>>> tok = ClipBpeTokenizer()
>>> tok(["a photo of a cat", "a video of a dog"]).shape
torch.Size([2, 77])

* :class:`ClipBpeTokenizer` -- CLIP's byte-level BPE (OpenAI CLIP, open_clip ViT models), built
  from the vocabulary file shipped in ``vidlift/backbones/assets``; matches ``open_clip.tokenize``
  id for id.
* :class:`HFTokenizer` -- any tokenizer directory that ``transformers.AutoTokenizer`` reads
  (HF CLIP, SigLIP's sentencepiece tokenizer, ...).
"""

from __future__ import annotations

import functools
import gzip
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import ftfy
import torch
from tokenizers import Regex, models, pre_tokenizers
from tokenizers import Tokenizer as _RustTokenizer

__all__ = [
    "TextTokenizer",
    "ClipBpeTokenizer",
    "HFTokenizer",
    "clean_clip_text",
    "DEFAULT_CLIP_BPE_PATH",
]

DEFAULT_CLIP_BPE_PATH = Path(__file__).resolve().parent / "assets" / "bpe_simple_vocab_16e6.txt.gz"

CLIP_SOT_TOKEN = "<|startoftext|>"
CLIP_EOT_TOKEN = "<|endoftext|>"
# CLIP's vocabulary has 49,408 entries: 256 byte symbols, the same 256 as word endings, the
# merges, then SOT and EOT. The vocabulary file holds far more merges than CLIP uses.
_CLIP_VOCAB_SIZE = 49_408
_CLIP_NUM_MERGES = _CLIP_VOCAB_SIZE - 2 * 256 - 2
_END_OF_WORD = "</w>"

# CLIP's pre-tokenisation: common English contractions, runs of letters, single digits (so
# numbers split digit by digit), runs of other non-space symbols. Whitespace is dropped.
_CLIP_PRETOKENIZE_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""


@runtime_checkable
class TextTokenizer(Protocol):
    """What the rest of vidlift expects from a tokenizer.

    ``tok(texts)`` takes a string or a sequence of strings and returns token ids as a
    ``torch.LongTensor`` of shape ``(N, context_length)`` (``N = 1`` for a single string),
    padded with ``pad_token_id``. ``decode(ids)`` turns one row back into text.
    """

    context_length: int
    vocab_size: int
    eos_token_id: int
    pad_token_id: int

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor: ...

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str: ...


def _as_list(texts: str | Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        return [texts]
    texts = list(texts)
    bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f"tokenizer expects str or a sequence of str, got elements of type {bad[0]}")
    return texts


def clean_clip_text(text: str) -> str:
    """Normalise a caption the way CLIP did before tokenising.

    Repairs mis-decoded unicode (ftfy), resolves html entities -- twice, because scraped
    captions are often escaped twice (``&amp;amp;``) -- collapses all whitespace to single
    spaces and lower-cases. CLIP was trained on text cleaned like this, so skipping a step
    changes the ids and quietly degrades zero-shot accuracy.
    """
    text = ftfy.fix_text(text)
    text = html.unescape(html.unescape(text))
    return " ".join(text.split()).lower()


@functools.cache
def _byte_to_symbol() -> dict[int, str]:
    """Map each byte value to the printable character that stands for it in byte-level BPE.

    Byte-level BPE works on characters, but raw bytes include whitespace and control codes
    that would break the merge table; so printable Latin-1 bytes stand for themselves and the
    other bytes are shifted to code points from 256 upward. The dict's order (printable bytes
    first) is CLIP's vocabulary order and so fixes the ids of the first 256 entries.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {b: chr(b) for b in printable}
    for offset, b in enumerate(b for b in range(256) if b not in mapping):
        mapping[b] = chr(256 + offset)
    return mapping


@functools.cache
def _symbol_to_byte() -> dict[str, int]:
    return {symbol: b for b, symbol in _byte_to_symbol().items()}


@functools.lru_cache(maxsize=8)
def _build_clip_bpe(vocab_path: str) -> _RustTokenizer:
    """Build (once per file) the ``tokenizers`` pipeline for CLIP's BPE.

    The returned object is shared between ``ClipBpeTokenizer`` instances, so it carries no
    per-instance state (no truncation or padding settings); instances add SOT/EOT and pad.
    """
    with gzip.open(vocab_path, "rt", encoding="utf-8") as f:
        lines = f.read().split("\n")
    # Line 0 is a version header; CLIP keeps only the first _CLIP_NUM_MERGES merges.
    merges = [tuple(line.split()) for line in lines[1 : 1 + _CLIP_NUM_MERGES]]
    if len(merges) != _CLIP_NUM_MERGES or any(len(m) != 2 for m in merges):
        raise ValueError(f"{vocab_path} is not a CLIP BPE merges file (expected {_CLIP_NUM_MERGES} pairs)")

    symbols = list(_byte_to_symbol().values())
    tokens = symbols + [s + _END_OF_WORD for s in symbols] + ["".join(m) for m in merges]
    tokens += [CLIP_SOT_TOKEN, CLIP_EOT_TOKEN]
    vocab = {t: i for i, t in enumerate(tokens)}
    assert len(vocab) == _CLIP_VOCAB_SIZE, "duplicate entries in CLIP vocabulary"

    bpe = _RustTokenizer(models.BPE(vocab=vocab, merges=merges, end_of_word_suffix=_END_OF_WORD,
                                    continuing_subword_prefix="", fuse_unk=False))
    # Keep the regex matches and drop what lies between them (whitespace); then map each
    # piece's utf-8 bytes to the byte symbols above. The special tokens are deliberately not
    # registered as added tokens: a caption containing the literal text "<|endoftext|>" must
    # not be able to end the sequence early.
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_CLIP_PRETOKENIZE_PATTERN), behavior="removed", invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    return bpe



class ClipBpeTokenizer:
    """CLIP's byte-level BPE tokenizer, as used by OpenAI CLIP and open_clip's ViT models.

    Output rows are ``[SOT] tokens... [EOT] 0 0 ...``: zero-padded to ``context_length`` and,
    for long texts, truncated so the last kept token is still EOT -- text towers pool at the
    EOT position (the largest id in the row), so it must always be present.

    Args:
        vocab_path: CLIP's ``bpe_simple_vocab_16e6.txt.gz``; defaults to the copy shipped with
            vidlift. Tokenizers built from the same file share one cached BPE model.
        context_length: Row length of the output (77 for all released CLIP models).

    Call ``tok(texts)`` with a string or a sequence of strings; returns a ``torch.LongTensor``
    of shape ``(N, context_length)``.
    """

    def __init__(self, vocab_path: str | Path | None = None, context_length: int = 77) -> None:
        if context_length < 2:
            raise ValueError(f"context_length must leave room for SOT and EOT, got {context_length}")
        path = Path(vocab_path) if vocab_path is not None else DEFAULT_CLIP_BPE_PATH
        if not path.is_file():
            raise FileNotFoundError(f"CLIP BPE vocabulary not found: {path}")
        self.vocab_path = path.resolve()
        self.context_length = int(context_length)
        self._bpe = _build_clip_bpe(str(self.vocab_path))
        self.vocab_size = self._bpe.get_vocab_size()
        self.sot_token_id = self._bpe.token_to_id(CLIP_SOT_TOKEN)
        self.eos_token_id = self._bpe.token_to_id(CLIP_EOT_TOKEN)
        # CLIP pads with 0 (which is also the id of "!"); rows are read up to EOT, never by pad.
        self.pad_token_id = 0

    def get_vocab(self) -> dict[str, int]:
        """The vocabulary as ``{token: id}`` (byte-level symbols; ``</w>`` marks a word end)."""
        return self._bpe.get_vocab()

    def encode(self, text: str) -> list[int]:
        """Token ids of one text (CLIP-cleaned first), without SOT/EOT and without truncation."""
        # Single-text encode on purpose: encode_batch starts tokenizers' thread pool, which then
        # warns and disables itself in forked DataLoader workers that tokenize captions.
        return self._bpe.encode(clean_clip_text(text), add_special_tokens=False).ids

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Tokenize ``texts`` into a ``(N, context_length)`` ``torch.LongTensor``."""
        batch = _as_list(texts)
        out = torch.full((len(batch), self.context_length), self.pad_token_id, dtype=torch.long)
        keep = self.context_length - 2
        for row, text in enumerate(batch):
            ids = [self.sot_token_id, *self.encode(text)[:keep], self.eos_token_id]
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Text of one row of ids: what lies between SOT and the first EOT (padding ignored).

        Decoding is lossy by design: cleaning lower-cased the text and collapsed whitespace.
        """
        ids = [int(i) for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids)]
        if ids and ids[0] == self.sot_token_id:
            ids = ids[1:]
        if self.eos_token_id in ids:
            ids = ids[: ids.index(self.eos_token_id)]
        # Join all pieces before turning symbols back into bytes: a multi-byte character
        # (accents, CJK, emoji) is often split across several tokens.
        pieces = "".join(self._bpe.id_to_token(i) for i in ids)
        space = _byte_to_symbol()[ord(" ")]
        to_byte = _symbol_to_byte()
        raw = bytes(to_byte[c] for c in pieces.replace(_END_OF_WORD, space))
        return raw.decode("utf-8", errors="replace").strip()

    def save_pretrained(self, directory: str | Path) -> None:
        """Write this vocabulary as an HF CLIP tokenizer (vocab.json, merges.txt and
        tokenizer_config.json), so an HF-format checkpoint directory carries its tokenizer."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        # In id order: the tokenizers library returns its vocabulary in hash order, which would
        # make two saves of the same tokenizer differ byte for byte.
        vocab = dict(sorted(self.get_vocab().items(), key=lambda kv: kv[1]))
        (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        with gzip.open(self.vocab_path, "rt", encoding="utf-8") as f:
            merges = f.read().split("\n")[1 : 1 + _CLIP_NUM_MERGES]
        # HF's merges.txt opens with a version line where CLIP's file has its own header.
        (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
        config = {
            "tokenizer_class": "CLIPTokenizer", "model_max_length": self.context_length,
            "bos_token": CLIP_SOT_TOKEN, "eos_token": CLIP_EOT_TOKEN, "unk_token": CLIP_EOT_TOKEN,
            "pad_token": CLIP_EOT_TOKEN, "do_lower_case": True,
        }
        (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_path={str(self.vocab_path)!r}, context_length={self.context_length})"


# Files whose presence means a directory holds a tokenizer AutoTokenizer can read.
_HF_TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "vocab.txt",
    "spiece.model", "tokenizer.model", "sentencepiece.bpe.model",
)
# transformers' "no limit" sentinel for model_max_length is about 1e30.
_UNBOUNDED_MAX_LENGTH = 1_000_000


def _context_length_from_config(directory: Path) -> int | None:
    """The text tower's max_position_embeddings from a model directory's config.json, if any."""
    config_path = directory / "config.json"
    if not config_path.is_file():
        return None
    config = json.loads(config_path.read_text(encoding="utf-8"))
    for section in (config.get("text_config") or {}, config):
        value = section.get("max_position_embeddings")
        if isinstance(value, int) and value > 0:
            return value
    return None


class HFTokenizer:
    """A ``transformers`` tokenizer directory (HF CLIP, SigLIP, ...) behind vidlift's interface.

    Args:
        path_or_dir: A local directory saved with ``save_pretrained`` (or a hub id, resolved by
            ``transformers`` -- offline, only if it is already in the local cache).
        context_length: Output row length. Defaults to the text tower's
            ``max_position_embeddings`` from ``config.json`` beside the tokenizer (77 for CLIP,
            64 for SigLIP), else the tokenizer's own ``model_max_length``.
        padding: ``"max_length"`` pads every row to ``context_length`` -- what SigLIP was trained
            with, so its text features are only right with this setting; ``"longest"`` pads to
            the longest text in the batch.

    Call ``tok(texts)`` with a string or a sequence of strings; returns a ``torch.LongTensor``
    of shape ``(N, context_length)`` (``(N, longest)`` with ``padding="longest"``).
    Texts longer than the context are truncated; the tokenizer's own special tokens (e.g.
    CLIP's EOT, SigLIP's ``</s>``) are kept.
    """

    def __init__(self, path_or_dir: str | Path, context_length: int | None = None,
                 padding: str = "max_length") -> None:
        if padding not in ("max_length", "longest"):
            raise ValueError(f"padding must be 'max_length' or 'longest', got {padding!r}")
        source = Path(path_or_dir)
        if source.exists():
            if not source.is_dir():
                raise NotADirectoryError(f"HFTokenizer needs a tokenizer directory, got file {source}")
            if not any((source / name).is_file() for name in _HF_TOKENIZER_FILES):
                raise FileNotFoundError(
                    f"no tokenizer files in {source} (looked for {', '.join(_HF_TOKENIZER_FILES)}); "
                    "save one there with tokenizer.save_pretrained()"
                )
        # Imported here, not at module top: transformers takes seconds to import and users of
        # ClipBpeTokenizer alone should not pay for it.
        from transformers import AutoTokenizer

        try:
            self._tok = AutoTokenizer.from_pretrained(str(path_or_dir))
        except (OSError, ValueError) as err:
            raise OSError(f"could not load a tokenizer from {str(path_or_dir)!r}: {err}") from err

        self.source = str(path_or_dir)
        self.padding = padding
        if context_length is None:
            context_length = _context_length_from_config(source) if source.is_dir() else None
        if context_length is None and 0 < self._tok.model_max_length < _UNBOUNDED_MAX_LENGTH:
            context_length = int(self._tok.model_max_length)
        if context_length is None:
            raise ValueError(
                f"cannot tell the context length for the tokenizer in {self.source}: no config.json "
                "with max_position_embeddings and no model_max_length; pass context_length="
            )
        self.context_length = int(context_length)
        self.vocab_size = len(self._tok)
        self.eos_token_id = self._tok.eos_token_id
        self.pad_token_id = self._tok.pad_token_id if self._tok.pad_token_id is not None else 0

    @property
    def hf_tokenizer(self):
        """The wrapped ``transformers`` tokenizer."""
        return self._tok

    def save_pretrained(self, directory: str | Path) -> None:
        """Write the wrapped tokenizer's files into ``directory`` (``transformers`` layout)."""
        self._tok.save_pretrained(str(directory))

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Tokenize ``texts`` into a ``(N, L)`` ``torch.LongTensor``."""
        batch = _as_list(texts)
        encoded = self._tok(batch, padding=self.padding, truncation=True,
                            max_length=self.context_length, return_tensors="pt")
        return encoded["input_ids"].to(torch.long)

    def decode(self, ids: Sequence[int] | torch.Tensor) -> str:
        """Text of one row of ids, with special and padding tokens removed."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        return self._tok.decode(ids, skip_special_tokens=True).strip()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.source!r}, context_length={self.context_length}, "
                f"padding={self.padding!r})")
