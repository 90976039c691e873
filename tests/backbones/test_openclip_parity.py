"""Parity with the real open_clip library (golden outputs made by scripts/make_openclip_golden.py)
and round trips of every weight format through vidlift's loaders and writers."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vidlift.backbones.config import CLIPConfig, TextConfig, VisionConfig
from vidlift.backbones.factory import BackboneLoadError, load_backbone, save_backbone
from vidlift.backbones.model import CLIP

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "openclip_tiny"


@pytest.mark.parametrize("variant", ["gelu", "quickgelu"])
@pytest.mark.parametrize("weights", ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"])
def test_matches_open_clip(variant, weights):
    d = FIXTURES / variant
    io = load_file(str(d / "io.safetensors"))
    model, _, _ = load_backbone(f"openclip:{d / 'config.json'}:{d / weights}")
    assert model.cfg.vision.act == ("quick_gelu" if variant == "quickgelu" else "gelu")
    with torch.no_grad():
        assert (model.encode_image(io["images"]) - io["image_features"]).abs().max() <= 1e-5
        assert (model.encode_text(io["text"]) - io["text_features"]).abs().max() <= 1e-5
        assert torch.allclose(model.logit_scale.exp(), io["logit_scale"])
        out = model.visual(io["images"], return_layers="all")
        for i in range(2):
            assert (out.layers[i] - io[f"visual_block_{i}"]).abs().max() <= 1e-5
        txt = model.text(io["text"], return_layers=[0, 1])
        for i in range(2):
            assert (txt.layers[i] - io[f"text_block_{i}"]).abs().max() <= 1e-5


def test_auto_arch_reads_open_clip_config():
    d = FIXTURES / "gelu"
    backbone = load_backbone(f"openclip:auto:{d}")
    model, meta = backbone.model, backbone.meta
    assert meta.format == "openclip" and len(meta.weights_sha256) == 64
    assert model.cfg.vision.heads == 2 and model.cfg.embed_dim == 32


def _outputs(model, seed=0):
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(2, 3, cfg.vision.image_size, cfg.vision.image_size, generator=g)
    ids = torch.randint(1, cfg.text.vocab_size - 1, (2, cfg.text.context_length), generator=g)
    ids[:, -3] = cfg.text.vocab_size - 1
    with torch.no_grad():
        return model.encode_image(images), model.encode_text(ids)


def _openai_shaped_model():
    # OpenAI checkpoints carry no config: heads are inferred as width // 64.
    torch.manual_seed(0)
    cfg = CLIPConfig(
        embed_dim=16,
        vision=VisionConfig(image_size=32, patch_size=8, width=64, layers=2, heads=1, act="quick_gelu"),
        text=TextConfig(context_length=16, vocab_size=128, width=64, layers=2, heads=1, act="quick_gelu",
                        eos_token_id=127),
    )
    cfg.preprocess.image_size = 32
    model = CLIP(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.mark.parametrize("fmt", ["hf", "openclip", "openai"])
def test_format_round_trip(tmp_path, fmt):
    model = _openai_shaped_model()
    out = save_backbone(model, tmp_path / fmt, fmt)
    spec = {"hf": f"hf:{out}", "openclip": f"openclip:auto:{out / 'open_clip_model.safetensors'}",
            "openai": f"openai:{out / 'model.pt'}"}[fmt]
    again = load_backbone(spec).model
    assert again.cfg == model.cfg
    ref_sd, new_sd = model.state_dict(), again.state_dict()
    assert ref_sd.keys() == new_sd.keys()
    for k in ref_sd:
        assert torch.equal(ref_sd[k], new_sd[k]), k
    for a, b in zip(_outputs(model), _outputs(again)):
        assert torch.equal(a, b)


def test_openai_torchscript_archive(tmp_path):
    """The original OpenAI release format: a TorchScript archive, read without running it."""
    from vidlift.backbones.formats.openclip import to_openclip_state_dict

    model = _openai_shaped_model()
    sd = to_openclip_state_dict(model.state_dict())
    sd = {k: v.half() for k, v in sd.items()}  # OpenAI ships fp16 weights
    sd["input_resolution"] = torch.tensor(32)

    class Holder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for key, value in sd.items():
                *path, leaf = key.split(".")
                mod = self
                for part in path:
                    if not hasattr(mod, part):
                        mod.add_module(part, torch.nn.Module())
                    mod = getattr(mod, part)
                mod.register_buffer(leaf, value)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    path = tmp_path / "ViT-tiny.pt"
    torch.jit.save(torch.jit.script(Holder()), str(path))
    loaded = load_backbone(f"openai:{path}").model
    for a, b in zip(_outputs(loaded), _outputs(model)):
        assert (a - b).abs().max() < 2e-2  # fp16 storage
    assert loaded.cfg.vision.act == "quick_gelu"


def test_bad_specs_fail_clearly(tmp_path):
    with pytest.raises(BackboneLoadError, match="must look like"):
        load_backbone("ViT-B-16")
    with pytest.raises(BackboneLoadError, match="HF_HUB_OFFLINE is set and it is not in the local cache"):
        load_backbone("hf:someone/no-such-repo")
    with pytest.raises(BackboneLoadError, match="does not exist"):
        load_backbone(f"hf:{tmp_path / 'typo'}")
    bad = tmp_path / "weights.safetensors"
    from safetensors.torch import save_file

    save_file({"visual.conv1.weight": torch.zeros(4, 3, 8, 8)}, str(bad))
    with pytest.raises(BackboneLoadError, match="weights.safetensors"):
        load_backbone(f"openclip:ViT-B-32:{bad}")
    pickle_bomb = tmp_path / "evil.bin"
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    pickle_bomb.write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(BackboneLoadError, match="evil.bin"):
        load_backbone(f"openai:{pickle_bomb}")
    assert not (tmp_path / "pwned").exists()
