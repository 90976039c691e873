"""Words for programs: captions, queries and questions generated from the events themselves.

Wording follows the events, so a time-reversed video gets the reversed description ("moves
left, then grows" becomes "shrinks, then moves right"). Captions mix appearance words (size,
colour, texture, shape, background, other objects) with the temporal ones.
"""

from __future__ import annotations

import numpy as np

from .motions import Actor, Event, Program

# kind -> variants of (present tense, gerund); {colour} is the new colour, {before} the old one.
PHRASES: dict[str, tuple[tuple[str, str], ...]] = {
    "move_left": (("moves to the left", "moving to the left"), ("slides left", "sliding left"),
                  ("moves left", "moving left")),
    "move_right": (("moves to the right", "moving to the right"), ("slides right", "sliding right"),
                   ("moves right", "moving right")),
    "move_up": (("moves up", "moving up"), ("rises", "rising"), ("slides upwards", "sliding upwards")),
    "move_down": (("moves down", "moving down"), ("sinks", "sinking"), ("slides downwards", "sliding downwards")),
    "rotate_cw": (("rotates clockwise", "rotating clockwise"), ("turns clockwise", "turning clockwise"),
                  ("spins clockwise", "spinning clockwise")),
    "rotate_ccw": (("rotates counter-clockwise", "rotating counter-clockwise"),
                   ("turns anticlockwise", "turning anticlockwise"),
                   ("spins counter-clockwise", "spinning counter-clockwise")),
    "grow": (("grows", "growing"), ("gets bigger", "getting bigger"), ("expands", "expanding")),
    "shrink": (("shrinks", "shrinking"), ("gets smaller", "getting smaller"), ("contracts", "contracting")),
    "appear": (("appears", "appearing"), ("fades in", "fading in"), ("comes into view", "coming into view")),
    "disappear": (("disappears", "disappearing"), ("fades out", "fading out"), ("vanishes", "vanishing")),
    "recolour": (("turns from {before} to {colour}", "turning from {before} to {colour}"),
                 ("changes colour from {before} to {colour}", "changing colour from {before} to {colour}"),
                 ("turns {colour}", "turning {colour}")),
    "jump": (("jumps", "jumping"), ("hops up and down", "hopping up and down"),
             ("jumps up and lands again", "jumping up and landing again")),
    "pulse": (("pulses", "pulsing"), ("swells and shrinks back", "swelling and shrinking back"),
              ("briefly puffs up", "briefly puffing up")),
    "blink": (("blinks", "blinking"), ("flickers off and on", "flickering off and on"),
              ("blinks out and back", "blinking out and back")),
    "wiggle": (("wiggles", "wiggling"), ("rocks back and forth", "rocking back and forth"), ("wobbles", "wobbling")),
    "still": (("stays still", "staying still"), ("does not move", "not moving"), ("rests", "resting")),
}
# Base form, for answer options ("what does the red circle do?" -> "move left").
BASE = {
    "move_left": "move left", "move_right": "move right", "move_up": "move up", "move_down": "move down",
    "rotate_cw": "rotate clockwise", "rotate_ccw": "rotate counter-clockwise", "grow": "grow", "shrink": "shrink",
    "appear": "appear", "disappear": "disappear", "recolour": "turn {colour}", "jump": "jump", "pulse": "pulse",
    "blink": "blink", "wiggle": "wiggle", "still": "stay still",
}
# One-word answers (MSRVTT-QA style); recolour answers with the colour itself.
WORD = {
    "move_left": "left", "move_right": "right", "move_up": "up", "move_down": "down", "rotate_cw": "clockwise",
    "rotate_ccw": "counterclockwise", "grow": "grow", "shrink": "shrink", "appear": "appear",
    "disappear": "disappear", "jump": "jump", "pulse": "pulse", "blink": "blink", "wiggle": "wiggle",
}
NUMBERS = ("zero", "one", "two", "three", "four", "five")
BACKGROUND_WORDS = {"plain": ("a plain grey background", "a grey background"),
                    "clutter": ("a cluttered background", "a busy background")}


def article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def actor_noun(actor: Actor, *, size: bool = False, texture: bool = False, colour: str | None = None) -> str:
    """"red circle", "large striped red circle" ... ``colour`` overrides the starting colour."""
    words = []
    if size and actor.size is not None and not any(e.kind in ("grow", "shrink") for e in actor.events):
        words.append(actor.size)
    if texture and actor.texture != "solid":
        words.append(actor.texture)
    words.append(colour or actor.colour)
    words.append(actor.shape)
    return " ".join(words)


def event_phrase(e: Event, before: str, variant: int = 0, gerund: bool = False) -> str:
    text = PHRASES[e.kind][variant % len(PHRASES[e.kind])][1 if gerund else 0]
    return text.format(colour=e.colour, before=before)


def base_phrase(kind: str, colour: str | None = None) -> str:
    return BASE[kind].format(colour=colour)


def colours_before(actor: Actor) -> list[str]:
    """The actor's colour just before each of its events."""
    out, colour = [], actor.colour
    for e in actor.events:
        out.append(colour)
        if e.kind == "recolour":
            colour = e.colour
    return out


def _others(program: Program) -> str:
    others = program.actors[1:]
    if not others:
        return ""
    if len(others) == 1:
        return article("small " + actor_noun(others[0]))
    return " and ".join(article("small " + actor_noun(o)) for o in others)


def captions(program: Program, rng: np.random.Generator, n: int) -> list[str]:
    """``n`` different captions of the main object's events (one or two), varied wording."""
    main = program.actors[0]
    events = [e for e in main.events if e.kind != "still"]
    if not 1 <= len(events) <= 2:
        raise ValueError(f"captions describe one or two events, the main object has {len(events)}")
    befores = [b for e, b in zip(main.events, colours_before(main)) if e.kind != "still"]
    out: list[str] = []
    for _ in range(50 * n):
        v = int(rng.integers(0, 3))
        noun = actor_noun(main, size=bool(rng.integers(0, 2)), texture=bool(rng.integers(0, 2)))
        subject = article(noun)
        p = [event_phrase(e, b, v) for e, b in zip(events, befores)]
        g = [event_phrase(e, b, v, gerund=True) for e, b in zip(events, befores)]
        if len(events) == 1:
            forms = [f"{subject} {p[0]}", f"there is {subject} that {p[0]}", f"a video of {subject} {g[0]}"]
        else:
            forms = [f"{subject} {p[0]}, then {p[1]}", f"{subject} {p[0]} and then {p[1]}",
                     f"first {subject} {p[0]}, then it {p[1]}", f"{subject} {p[1]} after {g[0]}",
                     f"{subject} {p[0]} before {g[1]}"]
        text = forms[int(rng.integers(0, len(forms)))]
        extra = int(rng.integers(0, 3))
        if extra == 1:
            text += " on " + BACKGROUND_WORDS[program.background][int(rng.integers(0, 2))]
        elif extra == 2 and len(program.actors) > 1:
            text += (" next to " if len(program.actors) == 2 else " near ") + _others(program)
        if text not in out:
            out.append(text)
        if len(out) == n:
            return out
    raise RuntimeError(f"could not word {n} different captions")  # pragma: no cover - 45+ forms exist


def query(actor: Actor, e: Event, before: str) -> str:
    """A grounding query for one event, naming the object by its colour at that moment:
    "the red circle moves to the left", "the red circle turns blue"."""
    return f"the {actor_noun(actor, colour=before)} {event_phrase(e, before, 2 if e.kind == 'recolour' else 0)}"
