"""Caption generation from a next-token distribution: greedy and beam search, batched.

Both work on a ``step`` callable, ``step(prefix (N, L), rows (N,)) -> log-probabilities (N, V)``
of the token after each prefix (``rows`` says which input item each prefix belongs to, so the
caller can pick that item's video memory), so they are tested on hand-made toy decoders and used
unchanged with :class:`~.decoder.CaptionDecoder`. Every sequence starts with ``start_id``; a
sequence ends when it emits ``end_id`` (kept at its end) or when it holds ``max_length`` tokens
(start included).

Beam search follows UniVL's captioning decoder (Luo et al., arXiv 2002.06353;
``microsoft/UniVL`` ``modules/beam.py``, itself from OpenNMT-py): ``beam_size`` hypotheses per
item ranked by the sum of token log-probabilities, no length penalty, beam 5 in its caption
evaluation. Two departures, both to make the search do what its docstring promises:

- a hypothesis among the ``beam_size`` best candidates that emits the end token is set aside
  as finished instead of being extended further (UniVL keeps extending every beam after its
  end token and only stops when the top beam ends), and the beam is refilled with the best
  unfinished continuations;
- an item stops when its best finished score can no longer be beaten: with no length penalty a
  longer hypothesis only loses log-probability, so that is when the best finished score is at
  least the best unfinished one. With ``length_penalty`` alpha > 0 (GNMT's ``((5 + len) / 6) **
  alpha``, Wu et al., arXiv 1609.08144; off by default, as in UniVL) an item stops once it holds
  ``beam_size`` finished hypotheses.

With ``beam_size = 1`` beam search returns greedy search's sequences.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Step = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check(batch: int, max_length: int) -> None:
    if batch < 0 or max_length < 2:
        raise ValueError(f"generation needs a batch size >= 0 and max_length >= 2 (start + one token), "
                         f"got {batch} and {max_length}")


@torch.no_grad()
def greedy_search(step: Step, batch: int, start_id: int, end_id: int, max_length: int,
                  device: torch.device | str = "cpu") -> list[list[int]]:
    """The most probable next token at every step, for ``batch`` items at once.

    Returns one token list per item, without the start token, ending with ``end_id`` when the
    sequence ended before ``max_length``.
    """
    _check(batch, max_length)
    seqs = torch.full((batch, 1), start_id, dtype=torch.long, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    rows = torch.arange(batch, device=device)
    while seqs.shape[1] < max_length and not bool(done.all()):
        active = rows[~done]
        logp = step(seqs[active], active)
        nxt = torch.full((batch,), end_id, dtype=torch.long, device=device)
        nxt[active] = logp.argmax(-1)
        seqs = torch.cat([seqs, nxt[:, None]], 1)
        done |= nxt == end_id
    return [_cut(row.tolist()[1:], end_id) for row in seqs]


def _cut(tokens: list[int], end_id: int) -> list[int]:
    return tokens[: tokens.index(end_id) + 1] if end_id in tokens else tokens


def _normalise(score: float, length: int, alpha: float) -> float:
    return score / (((5.0 + length) / 6.0) ** alpha) if alpha else score


@torch.no_grad()
def beam_search(step: Step, batch: int, start_id: int, end_id: int, max_length: int, beam_size: int = 5,
                length_penalty: float = 0.0, device: torch.device | str = "cpu") -> list[list[int]]:
    """Beam search (module docstring), all items' beams in one ``step`` call per position.

    Returns, per item, the best hypothesis (without the start token): finished ones, and where
    ``max_length`` stopped the search, the unfinished beams too.
    """
    _check(batch, max_length)
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    k = beam_size
    # Alive beams: (batch, k, length) tokens and (batch, k) summed log-probabilities. At the start
    # only beam 0 is real (the others are -inf so the first expansion takes k distinct tokens).
    seqs = torch.full((batch, k, 1), start_id, dtype=torch.long, device=device)
    scores = torch.full((batch, k), float("-inf"), device=device)
    scores[:, 0] = 0.0
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    done = [False] * batch
    while seqs.shape[2] < max_length and not all(done):
        active = [b for b in range(batch) if not done[b]]
        idx = torch.tensor(active, dtype=torch.long, device=device)
        a = len(active)
        prefix = seqs[idx].reshape(a * k, -1)
        logp = step(prefix, idx.repeat_interleave(k)).float().view(a, k, -1)
        vocab = logp.shape[-1]
        total = (scores[idx][:, :, None] + logp).view(a, -1)
        # 2k candidates leave k that do not end even if k of them end here.
        top_scores, top_ids = total.topk(min(2 * k, total.shape[1]), dim=1)
        new_seqs = seqs.new_full((batch, k, seqs.shape[2] + 1), end_id)
        new_scores = torch.full((batch, k), float("-inf"), device=device)
        new_seqs[:, :, :-1] = seqs
        length = seqs.shape[2]  # tokens after start once the candidate token is appended
        for row, b in enumerate(active):
            kept = 0
            for rank, (s, flat) in enumerate(zip(top_scores[row].tolist(), top_ids[row].tolist())):
                if s == float("-inf"):
                    break
                beam, token = divmod(flat, vocab)
                if token == end_id:
                    if rank < k:  # an ending outside the k best is not a beam hypothesis (beam 1 = greedy)
                        hyp = seqs[b, beam, 1:].tolist() + [token]
                        finished[b].append((_normalise(s, length, length_penalty), hyp))
                elif kept < k:
                    new_seqs[b, kept, :-1] = seqs[b, beam]
                    new_seqs[b, kept, -1] = token
                    new_scores[b, kept] = s
                    kept += 1
                if kept == k and len(finished[b]) >= k:
                    break
            best_alive = float(new_scores[b].max())
            if finished[b]:
                best_done = max(f[0] for f in finished[b])
                if length_penalty == 0.0 and best_done >= best_alive:
                    done[b] = True
                elif length_penalty != 0.0 and len(finished[b]) >= k:
                    done[b] = True
            if kept == 0:
                done[b] = True
        seqs, scores = new_seqs, new_scores
    out = []
    for b in range(batch):
        candidates = list(finished[b])
        if not done[b]:  # max_length reached: the unfinished beams compete with the finished ones
            candidates += [(_normalise(float(s), seqs.shape[2] - 1, length_penalty), seqs[b, j, 1:].tolist())
                           for j, s in enumerate(scores[b]) if float(s) > float("-inf")]
        out.append(max(candidates, key=lambda f: f[0])[1])
    return out


__all__ = ["greedy_search", "beam_search", "Step"]
