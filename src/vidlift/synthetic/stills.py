"""Still images with captions: the pretraining data of the project's tiny ILFM.

A still is one to three shapes (:mod:`vidlift.synthetic.scene`) on a plain or cluttered
background, described in words (:class:`Thing`: shape, colour, size, texture, where it is).
Captions are drawn from the description, not from the pixels, so they are true by
construction: they always name colour and shape, and sometimes size, texture, count, position
and background ("a small blue circle and a yellow heart", "two red stars on a cluttered
background", "a photo of a green striped ring at the top.").

Appearance only: nothing here moves. Every still is a pure function of
``(seed, split, index)``, so a pool renders identically in any number of processes and the
held-out split (``split="heldout"``) never shares a random stream with training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .scene import (
    BACKGROUNDS,
    COLOURS,
    EXTRA_SHAPES,
    OCCLUDER,
    SHAPES,
    SIZES,
    STILL_BACKGROUNDS,
    TEXTURES,
    SceneObject,
    make_background,
    render,
)

SPLITS = {"train": 0, "heldout": 1}
NUMBERS = {2: "two", 3: "three"}
# Where an object counts as "on the left" etc.: its centre in the outer third of the frame.
_EDGE = 0.36


@dataclass(frozen=True)
class StillStyle:
    """What varies between stills. ``BENCHMARK`` draws like the video benchmark (the held-out
    evaluation stills, unchanged since the first tiny ILFM); ``PRETRAIN`` adds what forces the
    image tower to learn shape rather than colour statistics: more shapes, continuous scale,
    outlined shapes, jittered colours, any background brightness and tint, gradients, noise,
    overlapping objects and thin bars over them."""

    shapes: tuple[str, ...] = SHAPES
    backgrounds: tuple[str, ...] = BACKGROUNDS
    scale_jitter: float = 0.1  # scale = named size × U(1 - j, 1 + j)
    outline_prob: float = 0.0  # an outlined (unfilled) shape instead of a filled one
    colour_jitter: float = 0.0  # s.d. of a per-object RGB offset, in 0..255 units
    brightness: tuple[float, float] = (1.0, 1.0)  # per-object colour gain range
    occlusion_prob: float = 0.0  # one or two bars over the objects
    spacing: float = 0.95  # centres at least this × the summed radii apart (< 1: objects overlap)
    chroma_prob: float = 0.0  # colour stored at half resolution, as in yuv420p video (most real videos)
    benchmark_prob: float = 0.0  # share of stills drawn in the benchmark style instead (easier: learnt sooner)


BENCHMARK = StillStyle()
PRETRAIN = StillStyle(
    shapes=SHAPES + EXTRA_SHAPES, backgrounds=STILL_BACKGROUNDS, scale_jitter=0.25, outline_prob=0.15,
    colour_jitter=10.0, brightness=(0.8, 1.1), occlusion_prob=0.2, spacing=0.7, chroma_prob=0.5,
    benchmark_prob=0.5,
)
STYLES = {"benchmark": BENCHMARK, "pretrain": PRETRAIN}


@dataclass(frozen=True)
class Thing:
    """One object of a still, in words plus pose. x, y, scale as fractions of the frame side
    (y grows downwards), angle in radians."""

    shape: str
    colour: str
    size: str
    texture: str
    x: float
    y: float
    scale: float
    angle: float
    tint: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)  # colour gain, then RGB offsets

    def scene_object(self) -> SceneObject:
        gain, *offset = self.tint
        rgb = tuple(int(np.clip(round(gain * c + o), 0, 255)) for c, o in zip(COLOURS[self.colour], offset))
        if self.texture == "outlined":
            return SceneObject(self.shape, rgb, self.x, self.y, self.scale, self.angle, "solid", outline=0.14)
        return SceneObject(self.shape, rgb, self.x, self.y, self.scale, self.angle, self.texture)

    def mirrored(self) -> Thing:
        """The same object seen in a left-right mirror (every shape the renderer draws is
        symmetric about its own vertical axis)."""
        return replace(self, x=1.0 - self.x, angle=-self.angle)


@dataclass(frozen=True)
class StillScene:
    """What a still shows, in words: its objects (back to front), background kind and the bars
    drawn over them (occluders, never named)."""

    things: tuple[Thing, ...]
    background: str
    occluders: tuple[SceneObject, ...] = ()  # drawn over the objects; not named in captions

    def mirrored(self) -> StillScene:
        bars = tuple(o.moved(x=1.0 - o.x, angle=-o.angle) for o in self.occluders)
        return StillScene(tuple(t.mirrored() for t in self.things), self.background, bars)


def still_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of still ``index`` of ``split`` ("train" or "heldout") under ``seed``."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    return np.random.default_rng([int(seed), SPLITS[split], int(index)])


def _sample_thing(rng: np.random.Generator, style: StillStyle, shape: str | None = None,
                  colour: str | None = None) -> Thing:
    size = str(rng.choice(list(SIZES)))
    texture = "solid" if rng.random() < 0.4 else str(rng.choice(TEXTURES[1:]))
    thing = Thing(
        shape=shape or str(rng.choice(style.shapes)),
        colour=colour or str(rng.choice(list(COLOURS))),
        size=size,
        texture=texture,
        x=0.5, y=0.5,
        scale=SIZES[size] * float(rng.uniform(1 - style.scale_jitter, 1 + style.scale_jitter)),
        angle=float(rng.uniform(0, 2 * math.pi)),
    )
    if style == BENCHMARK:  # draws nothing more: the benchmark stills stay as they always were
        return thing
    if rng.random() < style.outline_prob and thing.shape != "ring":
        thing = replace(thing, texture="outlined")
    gain = float(rng.uniform(*style.brightness))
    offset = rng.normal(0.0, style.colour_jitter, size=3) if style.colour_jitter > 0 else np.zeros(3)
    return replace(thing, tint=(gain, *(float(o) for o in offset)))


def _occluders(rng: np.random.Generator, things: list[Thing]) -> tuple[SceneObject, ...]:
    """One or two thin grey bars, each across one object, hiding part of it."""
    bars = []
    for _ in range(int(rng.integers(1, 3))):
        t = things[int(rng.integers(len(things)))]
        grey = int(rng.uniform(30, 225))
        x, y = (float(c + rng.uniform(-0.3, 0.3) * t.scale) for c in (t.x, t.y))
        bars.append(SceneObject(OCCLUDER, (grey, grey, grey), x, y, t.scale * float(rng.uniform(0.9, 1.4)),
                                float(rng.uniform(0, math.pi))))
    return tuple(bars)


def _place(rng: np.random.Generator, things: list[Thing], spacing: float = 0.95) -> list[Thing] | None:
    """Random positions, inside the frame and apart from each other; None if none found."""
    placed: list[Thing] = []
    for t in things:
        r = t.scale / 2
        for _ in range(40):
            x, y = rng.uniform(r, 1 - r, size=2)
            if all(math.hypot(x - p.x, y - p.y) > spacing * (r + p.scale / 2) for p in placed):
                placed.append(replace(t, x=float(x), y=float(y)))
                break
        else:
            return None
    return placed


def sample_scene(
    rng: np.random.Generator, max_objects: int = 3, shape: str | None = None, colour: str | None = None,
    style: StillStyle = BENCHMARK,
) -> StillScene:
    """A random scene of 1..``max_objects`` objects. ``shape`` / ``colour`` fix the first object.

    Objects are distinct in (shape, colour), except that a multi-object scene sometimes repeats
    one object's kind ("two red stars"): counting is part of the caption language.
    """
    background = str(rng.choice(style.backgrounds))
    weights = np.array([0.55, 0.3, 0.15][:max_objects])
    n = int(rng.choice(np.arange(1, max_objects + 1), p=weights / weights.sum()))
    while True:
        things = [_sample_thing(rng, style, shape, colour)]
        repeat = n > 1 and rng.random() < 0.3
        kinds = {(things[0].shape, things[0].colour)}
        while len(things) < n:
            if repeat and len(things) == 1:
                things.append(_sample_thing(rng, style, things[0].shape, things[0].colour))
                continue
            t = _sample_thing(rng, style)
            if (t.shape, t.colour) not in kinds:
                kinds.add((t.shape, t.colour))
                things.append(t)
        placed = _place(rng, things, style.spacing)
        if placed is not None:
            bars = _occluders(rng, placed) if style.occlusion_prob > 0 and rng.random() < style.occlusion_prob else ()
            return StillScene(tuple(placed), background, bars)


def render_scene(scene: StillScene, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """uint8 (size, size, 3) image of ``scene``; ``rng`` draws the background's colours, clutter
    and noise."""
    objects = [t.scene_object() for t in scene.things] + list(scene.occluders)
    avoid = tuple(o.colour for o in objects[: len(scene.things)])
    return render(objects, size, make_background(scene.background, size, rng, avoid))


def make_still(
    seed: int, split: str, index: int, size: int = 64, max_objects: int = 3,
    shape: str | None = None, colour: str | None = None, style: StillStyle = BENCHMARK,
) -> tuple[np.ndarray, StillScene]:
    """Still ``index`` of ``split``: (uint8 image (size, size, 3), its scene)."""
    rng = still_rng(seed, split, index)
    if style.benchmark_prob > 0 and rng.random() < style.benchmark_prob:
        style = BENCHMARK
    scene = sample_scene(rng, max_objects, shape, colour, style)
    image = render_scene(scene, rng, size)
    if style.chroma_prob > 0 and rng.random() < style.chroma_prob:
        image = subsample_chroma(image)
    return image, scene


# BT.601 RGB -> YCbCr (full range), the matrix of JPEG and of most SD / web video.
_YCC = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], np.float32)
_YCC_INV = np.linalg.inv(_YCC).T.astype(np.float32)  # computed once: the pool calls this per still


def subsample_chroma(image: np.ndarray) -> np.ndarray:
    """``image`` as a yuv420p video frame shows it: luma kept, the two chroma planes averaged
    over 2×2 blocks and repeated back (colour edges blur; shapes must be read from luma too)."""
    h, w, _ = image.shape
    ycc = image.astype(np.float32) @ _YCC.T
    chroma = ycc[: h - h % 2, : w - w % 2, 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3))
    ycc[: h - h % 2, : w - w % 2, 1:] = chroma.repeat(2, 0).repeat(2, 1)
    rgb = ycc @ _YCC_INV
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def make_stills(
    seed: int, split: str, count: int, size: int = 64, max_objects: int = 3, start: int = 0,
    style: StillStyle = BENCHMARK,
) -> tuple[np.ndarray, list[StillScene]]:
    """Stills ``start .. start+count-1`` of ``split``: uint8 (count, size, size, 3) and scenes."""
    images = np.empty((count, size, size, 3), np.uint8)
    scenes = []
    for i in range(count):
        images[i], scene = make_still(seed, split, start + i, size, max_objects, style=style)
        scenes.append(scene)
    return images, scenes


def make_labelled_stills(seed: int, count: int, size: int = 64, split: str = "heldout",
                         style: StillStyle = BENCHMARK) -> tuple[np.ndarray, list[StillScene]]:
    """Single-object stills for zero-shot evaluation, cycling through all 64 (shape, colour)
    classes of the video benchmark so every class is equally frequent; size, texture, pose and
    background are random (and, with the ``PRETRAIN`` style, half of them also outline, tint, occlusion and
    chroma subsampling; the other half are drawn in the benchmark style)."""
    images = np.empty((count, size, size, 3), np.uint8)
    scenes = []
    colours = list(COLOURS)
    for i in range(count):
        k = i % (len(SHAPES) * len(colours))
        images[i], scene = make_still(seed, split, i, size, 1, SHAPES[k // len(colours)], colours[k % len(colours)],
                                      style)
        scenes.append(scene)
    return images, scenes


# -- words -----------------------------------------------------------------------------


def with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def plural(shape: str) -> str:
    return shape + ("es" if shape.endswith(("s", "x")) else "s")


def describe(colour: str, shape: str, size: str | None = None, texture: str | None = None) -> str:
    """Noun phrase with its article: ``describe("orange", "star", "small", "striped")`` ->
    "a small orange striped star"."""
    words = [w for w in (size, colour, texture if texture != "solid" else None, shape) if w]
    return with_article(" ".join(words))


def prompt(colour: str, shape: str, template: str = "a photo of {}.") -> str:
    """The zero-shot prompt of one (shape, colour) class, in the captions' own words."""
    return template.format(describe(colour, shape))


def _where(t: Thing) -> str | None:
    if t.x < _EDGE:
        return "on the left"
    if t.x > 1 - _EDGE:
        return "on the right"
    if t.y < _EDGE:
        return "at the top"
    if t.y > 1 - _EDGE:
        return "at the bottom"
    return None


# Backgrounds a caption may name (a flat tint is plain; gradients and noise go unnamed).
_BACKGROUND_WORDS = {"plain": "plain background", "tinted": "plain background", "clutter": "cluttered background"}


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def caption(scene: StillScene, rng: np.random.Generator) -> str:
    """One random true caption of ``scene``: always colour and shape of every object;
    sometimes size, texture, count, position, background and a "a photo of" prefix."""
    groups: dict[tuple[str, str], list[Thing]] = {}
    for t in scene.things:
        groups.setdefault((t.shape, t.colour), []).append(t)
    phrases = []
    for (shape, colour), members in groups.items():
        if len(members) > 1:
            phrases.append(f"{NUMBERS[len(members)]} {colour} {plural(shape)}")
            continue
        t = members[0]
        size = t.size if rng.random() < 0.35 else None
        texture = t.texture if rng.random() < 0.5 else None
        phrases.append(describe(colour, shape, size, texture))
    order = rng.permutation(len(phrases))
    text = _join([phrases[i] for i in order])
    if len(scene.things) == 1 and (where := _where(scene.things[0])) and rng.random() < 0.3:
        text += " " + where
    elif len(scene.things) == 2 and len(groups) == 2 and rng.random() < 0.3:
        a, b = scene.things
        if abs(a.x - b.x) > 0.25:
            left, right = (a, b) if a.x < b.x else (b, a)
            text = f"{describe(left.colour, left.shape)} to the left of {describe(right.colour, right.shape)}"
    if rng.random() < 0.3 and (words := _BACKGROUND_WORDS.get(scene.background)):
        text += " on a " + words
    u = rng.random()
    if u < 0.35:
        text = "a photo of " + text
    elif u < 0.45:
        text = "an image of " + text
    return text + ("." if rng.random() < 0.5 else "")


__all__ = [
    "SPLITS", "StillStyle", "BENCHMARK", "PRETRAIN", "STYLES",
    "Thing", "StillScene", "still_rng", "sample_scene", "render_scene", "make_still", "make_stills",
    "make_labelled_stills", "subsample_chroma", "describe", "prompt", "caption", "with_article", "plural",
]
