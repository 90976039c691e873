"""open_clip's EVA02-CLIP layout <-> vidlift's :class:`~vidlift.backbones.eva.model.EvaClip`.

open_clip builds EVA02-CLIP as a ``CustomTextCLIP``: the image tower is timm's ``Eva``
(``vision_cfg.timm_model_name`` = ``eva02_*_clip_*``, ``timm_pool="token"``, no extra
projection, so timm's classifier head is the projection into the joint space) under
``visual.trunk.``, the text tower open_clip's own transformer under ``text.``. The timm model
name fixes the tower's size; current open_clip can override it with
``vision_cfg.timm_model_kwargs`` (``img_size``, ``patch_size``, ``embed_dim``, ``depth``,
``num_heads``, ``mlp_ratio``, ``ref_feat_shape``), which is read too. RoPE tables are not
weights (timm rebuilds them); other timm options change the computation and are refused.

Key map (timm / open_clip -> vidlift)::

    visual.trunk.cls_token (1,1,D)              visual.class_embedding (D)
    visual.trunk.pos_embed (1,N,D)              visual.pos_embed (N,D)
    visual.trunk.patch_embed.proj.*             visual.patch_embed.*
    visual.trunk.blocks.i.norm1 / norm2         visual.blocks.i.ln_1 / ln_2
    visual.trunk.blocks.i.attn.{q,k,v}_proj     visual.blocks.i.attn.{q,k,v}_proj
    visual.trunk.blocks.i.attn.norm / proj      visual.blocks.i.attn.sub_norm / out_proj
    visual.trunk.blocks.i.mlp.fc1_g/fc1_x/fc2   (same)
    visual.trunk.blocks.i.mlp.norm              visual.blocks.i.mlp.sub_norm
    visual.trunk.norm / head                    visual.ln_post / visual_proj
    text.*, logit_scale                         as the CLIP text tower (formats.openclip)
"""

from __future__ import annotations

import re
from typing import Any

import torch

from ..config import PreprocessConfig, TextConfig
from ..formats import openclip as oc_format
from .config import EvaClipConfig, EvaVisionConfig

Tensor = torch.Tensor

# timm's EVA02-CLIP image towers (timm/models/eva.py): all SwiGLU + sub-LN + RoPE, 16x16 RoPE grid.
TIMM_TOWERS: dict[str, dict[str, Any]] = {
    "eva02_base_patch16_clip_224": dict(image_size=224, patch_size=16, width=768, layers=12, heads=12),
    "eva02_large_patch14_clip_224": dict(image_size=224, patch_size=14, width=1024, layers=24, heads=16),
    "eva02_large_patch14_clip_336": dict(image_size=336, patch_size=14, width=1024, layers=24, heads=16),
}
_KWARGS = {"img_size": "image_size", "patch_size": "patch_size", "embed_dim": "width", "depth": "layers",
           "num_heads": "heads", "mlp_ratio": "mlp_ratio", "ref_feat_shape": "rope_ref_grid"}
# Text options with the value that means "as vidlift's CLIP text tower computes".
_TEXT_NEUTRAL = {"pool_type": "argmax", "proj_type": "linear", "proj_bias": False, "no_causal_mask": False,
                 "embed_cls": False, "ls_init_value": None, "output_tokens": False, "norm_kwargs": None,
                 "act_kwargs": None, "hf_model_name": None, "hf_tokenizer_name": None}
_TEXT_KEYS = ("context_length", "vocab_size", "width", "heads", "layers", "mlp_ratio")
_VISION_NEUTRAL = {"timm_model_pretrained": False, "timm_pool": "token", "timm_proj": None, "timm_proj_bias": False,
                   "timm_drop": 0.0, "timm_drop_path": None, "patch_dropout": 0.0, "output_tokens": False}

_TOP = {
    "visual.trunk.cls_token": "visual.class_embedding",
    "visual.trunk.pos_embed": "visual.pos_embed",
    "visual.trunk.patch_embed.proj.weight": "visual.patch_embed.weight",
    "visual.trunk.patch_embed.proj.bias": "visual.patch_embed.bias",
    "visual.trunk.norm.weight": "visual.ln_post.weight", "visual.trunk.norm.bias": "visual.ln_post.bias",
    "visual.trunk.head.weight": "visual_proj.weight", "visual.trunk.head.bias": "visual_proj.bias",
}
_BLOCK = {
    "norm1": "ln_1", "norm2": "ln_2",
    "attn.q_proj": "attn.q_proj", "attn.k_proj": "attn.k_proj", "attn.v_proj": "attn.v_proj",
    "attn.norm": "attn.sub_norm", "attn.proj": "attn.out_proj",
    "mlp.fc1_g": "mlp.fc1_g", "mlp.fc1_x": "mlp.fc1_x", "mlp.norm": "mlp.sub_norm", "mlp.fc2": "mlp.fc2",
}
_TRUNK_BLOCK = re.compile(r"^visual\.trunk\.blocks\.(\d+)\.(.+)\.(weight|bias)$")
_OUR_BLOCK = re.compile(r"^visual\.blocks\.(\d+)\.(.+)\.(weight|bias)$")
# open_clip's text tower keys inside a CustomTextCLIP, minus the "text." prefix, are OpenAI's.
_OPENAI_TEXT = ("token_embedding.", "positional_embedding", "transformer.", "ln_final.", "text_projection", "attn_mask")


def matches_family(family: str) -> bool:
    """Whether this layout writes backbones of ``family`` (``save_backbone(..., "openclip")``)."""
    return family == "eva-clip"


def matches_config(model_cfg: dict[str, Any]) -> bool:
    """Whether an open_clip model config builds EVA02-CLIP (a timm ``eva02_*`` image tower)."""
    return str((model_cfg.get("vision_cfg") or {}).get("timm_model_name") or "").startswith("eva02_")


def matches_state_dict(sd: dict[str, Tensor]) -> bool:
    """Whether an open_clip state dict holds a timm EVA02 tower (SwiGLU gate under visual.trunk)."""
    return any(k.startswith("visual.trunk.blocks.") and ".mlp.fc1_g." in k for k in sd)


def config_from_openclip_json(d: dict[str, Any]) -> EvaClipConfig:
    """An open_clip model config (``model_configs/EVA02-*.json`` layout, or a hub
    ``open_clip_config.json`` with ``model_cfg`` + ``preprocess_cfg``) -> :class:`EvaClipConfig`."""
    model_cfg = d.get("model_cfg", d)
    v, t = dict(model_cfg["vision_cfg"]), dict(model_cfg["text_cfg"])
    name = v.pop("timm_model_name")
    if name not in TIMM_TOWERS:
        raise ValueError(f"timm tower {name!r} is not an EVA02-CLIP tower vidlift implements "
                         f"({', '.join(TIMM_TOWERS)}; eva02_enormous uses post-norm blocks)")
    tower = dict(TIMM_TOWERS[name])
    unsupported: dict[str, Any] = {}
    for key, value in (v.pop("timm_model_kwargs", None) or {}).items():
        if key in _KWARGS:
            tower[_KWARGS[key]] = value[0] if key == "img_size" and isinstance(value, (list, tuple)) else value
        else:
            unsupported[f"vision_cfg.timm_model_kwargs.{key}"] = value
    image_size = v.pop("image_size", tower["image_size"])
    image_size = image_size[0] if isinstance(image_size, (list, tuple)) else image_size
    if image_size != tower["image_size"]:
        raise ValueError(f"vision_cfg.image_size {image_size} differs from the timm tower's {tower['image_size']}")
    for key, value in v.items():
        # timm_proj null or "" keeps timm's head as the projection; "none" would drop it.
        if _VISION_NEUTRAL.get(key, object()) != value and not (key == "timm_proj" and value == ""):
            unsupported[f"vision_cfg.{key}"] = value
    for key, value in t.items():
        if key not in _TEXT_KEYS and _TEXT_NEUTRAL.get(key, object()) != value:
            unsupported[f"text_cfg.{key}"] = value
    for key in ("init_logit_bias", "nonscalar_logit_scale"):
        if model_cfg.get(key):
            unsupported[key] = model_cfg[key]
    if unsupported:
        raise ValueError(f"open_clip options not supported by vidlift's EVA-CLIP: {unsupported}")
    vocab = t.get("vocab_size", 49408)
    cfg = EvaClipConfig(
        embed_dim=model_cfg["embed_dim"],
        vision=EvaVisionConfig(**tower),
        text=TextConfig(context_length=t.get("context_length", 77), vocab_size=vocab, width=t["width"],
                        layers=t["layers"], heads=t.get("heads", 8), mlp_ratio=t.get("mlp_ratio", 4.0),
                        act="quick_gelu" if model_cfg.get("quick_gelu") else "gelu", eos_token_id=vocab - 1),
        preprocess=PreprocessConfig(image_size=image_size),
    )
    cfg.preprocess = _preprocess(d.get("preprocess_cfg") or {}, image_size)
    return cfg


def _preprocess(prep: dict[str, Any], image_size: int) -> PreprocessConfig:
    out = PreprocessConfig(image_size=image_size)  # OpenAI mean/std: open_clip's tags for EVA02-CLIP
    if "mean" in prep:
        out.mean = tuple(prep["mean"])
    if "std" in prep:
        out.std = tuple(prep["std"])
    for key, allowed in (("resize_mode", ("shortest", "squash")), ("interpolation", ("bicubic", "bilinear"))):
        value = prep.get(key, getattr(out, key))
        if value not in allowed:
            raise ValueError(f"preprocess_cfg.{key} {value!r} is not supported ({', '.join(allowed)})")
        setattr(out, key, value)
    return out


def from_openclip_state_dict(sd: dict[str, Tensor], source: str = "checkpoint") -> dict[str, Tensor]:
    """open_clip EVA02-CLIP keys -> vidlift keys. Raises ``ValueError`` on unknown keys."""
    out: dict[str, Tensor] = {}
    text: dict[str, Tensor] = {}
    unknown = []
    for key, t in sd.items():
        m = _TRUNK_BLOCK.match(key)
        if key in _TOP:  # timm keeps batch axes on the token tables: (1, 1, D), (1, N, D)
            out[_TOP[key]] = t.reshape(t.shape[-1:] if key == "visual.trunk.cls_token" else
                                       t.shape[-2:] if key == "visual.trunk.pos_embed" else t.shape)
        elif m and m[2] in _BLOCK:
            out[f"visual.blocks.{m[1]}.{_BLOCK[m[2]]}.{m[3]}"] = t
        elif key.startswith("visual.trunk.rope."):
            continue  # RoPE tables: rebuilt from the config, not weights
        elif key.startswith("text.") and key[5:].startswith(_OPENAI_TEXT):
            text[key[5:]] = t
        elif key.startswith(_OPENAI_TEXT) or key in ("logit_scale", "logit_bias"):
            text[key] = t  # a CLIP (not CustomTextCLIP) wrapper keeps the text tower at the top level
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"{source}: unexpected keys for an open_clip EVA02-CLIP: {', '.join(unknown[:8])}")
    out.update(oc_format.from_openclip_state_dict(text, source=source))
    return out


def to_openclip_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """vidlift keys -> open_clip EVA02-CLIP keys (``CustomTextCLIP``: text under ``text.``)."""
    inv_top = {v: k for k, v in _TOP.items()}
    inv_block = {v: k for k, v in _BLOCK.items()}
    out: dict[str, Tensor] = {}
    text: dict[str, Tensor] = {}
    for key, t in sd.items():
        m = _OUR_BLOCK.match(key)
        if key in inv_top:
            shape = {"visual.class_embedding": (1, 1, -1), "visual.pos_embed": (1, *t.shape)}.get(key)
            out[inv_top[key]] = t.reshape(shape) if shape else t
        elif m and m[2] in inv_block:
            out[f"visual.trunk.blocks.{m[1]}.{inv_block[m[2]]}.{m[3]}"] = t
        elif key.startswith(("text.", "text_proj.")) or key == "logit_scale":
            text[key] = t
        else:
            raise ValueError(f"cannot map {key} to the open_clip EVA02-CLIP layout")
    for key, t in oc_format.to_openclip_state_dict(text).items():
        out[key if key == "logit_scale" else f"text.{key}"] = t
    return out


def openclip_json_from_config(cfg: EvaClipConfig) -> dict[str, Any]:
    """A hub ``open_clip_config.json`` for ``cfg``: the timm tower it matches by name, the
    differences as ``timm_model_kwargs`` (as current open_clip reads them)."""
    v, t = cfg.vision, cfg.text
    ours = {"image_size": v.image_size, "patch_size": v.patch_size, "width": v.width, "layers": v.layers,
            "heads": v.heads}
    name = next((n for n, spec in TIMM_TOWERS.items() if spec == ours), "eva02_base_patch16_clip_224")
    base = TIMM_TOWERS[name]
    kwargs = {k: getattr(v, ours_key) for k, ours_key in _KWARGS.items()
              if ours_key in base and base[ours_key] != getattr(v, ours_key)}
    if v.mlp_ratio != EvaVisionConfig.mlp_ratio:
        kwargs["mlp_ratio"] = v.mlp_ratio
    if tuple(v.rope_ref_grid) != (16, 16):
        kwargs["ref_feat_shape"] = list(v.rope_ref_grid)
    vision: dict[str, Any] = {"image_size": v.image_size, "timm_model_name": name, "timm_model_pretrained": False,
                              "timm_pool": "token", "timm_proj": None}
    if kwargs:
        vision["timm_model_kwargs"] = kwargs
    return {
        "model_cfg": {
            "embed_dim": cfg.embed_dim, "quick_gelu": t.act == "quick_gelu", "vision_cfg": vision,
            "text_cfg": {"context_length": t.context_length, "vocab_size": t.vocab_size, "width": t.width,
                         "heads": t.heads, "layers": t.layers, "mlp_ratio": t.mlp_ratio},
            "custom_text": True,
        },
        "preprocess_cfg": {"mean": list(cfg.preprocess.mean), "std": list(cfg.preprocess.std),
                           "resize_mode": cfg.preprocess.resize_mode, "interpolation": cfg.preprocess.interpolation},
    }
