"""The recognition task's sampling keys: dense clips (AIM / ST-Adapter / EVL) per split, X-CLIP /
ViFi-CLIP's random test views, and their config errors, on the generated 8-frame videos."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.tasks.test_recognition_task import TEST_TF, TRAIN_TF, kinetics, synth  # noqa: E402,F401
from vidlift.data.video import SegmentSampler, probe  # noqa: E402
from vidlift.data.video.samplers import RandomViewsSampler  # noqa: E402
from vidlift.tasks.recognition.task import RecognitionTask  # noqa: E402


def indices(ds, i, epoch=0):
    return ds[(epoch, i)]["frame_indices"].tolist()


def test_dense_sampling_per_split(synth):  # noqa: F811
    # 8-frame videos, T=4, stride 2 (span 7, mmaction2's training window 4*2 = 8):
    # train: start in [0, 8-8] = {0}; val: max_offset 8-7 = 1, 1 // 2 = 0; test 2 clips:
    # round([0, 1]) = [0, 1].
    task = RecognitionTask(kinetics(synth), frames=4, sampling="dense", stride=2, test_clips=2)
    assert task.views("test") == 2 and task.views("val") == 1
    train, val, test = task.dataset("train", TRAIN_TF), task.dataset("val", TEST_TF), task.dataset("test", TEST_TF)
    assert probe(str(train.samples[0].video_path)).num_frames == 8
    assert {tuple(indices(train, i, e)) for i in range(6) for e in range(3)} == {(0, 2, 4, 6)}
    assert indices(val, 0) == [0, 2, 4, 6]
    item = test[0]
    assert item["frame_indices"].tolist() == [0, 2, 4, 6, 1, 3, 5, 7] and item["video"].shape == (2, 4, 3, 32, 32)
    # EVL / ST-Adapter's training span (7 frames): start in [0, 8-7] = {0, 1}, a function of (seed, epoch, index)
    evl = RecognitionTask(kinetics(synth), frames=4, sampling="dense", stride=2, dense_convention="evl")
    train = evl.dataset("train", TRAIN_TF)
    starts = {indices(train, i, e)[0] for i in range(8) for e in range(4)}
    assert starts == {0, 1} and indices(train, 3, 1) == indices(train, 3, 1)
    # AIM's mmaction2 0.x: 8 >= window 8, avg = (8-8+1)/2 = 0.5, starts int(0.25), int(0.75) = [0, 0]
    aim = RecognitionTask(kinetics(synth), frames=4, sampling="dense", stride=2, dense_convention="mmaction2-0.x",
                          test_clips=2)
    assert indices(aim.dataset("test", TEST_TF), 0) == [0, 2, 4, 6, 0, 2, 4, 6]


def test_random_test_views_are_training_draws_seeded_by_seed_and_index(synth):  # noqa: F811
    task = RecognitionTask(kinetics(synth), frames=4, test_clips=3, test_sampling="random", seed=7)
    test = task.dataset("test", TEST_TF)
    assert test.views == 3
    path = str(test.samples[2].video_path)
    want = RandomViewsSampler(SegmentSampler(4, "train"), 3)(probe(path), np.random.default_rng((7, 0, 2)))
    got = indices(test, 2)
    assert got == want.indices.tolist() and test[2]["video"].shape == (3, 4, 3, 32, 32)
    views = np.array(got).reshape(3, 4)
    assert len({tuple(v) for v in views}) > 1  # the views differ ...
    assert indices(test, 2) == got  # ... and reproduce
    assert RecognitionTask(kinetics(synth), frames=4, test_clips=3, test_sampling="random",
                           seed=8).dataset("test", TEST_TF)[2]["frame_indices"].tolist() != got
    # validation keeps one fixed view
    assert indices(task.dataset("val", TEST_TF), 2) == SegmentSampler(4, "test")(probe(path)).indices.tolist()


@pytest.mark.parametrize("kw, match", [
    ({"sampling": "uniform"}, "sampling must be one of tsn, dense"),
    ({"sampling": "dense"}, "sampling 'dense' needs stride"),
    ({"sampling": "dense", "stride": 0}, "needs stride, a positive integer"),
    ({"stride": 16}, "stride applies to sampling 'dense'"),
    ({"dense_convention": "evl"}, "dense_convention applies to sampling 'dense'"),
    ({"sampling": "dense", "stride": 2, "dense_convention": "mmaction"}, "dense_convention must be one of"),
    ({"test_sampling": "dense"}, "test_sampling must be one of uniform, random"),
    ({"frames": 0}, "frames must be a positive integer"),
    ({"test_clips": 0}, "test_clips must be a positive integer"),
])
def test_sampling_config_errors(synth, kw, match):  # noqa: F811
    with pytest.raises(ValueError, match=match):
        RecognitionTask(kinetics(synth), **kw)
