"""Parity with transformers' CLIPModel / SiglipModel on random weights they saved."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
import transformers

from vidlift.backbones.formats.hf import config_from_hf, from_hf_state_dict, load_hf_weights, save_hf
from vidlift.backbones.model import CLIP


def _tiny_hf_clip(eos_token_id=511, act="quick_gelu"):
    cfg = transformers.CLIPConfig(
        text_config=dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=16, eos_token_id=eos_token_id,
                         hidden_act=act),
        vision_config=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8, hidden_act=act),
        projection_dim=24,
    )
    return transformers.CLIPModel(cfg).eval()


def _tiny_hf_siglip():
    cfg = transformers.SiglipConfig(
        text_config=dict(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=12),
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
    )
    return transformers.SiglipModel(cfg).eval()


def _randomize(model):
    # HF init leaves LayerNorms at 1/0 and biases at 0: make every tensor distinctive so a
    # loader that drops or swaps one cannot pass.
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05 + (1.0 if p.ndim == 1 and p.numel() > 1 else 0.0))
    return model


def _load_ours(directory):
    cfg = config_from_hf(json.loads((directory / "config.json").read_text()))
    model = CLIP(cfg).eval()
    missing, unexpected = model.load_state_dict(from_hf_state_dict(load_hf_weights(directory), cfg), strict=True)
    return model


def _inputs(vocab, length, eos, n=3):
    g = torch.Generator().manual_seed(1)
    images = torch.randn(n, 3, 32, 32, generator=g)
    ids = torch.randint(1, vocab - 2, (n, length), generator=g)
    for i, end in enumerate((4, length - 1, 7)[:n]):
        ids[i, end] = eos
        ids[i, end + 1 :] = 0
    return images, ids


@pytest.mark.parametrize("eos", [511, 2])
def test_clip_matches_transformers(tmp_path, eos):
    hf = _randomize(_tiny_hf_clip(eos_token_id=eos))
    hf.save_pretrained(tmp_path)
    ours = _load_ours(tmp_path)
    images, ids = _inputs(512, 16, 511)
    with torch.no_grad():
        ref_img = hf.get_image_features(pixel_values=images).pooler_output
        ref_txt = hf.get_text_features(input_ids=ids).pooler_output
        assert (ours.encode_image(images) - ref_img).abs().max() <= 1e-5
        assert (ours.encode_text(ids) - ref_txt).abs().max() <= 1e-5
        ref_logits = hf(input_ids=ids, pixel_values=images).logits_per_image
        assert torch.allclose(ours(images, ids), ref_logits, atol=1e-4)


def test_siglip_matches_transformers(tmp_path):
    hf = _randomize(_tiny_hf_siglip())
    hf.save_pretrained(tmp_path)
    ours = _load_ours(tmp_path)
    assert ours.cfg.loss == "siglip" and ours.logit_bias is not None
    images, ids = _inputs(300, 12, 1)
    with torch.no_grad():
        ref_img = hf.get_image_features(pixel_values=images).pooler_output
        ref_txt = hf.get_text_features(input_ids=ids).pooler_output
        assert (ours.encode_image(images) - ref_img).abs().max() <= 1e-5
        assert (ours.encode_text(ids) - ref_txt).abs().max() <= 1e-5
        ref_logits = hf(input_ids=ids, pixel_values=images).logits_per_image
        assert torch.allclose(ours(images, ids), ref_logits, atol=1e-4)


@pytest.mark.parametrize("maker", [_tiny_hf_clip, _tiny_hf_siglip])
def test_hf_round_trip(tmp_path, maker):
    """vidlift -> HF directory -> transformers and vidlift again give the same outputs."""
    hf = _randomize(maker())
    hf.save_pretrained(tmp_path / "a")
    ours = _load_ours(tmp_path / "a")
    save_hf(tmp_path / "b", ours.state_dict(), ours.cfg)
    again = _load_ours(tmp_path / "b")
    reloaded_hf = type(hf).from_pretrained(tmp_path / "b").eval()
    text = ours.cfg.text
    images, ids = _inputs(text.vocab_size, text.context_length, min(text.eos_token_id, text.vocab_size - 1))
    with torch.no_grad():
        for a, b in zip(ours.state_dict().values(), again.state_dict().values()):
            assert torch.equal(a, b)
        assert (reloaded_hf.get_image_features(pixel_values=images).pooler_output
                - ours.encode_image(images)).abs().max() <= 1e-5
        assert (reloaded_hf.get_text_features(input_ids=ids).pooler_output - ours.encode_text(ids)).abs().max() <= 1e-5
