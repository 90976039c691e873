"""Zero-shot video classification with an image-language model.

Each label is turned into sentences by prompt templates; their text embeddings are
L2-normalised, averaged over templates and re-normalised (CLIP's prompt ensembling,
Radford et al., ICML 2021, §3.1.4). A video's embedding is the mean of its frame
embeddings; class scores are the model's scaled cosine logits, turned into probabilities
with a softmax (CLIP) or a per-class sigmoid (SigLIP, which was trained that way).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ...backbones.contract import VisionLanguageBackbone
from .prompts import DEFAULT_TEMPLATES


def class_text_embeddings(
    model: VisionLanguageBackbone, tokenizer, labels: Sequence[str], templates: Sequence[str] = DEFAULT_TEMPLATES,
    batch_size: int = 256,
) -> torch.Tensor:
    """(K, E) unit-norm class embeddings, averaged over ``templates`` (each holds one ``{}``)."""
    if not labels:
        raise ValueError("no labels given")
    for t in templates:
        try:
            ok = t.count("{}") == 1 and t.format("x") is not None
        except (IndexError, KeyError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"template {t!r} must contain exactly one '{{}}' for the label and no other braces")
    text = model.require_text("zero-shot classification")
    device = model.device
    sentences = [t.format(label) for label in labels for t in templates]
    with torch.inference_mode():
        # Chunked: real label sets × template ensembles reach 10⁴ sentences.
        emb = torch.cat([
            F.normalize(text.encode(tokenizer(sentences[i : i + batch_size]).to(device)), dim=-1)
            for i in range(0, len(sentences), batch_size)
        ])
        emb = emb.view(len(labels), len(templates), -1).mean(1)
    return F.normalize(emb, dim=-1)


def zero_shot_probabilities(model: VisionLanguageBackbone, frame_embeds: torch.Tensor,
                            class_embeds: torch.Tensor) -> torch.Tensor:
    """frame_embeds (N, T, E) or (N, E), class_embeds (K, E) -> probabilities (N, K)."""
    video = frame_embeds.mean(1) if frame_embeds.ndim == 3 else frame_embeds
    with torch.inference_mode():
        logits = model.logits(video.to(class_embeds.device), class_embeds)
    return torch.sigmoid(logits) if model.score_activation == "sigmoid" else logits.softmax(-1)
