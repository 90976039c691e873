"""HF transformers CLIP / SigLIP directories <-> vidlift's :class:`~vidlift.backbones.model.CLIP`.

A directory holds ``config.json`` (``model_type`` "clip" or "siglip"), ``model.safetensors``
(or sharded safetensors with an index), optionally ``preprocessor_config.json`` and tokenizer
files. Weights are read with safetensors only: nothing in the directory can run code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..config import (
    SIGLIP_MEAN,
    SIGLIP_STD,
    CLIPConfig,
    PreprocessConfig,
    TextConfig,
    VisionConfig,
)

Tensor = torch.Tensor

_ACT_FROM_HF = {"quick_gelu": "quick_gelu", "gelu": "gelu", "gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh"}
_ACT_TO_HF = {"quick_gelu": "quick_gelu", "gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh"}

_LAYER = {
    "layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
    "self_attn.q_proj": "attn.q_proj", "self_attn.k_proj": "attn.k_proj",
    "self_attn.v_proj": "attn.v_proj", "self_attn.out_proj": "attn.out_proj",
}


def _key_map(cfg: CLIPConfig) -> dict[str, str]:
    """Every HF key (except fused MAP-head projections) -> vidlift key."""
    m: dict[str, str] = {}
    for hf_tower, ours, n in (("vision_model", "visual", cfg.vision.layers), ("text_model", "text", cfg.text.layers)):
        for i in range(n):
            for a, b in _LAYER.items():
                for p in ("weight", "bias"):
                    m[f"{hf_tower}.encoder.layers.{i}.{a}.{p}"] = f"{ours}.transformer.blocks.{i}.{b}.{p}"
    v = "vision_model."
    m[v + "embeddings.patch_embedding.weight"] = "visual.patch_embed.weight"
    m[v + "embeddings.position_embedding.weight"] = "visual.pos_embed"
    for p in ("weight", "bias"):
        m[f"{v}post_layernorm.{p}"] = f"visual.ln_post.{p}"
        m[f"text_model.final_layer_norm.{p}"] = f"text.ln_final.{p}"
    m["text_model.embeddings.token_embedding.weight"] = "text.token_embedding.weight"
    m["text_model.embeddings.position_embedding.weight"] = "text.pos_embed"
    m["logit_scale"] = "logit_scale"
    if cfg.loss == "siglip":
        m[v + "embeddings.patch_embedding.bias"] = "visual.patch_embed.bias"
        m[v + "head.probe"] = "visual.attn_pool.probe"
        for a, b in (("attention.out_proj", "attn.out_proj"), ("layernorm", "norm"),
                     ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")):
            for p in ("weight", "bias"):
                m[f"{v}head.{a}.{p}"] = f"visual.attn_pool.{b}.{p}"
        m["text_model.head.weight"] = "text_proj.weight"
        m["text_model.head.bias"] = "text_proj.bias"
        m["logit_bias"] = "logit_bias"
    else:
        m[v + "embeddings.class_embedding"] = "visual.class_embedding"
        for p in ("weight", "bias"):
            m[f"{v}pre_layrnorm.{p}"] = f"visual.ln_pre.{p}"
        m["visual_projection.weight"] = "visual_proj.weight"
        m["text_projection.weight"] = "text_proj.weight"
    return m


def config_from_hf(d: dict[str, Any], source: str = "config.json") -> CLIPConfig:
    """Build a :class:`CLIPConfig` from an HF ``config.json`` dict (CLIP or SigLIP)."""
    model_type = d.get("model_type")
    if model_type not in ("clip", "siglip"):
        raise ValueError(f"{source}: model_type {model_type!r} is not supported (clip, siglip)")
    # Old configs carry *_config_dict, which transformers lets win over *_config.
    vc = d.get("vision_config_dict") or d.get("vision_config") or {}
    tc = d.get("text_config_dict") or d.get("text_config") or {}
    siglip = model_type == "siglip"
    # Defaults are those of transformers' config classes (which omit default values when saving).
    vdef = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                image_size=224, patch_size=16 if siglip else 32,
                hidden_act="gelu_pytorch_tanh" if siglip else "quick_gelu", layer_norm_eps=1e-6 if siglip else 1e-5)
    tdef = dict(hidden_size=768 if siglip else 512, intermediate_size=3072 if siglip else 2048,
                num_hidden_layers=12, num_attention_heads=12 if siglip else 8,
                max_position_embeddings=64 if siglip else 77, vocab_size=32000 if siglip else 49408,
                hidden_act="gelu_pytorch_tanh" if siglip else "quick_gelu", layer_norm_eps=1e-6 if siglip else 1e-5,
                eos_token_id=1 if siglip else 49407, pad_token_id=1)
    v = {**vdef, **{k: vc[k] for k in vdef if k in vc}}
    t = {**tdef, **{k: tc[k] for k in tdef if k in tc}}
    for name, act in (("vision", v["hidden_act"]), ("text", t["hidden_act"])):
        if act not in _ACT_FROM_HF:
            raise ValueError(f"{source}: {name} activation {act!r} is not supported")
    vision = VisionConfig(
        image_size=v["image_size"], patch_size=v["patch_size"], width=v["hidden_size"],
        layers=v["num_hidden_layers"], heads=v["num_attention_heads"],
        mlp_ratio=v["intermediate_size"] / v["hidden_size"], act=_ACT_FROM_HF[v["hidden_act"]],
        ln_eps=v["layer_norm_eps"], class_token=not siglip, patch_bias=siglip, pre_norm=not siglip,
        pool="map" if siglip else "cls",
    )
    if siglip and not vc.get("vision_use_head", True):
        raise ValueError(f"{source}: SigLIP vision towers without the pooling head are not supported")
    eos = t["eos_token_id"]
    text = TextConfig(
        context_length=t["max_position_embeddings"], vocab_size=t["vocab_size"], width=t["hidden_size"],
        layers=t["num_hidden_layers"], heads=t["num_attention_heads"],
        mlp_ratio=t["intermediate_size"] / t["hidden_size"], act=_ACT_FROM_HF[t["hidden_act"]],
        ln_eps=t["layer_norm_eps"], causal=not siglip,
        # HF CLIP configs saved before eos_token_id was fixed say 2 and pool at argmax; when
        # end-of-text is the largest id, its first position is the argmax anyway (OpenAI's rule).
        pool="last" if siglip else ("argmax" if eos in (2, t["vocab_size"] - 1) else "eos"),
        eos_token_id=eos, pad_token_id=t["pad_token_id"], proj_bias=siglip,
    )
    if siglip:
        embed = tc.get("projection_size") or text.width
        return CLIPConfig(
            embed_dim=embed, vision=vision, text=text, loss="siglip", vision_proj=False,
            logit_scale_init=2.302585, logit_bias_init=-10.0,
            preprocess=PreprocessConfig(image_size=vision.image_size, mean=SIGLIP_MEAN, std=SIGLIP_STD,
                                        resize_mode="squash"),
        )
    return CLIPConfig(
        embed_dim=d.get("projection_dim", 512), vision=vision, text=text,
        logit_scale_init=d.get("logit_scale_init_value", 2.6592),
        preprocess=PreprocessConfig(image_size=vision.image_size),
    )


def preprocess_from_hf(d: dict[str, Any], cfg: CLIPConfig,
                       source: str = "preprocessor_config.json") -> PreprocessConfig:
    """Read mean/std/sizes from ``preprocessor_config.json`` (HF image processor settings).

    CLIP: resize the shorter side to ``size.shortest_edge``, centre-crop ``crop_size``;
    SigLIP: resize to ``size.height`` × ``size.width``, no crop.
    """
    p = PreprocessConfig(**vars(cfg.preprocess))
    if "image_mean" in d:
        p.mean = tuple(d["image_mean"])
    if "image_std" in d:
        p.std = tuple(d["image_std"])
    if d.get("do_normalize") is False or d.get("do_resize") is False:
        raise ValueError(f"{source}: do_normalize / do_resize false is not supported")

    def side(value: Any, what: str) -> int | None:
        if isinstance(value, int):
            return value
        if isinstance(value, dict):
            if "shortest_edge" in value:
                return int(value["shortest_edge"])
            if "height" in value:
                if value["height"] != value.get("width", value["height"]):
                    raise ValueError(f"{source}: non-square {what} {value} is not supported")
                return int(value["height"])
        if value is None:
            return None
        raise ValueError(f"{source}: cannot read {what} {value!r}")

    resize, crop = side(d.get("size"), "size"), side(d.get("crop_size"), "crop_size")
    do_crop = bool(d.get("do_center_crop", cfg.loss != "siglip"))
    p.resize_mode = "shortest" if do_crop else "squash"
    if do_crop:
        p.image_size = crop or resize or p.image_size
        p.resize_size = resize if resize and resize != p.image_size else None
    else:
        p.image_size = resize or p.image_size
        p.resize_size = None
    resample = d.get("resample", 3)
    if resample not in (2, 3):  # PIL codes: 2 = bilinear, 3 = bicubic
        raise ValueError(f"{source}: resample={resample} is not supported (2 bilinear, 3 bicubic)")
    p.interpolation = "bilinear" if resample == 2 else "bicubic"
    return p


def load_hf_weights(directory: Path) -> dict[str, Tensor]:
    """Read (possibly sharded) safetensors weights of an HF directory."""
    single = directory / "model.safetensors"
    if single.is_file():
        return load_file(str(single))
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        out: dict[str, Tensor] = {}
        for shard in shards:
            out.update(load_file(str(directory / shard)))
        return out
    if (directory / "pytorch_model.bin").is_file():
        raise ValueError(
            f"{directory}: only pytorch_model.bin found; vidlift reads HF weights from safetensors "
            "(convert with transformers: model.save_pretrained(dir, safe_serialization=True))"
        )
    raise FileNotFoundError(f"{directory}: no model.safetensors (or sharded index) in this HF directory")


def from_hf_state_dict(sd: dict[str, Tensor], cfg: CLIPConfig, source: str = "model.safetensors") -> dict[str, Tensor]:
    """HF keys -> vidlift keys; strips a ``model.`` prefix; ignores ``position_ids`` buffers."""
    m = _key_map(cfg)
    out: dict[str, Tensor] = {}
    unknown = []
    for key, t in sd.items():
        if key.endswith("position_ids"):
            continue
        key = key.removeprefix("model.")
        if key in m:
            dst = m[key]
            if dst.endswith("pos_embed"):
                out[dst] = t
            elif dst in ("logit_scale", "logit_bias"):
                out[dst] = t.reshape(())
            elif dst == "visual.attn_pool.probe":
                out[dst] = t.reshape(1, 1, -1)
            else:
                out[dst] = t
        elif cfg.loss == "siglip" and (
                mm := re.fullmatch(r"vision_model\.head\.attention\.in_proj_(weight|bias)", key)):
            for name, part in zip("qkv", t.chunk(3, dim=0)):
                out[f"visual.attn_pool.attn.{name}_proj.{mm[1]}"] = part.contiguous()
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(f"{source}: unexpected keys for an HF {cfg.loss.upper()} model: {', '.join(unknown[:8])}")
    return out


def to_hf_state_dict(sd: dict[str, Tensor], cfg: CLIPConfig) -> dict[str, Tensor]:
    inv = {v: k for k, v in _key_map(cfg).items()}
    out: dict[str, Tensor] = {}
    qkv: dict[str, dict[str, Tensor]] = {}
    for key, t in sd.items():
        if (mm := re.fullmatch(r"visual\.attn_pool\.attn\.([qkv])_proj\.(weight|bias)", key)):
            qkv.setdefault(mm[2], {})[mm[1]] = t
        elif key in inv:
            out[inv[key]] = t.reshape(1) if key in ("logit_scale", "logit_bias") and cfg.loss == "siglip" else t
        else:
            raise ValueError(f"cannot map {key} to the HF layout")
    for kind, parts in qkv.items():
        out[f"vision_model.head.attention.in_proj_{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return {k: v.contiguous() for k, v in out.items()}


def hf_config_dict(cfg: CLIPConfig) -> dict[str, Any]:
    """An HF ``config.json`` dict that transformers' CLIPModel / SiglipModel accept."""
    v, t = cfg.vision, cfg.text
    vision = dict(hidden_size=v.width, intermediate_size=v.mlp_dim, num_hidden_layers=v.layers,
                  num_attention_heads=v.heads, image_size=v.image_size, patch_size=v.patch_size,
                  hidden_act=_ACT_TO_HF[v.act], layer_norm_eps=v.ln_eps, num_channels=3)
    text = dict(hidden_size=t.width, intermediate_size=t.mlp_dim, num_hidden_layers=t.layers,
                num_attention_heads=t.heads, max_position_embeddings=t.context_length, vocab_size=t.vocab_size,
                hidden_act=_ACT_TO_HF[t.act], layer_norm_eps=t.ln_eps, eos_token_id=t.eos_token_id,
                pad_token_id=t.pad_token_id)
    if cfg.loss == "siglip":
        vision["model_type"] = "siglip_vision_model"
        text.update(model_type="siglip_text_model", projection_size=cfg.embed_dim)
        return {"model_type": "siglip", "architectures": ["SiglipModel"], "vision_config": vision, "text_config": text}
    if t.pool == "argmax" and t.eos_token_id != 2:
        # HF CLIP pools at the first eos_token_id; argmax pooling is its legacy eos_token_id=2 mode.
        if t.eos_token_id != t.vocab_size - 1:
            raise ValueError("argmax text pooling maps to HF only when end-of-text is the largest id")
    vision["model_type"] = "clip_vision_model"
    text["model_type"] = "clip_text_model"
    return {"model_type": "clip", "architectures": ["CLIPModel"], "projection_dim": cfg.embed_dim,
            "logit_scale_init_value": cfg.logit_scale_init, "vision_config": vision, "text_config": text}


def hf_preprocessor_dict(cfg: CLIPConfig) -> dict[str, Any]:
    p = cfg.preprocess
    crop = p.resize_mode == "shortest"
    d: dict[str, Any] = {
        "image_processor_type": "SiglipImageProcessor" if cfg.loss == "siglip" else "CLIPImageProcessor",
        "do_resize": True, "do_normalize": True, "do_rescale": True, "rescale_factor": 1 / 255,
        "image_mean": list(p.mean), "image_std": list(p.std),
        "resample": 3 if p.interpolation == "bicubic" else 2, "do_center_crop": crop,
    }
    if crop:
        d.update(size={"shortest_edge": p.resize_size or p.image_size},
                 crop_size={"height": p.image_size, "width": p.image_size})
    else:
        d["size"] = {"height": p.image_size, "width": p.image_size}
    return d


def save_hf(directory: Path, sd: dict[str, Tensor], cfg: CLIPConfig) -> None:
    """Write config.json, preprocessor_config.json and model.safetensors."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(hf_config_dict(cfg), indent=2))
    (directory / "preprocessor_config.json").write_text(json.dumps(hf_preprocessor_dict(cfg), indent=2))
    save_file(to_hf_state_dict(sd, cfg), str(directory / "model.safetensors"), metadata={"format": "pt"})
