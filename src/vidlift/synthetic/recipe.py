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
    steps: int = 28_000
    batch_size: int = 128
    lr: float = 3e-3
    min_lr: float = 1e-5
    warmup_steps: int = 500
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    pool_size: int = 200_000  # stills rendered once; each step draws captions anew
    max_objects: int = 3
    style: str = "pretrain"  # what the stills vary (vidlift.synthetic.stills.STYLES)
    flip_prob: float = 0.5  # a mirrored still is a new still (captions swap left and right)
    seed: int = 0
    workers: int = 2  # processes rendering the pool
    threads: int = 2  # torch intra-op threads
    eval_every: int = 1000  # held-out accuracy every N steps, recorded as the learning curve (0: never)
    curve_images: int = 512  # held-out stills per point of the curve (the final evaluation uses 2,048)
    save_dtype: str = "float32"  # "float16" halves the file; loading puts weights into the fp32 model

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
