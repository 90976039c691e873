"""The recipe of the project's tiny ILFM: a small CLIP pretrained on captioned stills.

Read top to bottom: data (a pool of rendered stills, captions drawn per step), model (the
``tiny-ilfm`` architecture of :data:`vidlift.backbones.ARCHS`, the same :class:`CLIP` class
every real backbone loads into), training (symmetric InfoNCE with a learned logit scale,
AdamW, cosine schedule with warm-up), evaluation (zero-shot on held-out stills) and saving
(an HF-format directory, as every backbone writes).

The model sees appearance only — colours, shapes, sizes, textures, counts, positions in
still images — never motion, so what transfer methods add for time is measurable.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..backbones import CLIP, CLIPConfig, clip_loss, count_parameters, get_arch, save_backbone
from ..backbones.init import mimetic_attention_init, pca_patch_init, sincos_2d, sincos_position_init
from ..backbones.tokenizer import ClipBpeTokenizer
from ..data.transforms import VideoTransform
from ..engine.optim import is_gain_or_bias, param_groups, warmup_cosine_schedule
from .recipe import DEFAULT_EVAL_IMAGES, HELDOUT_SEED, Recipe  # noqa: F401  (re-exported)
from .scene import COLOURS, SHAPES
from .stills import STYLES, StillScene, caption, make_labelled_stills, make_stills, prompt

# -- data ------------------------------------------------------------------------------


@dataclass
class StillPool:
    """Rendered stills held in memory: uint8 images (N, S, S, 3) and their scenes."""

    images: torch.Tensor
    scenes: list[StillScene]

    def __len__(self) -> int:
        return len(self.scenes)


def _render_chunk(args: tuple[int, int, int, int, int, str]) -> tuple[np.ndarray, list[StillScene]]:
    seed, start, count, size, max_objects, style = args
    return make_stills(seed, "train", count, size, max_objects, start=start, style=STYLES[style])


def build_pool(seed: int, count: int, size: int, max_objects: int = 3, workers: int = 2,
               style: str = "pretrain") -> StillPool:
    """Render training stills 0..count-1 of ``seed``; identical for any number of ``workers``
    (each still is a function of its index). Pre-rendering beats rendering per step here
    (measured): a still takes ~2.3 ms to render on one core but only ~1.4 ms to train on with
    two, so rendering per step would more than double the wall time; the recipe's 200,000
    stills render in about 4 minutes on two processes (2.4 GB) and are each seen ~18 times
    (mirrored half the time, a new caption each time)."""
    chunk = 2000
    if style not in STYLES:
        raise ValueError(f"unknown still style {style!r}; styles: {', '.join(STYLES)}")
    jobs = [(seed, s, min(chunk, count - s), size, max_objects, style) for s in range(0, count, chunk)]
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as ex:
            parts = list(ex.map(_render_chunk, jobs))
    else:
        parts = [_render_chunk(j) for j in jobs]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    return StillPool(images, [s for p in parts for s in p[1]])


class CaptionBatches:
    """Endless (images, token ids) batches from a pool: epochs in a seeded random order, a
    random left-right mirror per still and a fresh random caption per still and step."""

    def __init__(self, pool: StillPool, batch_size: int, tokenizer: ClipBpeTokenizer, preprocess: VideoTransform,
                 seed: int, flip_prob: float = 0.5) -> None:
        if batch_size > len(pool):
            raise ValueError(f"batch size {batch_size} exceeds the pool of {len(pool)} stills")
        self.pool, self.batch_size, self.tokenizer, self.preprocess = pool, batch_size, tokenizer, preprocess
        self.flip_prob = flip_prob
        self.rng = np.random.default_rng([seed, 1])
        self._order: np.ndarray = np.empty(0, np.int64)
        self._token_cache: dict[str, torch.Tensor] = {}

    def _tokens(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for t in texts:
            if t not in self._token_cache:
                self._token_cache[t] = self.tokenizer(t)[0]
            rows.append(self._token_cache[t])
        ids = torch.stack(rows)
        # Trailing padding is invisible to a causal tower pooled at end-of-text: drop it.
        length = int((ids == self.tokenizer.eos_token_id).int().argmax(1).max()) + 1
        return ids[:, :length]

    def __iter__(self):
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if len(self._order) < self.batch_size:
            self._order = np.concatenate([self._order, self.rng.permutation(len(self.pool))])
        idx, self._order = self._order[: self.batch_size], self._order[self.batch_size :]
        flip = self.rng.random(len(idx)) < self.flip_prob
        images = self.pool.images[torch.from_numpy(idx)]
        images[torch.from_numpy(flip)] = images[torch.from_numpy(flip)].flip(2)
        texts = []
        for i, f in zip(idx.tolist(), flip.tolist()):
            scene = self.pool.scenes[i]
            texts.append(caption(scene.mirrored() if f else scene, self.rng))
        # The backbone's own preprocessing, with the batch as the frame axis.
        return self.preprocess(images), self._tokens(texts)


# -- model and optimisation ------------------------------------------------------------


def build_model(arch: str, seed: int, patch_images: torch.Tensor | None = None) -> CLIP:
    """A freshly initialised CLIP of ``arch`` (deterministic given ``seed`` and ``patch_images``).

    Measured on this task, these init choices each bring forward the step at which the image
    tower starts telling shapes apart (colours come almost at once): PyTorch's default init
    (std ≈ 1/√(3·fan_in)) rather than the 0.02 of wide models, which at width 64 leaves
    attention uniform and the residual branches silent for hundreds of steps; position
    embeddings that start as a 2-D sine-cosine code; mimetic attention; and, given
    ``patch_images`` (preprocessed training stills), a PCA patch embedding. These initialisers
    write CLIP's own parameters, so they live in :mod:`vidlift.backbones.init`.
    """
    torch.manual_seed(seed)
    model = CLIP(get_arch(arch))
    sincos_position_init(model, scale=0.5)
    mimetic_attention_init(model)
    if patch_images is not None:
        pca_patch_init(model, patch_images)
    return model


def build_optimizer(model: CLIP, recipe: Recipe) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW without decay on gains, biases and the logit scale (as CLIP; the token and position
    tables are decayed), cosine with warm-up: the engine's optimiser and schedule."""
    groups = param_groups(model.named_parameters(), recipe.lr, recipe.weight_decay, no_decay=is_gain_or_bias)
    opt = torch.optim.AdamW(groups, lr=recipe.lr, betas=recipe.betas, eps=1e-6, fused=True)  # fused: 4x faster on CPU
    return opt, warmup_cosine_schedule(opt, recipe.steps, recipe.warmup_steps, recipe.min_lr / recipe.lr)


@dataclass
class TrainResult:
    model: CLIP
    losses: list[float] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    curve: list[dict[str, float]] = field(default_factory=list)  # held-out accuracy every ``eval_every`` steps

    @property
    def final_loss(self) -> float:
        """Mean loss of the last 20 steps (one step's loss is noisy)."""
        tail = self.losses[-20:]
        return float(sum(tail) / len(tail)) if tail else float("nan")


def preprocess_for(cfg: CLIPConfig) -> VideoTransform:
    """The preprocessing the weights of ``cfg`` expect (what :func:`load_backbone` returns)."""
    p = cfg.preprocess
    return VideoTransform(size=p.image_size, mean=p.mean, std=p.std, resize_mode=p.resize_mode,
                          interpolation=p.interpolation)


def train(recipe: Recipe, progress: bool = True, on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """Pretrain a tiny ILFM from scratch by ``recipe``; returns the model in eval mode."""
    # Plain torch, not the Lightning engine: a fixed single-process CPU recipe that must read
    # top to bottom and reproduce bit for bit; nothing here needs devices, DDP or resuming.
    torch.set_num_threads(recipe.threads)
    t0 = time.perf_counter()
    preprocess = preprocess_for(get_arch(recipe.arch))
    pool = build_pool(recipe.seed, recipe.pool_size, preprocess.size, recipe.max_objects, recipe.workers, recipe.style)
    t_data = time.perf_counter() - t0
    model = build_model(recipe.arch, recipe.seed, patch_images=preprocess(pool.images[:4000]))
    tokenizer = ClipBpeTokenizer(context_length=model.require_text("pretrain-tiny").context_length)
    batches = CaptionBatches(pool, recipe.batch_size, tokenizer, preprocess, recipe.seed, recipe.flip_prob)
    opt, sched = build_optimizer(model, recipe)
    max_scale = 100.0  # CLIP clamps the temperature at 1/100
    result = TrainResult(model)
    # Held-out stills for the learning curve (evaluation draws no training randomness and the
    # model has no dropout, so the curve does not change the weights).
    curve_set = make_labelled_stills(HELDOUT_SEED, recipe.curve_images, preprocess.size) if recipe.eval_every else None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=recipe.steps, desc="pretrain tiny ILFM", unit="step", dynamic_ncols=True)
    model.train()
    for step in range(recipe.steps):
        images, ids = next(batches)
        loss = clip_loss(model(images, ids))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        model.clamp_logit_scale(max_scale)
        value = loss.detach().item()
        result.losses.append(value)
        if on_step is not None:
            on_step(step, value)
        if curve_set is not None and ((step + 1) % recipe.eval_every == 0 or step + 1 == recipe.steps):
            ev = score_heldout(model.eval(), tokenizer, preprocess, *curve_set)
            model.train()
            result.curve.append({"step": step + 1, "loss": round(result.final_loss, 4),
                                 "shape_colour": ev["shape_colour"], "shape": ev["shape"]})
            if bar is not None:
                bar.write(f"step {step + 1}: loss {result.final_loss:.3f}, held-out shape+colour "
                          f"{100 * ev['shape_colour']:.1f}%, shape {100 * ev['shape']:.1f}% "
                          f"({recipe.curve_images} stills)")
        if bar is not None:
            bar.update(1)
            if step % 10 == 0 or step == recipe.steps - 1:
                bar.set_postfix(loss=f"{result.final_loss:.3f}", scale=f"{model.logit_scale_value().item():.1f}")
    if bar is not None:
        bar.close()
    result.timings = {"data_s": t_data, "train_s": time.perf_counter() - t0 - t_data}
    model.eval()
    return result


# -- evaluation ------------------------------------------------------------------------


@torch.inference_mode()
def encode_images(model: CLIP, preprocess: Any, images: np.ndarray | torch.Tensor,
                  batch_size: int = 256) -> torch.Tensor:
    """uint8 images (N, H, W, 3) -> unit-norm embeddings (N, E), through the backbone's preprocessing."""
    images = torch.as_tensor(images)
    out = [model.encode_image(preprocess(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    return F.normalize(torch.cat(out), dim=-1)


def zero_shot_eval(model: CLIP, tokenizer: Any, preprocess: Any, count: int = DEFAULT_EVAL_IMAGES,
                   seed: int = HELDOUT_SEED) -> dict[str, Any]:
    """Zero-shot top-1 accuracy on ``count`` held-out single-object stills (every class equally often).

    One 64-way zero-shot classifier over the prompts "a photo of a {colour} {shape}." (the
    captions' own words, articles included: "an orange star"); its softmax, marginalised over
    colours or shapes, gives the 8-way shape and colour predictions:

    - ``shape_colour``: both right (chance 1/64);
    - ``shape``: the shape right, p(shape) = Σ_colour p(shape, colour) (chance 1/8);
    - ``colour``: the colour right, p(colour) = Σ_shape p(shape, colour) (chance 1/8).
    """
    model = model.eval()
    images, scenes = make_labelled_stills(seed, count, model.preprocess_config.image_size)
    return {**score_heldout(model, tokenizer, preprocess, images, scenes), "images": count, "heldout_seed": seed,
            "prompt": "a photo of a {colour} {shape}."}


def score_heldout(model: CLIP, tokenizer: Any, preprocess: Any, images: np.ndarray,
                  scenes: list[StillScene]) -> dict[str, float]:
    """The three zero-shot accuracies of :func:`zero_shot_eval` on given labelled stills."""
    count = len(scenes)
    colours = list(COLOURS)
    shape_true = torch.tensor([SHAPES.index(s.things[0].shape) for s in scenes])
    colour_true = torch.tensor([colours.index(s.things[0].colour) for s in scenes])
    with torch.inference_mode():
        text = model.require_text("zero-shot eval").encode(tokenizer([prompt(c, s) for s in SHAPES for c in colours]))
        probs = model.logits(encode_images(model, preprocess, images), text).softmax(-1)
    probs = probs.view(count, len(SHAPES), len(colours))
    shape_pred, colour_pred = probs.sum(2).argmax(1), probs.sum(1).argmax(1)
    joint_pred = probs.flatten(1).argmax(1)
    return {
        "shape_colour": float((joint_pred == shape_true * len(colours) + colour_true).float().mean()),
        "shape": float((shape_pred == shape_true).float().mean()),
        "colour": float((colour_pred == colour_true).float().mean()),
    }


def format_eval(ev: dict[str, Any]) -> str:
    return (
        f"zero-shot top-1 on {ev['images']} held-out stills (seed {ev['heldout_seed']}): "
        f"shape+colour (64-way) {100 * ev['shape_colour']:.1f}%, shape (8-way) {100 * ev['shape']:.1f}%, "
        f"colour (8-way) {100 * ev['colour']:.1f}%"
    )


# -- the whole recipe ------------------------------------------------------------------


def save_checkpoint(model: CLIP, out: str | Path, save_dtype: str = "float16") -> Path:
    """Write ``model`` as an HF-format directory with its CLIP BPE tokenizer files."""
    stored = copy.deepcopy(model).to(getattr(torch, save_dtype))
    tokenizer = ClipBpeTokenizer(context_length=model.require_text("save_checkpoint").context_length)
    return save_backbone(stored, out, "hf", tokenizer=tokenizer)


def pretrain(recipe: Recipe, out: str | Path, progress: bool = True,
             eval_images: int = DEFAULT_EVAL_IMAGES) -> dict[str, Any]:
    """Train by ``recipe``, write the checkpoint to ``out`` and evaluate what was written
    (the stored precision included). Returns the record also saved as ``training.json``."""
    from ..backbones import load_backbone

    t0 = time.perf_counter()
    result = train(recipe, progress=progress)
    out = save_checkpoint(result.model, out, recipe.save_dtype)
    t_eval = time.perf_counter()
    backbone = load_backbone(f"hf:{out}")
    ev = zero_shot_eval(backbone.model, backbone.tokenizer, backbone.preprocess, eval_images)
    wall = time.perf_counter() - t0
    model = result.model
    record = {
        "model": "vidlift tiny ILFM",
        "arch": recipe.arch,
        "config": model.config_dict(),
        "parameters": {"total": count_parameters(model), "image_tower": model.tower_parameter_count("visual"),
                       "text_tower": model.tower_parameter_count("text")},
        "recipe": recipe.to_dict(),
        "final_loss": round(result.final_loss, 4),
        "curve": result.curve,
        "eval": ev,
        "wall_time_s": {"total": round(wall, 1), "data": round(result.timings["data_s"], 1),
                        "train": round(result.timings["train_s"], 1), "eval": round(time.perf_counter() - t_eval, 1)},
        "machine": {"torch": torch.__version__, "threads": recipe.threads, "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine()},
        "command": command_line(recipe),
    }
    (out / "training.json").write_text(json.dumps(record, indent=2))
    return record


def command_line(recipe: Recipe) -> str:
    """The ``vidlift pretrain-tiny`` call that reproduces ``recipe``."""
    default = Recipe()
    flags = {"steps": "--steps", "batch_size": "--batch-size", "seed": "--seed", "pool_size": "--pool-size"}
    extra = [f"{flag} {getattr(recipe, k)}" for k, flag in flags.items() if getattr(recipe, k) != getattr(default, k)]
    return " ".join(["vidlift pretrain-tiny", *extra])


__all__ = [
    "Recipe", "StillPool", "CaptionBatches", "build_pool", "build_model", "build_optimizer", "train", "TrainResult",
    "sincos_2d", "mimetic_attention_init", "pca_patch_init", "preprocess_for",
    "zero_shot_eval", "score_heldout", "format_eval", "encode_images", "save_checkpoint", "pretrain",
    "HELDOUT_SEED",
]
