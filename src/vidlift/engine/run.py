"""fit / validate / test / predict from a config, each writing ``metrics.json`` into the run
folder (``out``): the task's metrics with trainable and total parameters, GFLOPs per clip,
peak memory and clips per second, the config, and the backbone's identity.

Run folder::

    <out>/config.yaml                the resolved config
    <out>/checkpoints/*.ckpt         per epoch and last.ckpt (trainable tensors + optimiser)
    <out>/delta.safetensors          the trained transfer delta (vidlift.transfer.load_delta)
    <out>/csv/, <out>/tensorboard/   logs
    <out>/metrics.json               written by every command (the last one wins)
    <out>/predictions.jsonl          vidlift predict
"""

from __future__ import annotations

import json
import logging
import os
import platform
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from .. import __version__
from ..atomic import atomic_write
from ..transfer.delta import save_delta
from .config import dump_config
from .cost import gflops_per_clip, peak_memory
from .data import TaskDataModule
from .module import TransferTaskModule, check_checkpoint

# Lightning prints through a handler of its own on the "lightning" logger; passing its records on
# to the root handler (which `vidlift` sets up) printed every line twice.
logging.getLogger("lightning").propagate = False


def _trainer(config: dict[str, Any], out: Path, train: bool, callbacks=()) -> L.Trainer:
    """A Trainer with every argument of the config's ``trainer`` section (checked against
    Trainer's signature by load_config) and those vidlift sets itself (config.TRAINER_RESERVED)."""
    # A new version folder per fit (csv/version_0, version_1 after a resume, ...): a resumed run
    # must not overwrite the log of the epochs before the interruption.
    loggers = [CSVLogger(out, name="csv"), TensorBoardLogger(out, name="tensorboard")] if train else False
    return L.Trainer(
        **config["trainer"],
        logger=loggers, callbacks=list(callbacks), default_root_dir=out,
        num_sanity_val_steps=0, use_distributed_sampler=False,
    )


def _build(config: dict[str, Any]) -> tuple[TransferTaskModule, TaskDataModule, Path]:
    L.seed_everything(config["seed"], workers=True, verbose=False)
    out = Path(config["out"])
    out.mkdir(parents=True, exist_ok=True)
    module = TransferTaskModule(config)
    data = TaskDataModule(module.task, module.model.preprocess, config)
    return module, data, out


def load_weights(module: TransferTaskModule, ckpt_path: str | os.PathLike) -> None:
    """Trained tensors from a checkpoint into ``module`` (our own files; torch.load with
    weights_only=True; the backbone's weights hash and the strategies checked)."""
    if not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"{ckpt_path}: no such checkpoint file")
    try:
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as e:  # refused globals, a truncated or foreign file: never retry less safely
        raise ValueError(f"{ckpt_path}: not a vidlift checkpoint ({type(e).__name__}); vidlift reads checkpoints "
                         "as tensors only (weights_only=True) and never runs code from them") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise ValueError(f"{ckpt_path}: not a vidlift checkpoint (no state_dict); a trained delta "
                         "(delta.safetensors) loads with vidlift.transfer.load_delta instead")
    check_checkpoint(module, ckpt, str(ckpt_path))
    module.load_state_dict(ckpt["state_dict"], strict=False)


_load_weights = load_weights  # the name before it was public


def _write_metrics(module: TransferTaskModule, out: Path, command: str, split: str | None,
                   ckpt_path: str | None) -> dict[str, Any]:
    cfg = module.config
    size = module.model.preprocess.size
    gflops = round(gflops_per_clip(module.model, module.task.frames, size), 4)
    views = int(module.task.views(split)) if split else 1
    record = {
        "command": command,
        "split": split,
        "metrics": module.last_metrics.get(split, {}) if split else {},
        "all_metrics": module.last_metrics,
        "parameters": module.parameter_counts(),
        "gflops_per_clip": gflops,
        "views": views,  # views per clip on the evaluated split (multi-view testing)
        "gflops_per_clip_all_views": round(gflops * views, 4),
        "frames": module.task.frames,
        **peak_memory(),
        "clips_per_second": module.throughput,
        "backbone": {"spec": module.model.meta.spec, "identity": module.model.meta.identity},
        "transfer": [t["name"] for t in cfg["transfer"]],
        "task": cfg["task"]["name"],
        "checkpoint": str(ckpt_path) if ckpt_path else None,
        "device": str(next(module.parameters()).device),
        "versions": {"vidlift": __version__, "torch": torch.__version__, "lightning": L.__version__,
                     "python": platform.python_version()},
        "config": cfg,
    }
    atomic_write(out / "metrics.json", lambda tmp: tmp.write_text(json.dumps(record, indent=2, default=str)))
    return record


def fit(config: dict[str, Any], ckpt_path: str | None = None, callbacks: list[Any] = ()) -> dict[str, Any]:
    """Train; validate every ``check_val_every_n_epoch``; resume from ``ckpt_path`` ("last" =
    the run folder's last.ckpt). Writes checkpoints, the trained delta and metrics.json
    (the last validation's metrics). ``callbacks``: extra Lightning callbacks."""
    module, data, out = _build(config)
    if not module.task.trains or not any(p.requires_grad for p in module.parameters()):
        raise ValueError(f"nothing to train: the strategies {[t['name'] for t in config['transfer']]} and the "
                         f"{config['task']['name']} task as configured declare no trainable parameter (a zero-shot "
                         "head, or meanP alone?); evaluate with `vidlift validate` or `vidlift test`, or add a "
                         "strategy")
    ckpt_dir = out / "checkpoints"
    if ckpt_path == "last":
        ckpt_path = str(ckpt_dir / "last.ckpt")
        if not Path(ckpt_path).is_file():
            raise FileNotFoundError(f"{ckpt_path}: no last checkpoint to resume from in this run folder")
    elif ckpt_path is None and any(ckpt_dir.glob("*.ckpt")):
        # Lightning would add -v1 files beside the old ones and leave last.ckpt the earlier run's.
        raise ValueError(f"{ckpt_dir} holds the checkpoints of an earlier run: resume it with --ckpt_path last, "
                         "or train into another folder (out=...)")
    (out / "config.yaml").write_text(dump_config(config))  # only once the run is known to start
    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="epoch{epoch}", auto_insert_metric_name=False,
                                 save_last=True, save_top_k=-1, every_n_epochs=1)
    trainer = _trainer(config, out, train=True, callbacks=[checkpoint, *callbacks])
    data.with_val = module.task.has_split("val")
    # The data module, not loaders: under DDP each process builds its loaders after the
    # trainer knows its rank (EpochSampler splits the clips).
    trainer.fit(module, datamodule=data, ckpt_path=ckpt_path)
    if not trainer.is_global_zero:
        return {}
    save_delta(module.model, out / "delta.safetensors")
    return _write_metrics(module, out, "fit", "val" if data.with_val else None, ckpt_path)


def evaluate(config: dict[str, Any], split: str, ckpt_path: str | None = None) -> dict[str, Any]:
    """``vidlift validate`` (split "val") / ``vidlift test`` (split "test"); without a
    checkpoint the untrained model is evaluated (zero-shot)."""
    module, data, out = _build(config)
    if ckpt_path:
        load_weights(module, ckpt_path)
    trainer = _trainer(config, out, train=False)
    (trainer.validate if split == "val" else trainer.test)(module, datamodule=data)
    if not trainer.is_global_zero:
        return {}
    return _write_metrics(module, out, "validate" if split == "val" else "test", split, ckpt_path)


def predict(config: dict[str, Any], ckpt_path: str | None = None, output: str | None = None) -> Path:
    """Write one JSON line per record of the task's ``predict_step`` over its "predict" split
    (a clip, a question, a query) to ``output``."""
    module, data, out = _build(config)
    if ckpt_path:
        load_weights(module, ckpt_path)
    trainer = _trainer(config, out, train=False)
    if trainer.world_size > 1:  # before any work
        raise ValueError("vidlift predict runs on one device (trainer.devices=1): each rank would hold only its share")
    path = Path(output) if output else out / "predictions.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    batches = trainer.predict(module, datamodule=data)
    lines = "".join(json.dumps(r, default=float) + "\n" for records in batches or [] for r in records)
    atomic_write(path, lambda tmp: tmp.write_text(lines))
    return path


__all__ = ["fit", "evaluate", "predict", "load_weights"]
