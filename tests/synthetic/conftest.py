"""Small generated benchmark sets, written once per test session."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from vidlift.data.video import decode, probe
from vidlift.synthetic.synth import generate

# 56 recognition videos = 4 decks of the 7 motion pairs: 4 videos per class, every split used.
SIZES = {"recognition": 56, "retrieval": 20, "captioning": 10, "qa": 20, "grounding": 6}


@pytest.fixture(scope="session")
def synth_sets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth")
    return {task: generate(task, root / task, num_videos=n, seed=7, workers=0, progress=False)
            for task, n in SIZES.items()}


def load_programs(folder: Path) -> list[dict]:
    lines = (folder / "videos.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def decode_all(path: Path) -> np.ndarray:
    """Every frame of a video, uint8 (T, H, W, 3)."""
    return decode(path, np.arange(probe(path).num_frames)).numpy()
