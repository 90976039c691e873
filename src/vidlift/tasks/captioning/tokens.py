"""Captions as decoder targets, through the backbone's own tokenizer.

The caption decoder speaks the backbone tokenizer's vocabulary (CLIP's BPE for CLIP-family
backbones), so its word table can start from the text tower's token table. A target sequence
is ``[start] tokens... [end]``: for CLIP the start and end tokens are ``<|startoftext|>`` and
``<|endoftext|>``; a tokenizer that adds no start token (SigLIP's) starts from its end token, the
way GPT-2 starts from ``<|endoftext|>``. ``max_words`` counts the start and end tokens (UniVL's
``max_words``: its decoder input is ``[CLS] + words`` and its target ``words + [SEP]``, each at
most ``max_words`` long; CLIP4Caption uses 48).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

IGNORE = -100  # target of positions after the end token (cross-entropy's ignore_index)


class CaptionVocabulary:
    """Turns captions into teacher-forcing pairs and generated ids back into text.

    Args:
        tokenizer: the backbone's tokenizer (``__call__`` -> (N, C) ids, ``eos_token_id``,
            ``decode``; :mod:`vidlift.backbones.tokenizer`).
        max_words: tokens per target sequence, start and end included (>= 3).
    """

    def __init__(self, tokenizer: Any, max_words: int = 48) -> None:
        missing = [a for a in ("eos_token_id", "decode", "vocab_size") if not hasattr(tokenizer, a)]
        if missing:
            raise ValueError(f"captioning generates text with the backbone's tokenizer, but {type(tokenizer).__name__} "
                             f"has no {', '.join(missing)}; use a backbone with a text tokenizer")
        if max_words < 3:
            raise ValueError(f"captioning: max_words counts start and end tokens and must be >= 3, got {max_words}")
        self.tokenizer, self.max_words = tokenizer, int(max_words)
        self.end_id = int(tokenizer.eos_token_id)
        first = int(tokenizer([""])[0, 0])
        self.adds_start = first != self.end_id
        self.start_id = first if self.adds_start else self.end_id
        self.vocab_size = int(tokenizer.vocab_size)

    def sequences(self, texts: Sequence[str]) -> list[list[int]]:
        """Each caption's ``[start] tokens... [end]``, at most ``max_words`` long."""
        rows = self.tokenizer(list(texts))
        out = []
        for row in rows.tolist():
            body = row[1:] if self.adds_start else row
            body = body[: body.index(self.end_id)] if self.end_id in body else body
            out.append([self.start_id, *body[: self.max_words - 2], self.end_id])
        return out

    def teacher_forcing(self, texts: Sequence[str], device: torch.device | str = "cpu"
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """Captions -> decoder inputs (N, L) and targets (N, L): the sequence without its last
        token and shifted by one; inputs padded with the end token, targets with :data:`IGNORE`."""
        seqs = self.sequences(texts)
        length = max(len(s) for s in seqs) - 1
        inputs = torch.full((len(seqs), length), self.end_id, dtype=torch.long)
        targets = torch.full((len(seqs), length), IGNORE, dtype=torch.long)
        for i, s in enumerate(seqs):
            inputs[i, : len(s) - 1] = torch.tensor(s[:-1])
            targets[i, : len(s) - 1] = torch.tensor(s[1:])
        return inputs.to(device), targets.to(device)

    def decode(self, tokens: Sequence[int]) -> str:
        """Generated ids (no start token, cut at the first end token) -> text."""
        tokens = list(tokens)
        if self.end_id in tokens:
            tokens = tokens[: tokens.index(self.end_id)]
        return self.tokenizer.decode(tokens)


__all__ = ["CaptionVocabulary", "IGNORE"]
