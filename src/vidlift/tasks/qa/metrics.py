"""Video QA metrics: accuracy overall, per question type and per NExT-QA group, in percent; and
the answer vocabulary of open-ended QA.

**Multiple choice, NExT-QA** (Xiao, Shang, Yao & Chua, "NExT-QA: Next Phase of Question-Answering
to Explaining Temporal Actions", CVPR 2021; github.com/doc-doc/NExT-QA, ``eval_mc.py``): a
question is right when the predicted option index equals the answer index. The official
evaluator

- merges the temporal-previous type into temporal-next (``TP`` counts as ``TN``, reported as
  "Bef&Aft"), so the per-type figures are over ``CW, CH, TN (+TP), TC, DC, DL, DO``;
- reports the causal / temporal / descriptive groups ``C``, ``T``, ``D`` (its ``Acc_C``,
  ``Acc_T``, ``Acc_D``) *pooled over questions*: right answers of every type of the group
  divided by its questions (not the mean of the type accuracies);
- and the overall accuracy over all questions.

vidlift reports them as ``acc_CW`` … ``acc_DO``, ``acc_C``, ``acc_T``, ``acc_D`` and ``accuracy``
(percent). Where the official script divides by zero (a type with no question in the split), vidlift
leaves that key out. Types that are not NExT-QA codes (MSRVTT-MC has none; MSRVTT-QA's question
words) are reported per type as given, without groups.

**Open-ended** (MSRVTT-QA / MSVD-QA; Xu et al., ACM MM 2017): classification over an answer
vocabulary; a prediction is right when it is the ground-truth answer, so a test answer outside
the vocabulary (OOV) is always wrong and stays in the denominator. The vocabulary is the ``k``
most frequent training answers (:func:`answer_vocabulary`), as in Just Ask (Yang et al., ICCV 2021;
github.com/antoyang/just-ask, ``preproc/preproc_msrvttqa.py``: ``Counter(train answers)
.most_common(k)``), whose ties — answers with equal counts — keep their order of first occurrence
in the training file (``most_common`` sorts stably). Just Ask uses k = 4000; issue 10 and
ClipBERT's 1500-answer MSRVTT-QA head show the range; vidlift's default is 1000.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from ...data.datasets import QUESTION_TYPES

# NExT-QA's merge: temporal-previous questions are scored as temporal-next (eval_mc.py).
NEXTQA_MERGE = {"TP": "TN"}
NEXTQA_GROUPS = ("C", "T", "D")  # causal, temporal, descriptive: a type code's first letter


def answer_vocabulary(answers: Iterable[str], k: int) -> list[str]:
    """The ``k`` most frequent answers, most frequent first; equal counts keep the order in
    which the answers first occur (Just Ask's ``Counter.most_common``)."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"the answer vocabulary size must be a positive integer, got {k!r}")
    counts = Counter(answers)  # insertion-ordered: first occurrence
    ranked = sorted(counts, key=lambda a: -counts[a])  # stable: ties stay in first-occurrence order
    return ranked[:k]


def is_nextqa(types: Sequence[str | None]) -> bool:
    """Whether every type is a NExT-QA code (then groups and the TP merge apply)."""
    return bool(types) and all(t in QUESTION_TYPES for t in types)


def qa_accuracy(correct: Sequence[bool], types: Sequence[str | None] | None = None) -> dict[str, float]:
    """Per question right/wrong (N,) and its type (N,) -> {"accuracy", "acc_<type>" … (and
    "acc_C", "acc_T", "acc_D" for NExT-QA types), "num_questions"}; accuracies in percent.
    NExT-QA types follow the official evaluator (module docstring). Questions without a type
    count in ``accuracy`` only. ``accuracy`` is NaN for no question."""
    n = len(correct)
    types = [None] * n if types is None else list(types)
    if len(types) != n:
        raise ValueError(f"{n} answers but {len(types)} question types")
    out = {"accuracy": 100.0 * sum(map(bool, correct)) / n if n else float("nan"), "num_questions": float(n)}
    nextqa = is_nextqa(types)
    right: dict[str, int] = {}
    count: dict[str, int] = {}
    for ok, t in zip(correct, types):
        if t is None or t == "":
            continue
        keys = [NEXTQA_MERGE.get(t, t)]
        if nextqa:
            keys.append(t[0])  # the group, pooled over its questions
        for key in keys:
            count[key] = count.get(key, 0) + 1
            right[key] = right.get(key, 0) + bool(ok)
    for key in sorted(count, key=lambda k: (len(k) == 1, k)):
        out[f"acc_{key}"] = 100.0 * right[key] / count[key]
    return out


__all__ = ["NEXTQA_MERGE", "NEXTQA_GROUPS", "answer_vocabulary", "is_nextqa", "qa_accuracy"]
