"""One factory: a spec string -> model + preprocessing + tokenizer, with identity metadata.

Spec strings
------------
``hf:<dir or hub id>``
    An HF transformers CLIP or SigLIP directory (config.json + model.safetensors).
``openclip:<arch>:<file or hub id>``
    An open_clip state dict (``.safetensors`` or ``.bin``). ``<arch>`` is a name from
    :data:`~vidlift.backbones.config.ARCHS` (``ViT-B-16``, ``ViT-B-16-gelu`` …), a path to an
    open_clip model-config JSON, or ``auto`` to read ``open_clip_config.json`` beside the file.
``openai:<file>``
    An OpenAI CLIP checkpoint: the original TorchScript archive or a plain state dict.
``random:<arch>[:<seed>]``
    Random initialisation of a named architecture (benchmarks, parameter counts, tests).
``tiny``
    The project's own tiny ILFM (``tiny-ilfm``, pretrained by :mod:`vidlift.synthetic.pretrain`),
    shipped in the package as an HF directory.

Hub ids resolve through huggingface_hub when online; offline (``HF_HUB_OFFLINE=1`` or no
network) they fail at once with a message saying so.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError

from ..data.transforms import VideoTransform
from .config import OPENAI_MEAN, OPENAI_STD, CLIPConfig
from .contract import VisionLanguageBackbone
from .formats import hf as hf_format
from .formats import openclip as oc_format
from .formats.torchscript import is_torchscript_archive, read_torchscript_state_dict
from .model import CLIP
from .registry import build_model, get_arch
from .tokenizer import ClipBpeTokenizer, HFTokenizer

# The shipped tiny ILFM: a path, not an import, so backbones do not depend on the synthetic world.
TINY_DIR = Path(__file__).resolve().parent.parent / "synthetic" / "assets" / "tiny"


class BackboneLoadError(ValueError):
    """A backbone spec could not be resolved or its weights do not fit the architecture."""


@dataclass
class BackboneMeta:
    """Identity and provenance that travel with a loaded backbone."""

    spec: str
    format: str  # hf | openclip | openai | random
    weights_sha256: str  # of the weight file(s); for random init, of "random:<arch>:<seed>"
    config: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # resolved local path

    @property
    def identity(self) -> str:
        """Short stable id of these exact weights, e.g. ``hf:3fa1c0de9b2e4f10``."""
        return f"{self.format}:{self.weights_sha256[:16]}"


class MissingTokenizer:
    """Stands in where a checkpoint ships no tokenizer; fails clearly when used."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __call__(self, texts: Any) -> torch.Tensor:
        raise BackboneLoadError(self.reason)


@dataclass
class Backbone:
    """What :func:`load_backbone` returns; unpacks as ``model, preprocess, tokenizer``."""

    model: VisionLanguageBackbone
    preprocess: VideoTransform
    tokenizer: Any
    meta: BackboneMeta

    def __iter__(self) -> Iterator[Any]:
        return iter((self.model, self.preprocess, self.tokenizer))


def _sha256(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 22), b""):
                h.update(chunk)
    return h.hexdigest()


# Files of an HF model repo that vidlift reads: never the other weight copies hub repos carry
# (open_clip_model.safetensors, pytorch_model.bin, flax / tf weights).
_HF_PATTERNS = [
    "config.json", "preprocessor_config.json",
    "model.safetensors", "model-*.safetensors", "model.safetensors.index.json",
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "spiece.model",
]
_HUB_ID = re.compile(r"^(hf-hub:)?[\w.-]+/[\w.-]+$")


def _hub_snapshot(spec: str, repo_id: str, patterns: list[str]) -> Path:
    """Local folder of a hub repo's matching files (cached), or a clear failure offline."""
    if not _HUB_ID.match(repo_id):
        raise BackboneLoadError(f"backbone {spec!r}: {repo_id} does not exist (and is not a hub id like org/name)")
    from huggingface_hub import snapshot_download

    repo_id = repo_id.removeprefix("hf-hub:")
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as e:  # offline, unknown repo, no network: all end the same way for the user
        offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
        why = ("HF_HUB_OFFLINE is set and it is not in the local cache" if offline
               else f"the hub gave {type(e).__name__}: {e}")
        raise BackboneLoadError(
            f"backbone {spec!r}: {repo_id!r} is not a local path and {why}; "
            f"download it where there is network (hf download {repo_id}) and pass the directory"
        ) from e


def _build(cfg: Any, sd: dict[str, torch.Tensor], source: str) -> VisionLanguageBackbone:
    model = build_model(cfg)
    try:
        result = model.load_state_dict(sd, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise BackboneLoadError(f"{source}: weights do not fit the architecture: {e}") from e
    if result.missing_keys or result.unexpected_keys:
        raise BackboneLoadError(
            f"{source}: weights do not fit the architecture; missing {result.missing_keys[:6]}, "
            f"unexpected {result.unexpected_keys[:6]}"
        )
    return model.eval()


def _clip_bpe_or_missing(cfg: CLIPConfig, reason: str) -> Any:
    """CLIP's own BPE where the text tower has its vocabulary, else a tokenizer that fails clearly."""
    if cfg.loss == "clip" and cfg.text.vocab_size == 49408:
        return ClipBpeTokenizer(context_length=cfg.text.context_length)
    return MissingTokenizer(reason)


Loaded = tuple[VisionLanguageBackbone, Any, BackboneMeta]


def _load_hf(spec: str, target: str) -> Loaded:
    directory = Path(target).expanduser()
    if not directory.is_dir():
        directory = _hub_snapshot(spec, target, _HF_PATTERNS)
    cfg_path = directory / "config.json"
    if not cfg_path.is_file():
        raise BackboneLoadError(f"backbone {spec!r}: {directory} has no config.json (not an HF model directory)")
    try:
        raw = json.loads(cfg_path.read_text())
        cfg = hf_format.config_from_hf(raw, source=str(cfg_path))
        prep = directory / "preprocessor_config.json"
        if prep.is_file():
            cfg.preprocess = hf_format.preprocess_from_hf(json.loads(prep.read_text()), cfg, source=str(prep))
        sd = hf_format.from_hf_state_dict(hf_format.load_hf_weights(directory), cfg, source=str(directory))
    except (ValueError, FileNotFoundError, json.JSONDecodeError, SafetensorError) as e:
        raise BackboneLoadError(f"backbone {spec!r}: {e}") from e
    model = _build(cfg, sd, str(directory))
    weight_files = sorted(directory.glob("model*.safetensors"))
    has_tok = any((directory / n).is_file()
                  for n in ("tokenizer.json", "tokenizer_config.json", "vocab.json", "spiece.model"))
    tokenizer = _clip_bpe_or_missing(cfg, f"backbone {spec!r}: {directory} ships no tokenizer files")
    if has_tok:
        try:
            tokenizer = HFTokenizer(directory, context_length=cfg.text.context_length)
        except (OSError, ValueError) as e:
            # Features need no tokenizer: a broken one fails only when text is encoded.
            tokenizer = MissingTokenizer(f"backbone {spec!r}: the tokenizer files in {directory} do not load ({e})")
    meta = BackboneMeta(spec, "hf", _sha256(weight_files), cfg.to_dict(), str(directory))
    return model, tokenizer, meta


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain state dict from .safetensors, a TorchScript archive (restricted reader), or a
    torch.save file read with ``weights_only=True``. Every failure names the file."""
    if not path.is_file():
        raise BackboneLoadError(f"{path}: no such checkpoint file")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        if is_torchscript_archive(path):
            return read_torchscript_state_dict(path)
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # refused globals, corrupt or truncated files alike: all mean "cannot load this"
        raise BackboneLoadError(f"{path}: not a loadable checkpoint ({type(e).__name__}: {e})") from e
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise BackboneLoadError(f"{path}: expected a state dict, found {type(obj).__name__}")
    return {k.removeprefix("module."): v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def _openclip_weights(spec: str, target: str) -> Path:
    """The weight file for ``openclip:<arch>:<target>``: a file, a folder or a hub repo."""
    path = Path(target).expanduser()
    names = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    if not path.exists():
        # Prefer the safetensors copy; fetch the pickle-based .bin only where it is the only one.
        path = _hub_snapshot(spec, target, ["open_clip_config.json", names[0]])
        if not (path / names[0]).is_file():
            path = _hub_snapshot(spec, target, ["open_clip_config.json", names[1]])
    if path.is_dir():
        found = [path / n for n in names if (path / n).is_file()]
        if not found:
            raise BackboneLoadError(f"backbone {spec!r}: {path} has no {' / '.join(names)}")
        path = found[0]
    return path


def _from_single_file(spec: str, fmt: str, cfg: CLIPConfig, sd: dict[str, torch.Tensor], path: Path
                      ) -> Loaded:
    """Model, CLIP BPE tokenizer and metadata for OpenAI-layout weights read from one file."""
    model = _build(cfg, sd, str(path))
    meta = BackboneMeta(spec, fmt, _sha256([path]), cfg.to_dict(), str(path))
    return model, ClipBpeTokenizer(context_length=cfg.text.context_length), meta


def _load_openclip(spec: str, rest: str) -> Loaded:
    arch, sep, target = rest.partition(":")
    if not sep or not target:
        raise BackboneLoadError(f"backbone spec {spec!r}: expected openclip:<arch>:<file or hub id>")
    path = _openclip_weights(spec, target)
    beside = path.parent / "open_clip_config.json"
    try:
        if arch == "auto":
            cfg_file = next((p for p in (beside, path.parent / "config.json") if p.is_file()), None)
            if cfg_file is None:
                raise BackboneLoadError(f"backbone {spec!r}: arch 'auto' needs open_clip_config.json beside {path}")
            cfg = oc_format.read_openclip_json(cfg_file)
        elif arch.endswith(".json"):
            cfg = oc_format.read_openclip_json(Path(arch))
        else:
            cfg = get_arch(arch)
            if beside.is_file():
                # The config that came with the weights knows their activation and preprocessing.
                shipped = oc_format.read_openclip_json(beside)
                if shipped.vision.act != cfg.vision.act:
                    raise BackboneLoadError(
                        f"backbone {spec!r}: {arch} uses {cfg.vision.act} but {beside} says {shipped.vision.act}; "
                        f"use openclip:auto:{target} or the -gelu / -quickgelu name that matches"
                    )
                cfg.preprocess = shipped.preprocess
        sd = oc_format.from_openclip_state_dict(_read_state_dict(path), source=str(path))
    except (KeyError, ValueError) as e:
        raise BackboneLoadError(f"backbone {spec!r}: {e}") from e
    return _from_single_file(spec, "openclip", cfg, sd, path)


def _load_openai(spec: str, target: str) -> Loaded:
    path = Path(target).expanduser()
    raw = _read_state_dict(path)
    try:
        # OpenAI's released checkpoints all use QuickGELU and OpenAI's mean/std (the defaults).
        cfg = oc_format.infer_config_from_state_dict(raw, quick_gelu=True)
        sd = oc_format.from_openclip_state_dict(raw, source=str(path))
    except (KeyError, ValueError) as e:
        raise BackboneLoadError(f"backbone {spec!r}: {path} is not an OpenAI CLIP checkpoint ({e})") from e
    return _from_single_file(spec, "openai", cfg, sd, path)


def _load_random(spec: str, target: str) -> Loaded:
    arch, _, seed = target.partition(":")
    try:
        cfg = get_arch(arch)
        seed_value = int(seed or 0)
    except (KeyError, ValueError) as e:
        raise BackboneLoadError(f"backbone {spec!r}: {e}") from e
    with torch.random.fork_rng():
        torch.manual_seed(seed_value)
        model = build_model(cfg).eval()
    tokenizer = _clip_bpe_or_missing(cfg, f"backbone {spec!r}: architecture {arch} has no tokenizer")
    digest = hashlib.sha256(f"random:{arch}:{seed_value}".encode()).hexdigest()
    return model, tokenizer, BackboneMeta(spec, "random", digest, cfg.to_dict(), "")


# Weight formats by spec prefix, one line each: ``<prefix>:<rest>`` -> loader(spec, rest).
FORMATS: dict[str, Callable[[str, str], Loaded]] = {
    "hf": _load_hf,  # HF transformers directory or hub id
    "openclip": _load_openclip,  # open_clip state dict + architecture
    "openai": _load_openai,  # OpenAI checkpoint (TorchScript archive or state dict)
    "random": _load_random,  # random initialisation of a named architecture
}
# Whole-spec aliases, resolved before the prefix.
ALIASES: dict[str, Callable[[], str]] = {
    "tiny": lambda: f"hf:{_tiny_dir()}",  # the project's shipped tiny ILFM
}


def _tiny_dir() -> Path:
    if not (TINY_DIR / "config.json").is_file():
        raise BackboneLoadError(f"backbone 'tiny': {TINY_DIR} is missing from this install; "
                                "recreate it with `vidlift pretrain-tiny --out DIR` and load hf:DIR")
    return TINY_DIR


def load_backbone(spec: str) -> Backbone:
    """Resolve a spec string (see module docstring) into a :class:`Backbone` in eval mode."""
    resolved = ALIASES[spec]() if spec in ALIASES else spec
    kind, sep, rest = resolved.partition(":")
    if not sep or not rest:
        raise BackboneLoadError(f"backbone spec {spec!r} must look like {', '.join(f'{k}:...' for k in FORMATS)} "
                                f"or one of {', '.join(ALIASES)}")
    if kind not in FORMATS:
        raise BackboneLoadError(f"backbone spec {spec!r}: unknown kind {kind!r} ({', '.join(FORMATS)})")
    model, tok, meta = FORMATS[kind](spec, rest)
    p = model.preprocess_config
    preprocess = VideoTransform(size=p.image_size, mean=p.mean, std=p.std, resize_mode=p.resize_mode,
                                interpolation=p.interpolation, resize_size=p.resize_size)
    return Backbone(model, preprocess, tok, meta)


def save_backbone(model: VisionLanguageBackbone, out: str | Path, fmt: str = "hf", tokenizer: Any = None) -> Path:
    """Write ``model`` in a public format: ``hf`` (a directory transformers can load),
    ``openclip`` (open_clip_model.safetensors + open_clip_config.json) or ``openai`` (a plain
    state dict ``model.pt`` in OpenAI's layout). Returns the directory."""
    sd = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if not isinstance(model, CLIP):
        # Other families write the open_clip layout through their registered layout.
        layout = next((lay for lay in oc_format.family_layouts() if lay.matches_family(model.family)), None)
        if fmt != "openclip" or layout is None:
            raise ValueError(f"save_backbone writes the {model.family} family only as 'openclip'"
                             f"{'' if layout else ' (and this family has no writer)'}; got {fmt!r}")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        from safetensors.torch import save_file

        save_file(layout.to_openclip_state_dict(sd), str(out / "open_clip_model.safetensors"))
        (out / "open_clip_config.json").write_text(json.dumps(layout.openclip_json_from_config(model.cfg), indent=2))
        if tokenizer is not None and hasattr(tokenizer, "save_pretrained"):
            tokenizer.save_pretrained(out)
        return out
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "hf":
        hf_format.save_hf(out, sd, model.cfg)
        if tokenizer is not None and hasattr(tokenizer, "save_pretrained"):
            tokenizer.save_pretrained(out)
    elif fmt == "openclip":
        from safetensors.torch import save_file

        save_file(oc_format.to_openclip_state_dict(sd), str(out / "open_clip_model.safetensors"))
        (out / "open_clip_config.json").write_text(json.dumps(oc_format.openclip_json_from_config(model.cfg), indent=2))
    elif fmt == "openai":
        p = model.cfg.preprocess
        # The OpenAI layout stores weights only; loading assumes QuickGELU and OpenAI's
        # preprocessing, so anything else would come back silently changed.
        if model.cfg.vision.act != "quick_gelu" or model.cfg.text.act != "quick_gelu" or \
                (p.mean, p.std, p.resize_mode) != (OPENAI_MEAN, OPENAI_STD, "shortest"):
            raise ValueError("the OpenAI layout cannot record this model's activation or preprocessing; "
                             "save it as 'openclip' or 'hf' instead")
        torch.save(oc_format.to_openclip_state_dict(sd), out / "model.pt")
    else:
        raise ValueError(f"unknown format {fmt!r} (hf, openclip, openai)")
    return out
