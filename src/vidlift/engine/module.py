"""The LightningModule: one per run, built from (backbone, transfer strategies, task).

It knows no concrete backbone, strategy or task: the :class:`~vidlift.transfer.TransferModel`
gives embeddings, the :class:`~vidlift.tasks.base.Task` gives loss and metrics. Checkpoints hold
only what is not re-creatable from the config — trainable tensors, the task head, buffers of
added modules, optimiser and scheduler state — and the backbone's weights hash, which must
match when the checkpoint is loaded.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import lightning as L
import torch

from ..backbones import load_backbone
from ..tasks.registry import build_task
from ..transfer import TransferModel, get_strategy
from ..transfer.delta import delta_keys
from .optim import is_gain_or_bias, param_groups, transfer_param_groups, warmup_cosine_schedule, warmup_steps_of


def _concat(parts: list) -> torch.Tensor | list:
    """Per-batch (or per-rank) outputs of one key: tensors concatenated on dim 0, lists extended."""
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts)
    return [x for part in parts for x in part]


class CheckpointMismatchError(ValueError):
    """A checkpoint made with another backbone than the config names."""


class TransferTaskModule(L.LightningModule):
    """Lightning wrapper: ``model`` (TransferModel) + ``task`` (Task, holding the head)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.config = config
        self.strict_loading = False  # checkpoints leave out the frozen backbone
        backbone = load_backbone(config["backbone"])
        # The run's seed also drives the task (head init, frame / crop / caption choices)
        # unless the task section sets its own.
        self.task = build_task({"seed": config["seed"], **config["task"]})
        strategies = [get_strategy(t["name"], **{k: v for k, v in t.items() if k != "name"})
                      for t in config["transfer"]]
        self.model = TransferModel(backbone, strategies, num_frames=self.task.frames)
        self.task.setup(self.model)
        self._outputs: dict[str, list[torch.Tensor]] = defaultdict(list)
        self._eval_clips = 0
        self._eval_start = 0.0
        self.throughput: dict[str, float] = {}
        self.last_metrics: dict[str, dict[str, float]] = {}
        self.train()  # backbones load in eval mode; nothing in CLIP depends on the mode but the new modules' dropout

    # -- what trains ----------------------------------------------------------------------
    def trainable_state_keys(self) -> set[str]:
        keys = {f"model.{k}" for k in delta_keys(self.model)}
        keys |= {f"task.{k}" for k in self.task.state_dict()}
        return keys

    def parameter_counts(self) -> dict[str, Any]:
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        return {"trainable": trainable, "total": total, "trainable_percent": round(100 * trainable / total, 4)}

    # -- steps ----------------------------------------------------------------------------
    def on_train_epoch_start(self) -> None:
        self.task.set_epoch(self.current_epoch)
        self._train_start, self._train_clips = time.perf_counter(), 0

    def training_step(self, batch: dict[str, Any] | None, batch_idx: int) -> torch.Tensor | None:
        if batch is None:  # every clip of the batch failed to decode (reported by collate)
            return None
        # Randomness in the step (dropout, drop-path) is a function of (seed, epoch, batch), and the
        # data's of (seed, epoch, index) (EpochSampler, VideoClips): a run resumed from a
        # checkpoint continues exactly as the uninterrupted run, whatever else drew numbers.
        torch.manual_seed(self.config["seed"] * 1_000_003 + self.current_epoch * 100_003 + batch_idx)
        out = self.task.training_step(self.model, batch)
        self._train_clips += len(batch["index"])
        self.log("train/loss", out.loss, prog_bar=True, batch_size=len(batch["index"]))
        self.log("train/lr", self.optimizers().param_groups[0]["lr"], batch_size=len(batch["index"]))
        for k, v in out.logs.items():
            self.log(f"train/{k}", v, batch_size=len(batch["index"]))
        return out.loss

    def on_train_epoch_end(self) -> None:
        seconds = time.perf_counter() - self._train_start
        if self._train_clips:
            self.throughput["train_clips_per_second"] = round(self._train_clips / seconds, 3)

    def _eval_step(self, batch: dict[str, Any] | None) -> None:
        if batch is None:
            return
        for k, v in self.task.evaluation_step(self.model, batch).items():
            self._outputs[k].append(v.detach().cpu() if isinstance(v, torch.Tensor) else list(v))
        self._eval_clips += len(batch["index"])

    def _eval_start_epoch(self) -> None:
        self._outputs.clear()
        self._eval_clips, self._eval_start = 0, time.perf_counter()

    def _eval_end(self, split: str) -> None:
        outputs = {k: _concat(v) for k, v in self._outputs.items()}
        self._outputs.clear()
        if self.trainer.world_size > 1:
            # Metrics such as retrieval ranks need the whole split: gather every rank's outputs
            # (each clip is evaluated on exactly one rank; see EpochSampler). Every rank takes
            # part, also one that evaluated nothing, or the others would wait for it forever.
            gathered: list[Any] = [None] * self.trainer.world_size
            torch.distributed.all_gather_object(gathered, outputs)
            keys = {k for g in gathered for k in g}
            outputs = {k: _concat([g[k] for g in gathered if k in g]) for k in keys}
        if not outputs:
            raise ValueError(f"{split}: no clip could be evaluated (every video of the split failed to decode? "
                             "see the warnings above); no metrics to report")
        seconds = time.perf_counter() - self._eval_start
        self.throughput[f"{split}_clips_per_second"] = round(self._eval_clips / max(seconds, 1e-9), 3)
        metrics = self.task.compute_metrics(outputs, split)
        self.last_metrics[split] = {k: float(v) for k, v in metrics.items()}
        for k, v in metrics.items():
            # Every rank computed the same value from the gathered outputs: no reduction needed.
            self.log(f"{split}/{k}", float(v), prog_bar=k in ("top1", "t2v_R@1"), rank_zero_only=True)

    def on_validation_epoch_start(self) -> None:
        self._eval_start_epoch()

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch)

    def on_validation_epoch_end(self) -> None:
        self._eval_end("val")

    def on_test_epoch_start(self) -> None:
        self._eval_start_epoch()

    def test_step(self, batch, batch_idx):
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        self._eval_end("test")

    def predict_step(self, batch, batch_idx):
        return [] if batch is None else self.task.predict_step(self.model, batch)

    # -- optimisation -----------------------------------------------------------------------
    def configure_optimizers(self):
        o = self.config["optim"]
        lr, wd = o["lr"], o["weight_decay"]
        groups = transfer_param_groups(self.model, lr, wd)
        groups += param_groups(((n, p) for n, p in self.task.named_parameters() if p.requires_grad), lr, wd,
                               no_decay=is_gain_or_bias)  # the head: a classifier, no tables
        groups = [g for g in groups if g["params"]]
        if not groups:
            raise ValueError("nothing to train: the strategies and the task head declare no trainable parameter "
                             "(zero-shot? use `vidlift validate` or `vidlift test`)")
        opt = torch.optim.AdamW(groups, lr=lr, betas=tuple(o["betas"]), eps=o["eps"])
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = warmup_steps_of(total, o["warmup_steps"], o["warmup_ratio"])
        sched = warmup_cosine_schedule(opt, total, warmup, o["min_lr_ratio"])
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # -- checkpoints ------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        keep = self.trainable_state_keys()
        checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
        checkpoint["vidlift"] = {"backbone_weights_sha256": self.model.meta.weights_sha256,
                                 "backbone": self.model.meta.spec}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        check_checkpoint(self, checkpoint, "checkpoint")


def check_checkpoint(module: TransferTaskModule, checkpoint: dict[str, Any], source: str) -> None:
    info = checkpoint.get("vidlift", {})
    want = info.get("backbone_weights_sha256")
    if want is not None and want != module.model.meta.weights_sha256:
        raise CheckpointMismatchError(
            f"{source} was trained on backbone {info.get('backbone')} (weights {want[:16]}), but the config "
            f"loads {module.model.meta.spec} (weights {module.model.meta.weights_sha256[:16]})")
    want = module.trainable_state_keys()
    have = set(checkpoint.get("state_dict", {}))
    missing, extra = want - have, have - want
    if missing:
        raise CheckpointMismatchError(f"{source} lacks {len(missing)} trained tensors of this config, e.g. "
                                      f"{sorted(missing)[:3]}: was it made with other transfer strategies "
                                      "or task head?")
    if extra:
        raise CheckpointMismatchError(f"{source} holds {len(extra)} trained tensors this config would ignore, e.g. "
                                      f"{sorted(extra)[:3]}: was it made with other transfer strategies or task head?")


__all__ = ["TransferTaskModule", "CheckpointMismatchError", "check_checkpoint"]
