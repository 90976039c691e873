"""Backbone families and their architectures: one explicit line per family.

A *family* is a model class implementing the
:class:`~vidlift.backbones.contract.VisionLanguageBackbone` contract, its config type and a
table of named architectures (architecture is data, as in open_clip). Weight *formats* (the
spec prefixes ``hf:``, ``openclip:``, ``openai:``, ``random:``) are registered in
:data:`vidlift.backbones.factory.FORMATS`; they read weights, turn them into a family's config
and state dict, and build the model through :func:`build_model`.

Adding a family: a sub-package with the model and its config, one line in :data:`FAMILIES`
(see docs/extending.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import config as clip_config
from .contract import VisionLanguageBackbone
from .model import CLIP


@dataclass(frozen=True)
class Family:
    """One backbone family: ``build(config) -> model``, the config type it takes, its named
    architectures and how a name resolves to a config (suffixes such as ``-gelu``)."""

    name: str
    config_type: type
    build: Callable[[Any], VisionLanguageBackbone]
    archs: Mapping[str, Callable[[], Any]]
    resolve: Callable[[str], Any]
    description: str = ""


FAMILIES: dict[str, Family] = {
    "clip": Family("clip", clip_config.CLIPConfig, CLIP, clip_config.ARCHS, clip_config.get_arch,
                   "CLIP and SigLIP: OpenAI-style ViT image tower, causal or bidirectional text tower"),
}


def register_family(family: Family) -> Family:
    """Add a family (one line at the end of the family's own package, or in :data:`FAMILIES`)."""
    if family.name in FAMILIES and FAMILIES[family.name] is not family:
        raise ValueError(f"backbone family {family.name!r} is already registered")
    FAMILIES[family.name] = family
    return family


def _families() -> dict[str, Family]:
    # Families in sub-packages register themselves on import; importing them here keeps
    # `get_arch("tiny-eva")` working without the caller knowing where EVA lives.
    from . import families  # noqa: F401

    return FAMILIES


def arch_names() -> list[str]:
    """Every named architecture of every family."""
    return sorted(n for f in _families().values() for n in f.archs)


def get_arch(name: str) -> Any:
    """A fresh config for a named architecture of any family (``ViT-B-16``, ``tiny-eva`` …)."""
    for family in _families().values():
        try:
            return family.resolve(name)
        except KeyError:
            continue
    raise KeyError(f"unknown architecture {name!r}; known: {', '.join(arch_names())} "
                   "(CLIP names also take -gelu / -quickgelu)")


def family_of(cfg: Any) -> Family:
    """The family whose config type ``cfg`` is."""
    for family in _families().values():
        if isinstance(cfg, family.config_type):
            return family
    raise TypeError(f"no backbone family takes a {type(cfg).__name__}; families: {', '.join(_families())}")


def build_model(cfg: Any) -> VisionLanguageBackbone:
    """A freshly initialised model of ``cfg``'s family."""
    return family_of(cfg).build(cfg)


__all__ = ["Family", "FAMILIES", "register_family", "arch_names", "get_arch", "family_of", "build_model"]
