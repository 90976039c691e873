"""Greedy and beam search on hand-made decoders: beam finds the more probable caption that
greedy misses, beam 1 is greedy, items of a batch are independent, max_length and the end
token bound every sequence."""

from __future__ import annotations

import math

import pytest
import torch

from vidlift.tasks.captioning.decoder import CaptionDecoder
from vidlift.tasks.captioning.search import beam_search, greedy_search

START, END, A, B = 0, 1, 2, 3


def toy_step(prefix: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """P(A|S)=.6, P(B|S)=.4; after S A: end .4, A .3, B .3; after S B: end .9, A .05, B .05;
    anything longer ends. Greedy: A end (.6 * .4 = .24); the best caption: B end (.4 * .9 = .36)."""
    table = {(START,): [0.0, 0.0, 0.6, 0.4], (START, A): [0.0, 0.4, 0.3, 0.3], (START, B): [0.0, 0.9, 0.05, 0.05]}
    out = []
    for row in prefix.tolist():
        p = table.get(tuple(row), [0.0, 1.0, 0.0, 0.0])
        out.append([math.log(x) if x > 0 else -1e9 for x in p])
    return torch.tensor(out)


def test_beam_finds_the_more_probable_caption_greedy_misses():
    assert greedy_search(toy_step, 1, START, END, max_length=6) == [[A, END]]
    assert beam_search(toy_step, 1, START, END, max_length=6, beam_size=2) == [[B, END]]
    assert beam_search(toy_step, 1, START, END, max_length=6, beam_size=1) == [[A, END]]


def test_batched_items_are_independent():
    def step(prefix, rows):  # item 1 sees the toy decoder with A and B swapped
        logp = toy_step(prefix.where(~((rows[:, None] == 1) & (prefix >= A)), 5 - prefix), rows)
        return torch.where(rows[:, None] == 1, logp[:, [0, 1, 3, 2]], logp)

    assert greedy_search(step, 2, START, END, 6) == [[A, END], [B, END]]
    assert beam_search(step, 2, START, END, 6, beam_size=2) == [[B, END], [A, END]]


def _random_step(seed: int, vocab: int = 12):
    torch.manual_seed(seed)
    dec = CaptionDecoder(vocab, video_dim=8, width=16, heads=2, layers=1, encoder_layers=0, max_frames=4,
                         max_positions=10).eval()
    memory = dec.encode(torch.randn(3, 4, 8))

    def step(prefix, rows):
        return dec(prefix, memory[rows])[:, -1].log_softmax(-1)

    return step


def _logprob(step, tokens: list[int], row: int) -> float:
    seq = torch.tensor([[START, *tokens]])
    with torch.no_grad():
        return sum(float(step(seq[:, : i + 1], torch.tensor([row]))[0, t]) for i, t in enumerate(tokens))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_one_is_greedy_and_wider_beams_score_at_least_as_well(seed):
    step = _random_step(seed)
    greedy = greedy_search(step, 3, START, END, max_length=8)
    assert beam_search(step, 3, START, END, max_length=8, beam_size=1) == greedy
    wide = beam_search(step, 3, START, END, max_length=8, beam_size=4)
    for row in range(3):
        assert len(greedy[row]) <= 7 and len(wide[row]) <= 7  # max_length counts the start token
        if wide[row][-1] == END and greedy[row][-1] == END:
            assert _logprob(step, wide[row], row) >= _logprob(step, greedy[row], row) - 1e-5


def test_sequences_stop_at_end_and_max_length():
    def never_end(prefix, rows):
        logp = torch.full((len(prefix), 4), -5.0)
        logp[:, A] = -0.1
        return logp

    assert greedy_search(never_end, 2, START, END, max_length=4) == [[A, A, A]] * 2
    assert beam_search(never_end, 2, START, END, max_length=4, beam_size=3) == [[A, A, A]] * 2

    def end_now(prefix, rows):
        logp = torch.full((len(prefix), 4), -5.0)
        logp[:, END] = -0.01
        return logp

    assert greedy_search(end_now, 1, START, END, 10) == [[END]]
    assert beam_search(end_now, 1, START, END, 10, beam_size=3) == [[END]]


def test_length_penalty_favours_longer_finished_captions():
    # Two endings: "end" now (log .5) or "A end" (log .5 + log .8). Without a penalty the short one
    # wins (-0.69 > -0.92); GNMT's penalty with alpha=1 divides by (5+1)/6=1 and (5+2)/6:
    # -0.693 vs -0.916 / 1.1667 = -0.785, still short; alpha=4: -0.916 / 1.853 = -0.494 wins.
    def step(prefix, rows):
        out = []
        for row in prefix.tolist():
            p = {1: [1e-9, 0.5, 0.5 - 2e-9, 1e-9], 2: [1e-9, 0.8, 0.2 - 2e-9, 1e-9]}.get(len(row), [0, 1, 0, 0])
            out.append([math.log(max(x, 1e-12)) for x in p])
        return torch.tensor(out)

    assert beam_search(step, 1, START, END, 6, beam_size=2) == [[END]]
    assert beam_search(step, 1, START, END, 6, beam_size=2, length_penalty=4.0) == [[A, END]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(toy_step, 1, START, END, 5, beam_size=0)
    with pytest.raises(ValueError, match="max_length"):
        greedy_search(toy_step, 1, START, END, 1)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_batched_search_equals_one_item_at_a_time(beam_size):
    # Items of a batch that finish at different steps (an end token urged more strongly with
    # every position for some items, never for others: those run to max_length) must get from
    # the batched search what a batch of one gives them.
    torch.manual_seed(4)
    dec = CaptionDecoder(10, video_dim=8, width=16, heads=2, layers=1, encoder_layers=0, max_frames=4,
                         max_positions=12).eval()
    with torch.no_grad():
        memory = dec.encode(torch.randn(6, 4, 8))
    urge = torch.tensor([-5.0, 0.0, 0.6, 1.2, 1.8, 3.0])

    def logp(prefix, items):
        out = dec(prefix, memory[items])[:, -1]
        out[:, END] += urge[items] * (prefix.shape[1] - 1)
        return out.log_softmax(-1)

    for search, kwargs in ((beam_search, {"beam_size": beam_size}), (greedy_search, {})):
        batched = search(logp, 6, START, END, 9, **kwargs)
        assert {len(t) for t in batched} == {2, 8}  # some end early, some run to max_length
        for b in range(6):
            alone = search(lambda p, r, b=b: logp(p, torch.full_like(r, b)), 1, START, END, 9, **kwargs)
            assert alone == [batched[b]]
