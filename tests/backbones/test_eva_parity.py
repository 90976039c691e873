"""EVA-CLIP (EVA02-CLIP): parity with the real open_clip + timm (golden outputs made by
scripts/make_evaclip_golden.py), loading through every spec that reaches the family, the
published parameter count, and the open_clip layout in both directions."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vidlift.backbones import BackboneLoadError, count_parameters, get_arch, load_backbone
from vidlift.backbones.config import OPENAI_MEAN, OPENAI_STD
from vidlift.backbones.eva import EvaClip, EvaClipConfig
from vidlift.backbones.eva import openclip as eva_openclip
from vidlift.backbones.eva.rope import rope_table

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "evaclip_tiny"
TOL = 1e-5


@pytest.fixture(scope="module")
def io():
    return load_file(str(FIXTURE / "io.safetensors"))


@pytest.fixture(scope="module")
def model():
    return load_backbone(f"openclip:auto:{FIXTURE}").model


def _gap(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return (a - b).abs().max().item()


def test_embeddings_match_open_clip(model, io):
    assert isinstance(model, EvaClip) and model.family == "eva-clip"
    with torch.no_grad():
        img, txt = model.encode_image(io["images"]), model.encode_text(io["text"])
        assert _gap(img, io["image_features"]) <= TOL
        assert _gap(txt, io["text_features"]) <= TOL
        assert _gap(model.logit_scale_value(), io["logit_scale"]) <= TOL
        assert _gap(model.logits(img, txt), io["logits_per_image"]) <= 1e-4  # logits are ~20x the cosines


def test_every_block_matches_open_clip(model, io):
    seen = {}

    class Keep(torch.nn.Module):
        def forward(self, x, ctx):
            seen["embed"] = x.clone()
            return x

    m = model.new_like()
    m.load_state_dict(model.state_dict())
    m.add_hook("visual.embed", Keep())  # the tokens that enter block 0 (patches + class + positions)
    with torch.no_grad():
        out = m.visual(io["images"], return_layers="all")
        txt = m.text(io["text"], return_layers="all")
    assert _gap(seen["embed"], io["visual_tokens_in"]) <= TOL
    for i in range(2):
        assert _gap(out.layers[i], io[f"visual_block_{i}"]) <= TOL
        assert _gap(txt.layers[i], io[f"text_block_{i}"]) <= TOL
    assert _gap(out.tokens, io["visual_tokens_out"]) <= TOL


def test_rope_table_matches_timm(io):
    cos, sin = rope_table((4, 4), 32, (16, 16), 10000.0)  # timm stores sin | cos side by side
    assert _gap(torch.cat([sin, cos], dim=-1), io["visual_rope"]) <= 1e-6


def test_other_resolution_matches_timm_dynamic_size(model, io):
    """48 px (6x6 patches): bicubic antialiased position table and RoPE rebuilt for the grid,
    as timm's dynamic_img_size computes them."""
    with torch.no_grad():
        assert _gap(model.encode_image(io["images_big"]), io["image_features_big"]) <= TOL


@pytest.mark.parametrize("spec", [
    f"openclip:auto:{FIXTURE}",
    f"openclip:auto:{FIXTURE / 'open_clip_model.safetensors'}",
    f"openclip:tiny-eva:{FIXTURE / 'open_clip_model.safetensors'}",
    f"openclip:{FIXTURE / 'open_clip_config.json'}:{FIXTURE / 'open_clip_model.safetensors'}",
])
def test_open_clip_specs_select_the_eva_family(spec, io):
    backbone = load_backbone(spec)
    assert isinstance(backbone.model, EvaClip)
    assert backbone.meta.format == "openclip" and backbone.meta.config["family"] == "eva-clip"
    p = backbone.model.preprocess_config  # travels with the weights: OpenAI mean/std, 32 px
    assert (p.image_size, p.mean, p.std) == (32, OPENAI_MEAN, OPENAI_STD)
    assert (p.resize_mode, p.interpolation) == ("shortest", "bicubic")
    assert backbone.preprocess.size == 32
    with torch.no_grad():
        assert _gap(backbone.model.encode_image(io["images"]), io["image_features"]) <= TOL


def test_wrong_architecture_names_fail_clearly():
    weights = FIXTURE / "open_clip_model.safetensors"
    with pytest.raises(BackboneLoadError, match="ViT-B-16 uses quick_gelu but .* says swiglu"):
        load_backbone(f"openclip:ViT-B-16:{weights}")
    with pytest.raises(BackboneLoadError, match="do not fit"):
        load_backbone(f"openclip:EVA02-B-16:{weights}")


def test_unsupported_open_clip_options_are_refused():
    base = json.loads((FIXTURE / "open_clip_config.json").read_text())
    enormous = json.loads(json.dumps(base))
    enormous["model_cfg"]["vision_cfg"]["timm_model_name"] = "eva02_enormous_patch14_clip_224"
    with pytest.raises(ValueError, match="post-norm"):
        eva_openclip.config_from_openclip_json(enormous)
    pooled = json.loads(json.dumps(base))
    pooled["model_cfg"]["vision_cfg"]["timm_pool"] = "avg"
    pooled["model_cfg"]["vision_cfg"]["timm_model_kwargs"]["qkv_fused"] = True
    with pytest.raises(ValueError, match="timm_pool.*qkv_fused|qkv_fused.*timm_pool"):
        eva_openclip.config_from_openclip_json(pooled)


def test_random_specs():
    tiny = load_backbone("random:tiny-eva")
    assert isinstance(tiny.model, EvaClip) and tiny.meta.format == "random"
    again = load_backbone("random:tiny-eva")
    for a, b in zip(tiny.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(a, b)  # seeded
    assert get_arch("EVA02-B-16").vision.mlp_dim == 2048


@pytest.mark.parametrize("arch, total, visual", [
    # open_clip's EVA02-B-16 counts 149,691,137 (image 86,263,040, text 63,428,096 + logit scale);
    # the EVA-CLIP model card gives EVA02_CLIP_B_psz16_s8B as 149M.
    ("EVA02-B-16", 149_691_137, 86_263_040),
    # open_clip: 427,755,457 (image 304,105,152); the model card: EVA02_CLIP_L_psz14_s4B 428M.
    ("EVA02-L-14", 427_755_457, 304_105_152),
])
def test_parameter_counts_match_published(arch, total, visual):
    with torch.device("meta"):
        model = EvaClip(get_arch(arch))
    assert count_parameters(model) == total
    assert count_parameters(model.visual) + count_parameters(model.visual_proj) == visual


def test_config_round_trips():
    cfg = get_arch("tiny-eva")
    assert EvaClipConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert eva_openclip.config_from_openclip_json(eva_openclip.openclip_json_from_config(cfg)) == cfg
    shipped = json.loads((FIXTURE / "open_clip_config.json").read_text())
    assert eva_openclip.config_from_openclip_json(shipped) == cfg  # the fixture is tiny-eva


def test_state_dict_layout_round_trip():
    raw = load_file(str(FIXTURE / "open_clip_model.safetensors"))
    ours = eva_openclip.from_openclip_state_dict(raw)
    assert set(ours) == set(EvaClip(get_arch("tiny-eva")).state_dict())
    back = eva_openclip.to_openclip_state_dict(ours)
    assert back.keys() == raw.keys()
    for k in raw:
        assert torch.equal(back[k], raw[k]), k
    causal = torch.full((16, 16), float("-inf")).triu(1)  # older open_clip saved the text mask as a buffer
    assert eva_openclip.from_openclip_state_dict({**raw, "text.attn_mask": causal}).keys() == ours.keys()
    with pytest.raises(ValueError, match="visual.trunk.fc_norm.weight"):
        eva_openclip.from_openclip_state_dict({**raw, "visual.trunk.fc_norm.weight": torch.ones(64)})
