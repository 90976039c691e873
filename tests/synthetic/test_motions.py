"""Motion programs: event semantics, exact time reversal, objects kept in view."""

import math

import numpy as np
import pytest

from vidlift.synthetic.motions import (
    MAX_ROTATION_STEP,
    REVERSE,
    Actor,
    Event,
    Program,
    render_program,
    reverse_program,
    scene_at,
)
from vidlift.synthetic.scenarios import FREE_KINDS, MOTION_CLASSES, clip_program, grounding_program, recognition_program


def _main_states(program: Program):
    return [scene_at(program, float(t))[-1] for t in program.frame_times()]


def test_class_list_is_made_of_reverse_pairs():
    names = [c.name for c in MOTION_CLASSES]
    assert len(names) == len(set(names)) == 14
    for i, c in enumerate(MOTION_CLASSES):
        partner = MOTION_CLASSES[i ^ 1]
        assert tuple(REVERSE[k] for k in reversed(c.kinds)) == partner.kinds, c.name


@pytest.mark.parametrize("kind, attr, sign", [
    ("move_left", "x", -1), ("move_right", "x", 1), ("move_up", "y", -1), ("move_down", "y", 1),
    ("rotate_cw", "angle", -1), ("rotate_ccw", "angle", 1), ("grow", "scale", 1), ("shrink", "scale", -1),
    ("appear", "opacity", 1), ("disappear", "opacity", -1),
])
def test_event_changes_the_object_the_named_way(kind, attr, sign):
    amount = {"grow": 2.0, "shrink": 2.0}.get(kind, 0.3)
    actor = Actor("star", "red", 0.5, 0.5, 0.3, opacity=0.0 if kind == "appear" else 1.0,
                  events=(Event(kind, 0.0, 1.0, amount),))
    states = _main_states(Program((actor,), 8, 8.0))
    values = [getattr(s, attr) for s in states]
    steps = np.diff(values) * sign
    assert (steps > 0).all(), values


def test_there_and_back_events_return_and_recolour_changes_colour():
    events = (Event("jump", 0, 1, 0.2), Event("pulse", 1, 2, 1.5), Event("recolour", 2, 3, colour="blue"))
    program = Program((Actor("circle", "red", 0.5, 0.6, 0.3, events=events),), 24, 8.0)
    states = _main_states(program)
    assert min(s.y for s in states[:8]) < 0.6 - 0.15 and abs(states[8].y - 0.6) < 0.03
    assert max(s.scale for s in states[8:16]) > 0.3 * 1.4 and abs(states[16].scale - 0.3) < 0.02
    assert states[0].colour == (220, 40, 40) and states[-1].colour == (40, 80, 225)


@pytest.mark.parametrize("index", range(len(MOTION_CLASSES) // 2))
def test_reversed_program_renders_the_frames_in_reverse(index):
    program = recognition_program(3, index, 8, 8.0)
    frames = render_program(program, 32)
    backwards = render_program(reverse_program(program), 32)
    assert np.abs(backwards.astype(int) - frames[::-1]).max() <= 1
    # ... and it is not the same video: the pair differs in time only.
    assert np.abs(backwards.astype(int) - frames).mean() > 0.05


def test_reversed_free_programs_match_too():
    for k in range(12):
        program = clip_program(1, "qa", k, 8, 8.0, two_events=1.0)
        frames, backwards = render_program(program, 24), render_program(reverse_program(program), 24)
        assert np.abs(backwards.astype(int) - frames[::-1]).max() <= 1, program.actors[0].events
    long = grounding_program(1, 0, 48, 2.0)
    assert np.abs(render_program(reverse_program(long), 24).astype(int) - render_program(long, 24)[::-1]).max() <= 1


def test_sampled_objects_stay_in_view_and_rotations_stay_readable():
    programs = [recognition_program(0, k, 8, 8.0) for k in range(14)]
    programs += [clip_program(0, "retrieval", k, 8, 8.0, 0.5) for k in range(40)]
    programs += [grounding_program(0, k, 96, 4.0) for k in range(10)]
    for p in programs:
        states = _main_states(p)
        for s in states:
            assert 0.0 <= s.x <= 1.0 and 0.0 <= s.y <= 1.0 and 0.15 <= s.scale <= 0.5
        main = p.actors[0]
        if any(e.kind in ("rotate_cw", "rotate_ccw", "wiggle") for e in main.events):
            assert main.texture != "solid"
            assert max(abs(a.angle - b.angle) for a, b in zip(states, states[1:])) <= MAX_ROTATION_STEP + 1e-9
        for d in p.actors[1:]:  # distractors: smaller, other shape and colour, never moving
            assert d.scale < 0.18 and d.shape != main.shape and d.colour != main.colour and not d.events


def test_grounding_events_sit_on_the_clip_grid_with_known_times():
    for k in range(10):
        p = grounding_program(5, k, 96, 4.0)
        events = p.actors[0].events
        assert 3 <= len(events) <= 5
        for e in events:
            assert e.start % 2 == 0 and e.end % 2 == 0 and 4 <= e.end - e.start <= 6 and e.end <= 24
        assert {e.kind for e in events} <= set(FREE_KINDS)


def test_invalid_events_are_refused():
    with pytest.raises(ValueError, match="unknown event kind"):
        Event("teleport", 0, 1)
    with pytest.raises(ValueError, match="ends"):
        Event("grow", 1, 1, 2.0)
    with pytest.raises(ValueError, match="overlap"):
        Actor("star", "red", 0.5, 0.5, 0.3, events=(Event("grow", 0, 2, 2.0), Event("shrink", 1, 3, 2.0)))
    with pytest.raises(ValueError, match="colour"):
        Event("recolour", 0, 1)
    assert math.isclose(Program((), 96, 4.0).duration, 24.0)
