"""Where videos come from: a folder (searched recursively) or a list file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts", ".gif"}
)


class VideoListError(ValueError):
    """A folder or list file of videos could not be read; the message names file and line."""


@dataclass(frozen=True)
class VideoItem:
    """One video to process: ``video_id`` is unique in its list and safe as a relative path;
    ``path`` is ``None`` where an annotation names a video whose file is not known (no video
    root given), which decoding reports as an error record."""

    video_id: str
    path: Path | None


def list_videos(source: str | Path) -> list[VideoItem]:
    """Videos under a folder (recursive, sorted, by extension) or named in a list file.

    A list file has one video path per line (relative paths are relative to the list file;
    blank lines and ``#`` comments are skipped). Paths that do not exist are kept: the run
    reports them as failures instead of stopping. The id of a video is its path relative to
    the folder (or its file name for list files) without the extension.
    """
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        if not files:
            exts = ", ".join(sorted(VIDEO_EXTENSIONS))
            raise VideoListError(f"{source}: no video files found (looked for {exts})")
        return _unique([(p.relative_to(source).with_suffix("").as_posix(), p, None) for p in files], source)
    if source.is_file():
        entries = []
        for lineno, raw in enumerate(source.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            path = Path(line)
            if not path.is_absolute():
                path = source.parent / path
            entries.append((path.stem, path, lineno))
        if not entries:
            raise VideoListError(f"{source}: the list file names no videos")
        return _unique(entries, source)
    raise VideoListError(f"{source}: no such folder or list file")


def _unique(entries: list[tuple[str, Path, int | None]], source: Path) -> list[VideoItem]:
    seen: dict[str, int | None] = {}
    items = []
    for vid, path, lineno in entries:
        if vid in seen:
            where = f"{source}:{lineno}" if lineno else str(path)
            first = f" (first at line {seen[vid]})" if seen[vid] else ""
            raise VideoListError(f"{where}: duplicate video id {vid!r}{first}; ids are file names without extension")
        seen[vid] = lineno
        items.append(VideoItem(vid, path))
    return items
