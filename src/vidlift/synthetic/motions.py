"""Motion programs: what each object does and when, turned into per-frame scenes.

A :class:`Program` is a still background, a few :class:`Actor` objects (the first one is the
*main* object) and, per actor, a list of non-overlapping :class:`Event` s with start and end
times in seconds. :func:`scene_at` folds the events up to a time into one
:class:`~vidlift.synthetic.scene.SceneObject` per actor; :func:`render_program` draws the frames.

Every event kind has a reverse (``REVERSE``): played backwards, "move left" is "move right",
"appear" is "disappear", "turn from red to blue" is "turn from blue to red", and the
there-and-back kinds (jump, pulse, blink, wiggle) are their own reverse.
:func:`reverse_program` builds the program whose frames are exactly this program's frames in
reverse order; that is what makes the benchmark's time-reversed class pairs: same frames,
opposite label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from .scene import COLOURS, SIZES, SceneObject, make_background, render

MOVES = {"move_left": (-1.0, 0.0), "move_right": (1.0, 0.0), "move_up": (0.0, -1.0), "move_down": (0.0, 1.0)}
# amount: distance in frame sides (moves, jump), radians (rotations, wiggle), scale factor > 1
# (grow, shrink, pulse); unused for appear / disappear / blink / still; recolour names the colour.
EVENT_KINDS = (
    *MOVES, "rotate_cw", "rotate_ccw", "grow", "shrink", "appear", "disappear", "recolour",
    "jump", "pulse", "blink", "wiggle", "still",
)
REVERSE = {
    "move_left": "move_right", "move_right": "move_left", "move_up": "move_down", "move_down": "move_up",
    "rotate_cw": "rotate_ccw", "rotate_ccw": "rotate_cw", "grow": "shrink", "shrink": "grow",
    "appear": "disappear", "disappear": "appear", "recolour": "recolour",
    "jump": "jump", "pulse": "pulse", "blink": "blink", "wiggle": "wiggle", "still": "still",
}
ROTATIONS = frozenset({"rotate_cw", "rotate_ccw", "wiggle"})
SCALINGS = frozenset({"grow", "shrink", "pulse"})
# Largest rotation between two frames that still reads unambiguously: a hexagon repeats every
# 60 degrees and the checkered/dotted textures every 90, so steps must stay well under 30.
MAX_ROTATION_STEP = math.radians(25)


@dataclass(frozen=True)
class Event:
    """One change of an actor between ``start`` and ``end`` seconds (see ``EVENT_KINDS``)."""

    kind: str
    start: float
    end: float
    amount: float = 0.0
    colour: str | None = None  # recolour: the colour turned into

    def __post_init__(self) -> None:
        if self.kind not in REVERSE:
            raise ValueError(f"unknown event kind {self.kind!r}; kinds: {', '.join(EVENT_KINDS)}")
        if not self.end > self.start:
            raise ValueError(f"event {self.kind} ends ({self.end}) before it starts ({self.start})")
        if self.kind == "recolour" and self.colour not in COLOURS:
            raise ValueError(f"recolour needs a colour name, got {self.colour!r}")


@dataclass(frozen=True)
class Actor:
    """An object's appearance at time 0 and what it does. ``size`` is a name in ``SIZES`` or
    ``None`` for scales that are not one of them (distractors, scaled objects)."""

    shape: str
    colour: str
    x: float
    y: float
    scale: float
    angle: float = 0.0
    texture: str = "solid"
    opacity: float = 1.0
    size: str | None = None
    events: tuple[Event, ...] = ()

    def __post_init__(self) -> None:
        if self.colour not in COLOURS:
            raise ValueError(f"unknown colour {self.colour!r}")
        for a, b in zip(self.events, self.events[1:]):
            if b.start < a.end - 1e-9:
                raise ValueError(f"events overlap: {a.kind} until {a.end}s, {b.kind} from {b.start}s")


@dataclass(frozen=True)
class Program:
    """A video: ``num_frames`` frames at ``fps``; frame ``i`` shows time ``(i + 0.5) / fps``."""

    actors: tuple[Actor, ...]
    num_frames: int
    fps: float
    background: str = "plain"
    background_seed: int = 0
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def duration(self) -> float:
        return self.num_frames / self.fps

    def frame_times(self) -> np.ndarray:
        # Frame centres: symmetric under t -> duration - t, so a reversed program samples the
        # same instants in the opposite order.
        return (np.arange(self.num_frames) + 0.5) / self.fps


@dataclass
class _State:
    x: float
    y: float
    scale: float
    angle: float
    opacity: float
    rgb: np.ndarray
    colour: str


def _triangle(p: float) -> float:
    """0 -> 1 -> 0 over p in [0, 1]: the there-and-back profile, symmetric in time."""
    return 1.0 - abs(2.0 * p - 1.0)


def _apply(state: _State, e: Event, p: float) -> None:
    """Advance ``state`` by event ``e`` at progress ``p`` in [0, 1]. Every formula satisfies
    f_reverse(1 - p) == f(p) from the other end, which makes :func:`reverse_program` exact."""
    k = e.kind
    if k in MOVES:
        dx, dy = MOVES[k]
        state.x += dx * e.amount * p
        state.y += dy * e.amount * p
    elif k == "rotate_cw":
        state.angle -= e.amount * p  # SceneObject angles are counter-clockwise on screen
    elif k == "rotate_ccw":
        state.angle += e.amount * p
    elif k == "grow":
        state.scale *= e.amount**p
    elif k == "shrink":
        state.scale /= e.amount**p
    elif k == "appear":
        state.opacity = p
    elif k == "disappear":
        state.opacity = 1.0 - p
    elif k == "recolour":
        # Hold each colour for a quarter of the event so both ends are seen clearly.
        w = min(max((p - 0.25) / 0.5, 0.0), 1.0)
        target = np.asarray(COLOURS[e.colour], np.float64)
        state.rgb = (1 - w) * state.rgb + w * target
        state.colour = e.colour if p >= 0.5 else state.colour
    elif k == "jump":
        state.y -= e.amount * _triangle(p)
    elif k == "pulse":
        state.scale *= e.amount ** _triangle(p)
    elif k == "blink":
        state.opacity *= 1.0 - _triangle(p)
    elif k == "wiggle":
        state.angle += e.amount * _triangle(p)


def _initial(actor: Actor) -> _State:
    return _State(actor.x, actor.y, actor.scale, actor.angle, actor.opacity,
                  np.asarray(COLOURS[actor.colour], np.float64), actor.colour)


def _state_at(actor: Actor, t: float) -> _State:
    state = _initial(actor)
    for e in actor.events:
        if t <= e.start:
            break
        _apply(state, e, min((t - e.start) / (e.end - e.start), 1.0))
    return state


def _to_object(actor: Actor, s: _State) -> SceneObject:
    rgb = tuple(int(round(c)) for c in s.rgb)
    return SceneObject(actor.shape, rgb, s.x, s.y, s.scale, s.angle, actor.texture, s.opacity)


def scene_at(program: Program, t: float) -> list[SceneObject]:
    """The objects at time ``t`` (seconds), back to front: distractors first, main object last."""
    objects = [_to_object(a, _state_at(a, t)) for a in program.actors]
    return objects[1:] + objects[:1]


def colour_at(actor: Actor, t: float) -> str:
    """Name of the actor's colour at time ``t`` (the target once a recolour is half done)."""
    return _state_at(actor, t).colour


def final_actor(actor: Actor) -> Actor:
    """The actor's appearance once all its events are done, with no events."""
    s = _state_at(actor, math.inf)
    return replace(actor, x=s.x, y=s.y, scale=s.scale, angle=s.angle, opacity=s.opacity, colour=s.colour,
                   size=actor.size if not any(e.kind in ("grow", "shrink") for e in actor.events) else None,
                   events=())


def reverse_actor(actor: Actor, duration: float) -> Actor:
    """The actor whose states are this actor's, played from ``duration`` back to 0."""
    reversed_events = []
    colour = actor.colour
    colours_before = []
    for e in actor.events:  # the colour before each event: what a reversed recolour turns into
        colours_before.append(colour)
        if e.kind == "recolour":
            colour = e.colour
    for e, before in zip(reversed(actor.events), reversed(colours_before)):
        reversed_events.append(Event(REVERSE[e.kind], duration - e.end, duration - e.start, e.amount,
                                     before if e.kind == "recolour" else None))
    return replace(final_actor(actor), events=tuple(reversed_events))


def reverse_program(program: Program) -> Program:
    """The program whose frame ``i`` equals this program's frame ``num_frames - 1 - i``."""
    actors = tuple(reverse_actor(a, program.duration) for a in program.actors)
    return replace(program, actors=actors, meta={**program.meta, "reversed": not program.meta.get("reversed", False)})


def render_program(program: Program, size: int) -> np.ndarray:
    """Draw every frame: uint8 (num_frames, size, size, 3) RGB."""
    background = make_background(program.background, size, np.random.default_rng(program.background_seed))
    return np.stack([render(scene_at(program, float(t)), size, background) for t in program.frame_times()])


def size_name(scale: float) -> str | None:
    """The ``SIZES`` name of a scale, if it is one."""
    for name, value in SIZES.items():
        if abs(value - scale) < 1e-6:
            return name
    return None
