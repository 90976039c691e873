"""Tiny backbones for the transfer tests, two families behind one contract: random tiny-clip
(CLIP: class token, causal text, argmax pooling), tiny-siglip (no class token, MAP head, no
visual projection, last-token pooling) and tiny-eva (EVA02-CLIP: RoPE, SwiGLU, sub-LNs in the
image tower; CLIP's text tower), each with a toy word tokenizer (their 512-token vocabularies
have no BPE)."""

from __future__ import annotations

import os
import zlib

import pytest
import torch

from vidlift.backbones import load_backbone

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The CLIP family's two designs, for the strategies' own tests (which may look inside CLIP) ...
ARCHS = ("tiny-clip", "tiny-siglip")
# ... and one architecture per family for the strategy matrices, which use the contract only.
MATRIX_ARCHS = ARCHS + ("tiny-eva",)


class ToyTokenizer:
    """Words -> ids by CRC32, CLIP-like (start token, end token with the highest id) or
    SigLIP-like (no start token, end token then padding to the context length), from the
    text settings of the backbone's ``config_dict()``."""

    def __init__(self, text: dict) -> None:
        self.cfg = text
        self.clip_like = text["pool"] != "last"

    def __call__(self, texts):
        c = self.cfg
        n, vocab = c["context_length"], c["vocab_size"]
        out = torch.full((len(texts), n), c["pad_token_id"], dtype=torch.long)
        for row, text in enumerate(texts):
            words = [2 + zlib.crc32(w.encode()) % (vocab - 4) for w in text.lower().split()]
            ids = ([vocab - 2] if self.clip_like else []) + words[: n - 2] + [c["eos_token_id"]]
            out[row, : len(ids)] = torch.tensor(ids)
        return out


def tiny_backbone(arch: str = "tiny-clip", seed: int = 0):
    b = load_backbone(f"random:{arch}:{seed}")
    b.tokenizer = ToyTokenizer(b.model.config_dict()["text"])
    return b


def deeper_tiny(layers: int = 4, arch: str = "tiny-clip"):
    """A tiny backbone with ``layers`` image-tower blocks (random weights, seed 0)."""
    import dataclasses

    from vidlift.backbones import Backbone

    b = tiny_backbone(arch)
    cfg = b.model.cfg.replace(vision=dataclasses.replace(b.model.cfg.vision, layers=layers))
    torch.manual_seed(0)
    return Backbone(type(b.model)(cfg).eval(), b.preprocess, b.tokenizer, b.meta)


@pytest.fixture(params=ARCHS)
def backbone(request):
    return tiny_backbone(request.param)


def clips(batch: int = 2, frames: int = 4, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, frames, 3, size, size, generator=g)


def perturb(model, std: float = 0.1, seed: int = 1) -> None:
    """Move zero-initialised modules off zero (as if trained), so they act and get gradients."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in model.trainable_parameters():
            p.add_(std * torch.randn(p.shape, generator=g))


def frames(model, video: torch.Tensor) -> torch.Tensor:
    """Per-frame embeddings (B, T, E) of ``video`` in eval mode, without autograd."""
    model.eval()
    with torch.no_grad():
        return model.video_features(video).frames
