"""Architecture configs for the CLIP family: architecture is data.

A :class:`CLIPConfig` fully describes one model (towers, pooling, activation quirks) and the
preprocessing its weights expect, so that the two always travel together (a checkpoint can
never be evaluated with the wrong mean/std or activation). Named architectures are listed in
:data:`ARCHS`, one explicit line per entry.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
SIGLIP_MEAN = (0.5, 0.5, 0.5)
SIGLIP_STD = (0.5, 0.5, 0.5)

Activation = Literal["gelu", "quick_gelu", "gelu_tanh"]


@dataclass
class PreprocessConfig:
    """How frames must be prepared for these weights.

    ``resize_mode="shortest"`` resizes the shorter side to ``image_size`` then centre-crops
    (CLIP); ``"squash"`` resizes straight to ``image_size``² (SigLIP).
    """

    image_size: int = 224
    mean: tuple[float, float, float] = OPENAI_MEAN
    std: tuple[float, float, float] = OPENAI_STD
    resize_mode: Literal["shortest", "squash"] = "shortest"
    interpolation: Literal["bicubic", "bilinear"] = "bicubic"
    resize_size: int | None = None  # resize to this, then centre-crop image_size (None: = image_size)


@dataclass
class VisionConfig:
    image_size: int = 224
    patch_size: int = 16
    width: int = 768
    layers: int = 12
    heads: int = 12
    mlp_ratio: float = 4.0
    act: Activation = "gelu"
    ln_eps: float = 1e-5
    class_token: bool = True  # SigLIP has none
    patch_bias: bool = False  # SigLIP's patch embedding has a bias
    pre_norm: bool = True  # CLIP's ln_pre; SigLIP has none
    pool: Literal["cls", "map"] = "cls"  # "map": SigLIP's attention-pooling head
    proj_bias: bool = False

    @property
    def grid_size(self) -> int:
        return self.image_size // self.patch_size

    @property
    def mlp_dim(self) -> int:
        return int(self.width * self.mlp_ratio)


@dataclass
class TextConfig:
    context_length: int = 77
    vocab_size: int = 49408
    width: int = 512
    layers: int = 12
    heads: int = 8
    mlp_ratio: float = 4.0
    act: Activation = "gelu"
    ln_eps: float = 1e-5
    causal: bool = True  # SigLIP's text tower is bidirectional
    # Where the sentence embedding is read: "argmax" = at the highest token id (OpenAI /
    # open_clip: end-of-text has the largest id), "eos" = first ``eos_token_id`` (HF CLIP),
    # "last" = last position (SigLIP, always padded to max length).
    pool: Literal["argmax", "eos", "last"] = "argmax"
    eos_token_id: int = 49407
    pad_token_id: int = 0
    proj_bias: bool = False

    @property
    def mlp_dim(self) -> int:
        return int(self.width * self.mlp_ratio)


@dataclass
class CLIPConfig:
    """A whole image-language model: both towers, the joint space and preprocessing."""

    embed_dim: int = 512
    vision: VisionConfig = field(default_factory=VisionConfig)
    text: TextConfig = field(default_factory=TextConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    loss: Literal["clip", "siglip"] = "clip"
    logit_scale_init: float = 2.6592  # log(1/0.07)
    logit_bias_init: float | None = None  # SigLIP only (-10 at init)
    vision_proj: bool = True  # SigLIP's image embedding is the pooled output itself

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CLIPConfig:
        d = dict(d)
        prep = d.pop("preprocess", {}) or {}
        for k in ("mean", "std"):
            if k in prep:
                prep[k] = tuple(prep[k])
        return cls(
            vision=VisionConfig(**d.pop("vision", {})),
            text=TextConfig(**d.pop("text", {})),
            preprocess=PreprocessConfig(**prep),
            **d,
        )

    def replace(self, **kw: Any) -> CLIPConfig:
        return dataclasses.replace(self, **kw)


def _clip(embed, img, patch, vw, vl, vh, tw, tl, th, quick_gelu=True) -> CLIPConfig:
    act: Activation = "quick_gelu" if quick_gelu else "gelu"
    return CLIPConfig(
        embed_dim=embed,
        vision=VisionConfig(image_size=img, patch_size=patch, width=vw, layers=vl, heads=vh, act=act),
        text=TextConfig(width=tw, layers=tl, heads=th, act=act),
        preprocess=PreprocessConfig(image_size=img),
    )


def _siglip_b16_224() -> CLIPConfig:
    return CLIPConfig(
        embed_dim=768,
        vision=VisionConfig(
            image_size=224, patch_size=16, width=768, layers=12, heads=12, act="gelu_tanh",
            ln_eps=1e-6, class_token=False, patch_bias=True, pre_norm=False, pool="map",
        ),
        text=TextConfig(
            context_length=64, vocab_size=32000, width=768, layers=12, heads=12,
            act="gelu_tanh", ln_eps=1e-6, causal=False, pool="last", eos_token_id=1,
            pad_token_id=1, proj_bias=True,
        ),
        preprocess=PreprocessConfig(
            image_size=224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
            resize_mode="squash", interpolation="bicubic",
        ),
        loss="siglip",
        logit_scale_init=2.302585,  # log(10)
        logit_bias_init=-10.0,
        vision_proj=False,
    )


def _tiny(siglip: bool = False) -> CLIPConfig:
    """Test-sized model: width 64, 2 layers, 32 px, 512-token vocabulary."""
    if siglip:
        cfg = _siglip_b16_224()
        return cfg.replace(
            embed_dim=64,
            vision=dataclasses.replace(cfg.vision, image_size=32, patch_size=8, width=64, layers=2, heads=2),
            text=dataclasses.replace(cfg.text, context_length=16, vocab_size=512, width=64, layers=2, heads=2),
            preprocess=dataclasses.replace(cfg.preprocess, image_size=32),
        )
    return CLIPConfig(
        embed_dim=32,
        vision=VisionConfig(image_size=32, patch_size=8, width=64, layers=2, heads=2),
        text=TextConfig(context_length=16, vocab_size=512, width=64, layers=2, heads=2, eos_token_id=511),
        preprocess=PreprocessConfig(image_size=32),
    )


# One line per architecture. OpenAI's released weights were trained with QuickGELU.
ARCHS: dict[str, Any] = {
    "ViT-B-32": lambda: _clip(512, 224, 32, 768, 12, 12, 512, 12, 8),
    "ViT-B-16": lambda: _clip(512, 224, 16, 768, 12, 12, 512, 12, 8),
    "ViT-L-14": lambda: _clip(768, 224, 14, 1024, 24, 16, 768, 12, 12),
    "ViT-L-14-336": lambda: _clip(768, 336, 14, 1024, 24, 16, 768, 12, 12),
    "SigLIP-B-16-224": _siglip_b16_224,
    "tiny-clip": lambda: _tiny(siglip=False),
    "tiny-siglip": lambda: _tiny(siglip=True),
    # The project's shipped `tiny` ILFM (vidlift.synthetic.pretrain, docs/tiny_ilfm.md).
    "tiny-ilfm": lambda: CLIPConfig(
        embed_dim=64,
        vision=VisionConfig(image_size=64, patch_size=8, width=64, layers=4, heads=4, act="gelu"),
        text=TextConfig(context_length=32, width=64, layers=3, heads=4, act="gelu"),
        preprocess=PreprocessConfig(image_size=64),
    ),
}


def get_arch(name: str) -> CLIPConfig:
    """Return a fresh config for a named architecture.

    ``ViT-B-16`` etc. default to QuickGELU (the OpenAI weights); append ``-gelu`` for the
    exact-GELU variant that most open_clip (LAION) weights use, or ``-quickgelu`` to be
    explicit, as open_clip names them.
    """
    base, act = name, None
    for suffix, a in (("-quickgelu", "quick_gelu"), ("-gelu", "gelu")):
        if name.endswith(suffix):
            base, act = name[: -len(suffix)], a
    if base not in ARCHS:
        known = ", ".join(sorted(ARCHS))
        raise KeyError(f"unknown architecture {name!r}; known: {known} (suffix -gelu / -quickgelu allowed)")
    cfg = ARCHS[base]()
    if act is not None:
        cfg.vision.act = act  # type: ignore[assignment]
        cfg.text.act = act  # type: ignore[assignment]
    return cfg
