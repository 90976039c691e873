"""A second, independent renderer of coloured still shapes, for testing generalisation.

The tiny ILFM shipped with vidlift is pretrained on still images from the project's own
renderer (``vidlift.synthetic``). To measure whether the model recognises *shapes* and
*colours* rather than the quirks of that one renderer, this module draws the same kind of
content -- one coloured shape on a background, 64x64 px -- with code written independently
of the training renderer: it neither imports nor copies anything from ``vidlift.synthetic``,
and its proportions, sizes, jitter, RGB values for the colour names and backgrounds are its
own choices.

Drawing: the shape's coverage mask is drawn with ``PIL.ImageDraw`` at 4x (256x256, ellipse
or polygon) and downsampled to 64x64 with LANCZOS (anti-aliased edges); the object colour is
then composited over a 64x64 background through that mask with ``Image.composite``.

12 classes: 4 colours (red, green, blue, yellow) x 3 shapes (circle, square, triangle).
Per still, from a seeded ``numpy.random.default_rng``:

* size: the shape's unrotated width (circle diameter, square side, equilateral triangle
  side) is 25-60% of the image side;
* rotation: uniform over a full turn for squares and triangles (circles are not rotated);
* position: uniform over every centre that keeps the rotated shape, plus a 2 px margin,
  inside the frame;
* colour: a fixed RGB per colour name plus a small per-channel jitter (sd 8, clipped to +-20);
* background, one of five kinds: flat light, flat dark, flat tinted (a random colour), a
  linear gradient between two such colours in a random direction, or one such colour with
  low-amplitude pixel noise (sd 6). Every background colour is at least ``MIN_CONTRAST``
  (RGB Euclidean distance) away from the object's colour.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

SIDE = 64
SCALE = 4  # supersampling factor of the mask
SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow")
CLASSES: tuple[tuple[str, str], ...] = tuple((shape, colour) for colour in COLOURS for shape in SHAPES)
RGB = {
    "red": (208, 38, 44),
    "green": (46, 158, 70),
    "blue": (38, 72, 206),
    "yellow": (238, 206, 42),
}
SIZE_RANGE = (0.25, 0.60)  # unrotated width as a fraction of SIDE
MARGIN = 2.0  # px kept free between the shape and the frame's edge
COLOUR_JITTER_SD, COLOUR_JITTER_MAX = 8.0, 20.0
NOISE_SD = 6.0
MIN_CONTRAST = 130.0  # min RGB distance between any background colour and the object colour
BACKGROUNDS = ("light", "dark", "tinted", "gradient", "noise")


def outline(shape: str, width: float, angle: float = 0.0) -> np.ndarray:
    """Vertices (K, 2) of a square or equilateral triangle of unrotated ``width`` px, centred on
    the origin (the triangle on its centroid), rotated by ``angle`` radians."""
    if shape == "square":
        h = width / 2
        pts = np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    elif shape == "triangle":
        r = width / math.sqrt(3)  # circumradius of an equilateral triangle with side `width`
        a = np.array([-90.0, 30.0, 150.0]) * math.pi / 180  # apex up (y grows downwards)
        pts = np.stack([r * np.cos(a), r * np.sin(a)], axis=1)
    else:
        raise ValueError(f"no polygon for shape {shape!r}")
    c, s = math.cos(angle), math.sin(angle)
    return pts @ np.array([[c, s], [-s, c]])


def half_extent(shape: str, width: float, angle: float = 0.0) -> tuple[float, float]:
    """Half the axis-aligned bounding box (x, y) of the shape around its centre."""
    if shape == "circle":
        return width / 2, width / 2
    pts = outline(shape, width, angle)
    return float(np.abs(pts[:, 0]).max()), float(np.abs(pts[:, 1]).max())


def draw_mask(shape: str, width: float, centre: tuple[float, float], angle: float = 0.0) -> np.ndarray:
    """Coverage of the shape per pixel, float32 (SIDE, SIDE) in [0, 1]: drawn with ImageDraw at
    ``SCALE``x and downsampled with LANCZOS."""
    big = Image.new("L", (SIDE * SCALE, SIDE * SCALE), 0)
    draw = ImageDraw.Draw(big)
    cx, cy = centre[0] * SCALE, centre[1] * SCALE
    if shape == "circle":
        r = width * SCALE / 2
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    else:
        pts = outline(shape, width * SCALE, angle) + [cx, cy]
        draw.polygon([tuple(p) for p in pts.tolist()], fill=255)
    small = big.resize((SIDE, SIDE), Image.Resampling.LANCZOS)
    return np.asarray(small, dtype=np.float32) / 255.0


def _far_colour(rng: np.random.Generator, kind: str, avoid: np.ndarray) -> np.ndarray:
    """A background colour of ``kind`` (light / dark / tinted) at least MIN_CONTRAST from ``avoid``."""
    for _ in range(200):
        if kind == "light":
            c = rng.uniform(175, 245) + rng.uniform(-15, 15, 3)
        elif kind == "dark":
            c = rng.uniform(10, 70) + rng.uniform(-10, 10, 3)
        else:  # tinted: any colour, often saturated
            c = rng.uniform(0, 255, 3)
        c = np.clip(c, 0, 255)
        if np.linalg.norm(c - avoid) >= MIN_CONTRAST:
            return c
    raise RuntimeError(f"no {kind} background colour far enough from {avoid.tolist()}")


def background(rng: np.random.Generator, kind: str, avoid: np.ndarray) -> np.ndarray:
    """A float (SIDE, SIDE, 3) background of ``kind`` (one of BACKGROUNDS), far from colour ``avoid``."""
    flat_kinds = ("light", "dark", "tinted")
    if kind in flat_kinds:
        return np.broadcast_to(_far_colour(rng, kind, avoid), (SIDE, SIDE, 3)).copy()
    if kind == "gradient":
        a = _far_colour(rng, flat_kinds[rng.integers(3)], avoid)
        for _ in range(200):
            b = _far_colour(rng, flat_kinds[rng.integers(3)], avoid)
            if _segment_distance(a, b, avoid) >= MIN_CONTRAST:
                break
        else:
            b = a
        theta = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
        t = (xx - SIDE / 2) * math.cos(theta) + (yy - SIDE / 2) * math.sin(theta)
        t = ((t - t.min()) / (t.max() - t.min()))[..., None]
        return a * (1 - t) + b * t
    if kind == "noise":
        base = _far_colour(rng, flat_kinds[rng.integers(3)], avoid)
        img = base + rng.normal(0, NOISE_SD, (SIDE, SIDE, 3))
        return np.clip(img, 0, 255)
    raise ValueError(f"unknown background kind {kind!r} (one of {BACKGROUNDS})")


def _segment_distance(a: np.ndarray, b: np.ndarray, p: np.ndarray) -> float:
    """Distance from colour ``p`` to the nearest colour on the straight line from ``a`` to ``b``."""
    ab = b - a
    t = float(np.clip(np.dot(p - a, ab) / max(float(np.dot(ab, ab)), 1e-9), 0.0, 1.0))
    return float(np.linalg.norm(a + t * ab - p))


def render_with_mask(shape: str, colour: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One still, uint8 (SIDE, SIDE, 3), and the object's coverage mask, float32 (SIDE, SIDE)."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r} (one of {SHAPES})")
    if colour not in RGB:
        raise ValueError(f"unknown colour {colour!r} (one of {COLOURS})")
    fg = np.asarray(RGB[colour], dtype=np.float64)
    fg = np.clip(fg + np.clip(rng.normal(0, COLOUR_JITTER_SD, 3), -COLOUR_JITTER_MAX, COLOUR_JITTER_MAX), 0, 255)
    width = rng.uniform(*SIZE_RANGE) * SIDE
    angle = 0.0 if shape == "circle" else rng.uniform(0, 2 * math.pi)
    hx, hy = half_extent(shape, width, angle)
    cx = rng.uniform(hx + MARGIN, SIDE - hx - MARGIN)
    cy = rng.uniform(hy + MARGIN, SIDE - hy - MARGIN)
    mask = draw_mask(shape, width, (cx, cy), angle)
    bg = background(rng, BACKGROUNDS[rng.integers(len(BACKGROUNDS))], fg)
    bg_img = Image.fromarray(np.round(bg).astype(np.uint8), "RGB")
    fg_img = Image.new("RGB", (SIDE, SIDE), tuple(int(round(v)) for v in fg))
    mask_img = Image.fromarray(np.round(mask * 255).astype(np.uint8), "L")
    return np.asarray(Image.composite(fg_img, bg_img, mask_img)), mask


def render_still(shape: str, colour: str, rng: np.random.Generator) -> np.ndarray:
    """One still of a ``colour`` ``shape``: uint8 (SIDE, SIDE, 3)."""
    return render_with_mask(shape, colour, rng)[0]


def make_set(per_class: int, seed: int) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """``per_class`` stills of each of the 12 CLASSES, class by class: images uint8 (N, 64, 64, 3)
    and labels [(shape, colour)] * N. Still ``i`` of a class depends only on (seed, class, i),
    so a larger set extends a smaller one with the same seed."""
    images, labels = [], []
    for k, (shape, colour) in enumerate(CLASSES):
        for i in range(per_class):
            images.append(render_still(shape, colour, np.random.default_rng([seed, k, i])))
            labels.append((shape, colour))
    return np.stack(images), labels
