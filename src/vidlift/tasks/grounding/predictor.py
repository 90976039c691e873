"""Ground a text query in any video with a trained run: windows and per-clip saliency.

>>> from vidlift.tasks.grounding.predictor import GroundingPredictor
>>> p = GroundingPredictor.from_run("runs/synthetic/grounding")
>>> p.predict("video.mp4", "the red ring moves down")
{"windows": [[2.0, 6.0, 0.91], ...], "saliency": [...], "duration": 8.0, "clip_length": 2.0}

The run folder's ``config.yaml`` rebuilds the model and task exactly as trained; the trained
tensors come from its checkpoint through the engine's loader (``torch.load(weights_only=True)``,
the backbone's weights hash checked). Videos of any length: frames at one per clip unit, encoded
in windows (:mod:`.task`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...data.video import read_video
from .clips import ClipUnitSampler, collate_grounding
from .task import GroundingTask


class GroundingPredictor:
    """A trained grounding model (a :class:`~vidlift.engine.module.TransferTaskModule` whose
    task is grounding) in eval mode on ``device``."""

    def __init__(self, module: Any, device: str | torch.device = "cpu") -> None:
        if not isinstance(module.task, GroundingTask):
            raise ValueError(f"GroundingPredictor needs a grounding run, got task {module.task.name!r}")
        self.module = module.to(device).eval()
        self.task: GroundingTask = module.task
        self.device = torch.device(device)

    @classmethod
    def from_run(cls, run_dir: str | os.PathLike, checkpoint: str | os.PathLike | None = None,
                 device: str | torch.device = "cpu") -> GroundingPredictor:
        """Load ``run_dir``'s config and its ``checkpoints/last.ckpt`` (or ``checkpoint``)."""
        from ...engine.config import load_config
        from ...engine.module import TransferTaskModule
        from ...engine.run import load_weights

        run = Path(run_dir)
        if not (run / "config.yaml").is_file():
            raise FileNotFoundError(f"{run}: no config.yaml; is it a run folder written by `vidlift fit`?")
        module = TransferTaskModule(load_config(run / "config.yaml"))
        load_weights(module, checkpoint or run / "checkpoints" / "last.ckpt")
        return cls(module, device)

    @torch.no_grad()
    def predict(self, video_path: str | os.PathLike, query: str) -> dict[str, Any]:
        """Windows ``[[start, end, score], ...]`` in seconds (post-processed as the task is
        configured, best first), ``saliency`` one score per clip unit, the video's
        ``duration`` and the ``clip_length``. A video that does not decode raises
        :class:`~vidlift.data.video.VideoDecodeError` naming the file."""
        decoded = read_video(video_path, ClipUnitSampler(self.task.clip_length), backend=self.task.backend)
        frames = self.module.model.preprocess(decoded.frames)  # the evaluation transform: no randomness
        info = decoded.info
        # a container without a duration: the frames' span, as ClipUnitSampler counts clip units
        duration = float(info.duration) if info.duration > 0 else info.num_frames / info.fps
        sample = {"index": 0, "video_id": Path(video_path).stem, "video": frames,
                  "timestamps": torch.from_numpy(np.asarray(decoded.timestamps, dtype=np.float64)),
                  "duration": torch.tensor(duration, dtype=torch.float64),
                  "qid": 0, "query": query, "annotated_duration": duration}
        batch = collate_grounding([sample], self.task.frames)
        batch["video"] = batch["video"].to(self.device, self.module.model.backbone.dtype)
        batch["clip_mask"] = batch["clip_mask"].to(self.device)
        record = self.task.predict_step(self.module.model, batch)[0]
        return {"windows": record["pred_relevant_windows"], "saliency": record["pred_saliency_scores"],
                "duration": duration, "clip_length": self.task.clip_length}


__all__ = ["GroundingPredictor"]
