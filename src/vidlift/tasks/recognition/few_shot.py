"""K-shot training subsets: K labelled clips of every class, drawn with a fixed seed.

The few-shot protocol of X-CLIP (Ni et al., ECCV 2022, §4.3) and ViFi-CLIP (Rasheed et al.,
CVPR 2023): for K ∈ {2, 4, 8, 16}, K training videos per class are sampled at random and the
full test split is used. Here the draw is a pure function of (annotations, K, seed): the same
config always trains on the same clips, and a class with fewer than K clips is an error
rather than a silently smaller "K-shot" set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sample_few_shot(labels: Sequence[int], k: int, num_classes: int, seed: int = 0,
                    class_names: Sequence[str] | None = None) -> list[int]:
    """Positions (sorted) of ``k`` entries of each class 0..num_classes-1 in ``labels``.

    Classes are visited in index order, each drawing ``k`` of its entries without replacement
    from ``numpy.random.default_rng(seed)``.

    Raises:
        ValueError: ``k`` < 1, or some classes have fewer than ``k`` entries (all are named).
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"few_shot must be a positive integer (clips per class), got {k!r}")
    labels = np.asarray(labels, dtype=np.int64)
    by_class = [np.flatnonzero(labels == c) for c in range(num_classes)]
    short = [c for c in range(num_classes) if len(by_class[c]) < k]
    if short:
        names = [f"{class_names[c]!r} ({len(by_class[c])})" if class_names else f"{c} ({len(by_class[c])})"
                 for c in short]
        more = f" and {len(names) - 10} more" if len(names) > 10 else ""
        raise ValueError(f"few_shot={k}: {len(short)} of {num_classes} classes have fewer than {k} training clips: "
                         f"{', '.join(names[:10])}{more}")
    rng = np.random.default_rng(seed)
    chosen = [int(i) for idx in by_class for i in rng.choice(idx, size=k, replace=False)]
    return sorted(chosen)


__all__ = ["sample_few_shot"]
