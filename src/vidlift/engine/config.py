"""Run configuration: one YAML file (backbone × transfer × task, data, optimiser, trainer) plus
command-line overrides ``key.sub=value`` (values parsed as YAML; list items by index,
``transfer.0.r=16``).

A plain dictionary checked against the schema below, rather than LightningCLI's class-path
configs: the three axes are chosen by registry *names* (``backbone: tiny``, ``transfer: [{name:
lora}]``, ``task: {name: recognition}``), which a config should say in the field's words, and
the ``vidlift`` command already parses its arguments.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import yaml

DEFAULTS: dict[str, Any] = {
    "seed": 0,
    "out": "runs/default",
    "backbone": "tiny",
    "transfer": [],
    "task": None,
    "data": {"batch_size": 8, "eval_batch_size": None, "num_workers": 0},
    "optim": {"lr": 1.0e-3, "weight_decay": 0.05, "betas": [0.9, 0.999], "eps": 1.0e-8,
              "warmup_steps": 0, "min_lr_ratio": 0.0},
    "trainer": {"max_epochs": 1, "max_steps": -1, "precision": "32-true", "gradient_clip_val": None,
                "accumulate_grad_batches": 1, "accelerator": "auto", "devices": 1, "strategy": "auto",
                "num_nodes": 1, "log_every_n_steps": 10, "check_val_every_n_epoch": 1,
                "limit_train_batches": None, "limit_val_batches": None, "limit_test_batches": None,
                "enable_progress_bar": True, "deterministic": False},
}


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the file and key."""


def _merge(base: dict, update: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in update.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _numeric(value: Any) -> Any:
    """YAML 1.1 reads ``5e-3`` (no dot) as a string; read it as the number it means."""
    if isinstance(value, str):
        try:
            return float(value) if any(c in value.lower() for c in ".e") and value.strip() else value
        except ValueError:
            return value
    if isinstance(value, dict):
        return {k: _numeric(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numeric(v) for v in value]
    return value


def apply_override(cfg: dict, item: str, source: str = "command line") -> None:
    """Set ``a.b.c=value`` (value parsed as YAML) in ``cfg`` in place."""
    key, sep, raw = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"{source}: override {item!r} must look like key.sub=value")
    try:
        value = yaml.safe_load(raw) if raw != "" else None
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: override {item!r}: the value is not valid YAML ({e})") from e
    value = _numeric(value)
    parts = key.split(".")
    node: Any = cfg
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"{source}: override {item!r}: {'.'.join(parts[:depth])} has no item {part}")
            node = node[int(part)]
        else:
            if part not in node or node[part] is None:
                node[part] = {}
            node = node[part]
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"{source}: override {item!r}: {'.'.join(parts[:depth + 1])} is not a section")
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) > len(node):
            raise ConfigError(f"{source}: override {item!r}: no list item {last}")
        if int(last) == len(node):
            node.append(value)
        else:
            node[int(last)] = value
    else:
        node[last] = value


def load_config(path: str | Path | None, overrides: list[str] = ()) -> dict[str, Any]:
    """Defaults ← YAML file ← overrides, validated. Errors name the file and key."""
    cfg = copy.deepcopy(DEFAULTS)
    source = "command line"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"{path}: no such config file")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f":{mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', e)})") from e
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        raw = _numeric(raw)
        cfg = _merge(cfg, raw)
    for item in overrides:
        apply_override(cfg, item)
    validate(cfg, source)
    return cfg


def validate(cfg: dict[str, Any], source: str) -> None:
    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    for section in ("data", "optim", "trainer"):
        if not isinstance(cfg[section], dict):
            raise ConfigError(f"{source}: {section} must be a mapping")
        extra = set(cfg[section]) - set(DEFAULTS[section])
        if extra:
            raise ConfigError(f"{source}: unknown key(s) in {section}: {sorted(extra)}; known: {sorted(DEFAULTS[section])}")
    task = cfg["task"]
    if not isinstance(task, dict) or "name" not in task:
        raise ConfigError(f"{source}: task must be a mapping with a name (e.g. task: {{name: recognition, ...}})")
    from ..tasks.registry import TASKS

    if task["name"] not in TASKS:
        raise ConfigError(f"{source}: task.name {task['name']!r} is unknown; tasks: {', '.join(TASKS)}")
    transfer = cfg["transfer"] or []
    if isinstance(transfer, dict):
        transfer = [transfer]
    if not isinstance(transfer, list) or not all(isinstance(t, dict) and "name" in t for t in transfer):
        raise ConfigError(f"{source}: transfer must be a list of mappings with a name, e.g. [{{name: lora, r: 8}}]")
    from ..transfer import STRATEGIES

    for i, t in enumerate(transfer):
        if t["name"] not in STRATEGIES:
            raise ConfigError(f"{source}: transfer.{i}.name {t['name']!r} is unknown; run `vidlift transfers`")
        fields = {f.name for f in dataclasses.fields(STRATEGIES[t["name"]])}
        extra = set(t) - {"name"} - set(fields)
        if extra:
            raise ConfigError(f"{source}: transfer.{i} ({t['name']}) has no hyper-parameter(s) {sorted(extra)}; "
                              f"it takes {sorted(fields)}")
    cfg["transfer"] = transfer
    if not isinstance(cfg["backbone"], str):
        raise ConfigError(f"{source}: backbone must be a spec string such as tiny or hf:<dir>")
    o = cfg["optim"]
    for key in ("lr", "weight_decay", "eps", "warmup_steps", "min_lr_ratio"):
        if isinstance(o[key], bool) or not isinstance(o[key], (int, float)) or o[key] < 0:
            raise ConfigError(f"{source}: optim.{key} must be a non-negative number, got {o[key]!r}")
    betas = o["betas"]
    if not (isinstance(betas, (list, tuple)) and len(betas) == 2 and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas)):
        raise ConfigError(f"{source}: optim.betas must be two numbers in [0, 1), e.g. [0.9, 0.999], got {betas!r}")


def dump_config(cfg: dict[str, Any]) -> str:
    return yaml.safe_dump(cfg, sort_keys=False)


__all__ = ["ConfigError", "DEFAULTS", "load_config", "apply_override", "dump_config", "validate"]
