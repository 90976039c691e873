"""Architecture configs of the EVA-CLIP family (EVA02-CLIP): architecture is data.

An :class:`EvaClipConfig` is an EVA02 image tower (:class:`EvaVisionConfig`: 2-D RoPE,
SwiGLU MLP, sub-LNs inside attention and MLP), vidlift's CLIP text tower
(:class:`~vidlift.backbones.config.TextConfig`; EVA02-CLIP uses open_clip's causal text
transformer unchanged), the joint space and the preprocessing the weights expect (EVA02-CLIP
was trained with OpenAI's mean/std, bicubic resize of the short side and a centre crop, as
open_clip's pretrained tags for it say). Named architectures are listed in :data:`ARCHS`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from ..config import PreprocessConfig, TextConfig


@dataclass
class EvaVisionConfig:
    """The EVA02 image tower (Fang et al., "EVA-02: A Visual Representation for Neon Genesis",
    2023) as EVA02-CLIP uses it: class token + learned absolute positions, pre-LN blocks whose
    attention adds 2-D rotary position embeddings on the patch tokens and a LayerNorm on the
    merged heads (sub-LN), SwiGLU MLP with a LayerNorm on its hidden units, final LayerNorm,
    class-token pooling.

    RoPE: per head, the first half of the channels rotate with the patch row, the second half
    with the column, frequencies ``rope_theta ** (-k / (head_dim / 4))``; positions are scaled
    so the grid spans ``rope_ref_grid`` (EVA02's pretraining grid, 16×16 for every CLIP size).
    """

    image_size: int = 224
    patch_size: int = 16
    width: int = 768
    layers: int = 12
    heads: int = 12
    mlp_ratio: float = 4 * 2 / 3  # SwiGLU hidden width int(width * ratio): 2048 at 768
    ln_eps: float = 1e-6
    rope_ref_grid: tuple[int, int] = (16, 16)
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        self.rope_ref_grid = tuple(self.rope_ref_grid)  # type: ignore[assignment]  # lists from JSON
        if self.width % self.heads or (self.width // self.heads) % 4:
            raise ValueError(f"EVA tower: width {self.width} / {self.heads} heads must give a head width "
                             "divisible by 4 (2-D RoPE rotates channel pairs along two axes)")

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def head_dim(self) -> int:
        return self.width // self.heads

    @property
    def mlp_dim(self) -> int:
        return int(self.width * self.mlp_ratio)

    @property
    def act(self) -> str:
        """The MLP's activation, named like :class:`~vidlift.backbones.config.VisionConfig`'s
        (so loaders can compare what a checkpoint's config says): SiLU-gated linear units."""
        return "swiglu"


@dataclass
class EvaClipConfig:
    """A whole EVA02-CLIP model: both towers, the joint space and preprocessing."""

    embed_dim: int = 512
    vision: EvaVisionConfig = field(default_factory=EvaVisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    logit_scale_init: float = 2.6592  # log(1/0.07)
    loss: Literal["clip"] = "clip"  # trained with CLIP's softmax InfoNCE

    def to_dict(self) -> dict[str, Any]:
        return {"family": "eva-clip", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EvaClipConfig:
        d = dict(d)
        d.pop("family", None)
        prep = dict(d.pop("preprocess", {}) or {})
        for k in ("mean", "std"):
            if k in prep:
                prep[k] = tuple(prep[k])
        return cls(vision=EvaVisionConfig(**d.pop("vision", {})), text=TextConfig(**d.pop("text", {})),
                   preprocess=PreprocessConfig(**prep), **d)

    def replace(self, **kw: Any) -> EvaClipConfig:
        return dataclasses.replace(self, **kw)


def _eva02(embed: int, img: int, patch: int, vw: int, vl: int, vh: int, tw: int, tl: int, th: int) -> EvaClipConfig:
    return EvaClipConfig(
        embed_dim=embed,
        vision=EvaVisionConfig(image_size=img, patch_size=patch, width=vw, layers=vl, heads=vh),
        text=TextConfig(width=tw, layers=tl, heads=th, act="gelu"),
        preprocess=PreprocessConfig(image_size=img),
    )


def _tiny() -> EvaClipConfig:
    """Test-sized EVA02-CLIP: the EVA02-B-16 design at width 64, 2 blocks, 32 px (4×4 patches
    of 8 px), 512-token vocabulary; the architecture of tests/fixtures/evaclip_tiny."""
    return EvaClipConfig(
        embed_dim=32,
        vision=EvaVisionConfig(image_size=32, patch_size=8, width=64, layers=2, heads=2),
        text=TextConfig(context_length=16, vocab_size=512, width=64, layers=2, heads=2, act="gelu", eos_token_id=511),
        preprocess=PreprocessConfig(image_size=32),
    )


# One line per architecture, named as open_clip names them (model_configs/EVA02-*.json).
ARCHS: dict[str, Any] = {
    "EVA02-B-16": lambda: _eva02(512, 224, 16, 768, 12, 12, 512, 12, 8),
    "EVA02-L-14": lambda: _eva02(768, 224, 14, 1024, 24, 16, 768, 12, 12),
    "EVA02-L-14-336": lambda: _eva02(768, 336, 14, 1024, 24, 16, 768, 12, 12),
    "tiny-eva": _tiny,
}


def get_arch(name: str) -> EvaClipConfig:
    """A fresh config for a named EVA-CLIP architecture; KeyError for other names."""
    if name not in ARCHS:
        raise KeyError(f"unknown EVA-CLIP architecture {name!r}; known: {', '.join(sorted(ARCHS))}")
    return ARCHS[name]()
