"""The procedural video-text benchmark: videos as real files plus annotations in public formats.

>>> from vidlift.synthetic.synth import generate
>>> generate("recognition", "bench/recognition", num_videos=1000, seed=0)

One call writes one task's folder (layouts in ``docs/synth.md``): ``videos/`` (H.264 MP4,
yuv420p), the annotation files of the task's public formats (see :mod:`.formats`),
``videos.jsonl`` (every video's program: objects, events and their times — the ground truth
behind every label), ``meta.json`` and ``README.txt``. Same seed and arguments give
byte-identical files, whatever ``workers`` is.

Workers are started with ``spawn`` (forking a process that holds torch or BLAS threads can
hang), so a script that calls :func:`generate` with ``workers > 1`` needs the usual
``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from fractions import Fraction
from multiprocessing import get_context
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from .. import __version__
from . import formats
from .language import captions, colours_before, query
from .motions import Program, render_program, reverse_program
from .questions import multiple_choice, open_questions
from .scenarios import (
    APPEARANCE_CLASSES,
    FREE_KINDS,
    MOTION_CLASSES,
    TASKS,
    clip_program,
    grounding_program,
    recognition_program,
    split_of,
    task_rng,
)

GENERATOR = "vidlift synth"
GENERATOR_VERSION = 1  # bump whenever the same arguments would give different files
DEFAULTS = {  # task -> (frames, fps, captions per video)
    "recognition": (8, 8.0, 0), "retrieval": (8, 8.0, 5), "captioning": (8, 8.0, 10),
    "qa": (8, 8.0, 0), "grounding": (96, 4.0, 0),
}
# One thread, no B-frames, no macroblock tree: x264's lookahead otherwise makes the bytes (and
# decoded pixels) of tiny clips differ from run to run, and parallel workers replace threads.
# What each task's folder holds besides videos/, videos.jsonl, meta.json and README.txt.
LAYOUTS = {
    "recognition": {
        "kinetics/motion/{train,validate,test}.csv": "Kinetics CSV, temporal classes (+ classes.txt, index order)",
        "kinetics/appearance/{train,validate,test}.csv": "Kinetics CSV, colour + shape classes (+ classes.txt)",
        "ssv2/{labels,train,validation,test}.json, ssv2/test-answers.csv": "Something-Something v2, temporal classes",
        "ssv2/videos/{id}.mp4": "the same videos under SSv2 names (hard links)",
    },
    "retrieval": {
        "msrvtt/{train_val,test}_videodatainfo.json": "MSR-VTT captions (5 per video)",
        "msrvtt/MSRVTT_JSFUSION_test.csv": "1k-A style test queries (first caption of each test video)",
    },
    "captioning": {
        "msrvtt/{train_val,test}_videodatainfo.json": "MSR-VTT captions (10 per video)",
        "msrvtt/MSRVTT_JSFUSION_test.csv": "1k-A style test queries",
    },
    "grounding": {"qvhighlights/highlight_{train,val,test}_release.jsonl": "QVHighlights queries (2-s clips)"},
    "qa": {
        "nextqa/{train,val,test}.csv, nextqa/map_vid_vidorID.json": "NExT-QA multiple choice (videos/<group>/<id>.mp4)",
        "msrvtt_qa/{train,val,test}_qa.json": "MSRVTT-QA open-ended, one-word answers",
        "msrvtt_qa/videos/videoN.mp4": "the same videos under MSR-VTT names (hard links)",
    },
}
_X264 = {"preset": "veryfast", "crf": "18", "x264-params": "threads=1:bframes=0:mbtree=0"}


def write_video(path: str | os.PathLike, frames: np.ndarray, fps: float) -> None:
    """Encode uint8 (T, H, W, 3) RGB frames as H.264 yuv420p MP4 (H and W must be even)."""
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(os.fspath(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate, options=dict(_X264))
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = 1 / rate
        stream.codec_context.gop_size = max(1, round(2 * fps))  # a keyframe every ~2 s, for seeking
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _render_job(job: tuple[Program, int, str, str | None]) -> int:
    """Worker: render a program once, write it forwards and (for its twin) backwards."""
    program, size, path, twin_path = job
    frames = render_program(program, size)
    write_video(path, frames, program.fps)
    if twin_path is not None:
        write_video(twin_path, frames[::-1], program.fps)
    return 1 if twin_path is None else 2


_MARKER = ".synth-incomplete"  # present while a set is being written: an interrupted run is ours too


def _prepare(out: Path, overwrite: bool) -> None:
    if out.exists() and any(out.iterdir()):
        meta = out / "meta.json"
        ours = (out / _MARKER).is_file() or (
            meta.is_file() and json.loads(meta.read_text()).get("generator") == GENERATOR)
        if not overwrite:
            raise ValueError(f"{out}: folder is not empty (pass overwrite=True / --overwrite to replace it)")
        if not ours:
            raise ValueError(f"{out}: not empty and not written by `{GENERATOR}`; refusing to delete it")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).write_text(f"{GENERATOR}\n")


def _link(src: Path, dst: Path) -> None:
    """Second name for a video (another format's naming), without a second copy where possible."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _round(obj):
    if isinstance(obj, float):
        return round(obj, 6)
    if isinstance(obj, dict):
        return {k: _round(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_round(v) for v in obj]
    return obj


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(float(x), 6)


@dataclass(frozen=True)
class _Video:
    """One video of the set (twins are indices 2k and 2k + 1); ``file`` is relative to the set."""

    index: int
    program: Program
    split: str
    file: str


def _programs(task: str, n: int, frames: int, fps: float, seed: int) -> list[_Video]:
    videos = []
    pairs_per_block = len(MOTION_CLASSES) // 2 if task == "recognition" else 1
    for k in range((n + 1) // 2):
        if task == "recognition":
            program = recognition_program(seed, k, frames, fps)
        elif task == "grounding":
            program = grounding_program(seed, k, frames, fps)
        else:
            program = clip_program(seed, task, k, frames, fps, two_events=0.7 if task == "qa" else 0.5)
        split = split_of(k // pairs_per_block)
        for index, p in ((2 * k, program), (2 * k + 1, reverse_program(program))):
            if index < n:
                videos.append(_Video(index, p, split, _file_name(task, index, p)))
    return videos


def _file_name(task: str, index: int, p: Program) -> str:
    if task == "recognition":
        return "videos/" + formats.kinetics_name(f"syn{index:08d}", 0, math.ceil(p.duration))
    if task == "grounding":
        return f"videos/syn{index:08d}_0.0_{p.duration:.1f}.mp4"
    if task == "qa":
        return f"videos/{index // 1000:04d}/{_nextqa_id(index)}.mp4"
    return f"videos/video{index}.mp4"


def _nextqa_id(index: int) -> str:
    return str(7_000_000_000 + index)  # NExT-QA ids are 10-digit VidOR numbers


def _motion_label(v: _Video) -> int:
    return v.program.meta["motion"] + (1 if v.program.meta.get("reversed") else 0)


def _recognition(out: Path, videos: list[_Video]) -> dict:
    rows_m, rows_a, ssv2 = [], [], []
    for v in videos:
        yid = f"syn{v.index:08d}"
        end = math.ceil(v.program.duration)
        look = APPEARANCE_CLASSES[v.program.meta["appearance"]]
        rows_m.append((MOTION_CLASSES[_motion_label(v)].name, yid, 0, end, v.split))
        rows_a.append((look, yid, 0, end, v.split))
        ssv2.append((str(v.index), MOTION_CLASSES[_motion_label(v)].template, look, v.split))
        _link(out / v.file, out / "ssv2" / "videos" / f"{v.index}.mp4")
    formats.write_kinetics(out / "kinetics" / "motion", rows_m)
    formats.write_kinetics(out / "kinetics" / "appearance", rows_a)
    formats.write_text(out / "kinetics" / "motion" / "classes.txt", "".join(c.name + "\n" for c in MOTION_CLASSES))
    formats.write_text(out / "kinetics" / "appearance" / "classes.txt", "".join(c + "\n" for c in APPEARANCE_CLASSES))
    formats.write_ssv2(out / "ssv2", [c.template for c in MOTION_CLASSES], ssv2)
    return {"motion": [c.name for c in MOTION_CLASSES], "appearance": list(APPEARANCE_CLASSES),
            "ssv2_templates": [c.template for c in MOTION_CLASSES],
            "reverse_pairs": [[a.name, b.name] for a, b in zip(MOTION_CLASSES[0::2], MOTION_CLASSES[1::2])]}


def _captions(out: Path, videos: list[_Video], task: str, seed: int, per_video: int) -> dict:
    records, texts = [], {}
    for v in videos:
        vid = f"video{v.index}"
        texts[vid] = captions(v.program, task_rng(seed, task, "text", v.index), per_video)
        first = v.program.actors[0].events[0].kind
        records.append({"video_id": vid, "split": v.split, "category": FREE_KINDS.index(first),
                        "start time": 0.0, "end time": float(v.program.duration)})
    formats.write_msrvtt(out / "msrvtt", records, texts, jsfusion=True)
    return {"captions_per_video": per_video, "categories": list(FREE_KINDS)}


def _grounding(out: Path, videos: list[_Video]) -> dict:
    queries, qid = [], 0
    for v in videos:
        p = v.program
        clip = p.meta["clip_length"]
        main = p.actors[0]
        windows: dict[str, list[tuple[float, float]]] = {}
        for e, before in zip(main.events, colours_before(main)):
            windows.setdefault(query(main, e, before), []).append((e.start, e.end))
        for text, spans in windows.items():
            ids, scores = [], []
            for s, e in spans:
                for c in range(round(s / clip), round(e / clip)):
                    # Three identical "annotators": 4 in the middle half of the event, 3 near its ends.
                    rel = ((c + 0.5) * clip - s) / (e - s)
                    ids.append(c)
                    scores.append([4 if 0.25 <= rel <= 0.75 else 3] * 3)
            record = {"qid": qid, "query": text, "duration": _number(p.duration), "vid": Path(v.file).stem,
                      "relevant_windows": [[_number(s), _number(e)] for s, e in spans],
                      "relevant_clip_ids": ids, "saliency_scores": scores}
            queries.append((v.split, record))
            qid += 1
    formats.write_qvhighlights(out / "qvhighlights", queries)
    return {"clip_length": 2.0, "queries": qid}


def _qa(out: Path, videos: list[_Video], seed: int, size: int) -> dict:
    rows, video_map, open_items = [], {}, []
    for v in videos:
        vid = _nextqa_id(v.index)
        video_map[vid] = f"{v.index // 1000:04d}/{vid}"
        rng = task_rng(seed, "qa", "text", v.index)
        for qid, q in enumerate(multiple_choice(v.program, rng)):
            values = (vid, v.program.num_frames, size, size, q.question, q.answer, qid, q.type, *q.options)
            rows.append((v.split, values))
        for q in open_questions(v.program, rng):
            open_items.append((v.split, {"answer": q.answer, "id": len(open_items), "question": q.question,
                                         "video_id": v.index}))
        _link(out / v.file, out / "msrvtt_qa" / "videos" / f"video{v.index}.mp4")
    formats.write_nextqa(out / "nextqa", rows, video_map)
    formats.write_msrvtt_qa(out / "msrvtt_qa", open_items)
    return {"nextqa_types": sorted({r[1][7] for r in rows}), "multiple_choice": len(rows), "open": len(open_items)}


def _program_record(v: _Video) -> dict:
    p = v.program
    twin = v.index ^ 1
    return _round({"index": v.index, "file": v.file, "split": v.split, "twin": twin,
                   "reversed": bool(p.meta.get("reversed", False)), "num_frames": p.num_frames, "fps": p.fps,
                   "duration": p.duration, "background": p.background,
                   "actors": [asdict(a) for a in p.actors],
                   "labels": {k: val for k, val in p.meta.items() if k != "reversed"}})


def generate(task: str, out: str | os.PathLike, *, num_videos: int = 1000, num_frames: int | None = None,
             size: int = 64, seed: int = 0, workers: int = 2, fps: float | None = None,
             overwrite: bool = False, progress: bool = True,
             log: Callable[[str], None] | None = None) -> Path:
    """Write one task of the benchmark into ``out``; returns ``out`` as a Path.

    Args:
        task: recognition, retrieval, grounding, qa or captioning.
        num_videos: videos in the set (time-reversed twins, so an even number is best).
        num_frames, fps: default 8 frames at 8 fps, and 96 frames at 4 fps (24 s) for grounding.
        size: frame side in pixels (even, for yuv420p).
        workers: render/encode processes (0 or 1: in this process); never changes the output.
        overwrite: replace ``out`` if it holds an earlier generated set.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    d_frames, d_fps, per_video = DEFAULTS[task]
    num_frames = d_frames if num_frames is None else num_frames
    fps = d_fps if fps is None else float(fps)
    if size < 16 or size % 2:
        raise ValueError(f"size must be even and at least 16 (H.264 yuv420p), got {size}")
    if num_frames < 4 or fps <= 0 or num_videos < 1:
        raise ValueError("need at least 4 frames, a positive fps and at least one video")
    videos = _programs(task, num_videos, num_frames, fps, seed)  # before touching the disk: may refuse
    out = Path(out)
    _prepare(out, overwrite)
    for v in videos:
        (out / v.file).parent.mkdir(parents=True, exist_ok=True)
    by_index = {v.index: v for v in videos}
    jobs = [(v.program, size, str(out / v.file), str(out / by_index[v.index + 1].file) if v.index + 1 in by_index
             else None) for v in videos if v.index % 2 == 0]
    bar = tqdm(total=len(videos), desc=f"synth {task}", unit="video", disable=not progress)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for done in pool.map(_render_job, jobs, chunksize=max(1, min(16, len(jobs) // (4 * workers)))):
                bar.update(done)
    else:
        for job in jobs:
            bar.update(_render_job(job))
    bar.close()
    if task == "recognition":
        annotations = _recognition(out, videos)
    elif task in ("retrieval", "captioning"):
        annotations = _captions(out, videos, task, seed, per_video)
    elif task == "grounding":
        annotations = _grounding(out, videos)
    else:
        annotations = _qa(out, videos, seed, size)
    formats.write_jsonl(out / "videos.jsonl", (_program_record(v) for v in videos))
    splits = {s: sum(v.split == s for v in videos) for s in ("train", "val", "test")}
    meta = {"generator": GENERATOR, "generator_version": GENERATOR_VERSION, "vidlift_version": __version__,
            "task": task, "seed": seed,
            "arguments": {"num_videos": num_videos, "num_frames": num_frames, "fps": fps, "size": size},
            "duration": num_frames / fps, "videos": len(videos), "splits": splits, "files": LAYOUTS[task],
            "annotations": annotations}
    formats.write_json(out / "meta.json", meta, indent=1)
    formats.write_text(out / "README.txt", _readme(meta))
    (out / _MARKER).unlink()
    if log is not None:
        log(f"wrote {len(videos)} {task} videos ({splits}) to {out}")
    return out


def _readme(meta: dict) -> str:
    a = meta["arguments"]
    lines = [
        f"vidlift procedural video-text benchmark: {meta['task']}",
        f"generator: {GENERATOR} v{meta['generator_version']} (vidlift {meta['vidlift_version']}), seed {meta['seed']}",
        f"videos: {meta['videos']} x {a['num_frames']} frames at {a['fps']:g} fps, {a['size']}x{a['size']} px,"
        f" H.264 yuv420p MP4; splits {meta['splits']}",
        "Videos come in time-reversed twins: video 2k+1 is video 2k played backwards (same split).",
        "videos.jsonl: every video's objects and events with start/end times (the ground truth).",
        "Annotation files:",
        *(f"  {k}: {v}" for k, v in meta["files"].items()),
        "Class lists and counts: meta.json; details: vidlift's docs/synth.md.",
        f"Regenerate: vidlift synth --task {meta['task']} --out DIR --num-videos {a['num_videos']}"
        f" --frames {a['num_frames']} --fps {a['fps']:g} --size {a['size']} --seed {meta['seed']}",
    ]
    return "\n".join(lines) + "\n"
