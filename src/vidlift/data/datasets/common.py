"""Shared parsing for the readers: CSV / JSON / JSONL with line numbers, typed field access,
and finding the video files (with a tolerance for the few that real datasets always lack)."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from ..sources import VIDEO_EXTENSIONS
from .errors import AnnotationError, MissingVideosError
from .records import MissingVideo, Records

log = logging.getLogger(__name__)
R = TypeVar("R")

# Videos may be absent before reading fails. YouTube-sourced sets lose videos over time (a
# Kinetics-400 copy made today lacks a few percent), so 0 would make every real copy fail;
# more than 5% changes reported accuracies noticeably, so that needs an explicit opt-in.
DEFAULT_MAX_MISSING_RATIO = 0.05
_WS = re.compile(r"[ \t\n\r]*")
_DECODER = json.JSONDecoder()


def read_text(path: str | os.PathLike) -> str:
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: some CSVs edited on Windows start with a BOM
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such annotation file") from None
    except IsADirectoryError:
        raise FileNotFoundError(f"{path}: is a folder, expected an annotation file") from None
    except UnicodeDecodeError as e:
        raise AnnotationError(path, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None


class _LineCounter:
    """Line number of a character offset; offsets mostly come in increasing order."""

    def __init__(self, text: str):
        self.text, self.pos, self.line = text, 0, 1

    def __call__(self, offset: int) -> int:
        if offset < self.pos:
            self.pos, self.line = 0, 1
        self.line += self.text.count("\n", self.pos, offset)
        self.pos = offset
        return self.line


def _malformed(path: Path, e: json.JSONDecodeError) -> AnnotationError:
    return AnnotationError(path, e.lineno, f"malformed JSON: {e.msg} (column {e.colno})")


def _array(path: Path, text: str, idx: int, lines: _LineCounter) -> tuple[list[tuple[int, Any]], int]:
    """Parse the array at ``text[idx] == '['`` element by element, noting each one's line."""
    items: list[tuple[int, Any]] = []
    idx = _WS.match(text, idx + 1).end()
    if text.startswith("]", idx):
        return items, idx + 1
    while True:
        try:
            value, end = _DECODER.raw_decode(text, idx)
        except json.JSONDecodeError as e:
            raise _malformed(path, e) from None
        items.append((lines(idx), value))
        idx = _WS.match(text, end).end()
        if text.startswith(",", idx):
            idx = _WS.match(text, idx + 1).end()
        elif text.startswith("]", idx):
            return items, idx + 1
        else:
            raise AnnotationError(path, lines(idx), "malformed JSON: expected ',' or ']' after an array element")


def _value(path: Path, text: str, idx: int) -> tuple[Any, int]:
    try:
        return _DECODER.raw_decode(text, idx)
    except json.JSONDecodeError as e:
        raise _malformed(path, e) from None


def _expect_end(path: Path, text: str, idx: int, lines: _LineCounter) -> None:
    idx = _WS.match(text, idx).end()
    if idx != len(text):
        raise AnnotationError(path, lines(idx), "malformed JSON: extra data after the top-level value")


def read_json_array(path: str | os.PathLike) -> list[tuple[int, Any]]:
    """A JSON file holding one array -> [(line of the element, element)]."""
    path = Path(path)
    text = read_text(path)
    lines = _LineCounter(text)
    idx = _WS.match(text).end()
    if not text.startswith("[", idx):
        if idx == len(text):
            raise AnnotationError(path, None, "empty file, expected a JSON array")
        _value(path, text, idx)  # a syntax error is the better message, if there is one
        raise AnnotationError(path, lines(idx), "expected a JSON array (a list of entries)")
    items, end = _array(path, text, idx, lines)
    _expect_end(path, text, end, lines)
    return items


def read_json_object_arrays(path: str | os.PathLike, keys: Sequence[str]) -> dict[str, list[tuple[int, Any]]]:
    """A JSON object whose ``keys`` hold arrays -> {key: [(line, element)]}; other keys are skipped."""
    path = Path(path)
    text = read_text(path)
    lines = _LineCounter(text)
    idx = _WS.match(text).end()
    if not text.startswith("{", idx):
        if idx == len(text):
            raise AnnotationError(path, None, "empty file, expected a JSON object")
        _value(path, text, idx)  # a syntax error is the better message, if there is one
        raise AnnotationError(path, lines(idx), "expected a JSON object")
    out: dict[str, list[tuple[int, Any]]] = {}
    idx = _WS.match(text, idx + 1).end()
    while not text.startswith("}", idx):
        key, idx = _value(path, text, idx)
        if not isinstance(key, str):
            raise AnnotationError(path, lines(idx), "malformed JSON: object keys must be strings")
        idx = _WS.match(text, idx).end()
        if not text.startswith(":", idx):
            raise AnnotationError(path, lines(idx), "malformed JSON: expected ':' after a key")
        idx = _WS.match(text, idx + 1).end()
        if key in keys:
            if not text.startswith("[", idx):
                raise AnnotationError(path, lines(idx), f"{key!r} should be a list")
            out[key], idx = _array(path, text, idx, lines)
        else:
            _, idx = _value(path, text, idx)
        idx = _WS.match(text, idx).end()
        if text.startswith(",", idx):
            idx = _WS.match(text, idx + 1).end()
        elif not text.startswith("}", idx):
            raise AnnotationError(path, lines(idx), "malformed JSON: expected ',' or '}' in an object")
    _expect_end(path, text, idx + 1, lines)
    missing = [k for k in keys if k not in out]
    if missing:
        raise AnnotationError(path, None, f"missing top-level key(s) {missing}")
    return out


def read_json_object(path: str | os.PathLike) -> list[tuple[int | None, str, Any]]:
    """A JSON file holding one object -> [(line of the key, key, value)] in file order (ActivityNet
    Captions, TACoS: one member per video). The line is ``None`` where the key could not be found
    verbatim in the text (an escaped key)."""
    path = Path(path)
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise _malformed(path, e) from None
    if not isinstance(data, dict):
        raise AnnotationError(path, None, "expected a JSON object {video id: annotations}")
    out, pos, line = [], 0, 1
    for key, value in data.items():
        found = text.find(json.dumps(key, ensure_ascii=False), pos)
        if found >= 0:  # keys come in file order, so each search starts where the last one hit
            line += text.count("\n", pos, found)
            pos = found
        out.append((line if found >= 0 else None, key, value))
    return out


def warn_dropped(path: Path, dropped: Sequence[tuple[int | None, str]], total: int, why: str) -> None:
    """One warning for the entries of ``path`` a reader left out, each given as (line, what it is:
    a video id, a qid); the first few are named ``path:line (what)`` so they can be looked up."""
    if not dropped:
        return
    shown = ", ".join(f"{path}:{n} ({what})" if n else f"{path} ({what})" for n, what in dropped[:10])
    more = f" and {len(dropped) - 10} more" if len(dropped) > 10 else ""
    log.warning("%s: dropped %d of %d entries %s: %s%s", path, len(dropped), total, why, shown, more)


def read_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """JSON Lines -> (line, object) for each non-blank line."""
    path = Path(path)
    for lineno, raw in enumerate(read_text(path).splitlines(), 1):
        if not raw.strip():
            continue
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as e:
            raise AnnotationError(path, lineno, f"malformed JSON line: {e.msg} (column {e.colno})") from None
        if not isinstance(value, dict):
            raise AnnotationError(path, lineno, f"expected a JSON object, got {type(value).__name__}")
        yield lineno, value


def read_csv(path: str | os.PathLike, required: Sequence[str], delimiter: str = ",") -> Iterator[tuple[int, dict]]:
    """A CSV with a header row -> (line, {column: value}); rows must have every column."""
    path = Path(path)
    reader = csv.reader(io.StringIO(read_text(path), newline=""), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        raise AnnotationError(path, None, "empty file, expected a header row")
    header = [h.strip() for h in header]
    absent = [c for c in required if c not in header]
    if absent:
        raise AnnotationError(path, 1, f"missing column(s) {absent}; the header has {header}")
    line = reader.line_num
    for row in reader:
        start, line = line + 1, reader.line_num
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != len(header):
            lacking = header[len(row):] if len(row) < len(header) else []
            detail = f" (no value for {lacking})" if lacking else ""
            raise AnnotationError(path, start, f"expected {len(header)} fields, got {len(row)}{detail}")
        yield start, dict(zip(header, row))


def get(path: Path, line: int, entry: Any, key: str, types: type | tuple[type, ...], *,
        required: bool = True) -> Any:
    """``entry[key]``, checked: a clear error names file, line and key when it is absent or of the
    wrong type (``bool`` never passes for a number)."""
    if not isinstance(entry, dict):
        raise AnnotationError(path, line, f"expected a JSON object, got {type(entry).__name__}")
    value = entry.get(key)
    if value is None:
        if required:
            raise AnnotationError(path, line, f"missing key {key!r}")
        return None
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        names = " or ".join(t.__name__ for t in types)
        raise AnnotationError(path, line, f"{key!r} should be {names}, got {value!r}")
    return value


def number(path: Path, line: int, row: dict, column: str) -> float:
    try:
        return float(row[column])
    except ValueError:
        raise AnnotationError(path, line, f"column {column!r} should be a number, got {row[column]!r}") from None


def load_class_list(classes: Sequence[str] | str | os.PathLike) -> tuple[str, ...]:
    """Class names given as a sequence or as a text file with one name per line."""
    if isinstance(classes, (str, os.PathLike)):
        path = Path(classes)
        names = [s.strip() for s in read_text(path).splitlines()]
        names = [s for s in names if s]
    else:
        names, path = [str(c) for c in classes], None
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise ValueError(f"{path or 'classes'}: duplicate class names {dupes}")
    return tuple(names)


def video_name(name: str) -> str:
    """A video file name as annotations give it ("s30-d52.avi", "video7020.mp4") without its video
    extension; other names unchanged."""
    stem, ext = os.path.splitext(name)
    return stem if ext.lower() in VIDEO_EXTENSIONS else name


class VideoIndex:
    """Finds video files under a root by name without extension, at any depth: datasets come
    flat, per class, per split or per group folder, with .mp4, .webm, .mkv ..."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such video folder")
        self._index: dict[str, Path] | None = None

    def _build(self) -> dict[str, Path]:
        index: dict[str, Path] = {}
        for folder, dirs, files in os.walk(self.root, followlinks=True):
            dirs.sort()
            for name in sorted(files):
                stem, ext = os.path.splitext(name)
                if ext.lower() not in VIDEO_EXTENSIONS:
                    continue
                path = Path(folder) / name
                index.setdefault(path.relative_to(self.root).with_suffix("").as_posix(), path)
                index.setdefault(stem, path)
        return index

    def find(self, names: Sequence[str]) -> Path | None:
        """The first of ``names`` (relative paths without extension, or bare file stems) present."""
        if self._index is None:
            self._index = self._build()
        for name in names:
            if name in self._index:
                return self._index[name]
        return None


def attach_videos(records: list[R], names: Callable[[R], Sequence[str]], source: Path,
                  video_root: str | os.PathLike | None, max_missing_ratio: float,
                  classes: Sequence[str] = ()) -> Records[R]:
    """Fill each record's ``video_path``; drop and list those whose video is absent, or raise
    :class:`MissingVideosError` when more than ``max_missing_ratio`` of the videos are."""
    if video_root is None:
        return Records(records, source=source, classes=tuple(classes))
    if not 0 <= max_missing_ratio <= 1:
        raise ValueError(f"max_missing_ratio must be within [0, 1], got {max_missing_ratio}")
    index = VideoIndex(video_root)
    found, missing, absent_ids, all_ids = [], [], set(), set()
    for r in records:
        candidates = names(r)
        path = index.find(candidates)
        all_ids.add(r.video_id)
        if path is None:
            if r.video_id not in absent_ids:
                missing.append(MissingVideo(r.video_id, r.line, candidates[0]))
            absent_ids.add(r.video_id)
        else:
            found.append(replace(r, video_path=path))
    if missing:
        ratio = len(absent_ids) / max(len(all_ids), 1)
        shown = ", ".join(f"{m.looked_for} (line {m.line})" for m in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        summary = (f"{source}: {len(absent_ids)} of {len(all_ids)} videos ({ratio:.1%}) not found under "
                   f"{video_root}: {shown}{more}")
        if ratio > max_missing_ratio:
            raise MissingVideosError(f"{summary}; more than max_missing_ratio={max_missing_ratio:g} "
                                     f"(raise it to read what is there)", missing)
        log.warning("%s; skipped", summary)
    return Records(found, source=source, classes=tuple(classes), missing=tuple(missing))
