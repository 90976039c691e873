"""Save what a transfer trained, on its own, and load it back onto the same backbone.

A *delta* is one safetensors file holding every trainable tensor of a
:class:`~vidlift.transfer.TransferModel` (and the buffers of the modules the strategies
added), with JSON metadata inside the file (and beside it, ``<name>.json``, for people):
the strategies and their hyper-parameters, ``num_frames``, and the backbone's identity
(weights hash, spec, architecture). Loading rebuilds the strategies on a freshly loaded
backbone and refuses a backbone with other weights: a delta is meaningless anywhere else.

An *export* is a self-contained inference model: LoRA merged into the weights, the
backbone written in a public format (``backbone/``: an HF directory, loadable by
``load_backbone`` and by transformers, where the family has one — CLIP, SigLIP — else
open_clip's layout, as EVA-CLIP), and the remaining modules with their strategies
(``transfer.safetensors``, ``transfer.json``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..atomic import atomic_write
from ..backbones import Backbone, load_backbone, save_backbone
from .model import TransferModel

FORMAT = "vidlift-transfer-delta/2"
# Format 1 (vidlift 0.1.0) named three strategies' tensors differently; they are renamed on load
# (:func:`_upgrade_v1`), so a delta trained then still loads.
OLD_FORMATS = ("vidlift-transfer-delta/1",)
EXPORT_FORMAT = "vidlift-transfer-export/1"
# Public formats an export writes its backbone in, first choice first: (save_backbone fmt, load spec prefix).
_BACKBONE_FORMATS = (("hf", "hf:"), ("openclip", "openclip:auto:"))


class DeltaMismatchError(ValueError):
    """A delta or export that does not fit the backbone or strategies it is loaded with."""


def _strategy_records(model: TransferModel, skip: set[str] = frozenset()) -> list[dict[str, Any]]:
    return [{"name": s.name, "hyperparameters": s.hyperparameters()} for s in model.strategies if s.name not in skip]


# Strategies renamed since deltas were saved under the old name: old name -> (new name, a
# hyper-parameter only the old strategy took, which tells an old record from a new one).
RENAMED: dict[str, tuple[str, str]] = {
    "distillation": ("tower_compression", "width"),  # issue 12: distillation became soft-target KD
}


def _build_strategies(records: list[dict[str, Any]], source: str) -> list:
    """Strategies from their records. A hyper-parameter a record lacks (the delta predates it)
    takes the strategy's ``legacy_defaults`` value, the one that rebuilds the model that was
    saved, before its class default (new deltas record every hyper-parameter); a record of a
    renamed strategy (:data:`RENAMED`) builds the strategy under its new name."""
    from .registry import STRATEGIES

    out = []
    for r in records:
        name, recorded = r.get("name"), r.get("hyperparameters", {})
        if name in RENAMED and RENAMED[name][1] in recorded:
            name = RENAMED[name][0]
        cls = STRATEGIES.get(name)
        if cls is None:
            raise DeltaMismatchError(f"{source}: unknown strategy {r.get('name')!r}; known: {', '.join(STRATEGIES)}")
        hp = {**getattr(cls, "legacy_defaults", {}), **recorded}
        for k, v in hp.items():  # JSON turns tuples into lists
            if isinstance(v, list):
                hp[k] = tuple(v)
        try:
            out.append(cls(**hp))
        except TypeError as e:
            raise DeltaMismatchError(
                f"{source}: strategy {r['name']!r} does not take these hyper-parameters ({e})") from e
    return out


def delta_keys(model: TransferModel) -> set[str]:
    """Names in ``model.state_dict()`` of what a delta holds: trainable parameters and the
    buffers of added modules."""
    keys = {n for n, _ in model.trainable_parameters()}
    keys |= {n for n, _ in model.named_buffers()} & model.added_state_names()
    return keys & model.state_dict().keys()  # non-persistent buffers are rebuilt, not saved


def delta_state_dict(model: TransferModel) -> dict[str, torch.Tensor]:
    """Trainable parameters + buffers of added modules, name -> contiguous CPU tensor."""
    keys = delta_keys(model)
    return {n: t.detach().cpu().contiguous() for n, t in model.state_dict().items() if n in keys}


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def backbone_identity(model: TransferModel) -> dict[str, Any]:
    m = model.meta
    return {"identity": m.identity, "weights_sha256": m.weights_sha256, "spec": m.spec, "format": m.format,
            "config": model.backbone.config_dict()}


def save_delta(model: TransferModel, path: str | Path) -> Path:
    """Write the trained delta of ``model`` to ``path`` (``.safetensors``) and ``path``.json."""
    path = Path(path)
    if path.suffix != ".safetensors":  # append: "epoch.10" must not become "epoch.safetensors"
        path = path.with_name(path.name + ".safetensors")
    meta = {
        "format": FORMAT,
        "strategies": _strategy_records(model),
        "num_frames": model.num_frames,
        "backbone": backbone_identity(model),
        "parameters": model.parameter_report().to_dict(),
    }
    _atomic_save(delta_state_dict(model), path, {"vidlift": json.dumps(meta)})
    path.with_name(path.name.removesuffix(".safetensors") + ".json").write_text(json.dumps(meta, indent=2))
    return path


def read_delta_metadata(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such delta file")
    try:
        with safe_open(str(path), "pt") as f:
            raw = (f.metadata() or {}).get("vidlift")
    except Exception as e:  # a truncated or foreign file
        raise DeltaMismatchError(f"{path}: not a safetensors file ({type(e).__name__}: {e})") from e
    if raw is None:
        raise DeltaMismatchError(f"{path}: no vidlift metadata; not a transfer delta")
    meta = json.loads(raw)
    if meta.get("format") != FORMAT and meta.get("format") not in OLD_FORMATS:
        raise DeltaMismatchError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    return meta


def load_delta(path: str | Path, backbone: Backbone | str) -> TransferModel:
    """Rebuild the :class:`TransferModel` saved at ``path`` on ``backbone`` (a Backbone or a
    spec string), refusing a backbone whose weights differ from the one it was trained on."""
    path = Path(path)
    meta = read_delta_metadata(path)
    if isinstance(backbone, str):
        backbone = load_backbone(backbone)
    want = meta["backbone"]
    config = json.loads(json.dumps(backbone.model.config_dict()))  # as stored: tuples become lists
    if backbone.meta.weights_sha256 != want["weights_sha256"] or config != want["config"]:
        raise DeltaMismatchError(
            f"{path} was trained on backbone {want['identity']} ({want['spec']}), "
            f"not on {backbone.meta.identity} ({backbone.meta.spec}); load the backbone it was trained on")
    strategies = _build_strategies(meta["strategies"], str(path))
    model = TransferModel(backbone, strategies, num_frames=meta["num_frames"])
    _load_tensors(model, path, delta_keys(model), upgrade=meta["format"] in OLD_FORMATS)
    return model


def _upgrade_v1(tensors: dict[str, torch.Tensor], expected: set[str]) -> dict[str, torch.Tensor]:
    """Format-1 tensor names -> today's: R²-Tuning's ``nn.MultiheadAttention`` packed
    ``in_proj_weight`` / ``in_proj_bias`` become ``q_proj`` / ``k_proj`` / ``v_proj``; X-CLIP's
    MIT layers ``layers.<i>`` become ``layers.blocks.<i>``; the X-CLIP prompt's
    ``cross_attn.proj`` becomes ``cross_attn.out_proj`` and its ``visual_proj`` X-CLIP's own
    ``prompts_visual_proj``. Names already expected are kept."""
    out: dict[str, torch.Tensor] = {}
    renames = ((r"\.layers\.(\d+)\.", r".layers.blocks.\1."), (r"\.cross_attn\.proj\.", ".cross_attn.out_proj."),
               (r"\.visual_proj$", ".prompts_visual_proj"))
    for key, t in tensors.items():
        packed = re.match(r"^(.*)\.in_proj_(weight|bias)$", key)
        if key in expected:
            out[key] = t
        elif packed:
            for name, part in zip(("q_proj", "k_proj", "v_proj"), t.chunk(3)):
                out[f"{packed[1]}.{name}.{packed[2]}"] = part.contiguous()
        else:
            new = next((k for old, rep in renames if (k := re.sub(old, rep, key)) in expected), key)
            out[new] = t
    return out


def _load_tensors(model: TransferModel, path: Path, expected: Any, upgrade: bool = False) -> None:
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    expected = set(expected)
    if upgrade:
        tensors = _upgrade_v1(tensors, expected)
    missing, unexpected = expected - tensors.keys(), tensors.keys() - expected
    if missing or unexpected:
        raise DeltaMismatchError(
            f"{path}: tensors do not match the strategies "
            f"(missing {sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]})")
    state = model.state_dict()
    for k, t in tensors.items():
        if state[k].shape != t.shape:
            raise DeltaMismatchError(
                f"{path}: {k} has shape {tuple(t.shape)}, the model expects {tuple(state[k].shape)}")
    model.load_state_dict(tensors, strict=False)


def export_model(model: TransferModel, out: str | Path) -> Path:
    """Write a self-contained inference model to directory ``out``: LoRA (and any other
    mergeable strategy) merged into the backbone weights. ``model`` is changed in place
    (merged); its outputs stay the same."""
    out = Path(out)
    merged = {s.name for s in model.strategies if s.merge(model)}
    plain = model.backbone.new_like()
    plain_keys = set(plain.state_dict())
    bb_state = model.backbone.state_dict()
    added = {n.removeprefix("backbone.") for n in model.added_state_names()}
    stray = sorted(set(bb_state) - plain_keys - added)
    if stray:
        raise DeltaMismatchError(f"cannot export: backbone tensors {stray[:3]} are not part of a plain "
                                 f"{model.backbone.family} model and no strategy merged them")
    plain.load_state_dict({k: v for k, v in bb_state.items() if k in plain_keys})
    for fmt, prefix in _BACKBONE_FORMATS:  # save_backbone refuses a format a family has no writer for
        try:
            save_backbone(plain, out / "backbone", fmt=fmt, tokenizer=model.tokenizer)
            backbone_spec = prefix + "backbone"
            break
        except ValueError:
            continue
    else:
        raise DeltaMismatchError(f"cannot export: no public format writes a {model.backbone.family} backbone")
    rest = {n: t.detach().cpu().contiguous() for n, t in model.state_dict().items()
            if n.removeprefix("backbone.") not in plain_keys}
    meta = {"format": EXPORT_FORMAT, "strategies": _strategy_records(model, skip=merged), "merged": sorted(merged),
            "num_frames": model.num_frames, "trained_on": backbone_identity(model), "backbone_spec": backbone_spec}
    _atomic_save(rest, out / "transfer.safetensors", {"vidlift": json.dumps(meta)})
    (out / "transfer.json").write_text(json.dumps(meta, indent=2))
    return out


def load_exported(directory: str | Path) -> TransferModel:
    """Load a model written by :func:`export_model` (no original backbone needed)."""
    directory = Path(directory)
    meta_path = directory / "transfer.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{directory}: no transfer.json; not a vidlift export")
    meta = json.loads(meta_path.read_text())
    if meta.get("format") != EXPORT_FORMAT:
        raise DeltaMismatchError(f"{meta_path}: format {meta.get('format')!r}, expected {EXPORT_FORMAT!r}")
    prefix = meta.get("backbone_spec", "hf:backbone").removesuffix("backbone")  # exports before 2 formats: hf
    backbone = load_backbone(f"{prefix}{directory / 'backbone'}")
    model = TransferModel(backbone, _build_strategies(meta["strategies"], str(meta_path)),
                          num_frames=meta["num_frames"])
    plain_keys = {f"backbone.{k}" for k in model.backbone.new_like().state_dict()}
    _load_tensors(model, directory / "transfer.safetensors", set(model.state_dict()) - plain_keys)
    return model


__all__ = ["save_delta", "load_delta", "read_delta_metadata", "delta_keys", "delta_state_dict", "export_model",
           "load_exported", "DeltaMismatchError"]
