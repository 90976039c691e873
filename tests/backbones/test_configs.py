"""Architecture configs: published parameter counts, naming, serialisation."""

import pytest
import torch

from vidlift.backbones import CLIP, CLIPConfig, count_parameters, get_arch


@pytest.mark.parametrize(
    "arch, total, visual",
    [
        # CLIP (Radford et al. 2021) model card / open_clip's model profile.
        ("ViT-B-32", 151.28e6, 87.85e6),
        ("ViT-B-16", 149.62e6, 86.19e6),
        ("ViT-L-14", 427.62e6, 304.29e6),
        ("ViT-L-14-336", 427.94e6, 304.6e6),
        ("SigLIP-B-16-224", 203.16e6, 92.88e6),
    ],
)
def test_parameter_counts_match_published(arch, total, visual):
    with torch.device("meta"):
        model = CLIP(get_arch(arch))
    assert count_parameters(model) == pytest.approx(total, rel=2e-3)
    vis = count_parameters(model.visual) + (count_parameters(model.visual_proj) if model.visual_proj else 0)
    assert vis == pytest.approx(visual, rel=2e-3)


def test_activation_suffixes_and_unknown_names():
    assert get_arch("ViT-B-16").vision.act == "quick_gelu"
    assert get_arch("ViT-B-16-gelu").text.act == "gelu"
    assert get_arch("ViT-B-16-quickgelu").vision.act == "quick_gelu"
    with pytest.raises(KeyError, match="known:"):
        get_arch("ViT-H-99")


def test_config_dict_round_trip():
    cfg = get_arch("tiny-siglip")
    again = CLIPConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.preprocess.resize_mode == "squash"
