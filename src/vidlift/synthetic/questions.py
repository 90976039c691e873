"""Questions about a program: NExT-QA-style multiple choice and MSRVTT-QA-style one-word answers.

NExT-QA type codes used (the closest of NExT-QA's eight): ``CH`` causal-how, for "how does the
red circle move / change?" (the manner of the only event); ``TN`` temporal-next ("what does
it do after X?"); ``TP`` temporal-previous ("... before X?"); ``DO`` descriptive-other (colour,
at the start or the end); ``DC`` descriptive-count; ``DL`` descriptive-location (where the
object ends up). ``CW`` (why), and ``TC`` (what happens while ...) have no procedural
counterpart here. Wrong options always include the *time-reversed* answer ("move right" for
"move left", the first event for "what happens after the first event"), so that guessing
from appearance or orderless evidence fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .language import BASE, NUMBERS, WORD, actor_noun, base_phrase, colours_before, event_phrase
from .motions import MOVES, REVERSE, Actor, Event, Program, final_actor
from .scene import COLOURS

NEXTQA_TYPES = ("CW", "CH", "TN", "TP", "TC", "DC", "DL", "DO")
NUM_OPTIONS = 5
LOCATIONS = ("at the top left", "at the top right", "at the bottom left", "at the bottom right", "in the middle")
_MOVING = frozenset({*MOVES, "rotate_cw", "rotate_ccw", "jump", "wiggle"})


@dataclass(frozen=True)
class Choice:
    """A multiple-choice question: ``options[answer]`` is right; ``type`` is a NExT-QA code."""

    question: str
    options: tuple[str, ...]
    answer: int
    type: str


@dataclass(frozen=True)
class OpenQuestion:
    """An open question with a one-word answer."""

    question: str
    answer: str


def _events(main: Actor) -> list[tuple[Event, str]]:
    return [(e, b) for e, b in zip(main.events, colours_before(main)) if e.kind != "still"]


def _recolours(main: Actor) -> bool:
    return any(e.kind == "recolour" for e in main.events)


def _subject(main: Actor) -> str:
    # Distractors never share the main shape, so the shape alone names it when colour changes.
    return main.shape if _recolours(main) else actor_noun(main)


def _option(e: Event, before: str) -> str:
    return base_phrase(e.kind, e.colour)


def _reverse_option(e: Event, before: str) -> str:
    """The answer the time-reversed event would have: "move right" for "move left", "turn red"
    for a red thing turning blue."""
    return base_phrase(REVERSE[e.kind], before)


def _choice(rng: np.random.Generator, question: str, correct: str, hard: list[str], pool: list[str],
            qtype: str) -> Choice:
    options = [correct]
    for o in hard + [pool[int(i)] for i in rng.permutation(len(pool))]:
        if o not in options:
            options.append(o)
        if len(options) == NUM_OPTIONS:
            break
    order = rng.permutation(NUM_OPTIONS)
    shuffled = tuple(options[int(i)] for i in order)
    return Choice(question, shuffled, shuffled.index(correct), qtype)


def _event_pool(rng: np.random.Generator) -> list[str]:
    colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
    return [base_phrase(k, colour) for k in BASE if k != "still"]


def _location(x: float, y: float) -> str | None:
    dx, dy = x - 0.5, y - 0.5
    if abs(dx) < 0.08 and abs(dy) < 0.08:
        return LOCATIONS[4]
    if abs(dx) < 0.12 or abs(dy) < 0.12:
        return None  # near a dividing line: no clear answer
    return f"at the {'top' if dy < 0 else 'bottom'} {'left' if dx < 0 else 'right'}"


def multiple_choice(program: Program, rng: np.random.Generator) -> list[Choice]:
    """NExT-QA-style questions about the main object of a one- or two-event clip."""
    main = program.actors[0]
    events = _events(main)
    subject = _subject(main)
    out = []
    if len(events) == 1:
        (e, b), = events
        verb = "move" if e.kind in _MOVING else "change"
        out.append(_choice(rng, f"how does the {subject} {verb}?", _option(e, b), [_reverse_option(e, b)],
                           _event_pool(rng), "CH"))
    else:
        (e1, b1), (e2, b2) = events
        out.append(_choice(rng, f"what does the {subject} do after {event_phrase(e1, b1, 0, gerund=True)}?",
                           _option(e2, b2), [_option(e1, b1), _reverse_option(e2, b2), _reverse_option(e1, b1)],
                           _event_pool(rng), "TN"))
        out.append(_choice(rng, f"what does the {subject} do before {event_phrase(e2, b2, 0, gerund=True)}?",
                           _option(e1, b1), [_option(e2, b2), _reverse_option(e1, b1), _reverse_option(e2, b2)],
                           _event_pool(rng), "TP"))
    end = final_actor(main)
    colours = list(COLOURS)
    if _recolours(main):
        at_end = bool(rng.integers(2))
        correct, other = (end.colour, main.colour) if at_end else (main.colour, end.colour)
        question = f"what colour is the {main.shape} at the {'end' if at_end else 'start'}?"
        out.append(_choice(rng, question, correct, [other], colours, "DO"))
    else:
        out.append(_choice(rng, f"what colour is the {main.shape}?", main.colour, [], colours, "DO"))
    count = len(program.actors)
    out.append(_choice(rng, "how many shapes are there in the video?", NUMBERS[count],
                       [], list(NUMBERS[1:]), "DC"))
    # Where it ends up (or starts, when it has vanished by the end; nothing if never still seen).
    seen = [(w, a) for w, a in (("end", end), ("start", main)) if a.opacity > 0]
    place = _location(seen[0][1].x, seen[0][1].y) if seen else None
    if place is not None:
        out.append(_choice(rng, f"where is the {subject} at the {seen[0][0]}?", place, [], list(LOCATIONS), "DL"))
    return out


def _family(kind: str) -> str:
    if kind in MOVES:
        return "move"
    if kind in ("rotate_cw", "rotate_ccw"):
        return "rotate"
    return "recolour" if kind == "recolour" else "do"


def open_questions(program: Program, rng: np.random.Generator) -> list[OpenQuestion]:
    """MSRVTT-QA-style questions with one-word answers (directions, verbs, colours, shapes, counts)."""
    main = program.actors[0]
    events = _events(main)
    subject = _subject(main)
    families = [_family(e.kind) for e, _ in events]
    out = []
    for i, (e, _) in enumerate(events):
        when = ""
        if families.count(families[i]) > 1:
            when = " first" if i == 0 else " at the end"
        fam = families[i]
        if fam == "move":
            out.append(OpenQuestion(f"which way does the {subject} move{when}?", WORD[e.kind]))
        elif fam == "rotate":
            out.append(OpenQuestion(f"which way does the {subject} rotate{when}?", WORD[e.kind]))
        elif fam == "recolour":
            out.append(OpenQuestion(f"what colour does the {main.shape} turn into?", e.colour))
        else:
            out.append(OpenQuestion(f"what does the {subject} do{when}?", WORD[e.kind]))
    if _recolours(main):
        out.append(OpenQuestion("what shape changes colour?", main.shape))
    else:
        out.append(OpenQuestion(f"what colour is the {main.shape}?", main.colour))
        out.append(OpenQuestion(f"what shape is the {main.colour} object?", main.shape))
    out.append(OpenQuestion("how many shapes are there?", NUMBERS[len(program.actors)]))
    return out
