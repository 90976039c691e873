"""Captioning metrics through pycocoevalcap on hand-built captions (values worked out by hand),
the no-Java path (PATH without java: Python tokenisation, METEOR skipped, a warning), one METEOR
run, and ``evaluate_files`` on MSR-VTT and MSVD ground truth with its file:line errors."""

from __future__ import annotations

import json
import logging

import pytest

from vidlift.data.datasets.errors import AnnotationError
from vidlift.tasks.captioning import metrics as M
from vidlift.tasks.captioning.evaluate import evaluate_files
from vidlift.tasks.captioning.metrics import caption_metrics, java_available, simple_ptb_tokenize

FAST = ("bleu", "rouge", "cider")
needs_java = pytest.mark.skipif(not java_available(), reason="no java on PATH")


@pytest.fixture
def no_java(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no java
    assert not java_available()


# Two videos sharing no word, so every n-gram has a non-zero idf.
REFS = {"v1": ["a red circle moves left."], "v2": ["the blue square spins slowly"]}


@pytest.mark.parametrize("java", [pytest.param(True, marks=needs_java), False])
def test_identical_captions_score_the_maximum(java, request):
    if not java:
        request.getfixturevalue("no_java")
    out = caption_metrics({"v1": "A red circle moves left", "v2": "the blue square spins slowly."}, REFS, FAST)
    assert out["BLEU-4"] == pytest.approx(100.0, abs=1e-4)
    assert out["ROUGE-L"] == pytest.approx(100.0, abs=1e-6)
    # CIDEr-D of a candidate equal to its only reference: cosine 1 for n = 1..4, no length
    # penalty (delta 0), times 10 -> 10 per video, reported x 100.
    assert out["CIDEr"] == pytest.approx(1000.0, rel=1e-6)
    assert out["num_videos"] == 2 and "METEOR" not in out


@needs_java
def test_bleu4_of_a_worked_example():
    # "the cat sat on the mat" vs "the cat sat on a mat": clipped n-gram precisions 5/6, 3/5,
    # 2/4, 1/3, equal lengths (no brevity penalty): BLEU-4 = (1/12) ** (1/4) = 0.5372849659.
    out = caption_metrics({"x": "the cat sat on the mat"}, {"x": ["the cat sat on a mat"]}, ["bleu"])
    assert out["BLEU-4"] == pytest.approx(100 * (1 / 12) ** 0.25, abs=1e-4)


def test_every_reference_counts():
    # The candidate equals the second reference: BLEU-4 takes n-gram matches from any reference.
    out = caption_metrics({"x": "a dog runs on grass"}, {"x": ["a cat sleeps", "a dog runs on grass"]}, ["bleu"])
    assert out["BLEU-4"] == pytest.approx(100.0, abs=1e-4)


def test_single_video_cider_is_zero():
    # The idf of every n-gram is log(1 / 1) = 0 in a one-video corpus (documented in metrics.py).
    out = caption_metrics({"x": "a dog runs"}, {"x": ["a dog runs"]}, ["cider"])
    assert out["CIDEr"] == 0.0


def test_no_java_skips_meteor_with_a_warning(no_java, caplog):
    with caplog.at_level(logging.WARNING):
        out = caption_metrics({"v1": "a red circle moves left", "v2": "a blue square"}, REFS, M.METRICS)
    assert "METEOR" not in out and {"BLEU-4", "ROUGE-L", "CIDEr"} <= set(out)
    assert "java" in caplog.text and "METEOR is skipped" in caplog.text
    assert 0 < out["ROUGE-L"] < 100


def test_python_tokenisation_follows_ptb():
    # Brackets stay as -lrb- / -rrb-: the official PTB path lower-cases them past the punctuation filter.
    assert simple_ptb_tokenize("A man's dog, running (fast)!") == "a man 's dog running -lrb- fast -rrb-"
    assert simple_ptb_tokenize("They don't stop...") == "they do n't stop"
    assert simple_ptb_tokenize("A T-shirt") == "a t-shirt"


@needs_java
def test_python_tokenisation_matches_ptb_on_plain_captions():
    caps = {"a": ["A man's dog, running (fast)!", "They don't stop."], "b": ["a t-shirt; 3 dogs"]}
    assert M.tokenize(caps, java=True) == M.tokenize(caps, java=False)


@needs_java
def test_meteor():  # the one test that starts METEOR's JVM
    out = caption_metrics({"v1": "a red circle moves left", "v2": "the blue square spins slowly"}, REFS, ["meteor"])
    assert out["METEOR"] == pytest.approx(100.0, abs=1e-3)
    worse = caption_metrics({"v1": "a red circle", "v2": "a dog barks"}, REFS, ["meteor"])
    assert 0 <= worse["METEOR"] < 50


def test_bad_input():
    with pytest.raises(ValueError, match="unknown metrics"):
        caption_metrics({"x": "a"}, {"x": ["a"]}, ["spice"])
    with pytest.raises(ValueError, match="no reference"):
        caption_metrics({"y": "a"}, {"x": ["a"]}, ["bleu"])


# -- evaluate_files -------------------------------------------------------------------------
def _msrvtt(path):
    path.write_text(json.dumps({
        "videos": [{"video_id": "video0", "split": "test"}, {"video_id": "video1", "split": "test"},
                   {"video_id": "video2", "split": "train"}],
        "sentences": [{"video_id": "video0", "sen_id": 0, "caption": "a red circle moves left"},
                      {"video_id": "video0", "sen_id": 1, "caption": "a circle slides"},
                      {"video_id": "video1", "sen_id": 2, "caption": "the blue square spins slowly"},
                      {"video_id": "video2", "sen_id": 3, "caption": "nothing"}]}))
    return path


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_evaluate_files_msrvtt_and_msvd(tmp_path):
    gt = _msrvtt(tmp_path / "test_videodatainfo.json")
    preds = _jsonl(tmp_path / "p.jsonl", [{"video_id": "video0", "caption": "a red circle moves left"},
                                           {"video_id": "video1", "caption": "the blue square spins slowly"}])
    out = evaluate_files(preds, gt, metrics=FAST)
    assert out["BLEU-4"] == pytest.approx(100.0, abs=1e-4) and out["num_videos"] == 2
    msvd = tmp_path / "AllVideoDescriptions.txt"
    msvd.write_text("# MSVD\nvideo0 a red circle moves left\nvideo1 the blue square spins slowly\nvideo0 a circle\n")
    assert evaluate_files(preds, msvd, metrics=FAST)["BLEU-4"] == pytest.approx(100.0, abs=1e-4)


def test_evaluate_files_errors_name_file_and_line(tmp_path):
    gt = _msrvtt(tmp_path / "gt.json")
    cases = [
        ([{"video_id": "video0", "caption": "a"}, {"video_id": "video9", "caption": "b"}], r"p.jsonl:2: .*video9"),
        ([{"video_id": "video0"}], r"p.jsonl:1: missing 'caption'"),
        ([{"video_id": "video0", "caption": "a"}, {"video_id": "video0", "caption": "b"}], r"p.jsonl:2: .*twice"),
    ]
    for rows, pattern in cases:
        with pytest.raises(AnnotationError, match=pattern):
            evaluate_files(_jsonl(tmp_path / "p.jsonl", rows), gt, metrics=FAST)
    (tmp_path / "p.jsonl").write_text('{"video_id": "video0", "caption": "a"}\nnot json\n')
    with pytest.raises(AnnotationError, match=r"p.jsonl:2: malformed JSON line"):
        evaluate_files(tmp_path / "p.jsonl", gt, metrics=FAST)
    with pytest.raises(FileNotFoundError, match="nope.json"):
        evaluate_files(tmp_path / "p.jsonl", tmp_path / "nope.json")


# -- the Java PTB tokenizer and METEOR as subprocesses ---------------------------------------
TRICKY = {"a": ["A man's dog, (running) fast!", "They don't stop... really"], "b": [""],
          "c": ["two lines\nin one caption", "café — naïve “quotes”"], "d": ["[x] {y}; z-w: 3.5"]}


@needs_java
def test_ptb_writes_nothing_into_the_installed_package(monkeypatch):
    # A read-only install: creating a file in pycocoevalcap's folder fails. pycocoevalcap's own
    # wrapper writes its input file next to the jar; vidlift's run of the tokenizer must not.
    import tempfile
    from pathlib import Path

    import pycocoevalcap

    package = Path(pycocoevalcap.__path__[0]).resolve()
    real = tempfile.NamedTemporaryFile

    def read_only(*args, **kwargs):
        folder = kwargs.get("dir")
        if folder is not None and Path(folder).resolve().is_relative_to(package):
            raise PermissionError(13, "Read-only file system", str(folder))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    assert M.tokenize({"x": ["A dog, running."]}, java=True) == {"x": ["a dog running"]}


@needs_java
def test_ptb_equals_pycocoevalcap_wrapper():
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    official = PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in TRICKY.items()})
    assert M.tokenize(TRICKY, java=True) == official
    assert official["a"][0] == "a man 's dog -lrb- running -rrb- fast"  # a spot check of the reference


def test_ptb_failure_names_the_status(monkeypatch, tmp_path):
    java = tmp_path / "java"
    java.write_text("#!/bin/sh\necho 'Error: could not find or load main class' >&2\nexit 3\n")
    java.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"PTB tokenizer .* status 3: Error: could not find"):
        M.ptb_tokenize(["a dog"])


def test_meteor_failure_releases_its_lock_and_process(monkeypatch):
    # METEOR answering something that is not a number makes pycocoevalcap's compute_score raise
    # while holding its lock; its __del__ would then wait on that lock forever.
    import subprocess
    import threading

    from pycocoevalcap.meteor import meteor

    made = []

    def echo_init(self):  # `cat` echoes the SCORE line back: not a number
        self.meteor_p = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
        self.lock = threading.Lock()
        made.append(self)

    monkeypatch.setattr(meteor.Meteor, "__init__", echo_init)
    with pytest.raises(ValueError):
        M._meteor({"x": ["a dog"]}, {"x": ["a dog"]})
    (scorer,) = made
    assert scorer.meteor_p.poll() is not None  # the process is gone
    assert not scorer.lock.locked()
    finisher = threading.Thread(target=scorer.__del__, daemon=True)
    finisher.start()
    finisher.join(timeout=5)
    assert not finisher.is_alive()  # __del__ returns instead of waiting forever
