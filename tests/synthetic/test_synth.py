"""The generated benchmark: annotations load through the public-format readers, labels match
what is rendered, reversed twins hold the same frames, output is deterministic."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.synthetic.conftest import decode_all, load_programs
from vidlift.cli import main
from vidlift.data.datasets import (
    read_kinetics,
    read_msrvtt,
    read_msrvtt_1ka,
    read_msrvtt_qa,
    read_nextqa,
    read_qvhighlights,
    read_ssv2,
)
from vidlift.synthetic.language import NUMBERS, WORD
from vidlift.synthetic.scenarios import APPEARANCE_CLASSES, MOTION_CLASSES
from vidlift.synthetic.scene import COLOURS, SHAPES
from vidlift.synthetic.synth import generate

SPLIT_FILES = ("train.csv", "validate.csv", "test.csv")


def _kinetics(folder: Path, label_set: str):
    root = folder / "kinetics" / label_set
    return [s for name in SPLIT_FILES
            for s in read_kinetics(root / name, folder / "videos", classes=root / "classes.txt")]


def _colour_mask(frame: np.ndarray, colour: str) -> np.ndarray:
    return np.abs(frame.astype(int) - COLOURS[colour]).sum(-1) < 60


def test_recognition_labels_are_balanced_and_load_in_both_formats(synth_sets):
    folder = synth_sets["recognition"]
    motion, look = _kinetics(folder, "motion"), _kinetics(folder, "appearance")
    assert len(motion) == len(look) == 56
    assert Counter(s.label_name for s in motion) == {c.name: 4 for c in MOTION_CLASSES}
    assert {s.split for s in motion} == {"train", "validate", "test"}
    counts = Counter(s.label_name for s in look)
    assert set(counts) <= set(APPEARANCE_CLASSES) and set(counts.values()) == {2}  # twins share a look
    ssv2 = folder / "ssv2"
    entries = [s for name in ("train.json", "validation.json", "test.json")
               for s in read_ssv2(ssv2 / name, ssv2 / "labels.json", ssv2 / "videos",
                                  answers_path=ssv2 / "test-answers.csv")]
    by_index = {int(s.video_id): s for s in entries}
    for s in motion:
        index = int(s.video_id[3:11])
        assert by_index[index].label_index == s.label_index  # same class order in both formats
        assert by_index[index].video_path.stat().st_ino == s.video_path.stat().st_ino  # one file, two names


def test_reversed_twins_hold_the_same_frames_in_reverse(synth_sets):
    motion = sorted(_kinetics(synth_sets["recognition"], "motion"), key=lambda s: s.video_id)
    for first, second in zip(motion[0::2], motion[1::2]):
        assert second.label_index == first.label_index ^ 1  # the reverse class
        a, b = decode_all(first.video_path).astype(float), decode_all(second.video_path).astype(float)
        assert len(a) == len(b) == 8
        assert np.abs(a - b[::-1]).mean() < 1.5  # same frames up to H.264 noise ...
        assert np.abs(a.mean(0) - b.mean(0)).mean() < 1.5  # ... so an orderless pooling sees one video
        # ... but played in the same direction they differ by more than codec noise.
        assert np.abs(a - b).mean() > np.abs(a - b[::-1]).mean() + 0.2


def test_recognition_labels_match_the_rendered_motion(synth_sets):
    folder = synth_sets["recognition"]
    look = {s.video_id: s.label_name for s in _kinetics(folder, "appearance")}
    for s in _kinetics(folder, "motion"):
        colour = look[s.video_id].split()[0]
        frames = decode_all(s.video_path)
        masks = [_colour_mask(f, colour) for f in frames]
        assert max(m.sum() for m in masks) >= 15, s  # the appearance label is visible
        first, last = masks[0], masks[-1]
        if s.label_name in ("moving left", "moving right", "moving up", "moving down"):
            axis = 1 if s.label_name in ("moving left", "moving right") else 0
            shift = np.nonzero(last)[axis].mean() - np.nonzero(first)[axis].mean()
            assert shift * (1 if s.label_name in ("moving right", "moving down") else -1) > 5, s
        elif s.label_name in ("growing", "appearing"):
            assert last.sum() > first.sum() + 20, s
        elif s.label_name in ("shrinking", "disappearing"):
            assert first.sum() > last.sum() + 20, s


@pytest.mark.parametrize("task, per_video", [("retrieval", 5), ("captioning", 10)])
def test_caption_sets_load_as_msrvtt(synth_sets, task, per_video):
    folder = synth_sets[task]
    videos = (read_msrvtt(folder / "msrvtt" / "train_val_videodatainfo.json", folder / "videos")
              + read_msrvtt(folder / "msrvtt" / "test_videodatainfo.json", folder / "videos"))
    programs = {f"video{p['index']}": p for p in load_programs(folder)}
    assert sorted(v.video_id for v in videos) == sorted(programs)
    for v in videos:
        assert len(v.captions) == len(set(v.captions)) == per_video
        main = programs[v.video_id]["actors"][0]
        assert all(main["shape"] in c and main["colour"] in c for c in v.captions)
    by_id = {v.video_id: set(v.captions) for v in videos}
    assert all(not by_id[f"video{k}"] & by_id[f"video{k + 1}"] for k in range(0, len(by_id), 2))
    test = [v.video_id for v in videos if v.split == "test"]
    queries = read_msrvtt_1ka(folder / "msrvtt" / "MSRVTT_JSFUSION_test.csv", folder / "videos")
    assert [q.video_id for q in queries] == test and test
    assert all(q.captions[0] in by_id[q.video_id] for q in queries)


def test_grounding_windows_match_the_rendered_events(synth_sets):
    folder = synth_sets["grounding"]
    queries = [q for s in ("train", "val", "test")
               for q in read_qvhighlights(folder / "qvhighlights" / f"highlight_{s}_release.jsonl", folder / "videos")]
    assert len({q.video_id for q in queries}) == 6
    by_video: dict[str, list] = {}
    for q in queries:
        by_video.setdefault(q.video_id, []).append(q)
        assert q.duration == 24 and q.relevant_windows
        assert all(0 <= s < e <= q.duration for s, e in q.relevant_windows)
        assert len(q.saliency_scores) == len(q.relevant_clip_ids) > 0
    for vid, qs in by_video.items():
        frames = decode_all(folder / "videos" / f"{vid}.mp4").astype(int)
        centres = (np.arange(len(frames)) + 0.5) / 4.0  # 4 fps
        # Pixels that really changed (H.264 noise stays far below 30 levels).
        moved = (np.abs(np.diff(frames, axis=0)).max(-1) > 30).sum(axis=(1, 2))  # frame i -> i + 1
        still = np.ones(len(moved), bool)
        for q in qs:
            for s, e in q.relevant_windows:
                near = (centres > s - 0.25) & (centres < e + 0.25)  # the window and a frame either side
                sub = frames[near]
                changed = (np.abs(sub - sub[:1]).max(-1) > 30).sum(axis=(1, 2))
                assert changed.max() > 10, (q.query, s, e)  # the object visibly does something in it
                still &= ~(near[:-1] & near[1:])
        assert moved[still].max(initial=0) == 0  # and nothing happens outside the windows
    # Twins: the reversed video's windows are the mirror images.
    spans = {vid: sorted(w for q in qs for w in q.relevant_windows) for vid, qs in by_video.items()}
    for k in range(0, 6, 2):
        a, b = spans[f"syn{k:08d}_0.0_24.0"], spans[f"syn{k + 1:08d}_0.0_24.0"]
        assert sorted((24 - e, 24 - s) for s, e in a) == b


def test_qa_sets_load_as_nextqa_and_msrvtt_qa(synth_sets):
    folder = synth_sets["qa"]
    mc = [q for s in ("train", "val", "test")
          for q in read_nextqa(folder / "nextqa" / f"{s}.csv", folder / "videos",
                               video_map=folder / "nextqa" / "map_vid_vidorID.json")]
    assert len({q.video_id for q in mc}) == 20
    for q in mc:
        assert len(q.options) == len(set(q.options)) == 5 and q.options[q.answer_index] == q.answer
        assert q.frame_count == 8 and q.width == q.height == 64
    types = Counter(q.type for q in mc)
    assert {"TN", "TP", "DO", "DC"} <= set(types) and set(types) <= {"CH", "TN", "TP", "DO", "DC", "DL"}
    assert len({q.answer_index for q in mc}) == 5  # answers are not always in one place
    for q in mc:
        if q.type == "TN":  # order matters: the reverse of the answer and the earlier event are wrong options
            other = next(p for p in mc if p.video_id == q.video_id and p.type == "TP")
            assert other.answer in q.options and other.answer != q.answer
    open_ended = [q for s in ("train", "val", "test")
                  for q in read_msrvtt_qa(folder / "msrvtt_qa" / f"{s}_qa.json", folder / "msrvtt_qa" / "videos")]
    assert len({q.video_id for q in open_ended}) == 20
    vocabulary = {*WORD.values(), *COLOURS, *SHAPES, *NUMBERS}
    assert {q.answer for q in open_ended} <= vocabulary and len({q.answer for q in open_ended}) > 5


def _annotation_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix != ".mp4"}


def test_generation_is_deterministic_and_independent_of_workers(tmp_path):
    serial = generate("qa", tmp_path / "serial", num_videos=12, seed=3, workers=0, progress=False)
    parallel = generate("qa", tmp_path / "parallel", num_videos=12, seed=3, workers=2, progress=False)
    other = generate("qa", tmp_path / "other", num_videos=12, seed=4, workers=0, progress=False)
    assert _annotation_bytes(serial) == _annotation_bytes(parallel)
    assert _annotation_bytes(serial)["nextqa/train.csv"] != _annotation_bytes(other)["nextqa/train.csv"]
    videos = sorted(p.relative_to(serial) for p in (serial / "videos").rglob("*.mp4"))
    assert len(videos) == 12
    for rel in videos:
        assert (serial / rel).read_bytes() == (parallel / rel).read_bytes(), rel
        np.testing.assert_array_equal(decode_all(serial / rel), decode_all(parallel / rel))


def test_cli_writes_meta_and_refuses_to_clobber(tmp_path, capsys):
    out = tmp_path / "rec"
    args = ["synth", "--task", "recognition", "--out", str(out), "--num-videos", "4", "--workers", "0",
            "--no-progress", "--seed", "5", "--size", "32"]
    assert main(args) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["task"] == "recognition" and meta["seed"] == 5 and meta["arguments"]["size"] == 32
    classes = meta["annotations"]
    assert classes["motion"] == [c.name for c in MOTION_CLASSES] and len(classes["appearance"]) == 64
    assert not (out / ".synth-incomplete").exists()
    assert "--seed 5" in (out / "README.txt").read_text()
    assert main(args) == 2 and "not empty" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0
    assert main(["synth", "--task", "qa", "--out", str(tmp_path / "odd"), "--size", "33", "--no-progress"]) == 2
