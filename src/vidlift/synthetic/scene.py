"""Procedural scenes: coloured, textured shapes on plain or cluttered backgrounds.

The one renderer behind the synthetic world: still images for pretraining the tiny ILFM and
the frames of the procedural video benchmark are drawn by the same code, so appearance words
mean the same thing in both. Drawing is numpy only: each object is an implicit shape in its
own rotated, scaled frame, evaluated on a 2×-supersampled grid (anti-aliased edges).
Textures live in object coordinates, so they turn with the object — which is what makes the
rotation sense of a textured shape visible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

SHAPES = ("circle", "square", "triangle", "star", "hexagon", "cross", "ring", "heart")
# Shapes the renderer also draws but the video benchmark never uses: the tiny ILFM's stills
# show them so that its shape words must tell near neighbours apart (pentagon / hexagon,
# oval / circle, crescent / ring). All are mirror-symmetric about their local vertical axis.
EXTRA_SHAPES = ("pentagon", "oval", "crescent", "arrow")
# Not a word of the language: a thin bar drawn over objects to hide part of them (occlusion).
OCCLUDER = "bar"
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 225),
    "yellow": (240, 215, 40),
    "purple": (145, 60, 200),
    "orange": (245, 140, 30),
    "cyan": (40, 205, 215),
    "pink": (245, 125, 185),
}
SIZES: dict[str, float] = {"small": 0.22, "medium": 0.32, "large": 0.44}  # object diameter / frame side
TEXTURES = ("solid", "striped", "dotted", "checkered")
BACKGROUNDS = ("plain", "clutter")  # the video benchmark's backgrounds
# Further backgrounds for the tiny ILFM's stills: a flat colour of any brightness and a tint,
# a linear gradient between two such colours, and pixel noise over a flat colour.
STILL_BACKGROUNDS = (*BACKGROUNDS, "tinted", "gradient", "noise")

_SUPERSAMPLE = 2


@dataclass(frozen=True)
class SceneObject:
    """One object's state in a frame. Coordinates are fractions of the frame side.

    x, y: centre; scale: diameter; angle: radians, counter-clockwise as seen on screen;
    opacity: 0 (absent) .. 1.
    """

    shape: str
    colour: tuple[int, int, int]
    x: float = 0.5
    y: float = 0.5
    scale: float = 0.32
    angle: float = 0.0
    texture: str = "solid"
    opacity: float = 1.0
    outline: float = 0.0  # > 0: only a band this thick (fraction of the diameter) along the edge is drawn


    def moved(self, **changes: float) -> SceneObject:
        return replace(self, **changes)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    n = size * _SUPERSAMPLE
    c = (np.arange(n, dtype=np.float32) + 0.5) / n
    return np.meshgrid(c, c, indexing="xy")  # gx: column (x), gy: row (y, downwards)


def _half_planes(u: np.ndarray, v: np.ndarray, vertices: list[tuple[float, float]]) -> np.ndarray:
    """Inside test for a convex polygon with counter-clockwise vertices."""
    inside = np.ones_like(u, dtype=bool)
    for (x0, y0), (x1, y1) in zip(vertices, vertices[1:] + vertices[:1]):
        inside &= (x1 - x0) * (v - y0) - (y1 - y0) * (u - x0) >= 0
    return inside


def _regular(n: int, r: float = 1.0, phase: float = math.pi / 2) -> list[tuple[float, float]]:
    return [(r * math.cos(phase + 2 * math.pi * k / n), r * math.sin(phase + 2 * math.pi * k / n)) for k in range(n)]


def shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of ``shape`` in local coordinates (u right, v up; unit radius)."""
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    if shape == "ring":
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.3)
    if shape == "triangle":
        return _half_planes(u, v + 0.2, _regular(3, 1.05))
    if shape == "hexagon":
        return _half_planes(u, v, _regular(6, 1.0, 0.0))
    if shape == "cross":
        return ((np.abs(u) <= 0.32) & (np.abs(v) <= 0.95)) | ((np.abs(v) <= 0.32) & (np.abs(u) <= 0.95))
    if shape == "star":
        outer = _regular(5, 1.05)
        inner = _regular(5, 0.42, math.pi / 2 + math.pi / 5)
        mask = _half_planes(u, v, inner)
        for k in range(5):  # each point: a triangle from the inner pentagon's edge to the tip
            mask |= _half_planes(u, v, [inner[k - 1], inner[k], outer[k]][::-1]) | _half_planes(
                u, v, [inner[k - 1], outer[k], inner[k]][::-1]
            )
        return mask
    if shape == "heart":
        x, y = u * 1.15, v * 1.15 + 0.15
        return (x * x + y * y - 1) ** 3 - x * x * y**3 <= 0
    if shape == "pentagon":
        return _half_planes(u, v, _regular(5, 1.0))
    if shape == "oval":
        return (u / 0.6) ** 2 + v * v <= 1.0
    if shape == "crescent":
        return (u * u + v * v <= 1.0) & (u * u + (v - 0.5) ** 2 > 0.72)
    if shape == "arrow":
        shaft = (np.abs(u) <= 0.25) & (v >= -1.0) & (v <= 0.15)
        return shaft | _half_planes(u, v, [(-0.75, 0.15), (0.75, 0.15), (0.0, 1.0)])
    if shape == OCCLUDER:
        return (np.abs(u) <= 1.0) & (np.abs(v) <= 0.12)
    raise ValueError(f"unknown shape {shape!r}; shapes: {', '.join(SHAPES + EXTRA_SHAPES)}")


def _texture(texture: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shade factor per pixel (1 = base colour) in object coordinates."""
    if texture == "solid":
        return np.ones_like(u)
    if texture == "striped":
        return np.where(np.sin(u * 2.6 * math.pi) > 0, 1.0, 0.45)
    if texture == "dotted":
        fu, fv = u * 2.2 - np.round(u * 2.2), v * 2.2 - np.round(v * 2.2)
        return np.where(fu * fu + fv * fv < 0.09, 0.35, 1.0)
    if texture == "checkered":
        return np.where((np.floor(u * 2.2) + np.floor(v * 2.2)) % 2 == 0, 1.0, 0.5)
    raise ValueError(f"unknown texture {texture!r}; textures: {', '.join(TEXTURES)}")


def make_background(kind: str, size: int, rng: np.random.Generator,
                    avoid: tuple[tuple[int, int, int], ...] = ()) -> np.ndarray:
    """float32 (size·s, size·s, 3) background in [0, 255] at the supersampled resolution.
    The stills-only kinds draw colours at least ``_APART`` from every colour in ``avoid`` (the
    objects'), so a caption's colour words stay true of the objects alone."""
    n = size * _SUPERSAMPLE
    if kind in STILL_BACKGROUNDS[len(BACKGROUNDS):]:
        return _still_background(kind, n, rng, np.asarray(avoid, np.float32).reshape(-1, 3))
    grey = rng.uniform(90, 150)
    img = np.full((n, n, 3), grey, np.float32)
    if kind == "plain":
        return img
    if kind != "clutter":
        raise ValueError(f"unknown background {kind!r}; backgrounds: {', '.join(STILL_BACKGROUNDS)}")
    # Low-contrast blobs and lines: texture that must not be mistaken for an object.
    gx, gy = _grid(size)
    for _ in range(int(rng.integers(4, 8))):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.2)
        tone = rng.uniform(-35, 35, size=3).astype(np.float32)
        img[(gx - cx) ** 2 + (gy - cy) ** 2 < r * r] += tone
    for _ in range(int(rng.integers(2, 5))):
        a, b, w = rng.uniform(-1, 1), rng.uniform(0, 1), rng.uniform(0.005, 0.02)
        img[np.abs(gy - (a * gx + b)) < w] += rng.uniform(-30, 30)
    return np.clip(img, 0, 255)


_APART = 100.0  # least RGB distance between a still's background colours and its objects' colours


def _flat_colour(rng: np.random.Generator, avoid: np.ndarray) -> np.ndarray:
    """A background colour: any brightness, mixed with a random colour by 0-100% (half the time
    under 35%: greyish), redrawn until it is ``_APART`` from every colour in ``avoid``."""
    for _ in range(50):
        grey = rng.uniform(25, 230)
        hue = rng.uniform(0, 255, size=3)
        w = rng.uniform(0, 0.35) if rng.random() < 0.5 else rng.uniform(0.35, 1.0)
        colour = ((1 - w) * grey + w * hue).astype(np.float32)
        if not len(avoid) or np.linalg.norm(avoid - colour, axis=1).min() >= _APART:
            return colour
    return np.full(3, 128 if not len(avoid) or avoid.mean() < 128 else 40, np.float32)  # rare: a neutral grey


def _still_background(kind: str, n: int, rng: np.random.Generator, avoid: np.ndarray) -> np.ndarray:
    if kind == "tinted":
        return np.broadcast_to(_flat_colour(rng, avoid), (n, n, 3)).copy()
    if kind == "gradient":
        a, b = _flat_colour(rng, avoid), _flat_colour(rng, avoid)
        theta = rng.uniform(0, 2 * math.pi)
        gx, gy = _grid(n // _SUPERSAMPLE)
        t = (gx - 0.5) * math.cos(theta) + (gy - 0.5) * math.sin(theta) + 0.5
        t = np.clip(t, 0, 1)[..., None]
        return (1 - t) * a + t * b
    # noise: pixel noise (at the output resolution) over a flat colour
    base = _flat_colour(rng, avoid)
    noise = rng.normal(0, rng.uniform(6, 22), size=(n // _SUPERSAMPLE, n // _SUPERSAMPLE, 3)).astype(np.float32)
    noise = noise.repeat(_SUPERSAMPLE, 0).repeat(_SUPERSAMPLE, 1)
    return np.clip(base + noise, 0, 255)


def _erode(mask: np.ndarray, steps: int) -> np.ndarray:
    """``mask`` shrunk by ``steps`` pixels (4-neighbourhood), outside the frame counting as empty."""
    for _ in range(steps):
        padded = np.pad(mask, 1)
        mask = mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask


def render(objects: list[SceneObject], size: int, background: np.ndarray) -> np.ndarray:
    """Draw ``objects`` (back to front) over ``background`` -> uint8 (size, size, 3) RGB."""
    img = background.copy()
    gx, gy = _grid(size)
    for obj in objects:
        if obj.opacity <= 0:
            continue
        r = obj.scale / 2
        c, s = math.cos(obj.angle), math.sin(obj.angle)
        dx, dy = (gx - obj.x) / r, (obj.y - gy) / r  # dy: up is positive
        u, v = c * dx + s * dy, -s * dx + c * dy  # rotate the world by -angle
        mask = shape_mask(obj.shape, u, v)
        if not mask.any():
            continue
        if obj.outline > 0:  # an outlined shape: its edge band, a fixed thickness all round
            mask &= ~_erode(mask, max(1, round(obj.outline * obj.scale * len(gx))))
        shade = _texture(obj.texture, u, v)[mask]
        colour = np.asarray(obj.colour, np.float32)
        img[mask] = (1 - obj.opacity) * img[mask] + obj.opacity * shade[:, None] * colour
    n = size
    small = img.reshape(n, _SUPERSAMPLE, n, _SUPERSAMPLE, 3).mean(axis=(1, 3))
    return np.clip(small + 0.5, 0, 255).astype(np.uint8)
