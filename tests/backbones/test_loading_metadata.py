"""Metadata that must survive saving and loading, and failures that must be clear."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from vidlift.backbones import BackboneLoadError, get_arch, load_backbone, save_backbone
from vidlift.backbones.factory import MissingTokenizer
from vidlift.backbones.formats.hf import preprocess_from_hf
from vidlift.backbones.model import CLIP


def _model(**prep) -> CLIP:
    torch.manual_seed(0)
    cfg = get_arch("tiny-clip")
    for k, v in prep.items():
        setattr(cfg.preprocess, k, v)
    return CLIP(cfg).eval()


def test_openclip_keeps_resize_mode_and_interpolation(tmp_path):
    model = _model(resize_mode="squash", interpolation="bilinear", mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    save_backbone(model, tmp_path, "openclip")
    backbone = load_backbone(f"openclip:auto:{tmp_path}")
    assert backbone.model.cfg.preprocess == model.cfg.preprocess
    assert backbone.preprocess.resize_mode == "squash"


def test_named_arch_must_agree_with_shipped_config(tmp_path):
    model = _model()  # exact GELU
    save_backbone(model, tmp_path, "openclip")
    cfg_path = tmp_path / "open_clip_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model_cfg"]["quick_gelu"] = True
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(BackboneLoadError, match="quick_gelu"):
        load_backbone(f"openclip:tiny-clip:{tmp_path}")


def test_unsupported_open_clip_options_are_refused(tmp_path):
    save_backbone(_model(), tmp_path, "openclip")
    cfg_path = tmp_path / "open_clip_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["model_cfg"]["vision_cfg"]["pool_type"] = "avg"
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(BackboneLoadError, match="pool_type"):
        load_backbone(f"openclip:auto:{tmp_path}")


def test_openai_layout_refuses_what_it_cannot_record(tmp_path):
    with pytest.raises(ValueError, match="cannot record"):
        save_backbone(_model(), tmp_path, "openai")  # exact GELU would come back as QuickGELU


def test_hf_resize_then_crop():
    cfg = get_arch("ViT-B-16")
    p = preprocess_from_hf({"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224},
                            "do_center_crop": True, "resample": 2}, cfg)
    assert (p.image_size, p.resize_size, p.resize_mode, p.interpolation) == (224, 256, "shortest", "bilinear")
    old_style = preprocess_from_hf({"size": 224, "crop_size": 224}, cfg)
    assert (old_style.image_size, old_style.resize_size) == (224, None)
    siglip = preprocess_from_hf({"size": {"height": 384, "width": 384}, "do_center_crop": None},
                                get_arch("SigLIP-B-16-224"))
    assert (siglip.image_size, siglip.resize_mode) == (384, "squash")
    with pytest.raises(ValueError, match="resample"):
        preprocess_from_hf({"resample": 0}, cfg)


def test_truncated_weights_name_the_file(tmp_path):
    save_backbone(_model(), tmp_path, "hf")
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(BackboneLoadError, match="model.safetensors|" + str(tmp_path)):
        load_backbone(f"hf:{tmp_path}")


def test_broken_tokenizer_does_not_block_features(tmp_path):
    model = _model()
    save_backbone(model, tmp_path, "hf")
    (tmp_path / "tokenizer_config.json").write_text('{"tokenizer_class": "NoSuchTokenizer"}')
    backbone = load_backbone(f"hf:{tmp_path}")
    assert isinstance(backbone.tokenizer, MissingTokenizer)
    with torch.no_grad():
        assert torch.equal(backbone.model.encode_image(torch.ones(1, 3, 32, 32)),
                           model.encode_image(torch.ones(1, 3, 32, 32)))
    with pytest.raises(BackboneLoadError, match="do not load"):
        backbone.tokenizer(["a cat"])


def test_legacy_config_dict_fields_win(tmp_path):
    model = _model()
    save_backbone(model, tmp_path, "hf")
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["text_config_dict"] = cfg.pop("text_config")
    cfg["text_config"] = None
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert load_backbone(f"hf:{tmp_path}").model.cfg.text == model.cfg.text
