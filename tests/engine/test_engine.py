"""The engine end to end on the generated benchmarks with `tiny`: configs and overrides, fit
writes checkpoints, a delta and metrics.json; resume after an epoch ends where an
uninterrupted run ends; validate / test / predict read the checkpoint; bad configs fail clearly."""

from __future__ import annotations

import json
import os

import pytest
import torch
import yaml

from tests.engine.resume import assert_resume_bit_identical, write_config
from vidlift.cli import main
from vidlift.engine import ConfigError, evaluate, fit, load_config
from vidlift.synthetic.synth import generate

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    return {
        "recognition": generate("recognition", root / "recognition", num_videos=56, size=32, seed=11, workers=0,
                                progress=False),
        "retrieval": generate("retrieval", root / "retrieval", num_videos=16, size=32, seed=11, workers=0,
                              progress=False),
    }


def recognition_config(sets, out, **task) -> dict:
    rec = sets["recognition"]
    k = rec / "kinetics" / "motion"
    return {
        "seed": 0, "out": str(out), "backbone": "tiny", "transfer": [],
        "task": {"name": "recognition", "frames": 4, "head": "similarity", "prompt": "a photo of a shape {}.",
                 "dataset": {"format": "kinetics", "train": str(k / "train.csv"), "val": str(k / "validate.csv"),
                             "test": str(k / "test.csv"), "classes": str(k / "classes.txt"),
                             "video_root": str(rec / "videos")}, **task},
        "data": {"batch_size": 8},
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "trainer": {"max_epochs": 1, "limit_train_batches": 3, "limit_val_batches": 2, "limit_test_batches": 2,
                    "enable_progress_bar": False},
    }


def retrieval_config(sets, out, **task) -> dict:
    return {
        "seed": 0, "out": str(out), "backbone": "tiny", "transfer": [],
        "task": {"name": "retrieval", "frames": 4,
                 "dataset": {"format": "msrvtt", "root": str(sets["retrieval"]), "video_root": "videos",
                             "train": "msrvtt/train_val_videodatainfo.json",
                             "val": "msrvtt/train_val_videodatainfo.json",
                             "test": "msrvtt/test_videodatainfo.json"}, **task},
        "data": {"batch_size": 4},
        "optim": {"lr": 3e-3},
        "trainer": {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 2, "enable_progress_bar": False},
    }


_write = write_config


def test_fit_writes_checkpoints_delta_and_metrics(sets, tmp_path):
    cfg_path = _write(recognition_config(sets, tmp_path / "run"), tmp_path / "rec.yaml")
    assert main(["fit", "--config", str(cfg_path), "transfer=[{name: temporal_conv}]", "trainer.max_epochs=2"]) == 0
    run = tmp_path / "run"
    record = json.loads((run / "metrics.json").read_text())
    assert record["command"] == "fit" and record["transfer"] == ["temporal_conv"]
    assert set(record["metrics"]) >= {"top1", "top5", "mean_class_accuracy"}
    assert 0 <= record["metrics"]["top1"] <= 1
    p = record["parameters"]
    assert 0 < p["trainable"] < p["total"] and p["trainable"] == 2 * (64 * 64 * 3 + 64) + 2 * 64  # LN + 2 convs
    assert record["gflops_per_clip"] > 0 and record["peak_memory_mib"] > 0
    assert record["clips_per_second"]["train_clips_per_second"] > 0
    assert {"epoch0.ckpt", "epoch1.ckpt", "last.ckpt"} <= {p.name for p in (run / "checkpoints").iterdir()}
    assert (run / "delta.safetensors").is_file() and (run / "csv" / "version_0" / "metrics.csv").is_file()
    assert any((run / "tensorboard").iterdir())
    # Checkpoints hold what trains, not the frozen backbone.
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["state_dict"] and all(k.startswith(("model.roles.video_head.", "task.")) for k in ckpt["state_dict"])


def test_resume_after_first_epoch_matches_uninterrupted(sets, tmp_path):
    base = recognition_config(sets, tmp_path / "full", head="text_init")
    base["transfer"] = [{"name": "evl", "layers": 1}]  # dropout inside: randomness must resume too
    assert_resume_bit_identical(base, tmp_path)
    # The log of the first epoch survives the resume (a new version folder per fit).
    first_log = (tmp_path / "part/csv/version_0/metrics.csv").read_text()
    assert "val/top1" in first_log and (tmp_path / "part/csv/version_1/metrics.csv").is_file()
    a = torch.load(tmp_path / "full/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "part/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_test_and_predict_read_the_checkpoint(sets, tmp_path):
    cfg = recognition_config(sets, tmp_path / "run", head="linear")
    fitted = fit(load_config(_write(cfg, tmp_path / "r.yaml")))
    ckpt = tmp_path / "run/checkpoints/last.ckpt"
    tested = evaluate(load_config(tmp_path / "r.yaml"), "val", str(ckpt))
    assert tested["metrics"] == fitted["metrics"]  # the same head, restored
    multi = evaluate(load_config(tmp_path / "r.yaml", ["task.test_clips=2", "task.test_crops=3"]), "test", str(ckpt))
    assert multi["views"] == 6
    assert multi["gflops_per_clip_all_views"] == pytest.approx(6 * multi["gflops_per_clip"], rel=1e-3)
    assert multi["metrics"]["num_clips"] > 0
    untrained = evaluate(load_config(tmp_path / "r.yaml"), "val")
    assert untrained["metrics"] != fitted["metrics"]
    assert main(["predict", "--config", str(tmp_path / "r.yaml"), "--ckpt_path", str(ckpt)]) == 0
    rows = [json.loads(line) for line in (tmp_path / "run/predictions.jsonl").read_text().splitlines()]
    assert rows and {"video_id", "top5"} <= set(rows[0]) and len(rows[0]["top5"]) == 5


def test_checkpoint_of_another_config_is_refused(sets, tmp_path):
    cfg = recognition_config(sets, tmp_path / "run")
    cfg["transfer"] = [{"name": "temporal_conv"}]
    fit(load_config(_write(cfg, tmp_path / "a.yaml")))
    other = dict(cfg, transfer=[{"name": "temporal_transformer", "layers": 1}])
    with pytest.raises(ValueError, match="lacks .* trained tensors"):
        evaluate(load_config(_write(other, tmp_path / "b.yaml")), "val", str(tmp_path / "run/checkpoints/last.ckpt"))
    bigger = dict(cfg, transfer=[])  # the checkpoint's temporal_conv would be silently dropped
    with pytest.raises(ValueError, match="would ignore"):
        evaluate(load_config(_write(bigger, tmp_path / "c.yaml")), "val", str(tmp_path / "run/checkpoints/last.ckpt"))


def test_retrieval_fit_and_test(sets, tmp_path):
    cfg = retrieval_config(sets, tmp_path / "run")
    cfg["transfer"] = [{"name": "temporal_transformer", "layers": 1}]
    record = fit(load_config(_write(cfg, tmp_path / "r.yaml")))
    assert {"t2v_R@1", "t2v_R@5", "t2v_MdR", "v2t_R@1", "v2t_MnR"} <= set(record["metrics"])
    tested = evaluate(load_config(tmp_path / "r.yaml"), "test", str(tmp_path / "run/checkpoints/last.ckpt"))
    assert tested["split"] == "test" and 0 <= tested["metrics"]["t2v_R@1"] <= 100


def test_config_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: {name: recognition\n  oops")
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: not valid YAML"):
        load_config(bad)
    bad.write_text(yaml.safe_dump({"task": {"name": "segmentation"}}))
    with pytest.raises(ConfigError, match="task.name 'segmentation' is unknown"):
        load_config(bad)
    bad.write_text(yaml.safe_dump({"task": {"name": "recognition"}, "transfer": [{"name": "lora", "rank": 4}]}))
    with pytest.raises(ConfigError, match=r"bad.yaml:\d+: transfer.0 \(lora\) has no hyper-parameter\(s\) \['rank'\]"):
        load_config(bad)
    # a config written before issue 12 renamed the image-tower student
    old = {"task": {"name": "recognition"}, "transfer": [{"name": "distillation", "width": 8}]}
    bad.write_text(yaml.safe_dump(old))
    with pytest.raises(ConfigError, match=r"\(distillation with 'width' is the strategy now named 'tower_compression'"):
        load_config(bad)
    with pytest.raises(ConfigError, match=r"override 'trainer.max_epoch=3': unknown key 'trainer.max_epoch' "
                                          r"\(did you mean 'max_epochs'"):
        load_config(None, ["task.name=recognition", "trainer.max_epoch=3"])
    assert main(["fit", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_a_wrong_key_in_a_file_names_its_line_and_the_known_keys(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 0\ntask:\n  name: recognition\noptim:\n  lr: 1.0e-3\n  lrr: 2.0e-3\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert str(e.value).startswith(f"{path}:6: unknown key 'optim.lrr' (did you mean 'lr'?); "
                                   "known keys: lr, weight_decay,")
    assert "warmup_ratio" in str(e.value)
    path.write_text("task: {name: recognition}\ntrainer:\n  max_epochs: 2\n  val_check_intervall: 0.5\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}:4: unknown key 'trainer.val_check_intervall' (did you mean 'val_check_interval'?); "
                          "lightning.Trainer takes: accelerator, strategy, devices,")
    assert "gradient_clip_val" in msg and "logger" not in msg  # the known keys, less those vidlift sets
    path.write_text("task: {name: recognition}\nbatch: 4\n")
    with pytest.raises(ConfigError, match=rf"{path}:2: unknown key 'batch'; known keys: seed, out, backbone, transfer"):
        load_config(path)
    # A key of a list item: the item's own line.
    path.write_text("task: {name: recognition}\ntransfer:\n  - name: lora\n  - name: temporal_conv\n    kernel: 3\n")
    with pytest.raises(ConfigError, match=rf"{path}:5: transfer.1 \(temporal_conv\) has no hyper-parameter"):
        load_config(path)


def test_task_and_dataset_keys_and_section_shapes_are_checked_with_their_line(tmp_path):
    """A typo in the task or its dataset, or a section of the wrong shape, stops at load time
    (so also under --print-config) with the file, line and what is known, before any model."""
    path = tmp_path / "run.yaml"
    path.write_text("task:\n  name: recognition\n  hed: linear\n  dataset: {format: kinetics, video_root: v}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: unknown key 'task.hed' \(did you mean 'head'\?\); "
                                          "task 'recognition' takes: dataset, frames, head"):
        load_config(path)
    path.write_text("task:\n  name: recognition\n  dataset:\n    format: kinetics\n    video_root: v\n"
                    "    trian: t.csv\n")
    with pytest.raises(ConfigError, match=rf"^{path}:6: unknown key 'task.dataset.trian' \(did you mean 'train'\?\); "
                                          "the kinetics format takes: format, root, video_root"):
        load_config(path)
    path.write_text("task:\n  name: retrieval\n  dataset: {format: kinetics, video_root: v}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: .*provides labelled clips, but retrieval needs captioned"):
        load_config(path)
    path.write_text("task: {name: recognition, dataset: {format: kinetic}}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:1: task.unknown dataset.format 'kinetic'; formats: .*kinetics"):
        load_config(path)
    path.write_text("backbone: tiny\ntransfer: {name: lora}\ntask: {name: recognition}\n")
    with pytest.raises(ConfigError, match=rf"^{path}:2: transfer must be a list of mappings with a name"):
        load_config(path)
    path.write_text("task: {name: recognition}\n")
    with pytest.raises(ConfigError, match=r"^command line: override 'trainer=\[1\]': trainer must be a mapping"):
        load_config(path, ["trainer=[1]"])


def test_trainer_takes_any_lightning_argument_but_those_vidlift_sets(tmp_path):
    from vidlift.engine.run import _trainer

    cfg = load_config(None, ["task.name=recognition", "trainer.val_check_interval=0.5",
                             "trainer.enable_progress_bar=false"])
    assert cfg["trainer"]["val_check_interval"] == 0.5
    trainer = _trainer(cfg, tmp_path, train=True)
    assert trainer.val_check_interval == 0.5  # reached the Trainer
    assert trainer.max_epochs == 1 and trainer.limit_train_batches == 1.0  # vidlift's defaults, None -> Lightning's
    for key in ("logger", "callbacks", "default_root_dir", "use_distributed_sampler"):
        with pytest.raises(ConfigError, match=rf"trainer.{key} is set by vidlift"):
            load_config(None, ["task.name=recognition", f"trainer.{key}=null"])


def test_overrides_are_omegaconf_dotlists(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("task:\n  name: recognition\n  prompt: 'a {}.'\ntransfer:\n  - {name: lora, r: 4}\n"
                    "optim:\n  lr: 5e-3\n")
    cfg = load_config(path, ["transfer.0.r=16", "transfer.0.alpha=5e-3", 'task.prompt="1.5"', "optim.betas=[0.9, 0.98]",
                             "data.batch_size=2", "task={head: linear}"])
    assert cfg["optim"]["lr"] == 5e-3 and isinstance(cfg["optim"]["lr"], float)  # 5e-3 (no dot) is a number
    assert cfg["transfer"] == [{"name": "lora", "r": 16, "alpha": 5e-3}]
    # The quoted number stays a string; a mapping merges into the task.
    assert cfg["task"] == {"name": "recognition", "prompt": "1.5", "head": "linear"}
    assert cfg["optim"]["betas"] == [0.9, 0.98] and cfg["data"]["batch_size"] == 2
    assert load_config(path, ["transfer=[{name: evl}]"])["transfer"] == [{"name": "evl"}]  # a list replaces
    with pytest.raises(ConfigError, match=r"override 'transfer.1=\{name: evl\}': transfer.1 does not exist; "
                                          r".*set the whole list"):
        load_config(path, ["transfer.1={name: evl}"])
    with pytest.raises(ConfigError, match=r"override 'data.batch_size=many': data.batch_size: Value 'many'"):
        load_config(path, ["data.batch_size=many"])
    with pytest.raises(ConfigError, match=r"override 'seed' must look like key.sub=value"):
        load_config(path, ["seed"])


def test_unsafe_yaml_is_refused(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("task: {name: recognition}\nout: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(ConfigError, match=rf"{path}:2: not valid YAML \(could not determine a constructor"):
        load_config(path)
    laughs = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    laughs += [f"{c}: &{c} [{', '.join(['*' + p] * 10)}]" for p, c in zip("abcdefgh", "bcdefghi")]
    path.write_text("\n".join(["task: {name: recognition}", "bomb:", *("  " + line for line in laughs)]) + "\n")
    with pytest.raises(ConfigError, match="aliases expand to more than"):
        load_config(path)


def test_warmup_steps_count_and_warmup_ratio_is_a_fraction(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("task: {name: recognition}\noptim:\n  warmup_steps: 0.1\n")
    with pytest.raises(ConfigError, match=rf"{path}:3: optim.warmup_steps counts optimiser steps"
                                          r".*use optim.warmup_ratio"):
        load_config(path)
    with pytest.raises(ConfigError, match="override 'optim.warmup_steps=0.5': .*use optim.warmup_ratio"):
        load_config(None, ["task.name=recognition", "optim.warmup_steps=0.5"])
    with pytest.raises(ConfigError, match=r"optim.warmup_ratio is a fraction of all steps, in \[0, 1\)"):
        load_config(None, ["task.name=recognition", "optim.warmup_ratio=1.5"])
    with pytest.raises(ConfigError, match="not both"):
        load_config(None, ["task.name=recognition", "optim.warmup_ratio=0.1", "optim.warmup_steps=10"])
    assert load_config(None, ["task.name=recognition", "optim.warmup_steps=10"])["optim"]["warmup_steps"] == 10


def test_print_config_prints_the_resolved_yaml_and_trains_nothing(sets, tmp_path, capsys):
    path = _write(recognition_config(sets, tmp_path / "run"), tmp_path / "rec.yaml")
    overrides = ["transfer=[{name: lora, r: 2}]", "optim.warmup_steps=5", "trainer.val_check_interval=0.5"]
    for command in ("fit", "validate", "test", "predict"):
        assert main([command, "--config", str(path), "--print-config", *overrides]) == 0
        printed = yaml.safe_load(capsys.readouterr().out)
        assert printed == load_config(path, overrides)
        assert printed["transfer"] == [{"name": "lora", "r": 2}] and printed["optim"]["warmup_steps"] == 5
        assert printed["trainer"]["val_check_interval"] == 0.5 and printed["data"]["num_workers"] == 0  # a default
    assert not (tmp_path / "run").exists()
    assert main(["fit", "--config", str(path), "--print-config", "optim.lrr=1"]) == 2
    assert "unknown key 'optim.lrr'" in capsys.readouterr().err


@pytest.mark.parametrize("warmup, steps_of_warmup", [({"warmup_steps": 2}, 2), ({"warmup_ratio": 0.5}, 3)],
                         ids=["warmup_steps", "warmup_ratio"])
def test_precision_clipping_accumulation_and_the_lr_schedule(sets, tmp_path, warmup, steps_of_warmup):
    cfg = recognition_config(sets, tmp_path / "run", head="linear")
    cfg["transfer"] = [{"name": "temporal_conv"}]
    cfg["optim"] = dict(lr=1e-2, min_lr_ratio=0.1, **warmup)
    cfg["data"]["batch_size"] = 2
    cfg["trainer"].update(limit_train_batches=12, accumulate_grad_batches=2, gradient_clip_val=0.5,
                          precision="bf16-mixed", log_every_n_steps=1)
    record = fit(load_config(_write(cfg, tmp_path / "r.yaml")))
    ckpt = torch.load(tmp_path / "run/checkpoints/last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6  # 12 batches, 2 per optimiser step
    assert record["config"]["trainer"]["precision"] == "bf16-mixed" and "top1" in record["metrics"]
    import csv

    rows = list(csv.DictReader(open(tmp_path / "run/csv/version_0/metrics.csv")))
    lrs = [float(r["train/lr"]) for r in rows if r.get("train/lr")]
    # The lr logged at each batch: linear warm-up over 2 optimiser steps (warmup_steps: 2) or
    # over ceil(0.5 × 6) = 3 (warmup_ratio: 0.5), then cosine from 1e-2 down to min_lr_ratio ×
    # 1e-2, reached after the last of the 6 steps.
    steps = sorted(set(lrs), key=lrs.index)
    w = steps_of_warmup
    assert steps[:w] == pytest.approx([1e-2 * (i + 1) / w for i in range(w)])
    assert len(steps) == 6 - 1  # the first cosine step repeats the peak
    assert all(a > b for a, b in zip(steps[w - 1:], steps[w:]))
    assert min(steps) > 1e-3


def test_the_strategies_learning_rates_and_decay_rule_reach_the_optimiser(sets, tmp_path, monkeypatch):
    """configure_optimizers asks TransferModel.lr_scale / no_weight_decay when it has them."""
    from types import SimpleNamespace

    from vidlift.engine.module import TransferTaskModule
    from vidlift.transfer import TransferModel

    monkeypatch.setattr(TransferModel, "lr_scale", lambda self, name: 0.1 if "conv" in name else 1.0, raising=False)
    monkeypatch.setattr(TransferModel, "no_weight_decay", lambda self, name, p: p.ndim < 2, raising=False)
    cfg = recognition_config(sets, tmp_path / "run", head="linear")
    cfg["transfer"] = [{"name": "temporal_conv"}]
    cfg["optim"] = {"lr": 1e-2, "weight_decay": 0.5, "warmup_steps": 2}
    module = TransferTaskModule(load_config(_write(cfg, tmp_path / "r.yaml")))
    module._trainer = SimpleNamespace(estimated_stepping_batches=10)
    opt = module.configure_optimizers()["optimizer"]
    rate = {id(p): (g["initial_lr"], g["weight_decay"]) for g in opt.param_groups for p in g["params"]}
    for name, p in module.model.named_parameters():
        if p.requires_grad:
            assert rate[id(p)] == ((1e-3 if "conv" in name else 1e-2), (0.0 if p.ndim < 2 else 0.5)), name
    for name, p in module.task.named_parameters():  # the head: the full rate, no decay on its bias
        assert rate[id(p)] == (1e-2, 0.0 if p.ndim < 2 else 0.5), name
    assert len(rate) == sum(p.requires_grad for p in module.parameters())


def test_gflops_per_clip_counts_every_matmul_and_attention():
    from vidlift.engine.cost import gflops_per_clip
    from vidlift.transfer import TransferModel

    from ..transfer.conftest import tiny_backbone

    # tiny-clip, 32 px, patch 8: 16 patches + class token = 17 tokens of width 64, 2 blocks.
    # Multiply-adds count 2 FLOPs. Per frame: patch embedding 16·192·64·2; per block q, k, v, out
    # 4·17·64·64·2, attention scores and values 2·17·17·64·2, MLP 2·17·64·256·2; projection 64·32·2.
    per_frame = (16 * 192 * 64 * 2
                 + 2 * (4 * 17 * 64 * 64 * 2 + 2 * 17 * 17 * 64 * 2 + 2 * 17 * 64 * 256 * 2)
                 + 64 * 32 * 2)
    model = TransferModel(tiny_backbone(), [], num_frames=4)
    assert gflops_per_clip(model, 4, 32) == pytest.approx(4 * per_frame / 1e9, rel=1e-9)


def test_fit_of_a_task_that_trains_nothing_is_refused_before_training(sets, tmp_path):
    """The engine asks the task contract (``Task.trains``), not the config's head name."""
    cfg = recognition_config(sets, tmp_path / "run", head="zero_shot")
    with pytest.raises(ValueError, match="nothing to train.*vidlift validate"):
        fit(load_config(_write(cfg, tmp_path / "z.yaml")))
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_second_fit_into_a_run_folder_is_refused_and_changes_nothing(sets, tmp_path):
    cfg = recognition_config(sets, tmp_path / "run", head="linear")
    fit(load_config(_write(cfg, tmp_path / "r.yaml")))
    saved = (tmp_path / "run" / "config.yaml").read_text()
    last = (tmp_path / "run" / "checkpoints" / "last.ckpt").read_bytes()
    with pytest.raises(ValueError, match="holds the checkpoints of an earlier run: resume it with --ckpt_path last"):
        fit(load_config(tmp_path / "r.yaml", ["optim.lr=0.05"]))
    assert (tmp_path / "run" / "config.yaml").read_text() == saved
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").read_bytes() == last
    assert not list((tmp_path / "run" / "checkpoints").glob("*-v1.ckpt"))


def test_evaluation_without_a_single_decodable_clip_is_an_error(sets, tmp_path):
    bad = tmp_path / "videos"
    bad.mkdir()
    for video in (sets["recognition"] / "videos").iterdir():
        (bad / video.name).write_bytes(b"not a video")
    cfg = recognition_config(sets, tmp_path / "run", head="linear")
    cfg["task"]["dataset"]["video_root"] = str(bad)
    with pytest.raises(ValueError, match="val: no clip could be evaluated"):
        evaluate(load_config(_write(cfg, tmp_path / "r.yaml")), "val")
    assert not (tmp_path / "run" / "metrics.json").exists()


def test_checkpoint_paths_that_are_not_checkpoints_fail_clearly(sets, tmp_path):
    cfg = load_config(_write(recognition_config(sets, tmp_path / "run"), tmp_path / "r.yaml"))
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"\x80\x04 not a checkpoint")
    with pytest.raises(ValueError, match=r"junk.ckpt: not a vidlift checkpoint \(.*\); .*never runs code"):
        evaluate(cfg, "val", str(junk))
    with pytest.raises(FileNotFoundError, match="no such checkpoint file"):
        evaluate(cfg, "val", str(tmp_path / "missing.ckpt"))
    (tmp_path / "plain.ckpt").write_bytes(b"")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "plain.ckpt")
    with pytest.raises(ValueError, match="no state_dict"):
        evaluate(cfg, "val", str(tmp_path / "plain.ckpt"))
