"""OpenAI / open_clip state dicts <-> vidlift's :class:`~vidlift.backbones.model.CLIP`.

OpenAI's CLIP and open_clip (for its OpenAI-style ViT models) share one key layout:
``visual.conv1``, ``visual.transformer.resblocks.{i}.attn.in_proj_weight`` (q, k, v stacked),
``mlp.c_fc`` / ``mlp.c_proj``, and projections stored as (width, embed) matrices applied as
``x @ proj``. vidlift keeps q/k/v as separate linears (so LoRA can target each) and
projections as ``nn.Linear``; this module converts in both directions, exactly.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import torch

from ..config import CLIPConfig, PreprocessConfig, TextConfig, VisionConfig

Tensor = torch.Tensor

# OpenAI's TorchScript archives carry these non-weight entries.
_OPENAI_EXTRA_KEYS = ("input_resolution", "context_length", "vocab_size")

_BLOCK = {
    "ln_1.weight": "ln_1.weight", "ln_1.bias": "ln_1.bias",
    "ln_2.weight": "ln_2.weight", "ln_2.bias": "ln_2.bias",
    "attn.out_proj.weight": "attn.out_proj.weight", "attn.out_proj.bias": "attn.out_proj.bias",
    "mlp.c_fc.weight": "mlp.fc1.weight", "mlp.c_fc.bias": "mlp.fc1.bias",
    "mlp.c_proj.weight": "mlp.fc2.weight", "mlp.c_proj.bias": "mlp.fc2.bias",
}
_TOP = {
    "visual.conv1.weight": "visual.patch_embed.weight",
    "visual.class_embedding": "visual.class_embedding",
    "visual.positional_embedding": "visual.pos_embed",
    "visual.ln_pre.weight": "visual.ln_pre.weight", "visual.ln_pre.bias": "visual.ln_pre.bias",
    "visual.ln_post.weight": "visual.ln_post.weight", "visual.ln_post.bias": "visual.ln_post.bias",
    "token_embedding.weight": "text.token_embedding.weight",
    "positional_embedding": "text.pos_embed",
    "ln_final.weight": "text.ln_final.weight", "ln_final.bias": "text.ln_final.bias",
    "logit_scale": "logit_scale",
}
# open_clip variants whose computation differs from the OpenAI ViT this module maps onto.
_UNSUPPORTED_MODEL_KEYS = ("custom_text", "init_logit_bias")
_UNSUPPORTED_TOWER_KEYS = (
    "no_ln_pre", "final_ln_after_pool", "global_average_pool", "attentional_pool", "norm_kwargs",
    "act_kwargs", "no_causal_mask", "ls_init_value", "pos_embed_type", "embed_cls",
)
_DEFAULT_POOL = {"vision_cfg": "tok", "text_cfg": "argmax"}
_TOWERS = (("visual.transformer.resblocks.", "visual.transformer.blocks."),
           ("transformer.resblocks.", "text.transformer.blocks."))

# open_clip layouts of other backbone families (EVA-CLIP's timm tower …): each has
# matches_config(model_cfg), matches_state_dict(sd), config_from_openclip_json(d) and
# from_openclip_state_dict(sd, source). A family's package appends its layout (one line).
FAMILY_LAYOUTS: list[Any] = []


def family_layouts() -> list[Any]:
    from .. import families  # noqa: F401  (importing the family packages registers their layouts)

    return FAMILY_LAYOUTS


def from_openclip_state_dict(sd: dict[str, Tensor], source: str = "checkpoint") -> dict[str, Tensor]:
    """open_clip / OpenAI keys -> vidlift keys. Raises ``ValueError`` on unknown keys."""
    for layout in family_layouts():
        if layout.matches_state_dict(sd):
            return layout.from_openclip_state_dict(sd, source=source)
    if any(k.startswith(("visual.trunk.", "text.transformer.")) for k in sd):
        raise ValueError(
            f"{source}: this open_clip checkpoint uses a timm / HF tower (e.g. SigLIP); "
            "load its HF-format directory with 'hf:<dir>' instead"
        )
    out: dict[str, Tensor] = {}
    unknown = []
    for key, t in sd.items():
        if key in _OPENAI_EXTRA_KEYS or key == "attn_mask" or key.endswith(".attn_mask"):
            continue
        if key in _TOP:
            out[_TOP[key]] = t.reshape(()) if key == "logit_scale" else t
        elif key == "visual.proj":
            out["visual_proj.weight"] = t.t().contiguous()
        elif key == "text_projection":
            out["text_proj.weight"] = t.t().contiguous()
        elif key == "logit_bias":
            out["logit_bias"] = t.reshape(())
        else:
            for src, dst in _TOWERS:
                if key.startswith(src):
                    idx, rest = key[len(src):].split(".", 1)
                    base = f"{dst}{idx}."
                    if rest in ("attn.in_proj_weight", "attn.in_proj_bias"):
                        kind = rest.rsplit("_", 1)[1]
                        for name, part in zip(("q", "k", "v"), t.chunk(3, dim=0)):
                            out[f"{base}attn.{name}_proj.{kind}"] = part.contiguous()
                    elif rest in _BLOCK:
                        out[base + _BLOCK[rest]] = t
                    else:
                        unknown.append(key)
                    break
            else:
                unknown.append(key)
    if unknown:
        raise ValueError(f"{source}: unexpected keys for an OpenAI/open_clip CLIP: {', '.join(unknown[:8])}")
    return out


def to_openclip_state_dict(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """vidlift keys -> open_clip / OpenAI keys (the inverse of :func:`from_openclip_state_dict`)."""
    inv_top = {v: k for k, v in _TOP.items()}
    inv_block = {v: k for k, v in _BLOCK.items()}
    out: dict[str, Tensor] = {}
    pending: dict[str, dict[str, Tensor]] = {}
    for key, t in sd.items():
        if key in inv_top:
            out[inv_top[key]] = t
        elif key == "visual_proj.weight":
            out["visual.proj"] = t.t().contiguous()
        elif key == "text_proj.weight":
            out["text_projection"] = t.t().contiguous()
        elif key == "logit_bias":
            out["logit_bias"] = t
        elif key.startswith(("visual.attn_pool.", "visual_proj.bias", "text_proj.bias", "visual.patch_embed.bias")):
            raise ValueError(f"{key}: SigLIP-style weights have no open_clip/OpenAI ViT layout; save as HF instead")
        else:
            for dst, src in _TOWERS:
                if key.startswith(src):
                    idx, rest = key[len(src):].split(".", 1)
                    m = re.fullmatch(r"attn\.([qkv])_proj\.(weight|bias)", rest)
                    if m:
                        pending.setdefault(f"{dst}{idx}.attn.in_proj_{m[2]}", {})[m[1]] = t
                    elif rest in inv_block:
                        out[f"{dst}{idx}.{inv_block[rest]}"] = t
                    else:
                        raise ValueError(f"cannot map {key} to the open_clip layout")
                    break
            else:
                raise ValueError(f"cannot map {key} to the open_clip layout")
    for key, parts in pending.items():
        out[key] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


def config_from_openclip_json(d: dict[str, Any]) -> CLIPConfig:
    """Read open_clip's model config (``embed_dim``, ``vision_cfg``, ``text_cfg``,
    ``quick_gelu``), as in its model_configs/*.json or the ``model_cfg`` of a hub repo's
    ``open_clip_config.json``."""
    model_cfg = d.get("model_cfg", d)
    for layout in family_layouts():
        if layout.matches_config(model_cfg):
            return layout.config_from_openclip_json(d)
    v, t = model_cfg["vision_cfg"], model_cfg["text_cfg"]
    if "timm_model_name" in v or "hf_model_name" in t:
        raise ValueError("open_clip configs with timm / HF towers are not supported; use an HF-format directory")
    act = "quick_gelu" if model_cfg.get("quick_gelu", False) else "gelu"
    width = v["width"]
    head_width = v.get("head_width", 64)
    image_size = v["image_size"]
    image_size = image_size[0] if isinstance(image_size, (list, tuple)) else image_size
    cfg = CLIPConfig(
        embed_dim=model_cfg["embed_dim"],
        vision=VisionConfig(
            image_size=image_size, patch_size=v["patch_size"], width=width, layers=v["layers"],
            heads=width // head_width, mlp_ratio=v.get("mlp_ratio", 4.0), act=act,
        ),
        text=TextConfig(
            context_length=t.get("context_length", 77), vocab_size=t.get("vocab_size", 49408),
            width=t["width"], layers=t["layers"], heads=t.get("heads", 8),
            mlp_ratio=t.get("mlp_ratio", 4.0), act=act, eos_token_id=t.get("vocab_size", 49408) - 1,
        ),
        preprocess=PreprocessConfig(image_size=image_size),
    )
    unsupported = {k: model_cfg[k] for k in _UNSUPPORTED_MODEL_KEYS if model_cfg.get(k)}
    unsupported.update({f"vision_cfg.{k}": v[k] for k in _UNSUPPORTED_TOWER_KEYS if v.get(k)})
    unsupported.update({f"text_cfg.{k}": t[k] for k in _UNSUPPORTED_TOWER_KEYS if t.get(k)})
    for name, tower in (("vision_cfg", v), ("text_cfg", t)):
        if tower.get("pool_type", _DEFAULT_POOL[name]) != _DEFAULT_POOL[name]:
            unsupported[f"{name}.pool_type"] = tower["pool_type"]
    if unsupported:
        raise ValueError(f"open_clip options not supported by vidlift's CLIP: {unsupported}")
    prep = d.get("preprocess_cfg") or {}
    if "mean" in prep:
        cfg.preprocess.mean = tuple(prep["mean"])
    if "std" in prep:
        cfg.preprocess.std = tuple(prep["std"])
    mode = prep.get("resize_mode", "shortest")
    if mode not in ("shortest", "squash"):
        raise ValueError(f"preprocess_cfg.resize_mode {mode!r} is not supported (shortest, squash)")
    cfg.preprocess.resize_mode = mode
    interp = prep.get("interpolation", "bicubic")
    if interp not in ("bicubic", "bilinear"):
        raise ValueError(f"preprocess_cfg.interpolation {interp!r} is not supported (bicubic, bilinear)")
    cfg.preprocess.interpolation = interp
    return cfg


def infer_config_from_state_dict(sd: dict[str, Tensor], quick_gelu: bool = True) -> CLIPConfig:
    """Architecture from an OpenAI/open_clip state dict's shapes. Head counts are not stored
    in the weights; OpenAI's models all use 64-wide heads, which is assumed here."""
    vw = sd["visual.conv1.weight"].shape[0]
    patch = sd["visual.conv1.weight"].shape[-1]
    grid = int(math.isqrt(sd["visual.positional_embedding"].shape[0] - 1))
    n_vis = len({k.split(".")[3] for k in sd if k.startswith("visual.transformer.resblocks.")})
    n_txt = len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks.")})
    tw = sd["ln_final.weight"].shape[0]
    act = "quick_gelu" if quick_gelu else "gelu"
    vocab = sd["token_embedding.weight"].shape[0]
    return CLIPConfig(
        embed_dim=sd["text_projection"].shape[1],
        vision=VisionConfig(image_size=grid * patch, patch_size=patch, width=vw, layers=n_vis, heads=vw // 64, act=act),
        text=TextConfig(
            context_length=sd["positional_embedding"].shape[0], vocab_size=vocab, width=tw,
            layers=n_txt, heads=tw // 64, act=act, eos_token_id=vocab - 1,
        ),
        preprocess=PreprocessConfig(image_size=grid * patch),
    )


def openclip_json_from_config(cfg: CLIPConfig) -> dict[str, Any]:
    """open_clip's ``open_clip_config.json`` layout for a (CLIP, not SigLIP) config."""
    v, t = cfg.vision, cfg.text
    return {
        "model_cfg": {
            "embed_dim": cfg.embed_dim,
            "quick_gelu": v.act == "quick_gelu",
            "vision_cfg": {
                "image_size": v.image_size, "layers": v.layers, "width": v.width,
                "patch_size": v.patch_size, "head_width": v.width // v.heads, "mlp_ratio": v.mlp_ratio,
            },
            "text_cfg": {
                "context_length": t.context_length, "vocab_size": t.vocab_size, "width": t.width,
                "heads": t.heads, "layers": t.layers, "mlp_ratio": t.mlp_ratio,
            },
        },
        "preprocess_cfg": {
            "mean": list(cfg.preprocess.mean), "std": list(cfg.preprocess.std),
            "resize_mode": cfg.preprocess.resize_mode, "interpolation": cfg.preprocess.interpolation,
        },
    }


def read_openclip_json(path: Path) -> CLIPConfig:
    try:
        return config_from_openclip_json(json.loads(path.read_text()))
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not an open_clip model config ({e})") from e
