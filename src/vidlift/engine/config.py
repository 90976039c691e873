"""Run configuration: one YAML file (backbone × transfer × task, data, optimiser, trainer) plus
command-line overrides ``key.sub=value`` — OmegaConf's dotlist, values read as YAML, list
items by index (``transfer.0.r=16``). A mapping value merges into what is there
(``task={head: linear}``); a list value replaces it (``'transfer=[{name: evl}]'``).

Why OmegaConf (as torchtune) and not jsonargparse / LightningCLI:

- the three axes are chosen by registry *names* in the field's words (``backbone: tiny``,
  ``transfer: [{name: lora, r: 8}]``, ``task: {name: recognition}``), not by class paths; each
  strategy and task validates its own keys in its constructor, as in Python;
- one override syntax, the dotlist, for ``vidlift fit`` and ``vidlift transfers --set``;
- structured schemas: the sections vidlift owns (top level, ``data``, ``optim``) are
  dataclasses below, so a wrong key or type fails with the schema's own error; the ``trainer``
  section is checked against ``lightning.Trainer``'s signature, so every Trainer argument
  works without a whitelist to keep in step.

OmegaConf keeps no line numbers: a small walk over the YAML nodes (``yaml.compose``, safe
loader) finds the line of a key, so errors read ``file:line: unknown key 'optim.lrr'; known
keys: ...``. Files are read with OmegaConf's loader, a ``yaml.SafeLoader``: ``!!python`` tags
are refused, ``5e-3`` is a number (plain YAML 1.1 reads it as a string), duplicate keys are an
error, and a document whose aliases expand past :data:`MAX_EXPANDED_NODES` is refused before
anything is copied ("billion laughs").
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException, ValidationError

from ..data.augment.train import (
    AugmentConfig,
    AugmentError,
    ColorJitterConfig,
    RandAugmentConfig,
    check_augment,
    flip_probability,
)


@dataclass
class DataConfig:
    batch_size: int = 8
    eval_batch_size: int | None = None  # None: batch_size
    num_workers: int = 0
    # Training augmentation of the train split (vidlift.data.augment.AugmentConfig); null: none,
    # the train split gets the backbone's test transform.
    augment: AugmentConfig | None = None


@dataclass
class OptimConfig:
    """AdamW, then linear warm-up and cosine to ``min_lr_ratio`` × lr (vidlift.engine.optim)."""

    lr: float = 1.0e-3
    weight_decay: float = 0.05
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1.0e-8
    warmup_steps: int = 0  # optimiser steps
    warmup_ratio: float = 0.0  # or a fraction of all optimiser steps, in [0, 1); not both
    min_lr_ratio: float = 0.0


# vidlift's choices where Lightning's defaults differ or matter to a run; any other
# lightning.Trainer argument may be added (checked against its signature).
TRAINER_DEFAULTS: dict[str, Any] = {
    "max_epochs": 1, "max_steps": -1, "precision": "32-true", "gradient_clip_val": None,
    "accumulate_grad_batches": 1, "accelerator": "auto", "devices": 1, "strategy": "auto",
    "num_nodes": 1, "log_every_n_steps": 10, "check_val_every_n_epoch": 1,
    "limit_train_batches": None, "limit_val_batches": None, "limit_test_batches": None,
    "enable_progress_bar": True, "enable_model_summary": False, "deterministic": False,
}

# Trainer arguments the engine sets itself, and why a config cannot.
TRAINER_RESERVED: dict[str, str] = {
    "logger": "vidlift logs to <out>/csv and <out>/tensorboard",
    "callbacks": "pass Lightning callbacks to vidlift.engine.fit(config, callbacks=[...])",
    "default_root_dir": "the run folder is `out`",
    "enable_checkpointing": "fit writes checkpoints/ every epoch (resume with --ckpt_path last)",
    "use_distributed_sampler": "vidlift's EpochSampler splits the clips across ranks (exact resume)",
    "num_sanity_val_steps": "a sanity pass would be reported as the run's validation metrics",
}


@dataclass
class RunConfig:
    seed: int = 0
    out: str = "runs/default"
    backbone: str = "tiny"  # any load_backbone spec
    transfer: list[Any] = field(default_factory=list)  # [{name: <strategy>, **hyper-parameters}]
    task: dict[str, Any] = field(default_factory=dict)  # {name: <task>, **the task's keys}
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: dict[str, Any] = field(default_factory=lambda: dict(TRAINER_DEFAULTS))


DEFAULTS: dict[str, Any] = OmegaConf.to_container(OmegaConf.structured(RunConfig))  # type: ignore[assignment]

# Nodes a config may expand to through YAML aliases; a real config has a few hundred.
MAX_EXPANDED_NODES = 10_000


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the file and key."""


# -- reading ---------------------------------------------------------------------------------


def _key_lines(root: yaml.Node) -> dict[str, int]:
    """``{"optim.lr": 27, "transfer.0.r": 5, ...}``: the 1-based line of every key and list item.
    Aliased nodes are walked once (their first place), so the walk is linear in the file."""
    lines: dict[str, int] = {}
    seen: set[int] = set()

    def walk(node: yaml.Node, prefix: str) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            children = [(str(k.value), k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
        elif isinstance(node, yaml.SequenceNode):
            children = [(str(i), v, v) for i, v in enumerate(node.value)]
        else:
            return
        for name, where, value in children:
            path = f"{prefix}.{name}" if prefix else name
            lines.setdefault(path, where.start_mark.line + 1)
            walk(value, path)

    walk(root, "")
    return lines


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Nodes after alias expansion, counted with a memo (so cheap however deep the aliases); a
    node that contains itself (``&a [*a]``) counts as more than ``limit``."""
    memo: dict[int, int] = {}

    def count(node: yaml.Node) -> int:
        if id(node) not in memo:
            memo[id(node)] = limit + 1  # until counted: a cycle back to it is unbounded
            total = 1
            if isinstance(node, yaml.SequenceNode):
                children = node.value
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            else:
                children = []
            for child in children:
                total += count(child)
                if total > limit:
                    break
            memo[id(node)] = total
        return memo[id(node)]

    return count(root)


def _yaml_error(path: Path, e: yaml.YAMLError) -> ConfigError:
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f":{mark.line + 1}" if mark is not None else ""
    problem = getattr(e, "problem", None) or str(e)
    return ConfigError(f"{path}{where}: not valid YAML ({problem})")


def _read(path: Path) -> tuple[DictConfig, dict[str, int]]:
    """The file as a DictConfig, and the line of each key."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    text = path.read_text()
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        raise _yaml_error(path, e) from e
    if root is None:
        return OmegaConf.create({}), {}
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    if _expanded_size(root, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
        raise ConfigError(f"{path}: the YAML aliases expand to more than {MAX_EXPANDED_NODES} values (or contain "
                          "themselves); write the config out")
    try:
        cfg = OmegaConf.create(text)  # OmegaConf's loader: safe, numbers such as 5e-3, duplicate keys
    except yaml.YAMLError as e:
        raise _yaml_error(path, e) from e
    except OmegaConfBaseException as e:
        raise ConfigError(f"{path}: {_first_line(e)}") from e
    return cfg, _key_lines(root)


# -- where a key came from -------------------------------------------------------------------


def _dotted(full_key: Any) -> str:
    """OmegaConf's ``transfer[1].r`` -> ``transfer.1.r``."""
    return re.sub(r"\[(\w+)\]", r".\1", str(full_key)).strip(".")


def _first_line(e: Exception) -> str:
    msg = getattr(e, "msg", None) or str(e)
    return str(msg).splitlines()[0]


def _covers(a: str, b: str) -> bool:
    """One key is the other or contains it."""
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


@dataclass
class _Sources:
    """Where each key was set: the file (with lines) or an override (the later the stronger)."""

    path: Path | None = None
    lines: dict[str, int] = field(default_factory=dict)
    overrides: list[tuple[str, str]] = field(default_factory=list)  # (key, item)

    def where(self, key: str) -> str:
        for k, item in reversed(self.overrides):
            if _covers(k, key):
                return f"command line: override {item!r}"
        if self.path is None:
            return "command line"
        parts = key.split(".")
        for n in range(len(parts), 0, -1):  # the key's own line, else its section's
            line = self.lines.get(".".join(parts[:n]))
            if line is not None:
                return f"{self.path}:{line}"
        return str(self.path)


# -- errors ------------------------------------------------------------------------------------


# Sections that default to null, whose keys the schema only knows once they are set.
_OPTIONAL_SECTIONS: dict[str, type] = {"data.augment": AugmentConfig, "data.augment.rand_augment": RandAugmentConfig,
                                       "data.augment.color_jitter": ColorJitterConfig}


def _known(section: str) -> list[str]:
    if section in _OPTIONAL_SECTIONS:
        return [f.name for f in dataclasses.fields(_OPTIONAL_SECTIONS[section])]
    schema = OmegaConf.structured(RunConfig)
    node = OmegaConf.select(schema, section) if section else schema
    return list(node.keys()) if isinstance(node, DictConfig) else []


def _unknown_key(where: str, key: str, known: list[str], what: str = "known keys") -> ConfigError:
    leaf = key.rpartition(".")[2]
    close = difflib.get_close_matches(leaf, known, n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    return ConfigError(f"{where}: unknown key {key!r}{hint}; {what}: {', '.join(known)}")


def _schema_error(e: OmegaConfBaseException, where: str) -> ConfigError:
    key = _dotted(e.full_key) if e.full_key else ""
    section, _, leaf = key.rpartition(".")
    if isinstance(e, (ConfigKeyError, ConfigAttributeError)) and key and leaf not in _known(section):
        return _unknown_key(where, key, _known(section))
    if key == "optim.warmup_steps" and isinstance(e, ValidationError):
        return ConfigError(f"{where}: optim.warmup_steps counts optimiser steps, a whole number ({_first_line(e)}); "
                           "for a fraction of all steps use optim.warmup_ratio (e.g. optim.warmup_ratio=0.1)")
    return ConfigError(f"{where}: {key + ': ' if key else ''}{_first_line(e)}")


# -- overrides -----------------------------------------------------------------------------------


def parse_override(item: str, source: str = "command line") -> tuple[str, Any]:
    """``key.sub=value`` -> ``("key.sub", value)``, the value read as YAML by OmegaConf
    (``5e-3`` a number, ``'"1.5"'`` the string 1.5, ``[q, v]`` a list, ``{name: lora}`` a
    mapping). The syntax of every override in vidlift: ``vidlift fit`` and ``transfers --set``."""
    key, sep, _ = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"{source}: override {item!r} must look like key.sub=value")
    try:
        parsed = OmegaConf.from_dotlist([item])
        value = OmegaConf.select(parsed, key.strip(), throw_on_missing=True)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: override {item!r}: the value is not valid YAML "
                          f"({getattr(e, 'problem', None) or e})") from e
    except OmegaConfBaseException as e:
        raise ConfigError(f"{source}: override {item!r}: {_first_line(e)}") from e
    return key.strip(), OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


# Sections whose shape a YAML slip most often gets wrong, and what they must be.
_SHAPES = {"transfer": ("a list of mappings with a name, e.g. transfer: [{name: lora, r: 8}]", list),
           "task": ("a mapping with a name, e.g. task: {name: recognition, ...}", dict),
           "data": ("a mapping", dict), "optim": ("a mapping", dict), "trainer": ("a mapping", dict)}


def _check_shape(key: str, value: Any, where: str) -> None:
    if key in _SHAPES and value is not None:
        plain = OmegaConf.to_container(value) if OmegaConf.is_config(value) else value
        what, kind = _SHAPES[key]
        if not isinstance(plain, kind):
            raise ConfigError(f"{where}: {key} must be {what}; got {plain!r}")


def _apply(cfg: DictConfig, item: str) -> None:
    where = f"command line: override {item!r}"
    key, value = parse_override(item)
    _check_shape(key, value, where)
    for section in _OPTIONAL_SECTIONS:
        if key.startswith(section + ".") and OmegaConf.select(cfg, section) is None:
            raise ConfigError(f"{where}: {section} is null (off); set it first, e.g. '{section}={{}}' for its "
                              f"defaults, then {key}")
    try:
        cfg.merge_with_dotlist([item])
    except IndexError as e:  # a list item past the end
        raise ConfigError(f"{where}: {_dotted(getattr(e, 'full_key', key))} does not exist; "
                          f"to add an item set the whole list, e.g. 'transfer=[{{name: lora}}, {{name: evl}}]'") from e
    except OmegaConfBaseException as e:
        raise _schema_error(e, where) from e
    except (TypeError, ValueError) as e:  # e.g. a word where a list index goes
        raise ConfigError(f"{where}: {e}") from e


# -- loading -------------------------------------------------------------------------------------


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """Defaults ← YAML file ← overrides, validated; a plain dict. Errors name the file, line and
    key, or the override."""
    sources = _Sources()
    cfg = OmegaConf.structured(RunConfig)
    if path is not None:
        sources.path = Path(path)
        raw, sources.lines = _read(sources.path)
        for key in raw:
            _check_shape(str(key), raw[key], sources.where(str(key)))
        try:
            cfg = OmegaConf.merge(cfg, raw)
        except OmegaConfBaseException as e:
            raise _schema_error(e, sources.where(_dotted(e.full_key or ""))) from e
    for item in overrides:
        _apply(cfg, item)
        sources.overrides.append((parse_override(item)[0], item))
    try:
        plain = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as e:  # an interpolation ${...} that does not resolve
        raise ConfigError(f"{sources.where(_dotted(e.full_key or ''))}: {_first_line(e)}") from e
    _validate(plain, sources)
    return plain  # type: ignore[return-value]


def trainer_arguments() -> dict[str, inspect.Parameter]:
    """``lightning.Trainer``'s keyword arguments, by name."""
    import lightning

    params = inspect.signature(lightning.Trainer.__init__).parameters
    return {k: p for k, p in params.items() if k != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _validate(cfg: dict[str, Any], sources: _Sources) -> None:
    where = sources.where
    task = cfg["task"]
    if "name" not in task:
        raise ConfigError(f"{where('task')}: task must be a mapping with a name "
                          "(e.g. task: {name: recognition, ...})")
    from ..tasks.registry import TASKS

    if task["name"] not in TASKS:
        raise ConfigError(f"{where('task.name')}: task.name {task['name']!r} is unknown; tasks: {', '.join(TASKS)}")
    _validate_task(task, TASKS[task["name"]], where)
    from ..transfer import STRATEGIES

    for i, t in enumerate(cfg["transfer"]):
        if not isinstance(t, dict) or "name" not in t:
            raise ConfigError(f"{where(f'transfer.{i}')}: transfer must be a list of mappings with a name, "
                              "e.g. [{name: lora, r: 8}]")
        if t["name"] not in STRATEGIES:
            raise ConfigError(f"{where(f'transfer.{i}.name')}: transfer.{i}.name {t['name']!r} is unknown; "
                              "run `vidlift transfers`")
        fields = {f.name for f in dataclasses.fields(STRATEGIES[t["name"]])}
        extra = sorted(set(t) - {"name"} - fields)
        if extra:
            from ..transfer.delta import RENAMED

            renamed = RENAMED.get(t["name"])
            hint = (f" ({t['name']} with {renamed[1]!r} is the strategy now named {renamed[0]!r})"
                    if renamed and renamed[1] in extra else "")
            raise ConfigError(f"{where(f'transfer.{i}.{extra[0]}')}: transfer.{i} ({t['name']}) has no "
                              f"hyper-parameter(s) {extra}; it takes {sorted(fields)}{hint}")
    known = trainer_arguments()
    for key in cfg["trainer"]:
        if key in TRAINER_RESERVED:
            raise ConfigError(f"{where(f'trainer.{key}')}: trainer.{key} is set by vidlift: {TRAINER_RESERVED[key]}")
        if key not in known:
            raise _unknown_key(where(f"trainer.{key}"), f"trainer.{key}",
                               [k for k in known if k not in TRAINER_RESERVED], "lightning.Trainer takes")
    o = cfg["optim"]
    for key in ("lr", "weight_decay", "eps", "warmup_steps", "warmup_ratio", "min_lr_ratio"):
        if o[key] < 0:
            raise ConfigError(f"{where(f'optim.{key}')}: optim.{key} must be non-negative, got {o[key]!r}")
    if not o["warmup_ratio"] < 1:
        raise ConfigError(f"{where('optim.warmup_ratio')}: optim.warmup_ratio is a fraction of all steps, "
                          f"in [0, 1), got {o['warmup_ratio']!r}")
    if o["warmup_steps"] and o["warmup_ratio"]:
        raise ConfigError(f"{where('optim.warmup_ratio')}: set optim.warmup_steps or optim.warmup_ratio, not both "
                          f"(got {o['warmup_steps']} and {o['warmup_ratio']})")
    betas = o["betas"]
    if not (len(betas) == 2 and all(0 <= b < 1 for b in betas)):
        raise ConfigError(f"{where('optim.betas')}: optim.betas must be two numbers in [0, 1), e.g. [0.9, 0.999], "
                          f"got {betas!r}")
    _validate_augment(cfg, TASKS[task["name"]], where)


def _validate_augment(cfg: dict[str, Any], task_cls: type, where: Any) -> None:
    """``data.augment``'s values, and an explicit flip on a dataset that declares itself not
    flip-safe (``dataset.flip_safe: false``, or a format such as ssv2). What only the data can
    tell (class names that name a direction) is checked when the train split is built."""
    augment = cfg["data"]["augment"]
    if augment is None:
        return
    try:
        check_augment(augment)
    except AugmentError as e:
        raise ConfigError(f"{where(f'data.augment.{e.key}')}: {e}") from None
    dataset = cfg["task"].get("dataset")
    if augment["flip"] == "auto" or task_cls.dataset_kind is None or not isinstance(dataset, dict):
        return
    from ..data.datasets import DatasetConfig

    safe, why = DatasetConfig(dataset, cfg["task"]["name"], task_cls.dataset_kind,
                              task_keys=task_cls.dataset_task_keys).declared_flip_safety()
    try:
        flip_probability(augment["flip"], safe is not False, why)
    except AugmentError as e:
        raise ConfigError(f"{where('data.augment.flip')}: {e}") from None


def _validate_task(task: dict[str, Any], cls: type, where: Any) -> None:
    """The task's keys against its constructor, and its ``dataset`` mapping against the format
    registry: an unknown key names its file and line and the known keys."""
    takes = [k for k in inspect.signature(cls.__init__).parameters if k != "self"]
    for key in task:
        if key != "name" and key not in takes:
            raise _unknown_key(where(f"task.{key}"), f"task.{key}", takes, f"task {task['name']!r} takes")
    dataset = task.get("dataset")
    if cls.dataset_kind is None or not isinstance(dataset, dict):
        return  # the task's own constructor says what is wrong
    from ..data.datasets import DatasetConfig, get_format

    try:
        fmt = get_format(dataset.get("format"))
    except ValueError as e:
        raise ConfigError(f"{where('task.dataset.format')}: task.{e}") from None
    known = [*fmt.keys, *cls.dataset_task_keys]
    for key in dataset:
        if key not in known:
            raise _unknown_key(where(f"task.dataset.{key}"), f"task.dataset.{key}", known,
                               f"the {fmt.name} format takes")
    try:
        DatasetConfig(dataset, task["name"], cls.dataset_kind, task_keys=cls.dataset_task_keys)
    except ValueError as e:  # a format of another kind, a missing required key
        raise ConfigError(f"{where('task.dataset')}: {e}") from None


def dump_config(cfg: dict[str, Any]) -> str:
    """The config as YAML that :func:`load_config` reads back to the same values."""
    return OmegaConf.to_yaml(OmegaConf.create(cfg))


__all__ = ["ConfigError", "DEFAULTS", "RunConfig", "DataConfig", "OptimConfig", "TRAINER_DEFAULTS",
           "TRAINER_RESERVED", "load_config", "parse_override", "dump_config", "trainer_arguments"]
