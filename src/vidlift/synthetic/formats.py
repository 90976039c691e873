"""Writers for the public annotation formats, byte-for-byte deterministic.

Each writer produces the layout the real dataset ships, so the readers in
:mod:`vidlift.data.datasets` read generated and real data through one code path:

- Kinetics-400/700: ``train.csv`` / ``validate.csv`` / ``test.csv`` with
  ``label,youtube_id,time_start,time_end,split``; clips named
  ``{youtube_id}_{time_start:06d}_{time_end:06d}.mp4`` as the downloaders name them.
- Something-Something v2: ``labels.json`` ({template without brackets: "index"}),
  ``train.json`` / ``validation.json`` (id, label, template, placeholders), ``test.json`` (ids
  only) and ``test-answers.csv`` (``id;label``).
- MSR-VTT: ``train_val_videodatainfo.json`` / ``test_videodatainfo.json`` ({"info", "videos",
  "sentences"}) and the 1k-A style ``MSRVTT_JSFUSION_test.csv`` (``key,vid_key,video_id,sentence``).
- QVHighlights: ``highlight_{train,val,test}_release.jsonl``.
- NExT-QA: ``{train,val,test}.csv`` (``video,frame_count,width,height,question,answer,qid,type,a0..a4``)
  and ``map_vid_vidorID.json``.
- MSRVTT-QA: ``{train,val,test}_qa.json`` ([{"answer", "id", "question", "video_id"}]).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

KINETICS_SPLITS = {"train": ("train.csv", "train"), "val": ("validate.csv", "validate"), "test": ("test.csv", "test")}
SSV2_SPLITS = {"train": "train.json", "val": "validation.json", "test": "test.json"}
MSRVTT_SPLITS = {"train": "train", "val": "validate", "test": "test"}
QVHIGHLIGHTS_SPLITS = {"train": "highlight_train_release.jsonl", "val": "highlight_val_release.jsonl",
                       "test": "highlight_test_release.jsonl"}
NEXTQA_COLUMNS = ("video", "frame_count", "width", "height", "question", "answer", "qid", "type",
                  "a0", "a1", "a2", "a3", "a4")


def kinetics_name(youtube_id: str, time_start: int, time_end: int, ext: str = ".mp4") -> str:
    """The file name Kinetics downloaders give a clip."""
    return f"{youtube_id}_{time_start:06d}_{time_end:06d}{ext}"


def ssv2_class_name(template: str) -> str:
    """SSv2's ``labels.json`` keys are the templates with the brackets removed."""
    return template.replace("[", "").replace("]", "")


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))  # no platform newline translation


def write_json(path: Path, obj: Any, indent: int | None = None) -> None:
    write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, records: Iterable[dict]) -> None:
    write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def write_csv(path: Path, header: Sequence[str] | None, rows: Iterable[Sequence[Any]], delimiter: str = ",") -> None:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    write_text(path, buf.getvalue())


def write_kinetics(folder: Path, rows: Iterable[tuple[str, str, int, int, str]]) -> None:
    """rows: (label, youtube_id, time_start, time_end, split in train/val/test), one CSV per split."""
    by_split: dict[str, list] = {s: [] for s in KINETICS_SPLITS}
    for label, yid, start, end, split in rows:
        by_split[split].append((label, yid, start, end, KINETICS_SPLITS[split][1]))
    for split, (name, _) in KINETICS_SPLITS.items():
        write_csv(folder / name, ("label", "youtube_id", "time_start", "time_end", "split"), by_split[split])


def write_ssv2(folder: Path, templates: Sequence[str], items: Iterable[tuple[str, str, str, str]]) -> None:
    """items: (id, template, placeholder, split). The test split gets ids only, its labels go to
    ``test-answers.csv``, as SSv2 was released."""
    write_json(folder / "labels.json", {ssv2_class_name(t): str(i) for i, t in enumerate(templates)}, indent=1)
    by_split: dict[str, list] = {s: [] for s in SSV2_SPLITS}
    answers = []
    for vid, template, placeholder, split in items:
        if split == "test":
            by_split[split].append({"id": vid})
            answers.append((f"{vid};{ssv2_class_name(template)}",))
        else:
            label = template.replace("[something]", placeholder, 1).replace("[Something]", placeholder, 1)
            by_split[split].append({"id": vid, "label": label, "template": template, "placeholders": [placeholder]})
    for split, name in SSV2_SPLITS.items():
        write_json(folder / name, by_split[split], indent=1)
    # One column holding "id;label" keeps the csv module from quoting nothing SSv2 did not quote.
    write_text(folder / "test-answers.csv", "".join(a[0] + "\n" for a in answers))


def write_msrvtt(folder: Path, videos: Sequence[dict], captions: dict[str, list[str]], jsfusion: bool = True) -> None:
    """videos: {"video_id", "split" (train/val/test), "category", "start time", "end time"};
    captions: video_id -> captions. Writes the two MSR-VTT json files (sentence ids run over
    both, as in the release) and, with ``jsfusion``, the 1k-A style CSV of the test videos'
    first captions."""
    files = {"train_val_videodatainfo.json": ("train", "val"), "test_videodatainfo.json": ("test",)}
    info = {"year": "2024", "version": "vidlift-synth", "description": "procedural video-text benchmark",
            "contributor": "vidlift", "data_created": "generated"}
    sen_id = 0
    for name, splits in files.items():
        vids, sentences = [], []
        for i, v in enumerate(videos):
            if v["split"] not in splits:
                continue
            vids.append({"category": v["category"], "url": f"synthetic://{v['video_id']}", "video_id": v["video_id"],
                         "start time": v["start time"], "end time": v["end time"], "split": MSRVTT_SPLITS[v["split"]],
                         "id": i})
            for caption in captions[v["video_id"]]:
                sentences.append({"caption": caption, "video_id": v["video_id"], "sen_id": sen_id})
                sen_id += 1
        write_json(folder / name, {"info": info, "videos": vids, "sentences": sentences}, indent=1)
    if jsfusion:
        rows = [(f"ret{i}", "msr" + v["video_id"].removeprefix("video"), v["video_id"], captions[v["video_id"]][0])
                for i, v in enumerate(v for v in videos if v["split"] == "test")]
        write_csv(folder / "MSRVTT_JSFUSION_test.csv", ("key", "vid_key", "video_id", "sentence"), rows)


def write_qvhighlights(folder: Path, queries: Iterable[tuple[str, dict]]) -> None:
    """queries: (split, record) with the QVHighlights keys in their released order."""
    by_split: dict[str, list] = {s: [] for s in QVHIGHLIGHTS_SPLITS}
    for split, record in queries:
        by_split[split].append(record)
    for split, name in QVHIGHLIGHTS_SPLITS.items():
        write_jsonl(folder / name, by_split[split])


def write_nextqa(folder: Path, rows: Iterable[tuple[str, Sequence[Any]]], video_map: dict[str, str]) -> None:
    """rows: (split, values in ``NEXTQA_COLUMNS`` order); video_map: video -> "group/video"."""
    by_split: dict[str, list] = {"train": [], "val": [], "test": []}
    for split, values in rows:
        by_split[split].append(values)
    for split, values in by_split.items():
        write_csv(folder / f"{split}.csv", NEXTQA_COLUMNS, values)
    write_json(folder / "map_vid_vidorID.json", video_map, indent=1)


def write_msrvtt_qa(folder: Path, items: Iterable[tuple[str, dict]]) -> None:
    """items: (split, {"answer", "id", "question", "video_id"})."""
    by_split: dict[str, list] = {"train": [], "val": [], "test": []}
    for split, item in items:
        by_split[split].append(item)
    for split, values in by_split.items():
        write_json(folder / f"{split}_qa.json", values)
