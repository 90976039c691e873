"""Training augmentation in the engine: ``data.augment`` gives the train split a TrainTransform
(the other splits keep the test transform), a resumed run with augmentation on ends bit-identical
to an uninterrupted one, flips follow the dataset's flip safety, bad values name file and line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.engine.resume import assert_resume_bit_identical, write_config
from vidlift.data.augment import TrainTransform
from vidlift.data.datasets import DatasetConfig
from vidlift.data.datasets.registry import CAPTIONED_VIDEOS, LABELLED_CLIPS
from vidlift.data.transforms import VideoTransform
from vidlift.engine import ConfigError, load_config
from vidlift.engine.data import TaskDataModule
from vidlift.engine.run import _build
from vidlift.synthetic.synth import generate

os.environ.setdefault("HF_HUB_OFFLINE", "1")

AUGMENT = {"crop": "random_resized", "scale": [0.3, 1.0], "flip": "auto", "rand_augment": {"num_ops": 2}}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return generate("recognition", tmp_path_factory.mktemp("bench") / "recognition", num_videos=56, size=32,
                    seed=5, workers=0, progress=False)


def config(bench, out, labels="appearance", augment=None, **data) -> dict:
    k = bench / "kinetics" / labels
    return {
        "seed": 0, "out": str(out), "backbone": "tiny", "transfer": [],
        "task": {"name": "recognition", "frames": 2, "head": "linear",
                 "dataset": {"format": "kinetics", "train": str(k / "train.csv"), "val": str(k / "validate.csv"),
                             "classes": str(k / "classes.txt"), "video_root": str(bench / "videos")}},
        "data": {"batch_size": 4, "augment": augment, **data},
        "optim": {"lr": 1e-2},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "enable_progress_bar": False},
    }


_write = write_config


def _data_module(cfg) -> TaskDataModule:
    _, data, _ = _build(load_config(_write(cfg, Path(cfg["out"] + ".yaml"))))
    return data


def test_only_the_train_split_is_augmented(bench, tmp_path):
    data = _data_module(config(bench, tmp_path / "a", augment=AUGMENT))
    train, val = data.dataset("train"), data.dataset("val")
    assert isinstance(train.transform, TrainTransform) and isinstance(val.transform, VideoTransform)
    tf = train.transform
    assert tf.crop == "random_resized" and tf.random_resized_crop.scale == (0.3, 1.0)
    assert tf.flip.p == 0.5  # auto: the appearance labels ("red circle") are flip-safe
    assert tf.rand_augment.num_ops == 2 and tf.rand_augment.magnitude == 9  # torchvision's default fills in
    # the same clip, another epoch: another crop; the same epoch again: the same pixels
    assert not torch.equal(train[(0, 0)]["video"], train[(1, 0)]["video"])
    assert torch.equal(train[(0, 0)]["video"], train[(0, 0)]["video"])
    assert torch.equal(val[(0, 0)]["video"], val[(1, 0)]["video"])  # evaluation stays deterministic
    off = _data_module(config(bench, tmp_path / "b"))
    assert off.dataset("train").transform is off.transform  # null: today's behaviour


# With loader workers, the resumed epoch used to replay epoch 0's keys (Lightning makes the
# first iterator before set_epoch; EpochLoader defers it to the first batch).
@pytest.mark.parametrize("workers", [0, 2])
def test_resume_with_augmentation_ends_bit_identical(bench, tmp_path, workers):
    assert_resume_bit_identical(config(bench, tmp_path / "full", augment=AUGMENT, num_workers=workers), tmp_path)


def test_flip_safety_of_the_synthetic_label_sets_and_formats(bench):
    k = bench / "kinetics"
    motion = DatasetConfig({"format": "kinetics", "train": str(k / "motion/train.csv"),
                            "classes": str(k / "motion/classes.txt"), "video_root": str(bench / "videos")},
                           "recognition", LABELLED_CLIPS)
    safe, why = motion.flip_safety()
    assert not safe and "4 class name(s) name a horizontal direction: 'moving left', 'moving right', " \
                        "'rotating clockwise' ..." in why
    appearance = DatasetConfig({"format": "kinetics", "train": str(k / "appearance/train.csv"),
                                "video_root": str(bench / "videos")}, "recognition", LABELLED_CLIPS)
    assert appearance.flip_safety() == (True, "no class name names a horizontal direction")
    ssv2 = DatasetConfig({"format": "ssv2", "labels": "l.json", "train": "t.json", "video_root": "v"},
                         "recognition", LABELLED_CLIPS)
    assert ssv2.flip_safety() == (False, "the ssv2 format declares its labels direction-sensitive")
    declared = DatasetConfig({"format": "ssv2", "labels": "l.json", "video_root": "v", "flip_safe": True},
                             "recognition", LABELLED_CLIPS)
    assert declared.flip_safety() == (True, "dataset.flip_safe is true")
    captions = DatasetConfig({"format": "msrvtt", "train": "a.json", "video_root": "v"}, "retrieval",
                             CAPTIONED_VIDEOS)
    assert captions.flip_safety()[0] is False and "free text" in captions.flip_safety()[1]
    with pytest.raises(ValueError, match="dataset.flip_safe must be true or false"):
        DatasetConfig({"format": "ssv2", "labels": "l.json", "video_root": "v", "flip_safe": "no"},
                      "recognition", LABELLED_CLIPS)


def test_flip_on_direction_sensitive_labels(bench, tmp_path):
    # auto: no flip for the motion labels ("moving left" mirrored is "moving right")
    auto = _data_module(config(bench, tmp_path / "auto", labels="motion", augment={"flip": "auto"}))
    assert auto.dataset("train").transform.flip.p == 0.0
    # an explicit flip is refused, saying why and how to declare otherwise
    cfg = config(bench, tmp_path / "flip", labels="motion", augment={"flip": 0.5})
    with pytest.raises(ConfigError, match=r"data.augment.flip: 0.5 mirrors training clips, but this dataset is not "
                                          r"flip-safe \(4 class name\(s\) name a horizontal direction: 'moving left'"):
        _data_module(cfg).dataset("train")
    cfg["task"]["dataset"]["flip_safe"] = True  # the user's declaration wins
    assert _data_module(cfg).dataset("train").transform.flip.p == 0.5


def test_config_errors_name_file_line_and_key(bench, tmp_path):
    cfg = config(bench, tmp_path / "x", augment={"crop": "random_sized"})
    with pytest.raises(ConfigError, match=r"e.yaml:\d+: data.augment.crop: must be one of random_resized, "
                                          r"scale_jitter, random, center, got 'random_sized'"):
        load_config(_write(cfg, tmp_path / "e.yaml"))
    cfg["data"]["augment"] = {"flipp": 0.5}
    with pytest.raises(ConfigError, match=r"e.yaml:\d+: unknown key 'data.augment.flipp' \(did you mean 'flip'\?\); "
                                          r"known keys: crop, scale, ratio, short_side, flip, color_jitter, grayscale, "
                                          r"rand_augment"):
        load_config(_write(cfg, tmp_path / "e.yaml"))
    cfg["data"]["augment"] = {"rand_augment": {"magnitude": 31}}
    with pytest.raises(ConfigError, match=r"e.yaml:\d+: data.augment.rand_augment: magnitude is a bin in"):
        load_config(_write(cfg, tmp_path / "e.yaml"))
    # the ssv2 format declares itself flip-unsafe: refused before anything is read or built
    cfg["task"]["dataset"] = {"format": "ssv2", "labels": "l.json", "train": "t.json", "video_root": "v"}
    cfg["data"]["augment"] = {"flip": 0.5}
    path = _write(cfg, tmp_path / "e.yaml")
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.strip().startswith("flip:"))
    with pytest.raises(ConfigError, match=rf"e.yaml:{line}: data.augment.flip: 0.5 mirrors training clips, but this "
                                          r"dataset is not flip-safe \(the ssv2 format declares its labels "
                                          r"direction-sensitive\)"):
        load_config(path)
    assert load_config(path, ["data.augment.flip=auto"])["data"]["augment"]["flip"] == "auto"


def test_overrides_turn_augmentation_on_and_set_its_keys(bench, tmp_path):
    path = _write(config(bench, tmp_path / "o"), tmp_path / "o.yaml")
    with pytest.raises(ConfigError, match=r"override 'data.augment.flip=0': data.augment is null \(off\); set it "
                                          r"first, e.g. 'data.augment=\{\}' for its defaults"):
        load_config(path, ["data.augment.flip=0"])
    cfg = load_config(path, ["data.augment={}", "data.augment.crop=scale_jitter", "data.augment.short_side=[72, 80]",
                             "data.augment.rand_augment={magnitude: 5}", "data.augment.color_jitter={hue: 0.1}",
                             "data.augment.color_jitter.p=0.8"])
    assert cfg["data"]["augment"] == {
        "crop": "scale_jitter", "scale": [0.08, 1.0], "ratio": [0.75, 4 / 3], "short_side": [72, 80], "flip": "auto",
        "color_jitter": {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "hue": 0.1, "p": 0.8},
        "grayscale": 0.0, "rand_augment": {"num_ops": 2, "magnitude": 5, "num_magnitude_bins": 31}}
    with pytest.raises(ConfigError, match=r"override 'data.augment.color_jitter.q=1': unknown key "
                                          r"'data.augment.color_jitter.q'.*known keys: brightness, contrast"):
        load_config(path, ["data.augment={color_jitter: {}}", "data.augment.color_jitter.q=1"])
    assert load_config(path)["data"]["augment"] is None
