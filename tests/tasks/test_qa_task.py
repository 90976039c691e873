"""QATask.setup on the tiny CLIP: the open-ended similarity head warns when it would encode a
large answer vocabulary with every question, and stays quiet where it does not."""

from __future__ import annotations

import logging
import os

import pytest

from vidlift.backbones import load_backbone
from vidlift.tasks.qa.task import QATask
from vidlift.transfer import TransferModel

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ANSWERS = [f"answer{i}" for i in range(150)]


@pytest.fixture(scope="module")
def model():
    return TransferModel(load_backbone("tiny"), [], num_frames=2)


def _task(tmp_path, **kw):
    (tmp_path / "test_qa.json").write_text('[{"question": "what?", "answer": "answer1", "video_id": 0, "id": 0}]')
    dataset = {"format": "msrvtt_qa", "root": str(tmp_path), "test": "test_qa.json", "answers": ANSWERS,
               "max_missing_ratio": 1.0}
    return QATask(dataset, frames=2, mode="open", **kw)


@pytest.mark.parametrize(("kw", "warned"), [({}, True), ({"template": "{answer}"}, False),
                                            ({"head": "fusion"}, False)])
def test_similarity_head_warns_about_per_question_answer_texts(kw, warned, model, tmp_path, caplog):
    task = _task(tmp_path, **kw)
    with caplog.at_level(logging.WARNING, logger="vidlift.tasks.qa.task"):
        task.setup(model)
    assert task.answers == ANSWERS
    assert ("150 texts through the text tower per question" in caplog.text) == warned
