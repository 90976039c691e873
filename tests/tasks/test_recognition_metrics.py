"""Recognition metrics: hand-computed cases (mean class accuracy as mmaction2 defines it), and
agreement with torchmetrics."""

from __future__ import annotations

import math

import pytest
import torch

from vidlift.tasks.recognition.metrics import (
    classification_metrics,
    mean_class_accuracy,
    negative_log_likelihood,
    per_class_accuracy,
    top_k_accuracy,
)

# 5 clips, 4 classes. Ranks of the true class: clip0 1st, clip1 2nd, clip2 3rd, clip3 1st, clip4 4th.
SCORES = torch.tensor([
    [0.70, 0.10, 0.15, 0.05],  # label 0: top-1 hit
    [0.50, 0.30, 0.15, 0.05],  # label 1: 2nd
    [0.40, 0.35, 0.20, 0.05],  # label 2: 3rd
    [0.10, 0.20, 0.30, 0.40],  # label 3: top-1 hit
    [0.10, 0.20, 0.30, 0.40],  # label 0: last
])
LABELS = torch.tensor([0, 1, 2, 3, 0])


def test_top_k_by_hand():
    assert top_k_accuracy(SCORES, LABELS, 1) == pytest.approx(2 / 5)
    assert top_k_accuracy(SCORES, LABELS, 2) == pytest.approx(3 / 5)
    assert top_k_accuracy(SCORES, LABELS, 3) == pytest.approx(4 / 5)
    assert top_k_accuracy(SCORES, LABELS, 4) == 1.0
    assert top_k_accuracy(SCORES, LABELS, 5) == 1.0  # k = min(5, C)


def test_mean_class_accuracy_by_hand():
    # class 0: 1 of 2 right; classes 1, 2: 0 of 1; class 3: 1 of 1 -> (0.5 + 0 + 0 + 1) / 4
    assert per_class_accuracy(SCORES, LABELS).tolist() == [0.5, 0.0, 0.0, 1.0]
    assert mean_class_accuracy(SCORES, LABELS) == pytest.approx(1.5 / 4)
    m = classification_metrics(SCORES, LABELS)
    assert m == pytest.approx({"top1": 0.4, "top5": 1.0, "mean_class_accuracy": 0.375})


def test_a_predicted_class_absent_from_the_split_counts_as_zero():
    # mmaction2 mean_class_accuracy: its confusion matrix spans the union of true and predicted
    # classes, and a row without clips counts hit / cnt if cnt else 0.0.
    # 4 classes; class 2 has no clip but is predicted for the last clip; class 3 is neither.
    scores = torch.tensor([[0.9, 0.05, 0.05, 0.0], [0.2, 0.7, 0.1, 0.0], [0.1, 0.8, 0.1, 0.0], [0.1, 0.2, 0.7, 0.0]])
    labels = torch.tensor([0, 1, 1, 0])
    acc = per_class_accuracy(scores, labels)
    assert acc[:2].tolist() == [0.5, 1.0] and math.isnan(acc[2]) and math.isnan(acc[3])
    # union {0, 1, 2}: (1/2 + 2/2 + 0) / 3 = 0.5 (leaving class 2 out would give 0.75)
    assert mean_class_accuracy(scores, labels) == pytest.approx(0.5)
    # predicted nowhere and absent: left out; here every class is a label -> the mean of recalls
    assert mean_class_accuracy(scores[:3], torch.tensor([0, 1, 2])) == pytest.approx((1 + 1 + 0) / 3)


def test_nll_and_empty_and_bad_input():
    probs = torch.tensor([[0.5, 0.5], [0.25, 0.75]])
    assert negative_log_likelihood(probs, torch.tensor([0, 1])) == pytest.approx(-(math.log(0.5) + math.log(0.75)) / 2)
    empty = torch.zeros(0, 3)
    none = torch.zeros(0, dtype=torch.long)
    assert all(math.isnan(v) for v in classification_metrics(empty, none).values())
    with pytest.raises(ValueError, match="labels must lie"):
        top_k_accuracy(SCORES, torch.tensor([0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match="expected labels"):
        mean_class_accuracy(SCORES, LABELS[:3])
    with pytest.raises(ValueError, match="k must be"):
        top_k_accuracy(SCORES, LABELS, 0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_torchmetrics(seed):
    tm = pytest.importorskip("torchmetrics.functional")
    g = torch.Generator().manual_seed(seed)
    c = 7
    labels = torch.cat([torch.arange(c), torch.randint(0, c, (53,), generator=g)])  # every class present
    scores = torch.randn(len(labels), c, generator=g).softmax(-1)
    for k in (1, 5):
        want = tm.accuracy(scores, labels, task="multiclass", num_classes=c, average="micro", top_k=k)
        assert top_k_accuracy(scores, labels, k) == pytest.approx(float(want), abs=1e-6)
    want = tm.accuracy(scores, labels, task="multiclass", num_classes=c, average="macro", top_k=1)
    assert mean_class_accuracy(scores, labels) == pytest.approx(float(want), abs=1e-6)


def test_torchmetrics_macro_with_absent_classes():
    tm = pytest.importorskip("torchmetrics.functional")
    # Class 3 never occurs and is never predicted: both leave it out.
    scores = torch.tensor([[0.6, 0.3, 0.1, 0.0], [0.1, 0.6, 0.3, 0.0], [0.5, 0.1, 0.4, 0.0], [0.2, 0.1, 0.7, 0.0]])
    labels = torch.tensor([0, 1, 2, 2])
    want = tm.accuracy(scores, labels, task="multiclass", num_classes=4, average="macro")
    assert mean_class_accuracy(scores, labels) == pytest.approx(float(want)) == pytest.approx((1 + 1 + 0.5) / 3)
    # Class 3 never occurs but is predicted (for a class-2 clip, so class 2 drops to 0 of 2):
    # both count class 3 with recall 0 (mean over 4), as mmaction2 does.
    scores[3] = torch.tensor([0.1, 0.1, 0.2, 0.6])
    ours = mean_class_accuracy(scores, labels)
    theirs = float(tm.accuracy(scores, labels, task="multiclass", num_classes=4, average="macro"))
    assert ours == pytest.approx(theirs) == pytest.approx((1 + 1 + 0 + 0) / 4)
