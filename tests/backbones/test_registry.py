"""The backbone registries: weight formats by spec prefix, families by config type, contract."""

from __future__ import annotations

import pytest

from vidlift.backbones import (
    FAMILIES,
    FORMATS,
    BackboneLoadError,
    VisionLanguageBackbone,
    arch_names,
    build_model,
    get_arch,
    load_backbone,
)
from vidlift.backbones.registry import family_of


def test_formats_and_aliases_dispatch():
    assert {"hf", "openclip", "openai", "random"} <= set(FORMATS)
    with pytest.raises(BackboneLoadError, match=r"unknown kind 'nope' \(hf, openclip, openai, random"):
        load_backbone("nope:x")
    with pytest.raises(BackboneLoadError, match="must look like hf:"):
        load_backbone("justaword")
    bb = load_backbone("random:tiny-clip:3")
    assert bb.meta.format == "random" and isinstance(bb.model, VisionLanguageBackbone)


def test_unknown_arch_lists_every_family():
    with pytest.raises(KeyError) as e:
        get_arch("ViT-Z-99")
    for name in ("ViT-B-16", "tiny-clip", "tiny-siglip"):
        assert name in str(e.value)
    assert set(arch_names()) >= {"ViT-B-16", "SigLIP-B-16-224", "tiny-ilfm"}


def test_family_of_config_builds_that_family():
    cfg = get_arch("tiny-siglip")
    assert family_of(cfg) is FAMILIES["clip"]
    model = build_model(cfg)
    assert model.family == "siglip" and model.score_activation == "sigmoid"
    with pytest.raises(TypeError, match="no backbone family takes a dict"):
        build_model({})


def test_every_family_implements_the_whole_contract():
    """Every registered family's test-size architecture instantiates (no abstract method left)."""
    assert {"clip", "eva-clip"} <= set(FAMILIES)  # complete on import, not only after a lookup
    for family in list(FAMILIES.values()):
        tiny = [n for n in family.archs if n.startswith("tiny")]
        assert tiny, f"family {family.name} registers no tiny architecture for tests"
        model = build_model(family.resolve(tiny[0]))
        assert isinstance(model, VisionLanguageBackbone)
        assert model.vision_depth >= 1 and model.embed_dim >= 1
        assert f"visual.blocks.{model.vision_depth - 1}.attn_out" in model.hook_sites()


@pytest.mark.parametrize(("arch", "prefix", "class_token"),
                         [("tiny-clip", 1, True), ("tiny-siglip", 0, False), ("tiny-eva", 1, True)])
def test_token_layout_says_whether_there_is_a_class_token(arch, prefix, class_token):
    layout = build_model(get_arch(arch)).token_layout
    assert (layout.num_prefix_tokens, layout.class_token, layout.grid) == (prefix, class_token, (4, 4))
    assert layout.num_tokens == prefix + 16
