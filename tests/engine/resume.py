"""One check for "a resumed run ends bit-identical to an uninterrupted one", shared by the
engine's, the augmentation's and mixup's resume tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml

from vidlift.engine import fit, load_config


class StopAfterFirstEpoch(L.Callback):
    """Ends a fit after its first epoch, as an interruption would (last.ckpt at epoch 0)."""

    def on_train_epoch_end(self, trainer, pl_module):
        trainer.should_stop = True


def write_config(cfg: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def assert_resume_bit_identical(base: dict[str, Any], tmp_path: Path) -> tuple[dict, dict]:
    """Fit ``base`` for 2 epochs in one go, and again interrupted after epoch 1 then resumed
    with ``ckpt_path="last"``: the metrics and every trained tensor must be equal. Returns the
    two fits' results (uninterrupted, resumed); the interrupted run is in ``tmp_path/part``."""
    base = dict(base, trainer={**base["trainer"], "max_epochs": 2}, out=str(tmp_path / "full"))
    full = fit(load_config(write_config(base, tmp_path / "a.yaml")))
    part = dict(base, out=str(tmp_path / "part"))
    fit(load_config(write_config(part, tmp_path / "b.yaml")), callbacks=[StopAfterFirstEpoch()])  # "interrupted"
    assert torch.load(tmp_path / "part/checkpoints/last.ckpt", weights_only=True)["epoch"] == 0
    resumed = fit(load_config(tmp_path / "b.yaml"), ckpt_path="last")
    assert resumed["metrics"] == full["metrics"]
    a = torch.load(tmp_path / "full/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "part/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert a and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    return full, resumed
