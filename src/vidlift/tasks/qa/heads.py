"""QA heads: CLIP-style similarity of the video and "question + answer" texts, and a cross-modal
fusion transformer (post-network tuning).

**Similarity** (``head: similarity``, the zero-shot baseline): a candidate answer becomes one
text, ``template.format(question=q, answer=a)`` with runs of white space collapsed (default
template ``"{question} {answer}"``, e.g. "what does the green heart do after rotating clockwise?
jump"; MSRVTT-MC has no question, so its texts are the options alone). Its score is the
backbone's scaled cosine of the video embedding (the transfer model's video head) and the
text embedding — CLIP's zero-shot classification with the candidates as classes (Radford et al.,
ICML 2021). Multiple choice scores each question's own K options; open-ended scores the answer
vocabulary (V texts per question when the template names the question, else V texts shared by
the batch). Trained with cross-entropy over the candidates.

**Fusion** (``head: fusion``): :class:`FusionHead`, a single-stream cross-modal transformer over
video tokens and question tokens with a [CLS] output, after ClipBERT (Lei et al., "Less is More:
ClipBERT for Video-and-Language Learning via Sparse Sampling", CVPR 2021;
github.com/jayleicn/ClipBERT, ``src/modeling/modeling.py``: a BERT over text tokens and video
tokens, the [CLS] state through an MLP classifier ``Linear(h, 2h) -> ReLU -> Linear(2h, n)``; open-ended
QA as classification over the training answers, multiple choice by scoring each
question + option pair with the video and a cross-entropy over the options). Sequence, width d::

    [CLS] · P(clip embedding (1, E)) · P(frames (T, E)) · Q(text tokens (L, D_text))
           + type embeddings (clip, frame, text) + frame positions (clip token at 0)
    -> ``layers`` pre-LN transformer blocks (GELU MLP 4d; padding tokens masked out)
    -> LN([CLS]) -> Dropout -> Linear(d, 2d) -> ReLU -> Linear(2d, outputs)

Frames are the video head's per-frame outputs where it has them (``temporal_transformer``,
``temporal_conv``, ``evl``), else the image tower's frame embeddings; the clip token is the video
head's clip embedding, so every strategy's video head gets a gradient. Text tokens are the text
tower's final token states up to the end token (question for open-ended, question + option for
multiple choice, both through ``template``). Init: BERT's normal(0, 0.02) for weights and
embeddings, zero biases, unit norms (ClipBERT's ``init_weights``). Simplifications against
ClipBERT: the fusion transformer is small and trained from scratch instead of a pre-trained
12-layer BERT that also embeds the words, and the video tokens are per-frame joint-space
embeddings instead of mean-pooled patch grids of a ResNet. Parameters:
:meth:`FusionHead.parameter_count`; at d = 512, 2 layers, E = 512, D_text = 512, V = 1000
8.42M (8,416,744).
"""

from __future__ import annotations

import torch
from torch import nn

from ...backbones.layers import BlockContext, Transformer, init_weights

HEADS = ("similarity", "fusion")
DEFAULT_TEMPLATE = "{question} {answer}"


def qa_text(template: str, question: str, answer: str) -> str:
    """One candidate's text: ``template`` filled in, white space collapsed."""
    return " ".join(template.format(question=question, answer=answer).split())


def check_template(template: str) -> None:
    """A template must name ``{answer}`` (and may name ``{question}``), nothing else."""
    try:
        filled = template.format(question="\x00q", answer="\x00a")
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(f"qa: template {template!r} may only hold {{question}} and {{answer}} ({e})") from None
    if "\x00a" not in filled:
        raise ValueError(f"qa: template {template!r} must hold {{answer}}")


class FusionHead(nn.Module):
    """ClipBERT-style cross-modal fusion (module docstring).

    ``forward(clip (N, E), frames (N, T, E), tokens (N, L, D_text), mask (N, L) bool)`` ->
    scores (N, outputs): ``outputs`` = V answer logits (open-ended) or 1 (a multiple-choice
    option's score). ``mask`` marks the real text tokens (False: padding after the end token).
    """

    def __init__(self, video_dim: int, text_dim: int, outputs: int, width: int = 512, layers: int = 2,
                 heads: int | None = None, max_frames: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        heads = heads or max(1, width // 64)
        if width % heads:
            raise ValueError(f"qa: fusion width {width} is not divisible by {heads} heads")
        if outputs < 1 or layers < 1 or max_frames < 1:
            raise ValueError("qa: the fusion head needs at least one output, one layer and one frame")
        self.video_proj = nn.Linear(video_dim, width)
        self.text_proj = nn.Linear(text_dim, width)
        self.cls_token = nn.Parameter(torch.empty(width))
        self.type_embeddings = nn.Parameter(torch.empty(3, width))  # clip, frame, text
        self.frame_positions = nn.Parameter(torch.empty(max_frames + 1, width))  # row 0: the clip token
        self.transformer = Transformer(width, layers, heads, 4 * width, "gelu", 1e-5)
        self.norm = nn.LayerNorm(width)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Sequential(nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, outputs))
        init_weights(self, std=0.02)
        for p in (self.cls_token, self.type_embeddings, self.frame_positions):
            nn.init.normal_(p, std=0.02)

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, clip: torch.Tensor, frames: torch.Tensor, tokens: torch.Tensor,
                mask: torch.Tensor) -> torch.Tensor:
        n, t, _ = frames.shape
        if clip.shape[0] != n or tokens.shape[0] != n or mask.shape != tokens.shape[:2]:
            raise ValueError(f"qa fusion: expected clip (N, E), frames (N, T, E), tokens (N, L, D), mask (N, L); got "
                             f"{tuple(clip.shape)}, {tuple(frames.shape)}, {tuple(tokens.shape)}, {tuple(mask.shape)}")
        if t + 1 > self.frame_positions.shape[0]:
            raise ValueError(f"qa fusion: built for {self.frame_positions.shape[0] - 1} frames, got {t}")
        dtype = self.video_proj.weight.dtype
        video = self.video_proj(torch.cat([clip[:, None], frames], 1).to(dtype)) + self.frame_positions[: t + 1]
        video = video + torch.cat([self.type_embeddings[:1], self.type_embeddings[1:2].expand(t, -1)])
        text = self.text_proj(tokens.to(dtype)) + self.type_embeddings[2]
        x = torch.cat([self.cls_token.expand(n, 1, -1), video, text], 1)
        keep = torch.cat([mask.new_ones(n, t + 2), mask.bool()], 1)  # (N, S)
        attn_mask = torch.zeros(keep.shape, dtype=dtype, device=x.device).masked_fill(~keep, float("-inf"))
        x, _ = self.transformer(x, BlockContext("qa_fusion", attn_mask=attn_mask[:, None, None, :]))
        return self.classifier(self.dropout(self.norm(x[:, 0])))


__all__ = ["HEADS", "DEFAULT_TEMPLATE", "FusionHead", "qa_text", "check_template"]
