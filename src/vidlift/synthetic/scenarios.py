"""Random programs for each benchmark task, and the recognition class lists.

Everything is drawn from ``numpy.random.default_rng([seed, task, purpose, index])``, so video
``k`` of a task depends only on the seed and ``k``: the same at any ``--workers``, and the
first videos of a larger set equal a smaller set's.

Videos come in *twins*: video ``2k`` plays a program forwards, video ``2k + 1`` plays the same
frames backwards (see :func:`~vidlift.synthetic.motions.reverse_program`), and both share a
split. Each temporal class therefore has exactly as many videos as its reverse, made of the
same frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .motions import MAX_ROTATION_STEP, MOVES, ROTATIONS, Actor, Event, Program, scene_at, size_name
from .scene import COLOURS, SHAPES, SIZES, TEXTURES

TASKS = ("recognition", "retrieval", "grounding", "qa", "captioning")
_TASK_IDS = {t: i for i, t in enumerate(TASKS)}
_PURPOSES = {"video": 0, "motion": 1, "appearance": 2, "text": 3}
# Split of each block: 7 train, 1 val, 2 test per 10, interleaved so that even a handful of
# blocks reaches every split.
SPLIT_PATTERN = ("train", "test", "train", "val", "train", "train", "test", "train", "train", "train")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class MotionClass:
    """A temporal recognition class: the main object's events in order, and its SSv2 template."""

    name: str
    kinds: tuple[str, ...]
    template: str


# In time-reversed pairs: class 2i + 1 is class 2i played backwards. The last two pairs are
# order classes built from there-and-back events (each its own reverse), so the pair differs
# only in the order of the two events.
MOTION_CLASSES = (
    MotionClass("moving left", ("move_left",), "Moving [something] from right to left"),
    MotionClass("moving right", ("move_right",), "Moving [something] from left to right"),
    MotionClass("moving up", ("move_up",), "Moving [something] up"),
    MotionClass("moving down", ("move_down",), "Moving [something] down"),
    MotionClass("rotating clockwise", ("rotate_cw",), "Rotating [something] clockwise"),
    MotionClass("rotating counter-clockwise", ("rotate_ccw",), "Rotating [something] counter-clockwise"),
    MotionClass("growing", ("grow",), "Making [something] bigger"),
    MotionClass("shrinking", ("shrink",), "Making [something] smaller"),
    MotionClass("appearing", ("appear",), "Making [something] appear"),
    MotionClass("disappearing", ("disappear",), "Making [something] disappear"),
    MotionClass("jumping then pulsing", ("jump", "pulse"), "Making [something] jump, then pulse"),
    MotionClass("pulsing then jumping", ("pulse", "jump"), "Making [something] pulse, then jump"),
    MotionClass("blinking then wiggling", ("blink", "wiggle"), "Making [something] blink, then wiggle"),
    MotionClass("wiggling then blinking", ("wiggle", "blink"), "Making [something] wiggle, then blink"),
)
APPEARANCE_CLASSES = tuple(f"{c} {s}" for c in COLOURS for s in SHAPES)
# Kinds drawn for the free-form tasks (retrieval, captioning, QA, grounding).
FREE_KINDS = ("move_left", "move_right", "move_up", "move_down", "rotate_cw", "rotate_ccw", "grow", "shrink",
              "appear", "disappear", "recolour", "jump", "pulse", "blink", "wiggle")
_S_MIN, _S_MAX = 0.18, 0.48  # main object's scale range (distractors stay below 0.17)


def task_rng(seed: int, task: str, purpose: str, *index: int) -> np.random.Generator:
    return np.random.default_rng([seed, _TASK_IDS[task], _PURPOSES[purpose], *index])


def split_of(block: int) -> str:
    return SPLIT_PATTERN[block % len(SPLIT_PATTERN)]


def _amount(rng: np.random.Generator, kind: str, frames: float) -> float:
    if kind in MOVES:
        return float(rng.uniform(0.28, 0.42))
    if kind in ("rotate_cw", "rotate_ccw"):
        return float(min(rng.uniform(math.radians(90), math.radians(180)), MAX_ROTATION_STEP * frames))
    if kind == "wiggle":  # up and back within the event: twice the per-frame step
        return float(min(rng.uniform(math.radians(35), math.radians(50)), MAX_ROTATION_STEP * frames / 2))
    if kind in ("grow", "shrink"):
        return float(rng.uniform(1.7, 2.0))
    if kind == "pulse":
        return float(rng.uniform(1.35, 1.55))
    if kind == "jump":
        return float(rng.uniform(0.15, 0.22))
    return 0.0


def _log_scale_range(kinds: list[str], amounts: list[float]) -> tuple[float, float]:
    level = lo = hi = 0.0
    for k, a in zip(kinds, amounts):
        if k == "grow":
            level += math.log(a)
        elif k == "shrink":
            level -= math.log(a)
        elif k == "pulse":
            hi = max(hi, level + math.log(a))
        lo, hi = min(lo, level), max(hi, level)
    return lo, hi


def _offset_range(kinds: list[str], amounts: list[float], axis: int) -> tuple[float, float]:
    pos = lo = hi = 0.0
    for k, a in zip(kinds, amounts):
        if k in MOVES:
            pos += MOVES[k][axis] * a
        elif k == "jump" and axis == 1:
            lo = min(lo, pos - a)
        lo, hi = min(lo, pos), max(hi, pos)
    return lo, hi


def sample_main(rng: np.random.Generator, kinds: list[str], spans: list[tuple[float, float]], fps: float, *,
                shape: str | None = None, colour: str | None = None) -> Actor:
    """The main object doing ``kinds`` over ``spans`` (seconds), placed so that it stays in view."""
    shape = shape or SHAPES[int(rng.integers(len(SHAPES)))]
    colour = colour or list(COLOURS)[int(rng.integers(len(COLOURS)))]
    # A rotation of a solid circle or ring is invisible: rotating objects get a texture.
    textures = TEXTURES[1:] if ROTATIONS & set(kinds) else TEXTURES
    texture = textures[int(rng.integers(len(textures)))]
    amounts = [_amount(rng, k, (e - s) * fps) for k, (s, e) in zip(kinds, spans)]
    lo, hi = _log_scale_range(kinds, amounts)
    while math.log(_S_MAX / _S_MIN) < hi - lo:  # too much growing in one video: tone it down
        amounts = [a**0.8 if k in ("grow", "shrink", "pulse") else a for k, a in zip(kinds, amounts)]
        lo, hi = _log_scale_range(kinds, amounts)
    s_lo, s_hi = _S_MIN / math.exp(lo), _S_MAX / math.exp(hi)
    named = [v for v in SIZES.values() if s_lo <= v <= s_hi]
    scale = float(named[int(rng.integers(len(named)))]) if named else float(rng.uniform(s_lo, s_hi))
    radius = 0.45 * scale * math.exp(hi)  # edges may touch the border, centres stay in
    start = []
    for axis in (0, 1):
        a_lo, a_hi = _offset_range(kinds, amounts, axis)
        room = 1 - 2 * radius
        if a_hi - a_lo > room:
            shrink = room / (a_hi - a_lo)
            amounts = [a * shrink if (k in MOVES and MOVES[k][axis]) or (k == "jump" and axis) else a
                       for k, a in zip(kinds, amounts)]
            a_lo, a_hi = a_lo * shrink, a_hi * shrink
        start.append(float(rng.uniform(radius - a_lo, 1 - radius - a_hi)))
    events, current = [], colour
    for k, (s, e), a in zip(kinds, spans, amounts):
        new = None
        if k == "recolour":
            choices = [c for c in COLOURS if c != current]
            new = current = choices[int(rng.integers(len(choices)))]
        events.append(Event(k, s, e, a, new))
    return Actor(shape, colour, start[0], start[1], scale, float(rng.uniform(0, 2 * math.pi)), texture,
                 0.0 if kinds and kinds[0] == "appear" else 1.0, size_name(scale), tuple(events))


def make_program(rng: np.random.Generator, main: Actor, num_frames: int, fps: float,
                 num_distractors: int | None = None, meta: dict | None = None) -> Program:
    """Add 0-2 still distractors (other shapes and colours, smaller, off the main object's path)."""
    probe = Program((main,), num_frames, fps)
    path = [scene_at(probe, float(t))[-1] for t in probe.frame_times()]
    taken_colours = {main.colour} | {e.colour for e in main.events if e.colour}
    colours = [c for c in COLOURS if c not in taken_colours]
    shapes = [s for s in SHAPES if s != main.shape]
    n = int(rng.integers(0, 3)) if num_distractors is None else num_distractors
    actors = [main]
    for _ in range(n):
        shape = shapes.pop(int(rng.integers(len(shapes))))
        colour = colours[int(rng.integers(len(colours)))]
        scale = float(rng.uniform(0.13, 0.17))
        best, best_gap = (0.5, 0.5), -math.inf
        for _ in range(40):
            x, y = (float(v) for v in rng.uniform(scale / 2, 1 - scale / 2, size=2))
            gaps = [math.hypot(x - o.x, y - o.y) - (o.scale + scale) / 2 for o in path]
            gaps += [math.hypot(x - a.x, y - a.y) - (a.scale + scale) / 2 for a in actors[1:]]
            if min(gaps) > best_gap:
                best, best_gap = (x, y), min(gaps)
            if best_gap > 0.02:
                break
        texture = TEXTURES[int(rng.integers(len(TEXTURES)))]
        actors.append(Actor(shape, colour, best[0], best[1], scale, float(rng.uniform(0, 2 * math.pi)), texture))
    background = ("plain", "clutter")[int(rng.integers(2))]
    return Program(tuple(actors), num_frames, fps, background, int(rng.integers(2**31)), dict(meta or {}))


def even_spans(n: int, duration: float) -> list[tuple[float, float]]:
    return [(duration * i / n, duration * (i + 1) / n) for i in range(n)]


def recognition_program(seed: int, k: int, num_frames: int, fps: float) -> Program:
    """Twin pair ``k``'s forward video. Motion pairs and appearance classes are dealt from
    shuffled decks (each run of 7 twin pairs gets every motion pair once, each run of 64 every
    appearance once), so both label sets stay balanced."""
    num_pairs = len(MOTION_CLASSES) // 2
    pair = int(task_rng(seed, "recognition", "motion", k // num_pairs).permutation(num_pairs)[k % num_pairs])
    look = int(task_rng(seed, "recognition", "appearance", k // 64).permutation(64)[k % 64])
    colour, shape = APPEARANCE_CLASSES[look].split(" ")
    cls = MOTION_CLASSES[2 * pair]
    rng = task_rng(seed, "recognition", "video", k)
    duration = num_frames / fps
    main = sample_main(rng, list(cls.kinds), even_spans(len(cls.kinds), duration), fps, shape=shape, colour=colour)
    return make_program(rng, main, num_frames, fps, meta={"motion": 2 * pair, "appearance": look})


def _free_kinds(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` different kinds; appear only first, disappear only last (opacity must make sense)."""
    while True:
        kinds = [FREE_KINDS[int(i)] for i in rng.choice(len(FREE_KINDS), size=n, replace=False)]
        if "appear" not in kinds[1:] and "disappear" not in kinds[:-1]:
            return kinds


def clip_program(seed: int, task: str, k: int, num_frames: int, fps: float, two_events: float) -> Program:
    """A short clip with one or two events (probability ``two_events`` of two), each taking an
    equal share of the clip: retrieval, captioning and QA."""
    rng = task_rng(seed, task, "video", k)
    n = 2 if rng.random() < two_events else 1
    kinds = _free_kinds(rng, n)
    main = sample_main(rng, kinds, even_spans(n, num_frames / fps), fps)
    return make_program(rng, main, num_frames, fps)


def grounding_program(seed: int, k: int, num_frames: int, fps: float, clip_length: float = 2.0) -> Program:
    """A long video with 3-5 events of 2-3 clips each on the ``clip_length`` grid, separated by
    still gaps; in half of them a there-and-back kind happens twice (a query with two windows)."""
    rng = task_rng(seed, "grounding", "video", k)
    clips = int(num_frames / fps // clip_length)
    if clips < 4:
        raise ValueError(f"grounding needs at least {4 * clip_length:g} s of video, got {num_frames / fps:g} s")
    n = int(min(rng.integers(3, 6), clips // 3))  # at most 3 clips each: they always fit
    lengths = [int(rng.integers(2, 4)) for _ in range(n)]
    gaps = rng.multinomial(clips - sum(lengths), np.ones(n + 1) / (n + 1))
    spans, t = [], 0
    for gap, length in zip(gaps, lengths):
        t += int(gap)
        spans.append((t * clip_length, (t + length) * clip_length))
        t += length
    kinds = _free_kinds(rng, n)
    if n >= 3 and rng.random() < 0.5:  # one there-and-back kind twice: a query with two windows
        kind = ("jump", "blink", "wiggle", "pulse")[int(rng.integers(4))]
        slots = [i for i, kd in enumerate(kinds) if kd not in ("appear", "disappear")]
        pairs = [(i, j) for i in slots for j in slots if j - i >= 2]
        if pairs:
            i, j = pairs[int(rng.integers(len(pairs)))]
            kinds[i] = kinds[j] = kind
    main = sample_main(rng, kinds, spans, fps)
    return make_program(rng, main, num_frames, fps, meta={"clip_length": clip_length})
