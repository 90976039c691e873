"""The recipe of the shipped tiny ILFM, torch-free so the CLI can show its defaults cheaply."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

HELDOUT_SEED = 0  # all checkpoints are compared on the same held-out stills
DEFAULT_EVAL_IMAGES = 2048


@dataclass
class Recipe:
    """Everything that decides the shipped checkpoint; ``vidlift pretrain-tiny`` defaults to it."""

    arch: str = "tiny-ilfm"
    steps: int = 4200
    batch_size: int = 128
    lr: float = 3e-3
    min_lr: float = 1e-5
    warmup_steps: int = 200
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    pool_size: int = 48_000  # stills rendered once; each step draws captions anew
    max_objects: int = 3
    style: str = "pretrain"  # what the stills vary (vidlift.synthetic.stills.STYLES)
    flip_prob: float = 0.5  # a mirrored still is a new still (captions swap left and right)
    seed: int = 0
    workers: int = 2  # processes rendering the pool
    threads: int = 2  # torch intra-op threads
    save_dtype: str = "float32"  # "float16" halves the file; loading puts weights into the fp32 model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
