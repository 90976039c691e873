"""Dataset formats behind one registry: tasks look a format up by name and never branch on it.

A format is what a task's ``dataset:`` mapping names with ``format:``. It declares its config
keys (required and optional), the kind of annotation it provides and how it reads a split,
and registers itself with one line at the end of its reader module (timm's
``@register_model``, PEFT's ``register_peft_method``)::

    register_format(DatasetFormat("kinetics", LABELLED_CLIPS, read_split=_read_split,
                                  required=("video_root",), optional=(*SPLITS, "classes")))

A new format is one reader module ending with that line, imported by
:mod:`vidlift.data.datasets`. A task holds a :class:`DatasetConfig` — the mapping checked
against the format — and asks it for splits, records and class names.

Kinds of annotation (what the records are):

=====================  =======================================================================
``LABELLED_CLIPS``     :class:`ClassificationSample` with class names (Kinetics, SSv2, UCF101 …)
``CAPTIONED_VIDEOS``   :class:`CaptionedVideo` (MSR-VTT, MSVD, DiDeMo, ActivityNet Captions)
``MOMENT_QUERIES``     :class:`GroundingQuery`: a text and its moments in a video (QVHighlights)
``QUESTIONS``          :class:`QASample` (NExT-QA, MSRVTT-QA)
=====================  =======================================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import DEFAULT_MAX_MISSING_RATIO
from .records import CaptionedVideo, ClassificationSample, GroundingQuery, QASample, Records

LABELLED_CLIPS = "labelled clips"
CAPTIONED_VIDEOS = "captioned videos"
MOMENT_QUERIES = "moment queries"
QUESTIONS = "questions"
KINDS: dict[str, type] = {LABELLED_CLIPS: ClassificationSample, CAPTIONED_VIDEOS: CaptionedVideo,
                          MOMENT_QUERIES: GroundingQuery, QUESTIONS: QASample}
SPLITS = ("train", "val", "test", "predict")
# Keys every format accepts: paths are relative to ``root``; ``max_missing_ratio`` is the
# share of annotated videos whose files may be absent (see the readers); ``flip_safe``
# declares whether a mirrored clip keeps its annotation (see DatasetConfig.flip_safety).
COMMON_KEYS = ("format", "root", "video_root", "max_missing_ratio", "flip_safe")
# Words that name a horizontal direction: mirroring a clip left-right turns each into its
# opposite ("from left to right", "rotating clockwise"). Up and down survive the mirror.
_HORIZONTAL = re.compile(r"\b(left|right|leftwards?|rightwards?|clockwise|counter-?clockwise|anti-?clockwise)\b",
                         re.IGNORECASE)


def split_key(config: DatasetConfig, split: str) -> str | None:
    """The usual rule: ``split``'s own key, and "predict" falls back to "test"."""
    if config.get(split) is not None:
        return split
    if split == "predict" and config.get("test") is not None:
        return "test"
    return None


def names_horizontal_direction(text: str) -> bool:
    """Whether ``text`` names a horizontal direction ("moving left", "Pushing something from
    left to right", "rotating counter-clockwise"), which a left-right mirror would reverse."""
    return _HORIZONTAL.search(text) is not None


def class_text(name: str) -> str:
    """The usual readable class name: underscores become spaces ("brush_hair" -> "brush hair")."""
    return " ".join(name.replace("_", " ").split())


def camel_case_class_text(name: str) -> str:
    """CamelCase class names split into words ("ApplyEyeMakeup" -> "Apply Eye Makeup")."""
    return class_text(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name))


def read_files(config: DatasetConfig, split: str, read: Callable[[Path], Records]) -> Records:
    """``read(path)`` for each annotation file of ``split`` (its key holds one path or a list),
    concatenated; ``.missing`` and ``.classes`` are those of all files."""
    parts = [read(p) for p in config.paths(config.source(split))]
    items = [r for part in parts for r in part]
    classes = next((part.classes for part in parts if part.classes), ())
    return Records(items, source=parts[0].source, classes=classes,
                   missing=tuple(m for part in parts for m in part.missing))


@dataclass(frozen=True)
class DatasetFormat:
    """An annotation format as tasks see it.

    Attributes:
        name: the config's ``format:``.
        provides: the kind of annotation (one of :data:`KINDS`).
        read_split: ``(config, split) -> Records`` of the kind's records; called for a split
            that :attr:`split_source` says is configured, once per split (the config caches).
        required: keys that must be given (besides ``format``).
        optional: keys that may be given (besides :data:`COMMON_KEYS`).
        one_of: groups of keys of which at least one must be given.
        split_source: ``(config, split) -> key or None``: which key holds ``split``'s
            annotations (None: the split is not configured). Default :func:`split_key`.
        class_names: labelled formats whose class list is a file of its own:
            ``config -> names`` in label order, or None where the config gives none (then,
            as by default, the classes of the first configured split).
        class_text: a class name as text encoders read it (default :func:`class_text`).
        unlabelled_hint: how to get labels where a split comes unlabelled.
        flip_safe: whether a left-right mirrored clip keeps its annotation: False for a
            format whose labels name directions (SSv2: "Pushing something from left to
            right"), True where it is known to hold; None (default) leaves it to the data
            (see :meth:`DatasetConfig.flip_safety`).
    """

    name: str
    provides: str
    read_split: Callable[[DatasetConfig, str], Records]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    split_source: Callable[[DatasetConfig, str], str | None] = split_key
    class_names: Callable[[DatasetConfig], Sequence[str] | None] | None = None
    class_text: Callable[[str], str] = class_text
    unlabelled_hint: str = ""
    flip_safe: bool | None = None

    def __post_init__(self) -> None:
        if self.provides not in KINDS:
            raise ValueError(f"format {self.name!r}: provides must be one of {list(KINDS)}, got {self.provides!r}")
        if "format" in self.required + self.optional:
            raise ValueError(f"format {self.name!r}: 'format' names the format and is no key of its own")

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key a config of this format may hold."""
        return tuple(dict.fromkeys(COMMON_KEYS + self.required + self.optional))


FORMATS: dict[str, DatasetFormat] = {}


def register_format(fmt: DatasetFormat) -> DatasetFormat:
    """Add ``fmt`` to :data:`FORMATS` (one line at the end of its reader module)."""
    if fmt.name in FORMATS and FORMATS[fmt.name] is not fmt:
        raise ValueError(f"dataset format {fmt.name!r} is already registered")
    FORMATS[fmt.name] = fmt
    return fmt


def get_format(name: Any) -> DatasetFormat:
    """The format called ``name``; an unknown one fails with the known ones."""
    if name not in FORMATS:
        raise ValueError(f"unknown dataset.format {name!r}; formats: {', '.join(sorted(FORMATS))}")
    return FORMATS[name]


def formats_providing(kind: str) -> list[str]:
    return sorted(n for n, f in FORMATS.items() if f.provides == kind)


class DatasetConfig:
    """A task's ``dataset`` mapping checked against its format, with what tasks ask of it:
    which splits exist, their records (read once), class names.

    Args:
        mapping: ``{format: ..., **keys}``; paths are relative to ``root`` unless absolute.
        who: the task, named in errors.
        provides: the kind of annotation the task needs.
        task_keys: keys the task itself reads from the mapping (e.g. recognition's
            ``class_texts``), accepted besides the format's.

    Raises:
        ValueError: an unknown format (listing the known ones), a format of another kind
            (listing those of the right kind), unknown keys or missing required keys (naming
            the format and its keys).
    """

    def __init__(self, mapping: Mapping[str, Any], who: str, provides: str, task_keys: Sequence[str] = ()) -> None:
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{who}: dataset must be a mapping with a format (dataset.format one of "
                             f"{', '.join(formats_providing(provides))}), got {mapping!r}")
        fmt = get_format(mapping.get("format"))
        if fmt.provides != provides:
            raise ValueError(f"{who}: dataset.format {fmt.name!r} provides {fmt.provides}, but {who} needs {provides}; "
                             f"formats with {provides}: {', '.join(formats_providing(provides))}")
        known = fmt.keys + tuple(task_keys)
        unknown = sorted(set(mapping) - set(known))
        if unknown:
            raise ValueError(f"{who}: dataset ({fmt.name}) has unknown key(s) {unknown}; known: {sorted(known)}")
        missing = [k for k in fmt.required if mapping.get(k) is None]
        missing += [" or ".join(group) for group in fmt.one_of if all(mapping.get(k) is None for k in group)]
        if missing:
            raise ValueError(f"{who}: dataset ({fmt.name}) needs {', '.join(missing)}; "
                             f"required: {sorted(fmt.required)}, optional: {sorted(set(known) - set(fmt.required))}")
        if mapping.get("flip_safe") is not None and not isinstance(mapping.get("flip_safe"), bool):
            raise ValueError(f"{who}: dataset.flip_safe must be true or false (whether a mirrored clip keeps its "
                             f"annotation), got {mapping.get('flip_safe')!r}")
        self.format, self.who = fmt, who
        self.options = dict(mapping)
        self._records: dict[str, Records] = {}

    @property
    def name(self) -> str:
        return self.format.name

    def get(self, key: str, default: Any = None) -> Any:
        value = self.options.get(key)
        return default if value is None else value

    def path(self, key: str) -> Path:
        """``dataset[key]`` as a path (relative ones under ``root``)."""
        value = self.options.get(key)
        if not isinstance(value, (str, os.PathLike)):
            raise ValueError(f"{self.who}: dataset.{key} must be a path, got {value!r}")
        return self.resolve(value)

    def paths(self, key: str) -> list[Path]:
        """``dataset[key]``: one path or a list of them."""
        value = self.options.get(key)
        values = value if isinstance(value, (list, tuple)) else [value]
        if not values or not all(isinstance(v, (str, os.PathLike)) for v in values):
            raise ValueError(f"{self.who}: dataset.{key} must be a path or a list of paths, got {value!r}")
        return [self.resolve(v) for v in values]

    def resolve(self, value: str | os.PathLike) -> Path:
        p = Path(os.fspath(value)).expanduser()
        root = self.options.get("root")
        return p if root is None or p.is_absolute() else Path(os.fspath(root)).expanduser() / p

    @property
    def video_root(self) -> Path | None:
        return self.path("video_root") if self.options.get("video_root") is not None else None

    @property
    def max_missing_ratio(self) -> float:
        return float(self.get("max_missing_ratio", DEFAULT_MAX_MISSING_RATIO))

    def source(self, split: str) -> str | None:
        """The key holding ``split``'s annotations, None when the split is not configured."""
        if split not in SPLITS:
            raise ValueError(f"{self.who}: unknown split {split!r}; splits: {', '.join(SPLITS)}")
        return self.format.split_source(self, split)

    def has_split(self, split: str) -> bool:
        return self.source(split) is not None

    def records(self, split: str) -> Records:
        """The records of ``split``, read once."""
        if split not in self._records:
            if not self.has_split(split):
                raise ValueError(f"{self.who}: the {self.name} dataset has no {split!r} split: add dataset.{split}")
            self._records[split] = self.format.read_split(self, split)
        return self._records[split]

    def class_names(self) -> tuple[str, ...]:
        """Class names in label order (labelled formats): the format's class list, else the
        classes of the first configured split of train, test, val, predict."""
        names = self.format.class_names(self) if self.format.class_names is not None else None
        if names is None:
            split = next((s for s in ("train", "test", "val", "predict") if self.has_split(s)), None)
            names = self.records(split).classes if split is not None else ()
        names = tuple(names)
        if not names:
            raise ValueError(f"{self.who}: the {self.name} annotations name no class")
        return names

    def declared_flip_safety(self) -> tuple[bool | None, str]:
        """What the config (``flip_safe``) or the format declares about mirroring, without
        reading any file: (True / False / None for "not declared", the reason)."""
        if self.options.get("flip_safe") is not None:
            return bool(self.options["flip_safe"]), f"dataset.flip_safe is {str(self.options['flip_safe']).lower()}"
        if self.format.flip_safe is not None:
            kind = "mirror-safe" if self.format.flip_safe else "direction-sensitive"
            return self.format.flip_safe, f"the {self.name} format declares its labels {kind}"
        return None, ""

    def flip_safety(self) -> tuple[bool, str]:
        """Whether a left-right mirrored training clip keeps its annotation, and why:
        ``dataset.flip_safe`` if given, else the format's declaration, else the data: labelled
        clips are safe unless a class name names a horizontal direction (left, right,
        clockwise, ...); captions, queries and questions are free text that may ("turns
        left"), so they are not known to be safe."""
        declared, why = self.declared_flip_safety()
        if declared is not None:
            return declared, why
        if self.format.provides != LABELLED_CLIPS:
            return False, (f"{self.format.provides} are free text that may name a direction, and "
                           f"dataset.flip_safe is not set")
        named = [n for n in self.class_names() if names_horizontal_direction(n)]
        if named:
            shown = ", ".join(repr(n) for n in named[:3]) + (" ..." if len(named) > 3 else "")
            return False, f"{len(named)} class name(s) name a horizontal direction: {shown}"
        return True, "no class name names a horizontal direction"

    def __repr__(self) -> str:
        return f"DatasetConfig({self.options!r})"


__all__ = [
    "CAPTIONED_VIDEOS", "COMMON_KEYS", "FORMATS", "KINDS", "LABELLED_CLIPS", "MOMENT_QUERIES", "QUESTIONS", "SPLITS",
    "DatasetConfig", "DatasetFormat", "camel_case_class_text", "class_text", "formats_providing", "get_format",
    "names_horizontal_direction", "read_files", "register_format", "split_key",
]
