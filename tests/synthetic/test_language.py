"""Words from programs: captions follow the events (and their reversal), answers are right."""

import numpy as np

from vidlift.synthetic.language import captions, query
from vidlift.synthetic.motions import Actor, Event, Program, reverse_program
from vidlift.synthetic.questions import multiple_choice, open_questions

RNG = np.random.default_rng


def _program(*events, **actor):
    spec = dict(shape="circle", colour="red", x=0.25, y=0.25, scale=0.3) | actor
    return Program((Actor(**spec, events=tuple(events)),), 8, 8.0)


def test_captions_word_the_events_in_order_and_reversed_for_the_twin():
    program = _program(Event("move_left", 0, 0.5, 0.3), Event("grow", 0.5, 1, 1.8), x=0.7)
    forward = captions(program, RNG(0), 10)
    backward = captions(reverse_program(program), RNG(0), 10)
    assert len(set(forward)) == 10 and all("red circle" in c for c in forward)
    assert any("left" in c for c in forward) and not any("right" in c for c in forward)
    assert any("right" in c for c in backward) and not any("left" in c for c in backward)
    assert not set(forward) & set(backward)


def test_recolour_wording_names_both_colours():
    program = _program(Event("recolour", 0, 1, colour="blue"))
    texts = captions(program, RNG(1), 6)
    assert all("blue" in t for t in texts)
    twin = reverse_program(program)
    assert query(twin.actors[0], twin.actors[0].events[0], "blue") == "the blue circle turns red"


def test_multiple_choice_answers_follow_the_order_of_events():
    program = _program(Event("move_right", 0, 0.5, 0.4), Event("recolour", 0.5, 1, colour="blue"))
    by_type = {q.type: q for q in multiple_choice(program, RNG(0))}
    assert by_type["TN"].options[by_type["TN"].answer] == "turn blue"
    assert by_type["TP"].options[by_type["TP"].answer] == "move right"
    assert {"move left", "turn red"} <= set(by_type["TN"].options) | set(by_type["TP"].options)  # reversed answers
    assert by_type["DO"].question.endswith(("at the end?", "at the start?"))
    assert by_type["DL"].options[by_type["DL"].answer] == "at the top right"  # ends at x 0.65, y 0.25
    assert by_type["DC"].options[by_type["DC"].answer] == "one"
    answers = {q.question: q.answer for q in open_questions(program, RNG(0))}
    assert answers["which way does the circle move?"] == "right"
    assert answers["what colour does the circle turn into?"] == "blue"


def test_no_location_question_for_an_object_never_seen_at_either_end():
    program = _program(Event("appear", 0, 0.5), Event("disappear", 0.5, 1), opacity=0.0)
    types = [q.type for q in multiple_choice(program, RNG(0))]
    assert "DL" not in types and {"TN", "TP"} <= set(types)
