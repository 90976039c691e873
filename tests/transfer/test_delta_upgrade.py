"""Deltas of delta format 1 (vidlift 0.1.0) load today: three strategies' tensor names changed
in format 2 (R²-Tuning's packed attention, X-CLIP's MIT layers, the X-CLIP prompt's output
projection) and are renamed on load. The fixture was written by that version
(scripts/make_old_deltas.py), with the logits it gave for a fixed clip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from vidlift.transfer import load_delta
from vidlift.transfer.delta import FORMAT, OLD_FORMATS

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "deltas_v1"


@pytest.mark.parametrize("name", ["xclip", "xclip_prompt", "r2_tuning"])
def test_format_1_deltas_load_and_give_the_logits_of_their_version(name):
    path = FIXTURE / f"{name}.safetensors"
    with safe_open(str(path), "pt") as f:
        assert json.loads(f.metadata()["vidlift"])["format"] in OLD_FORMATS != FORMAT
    io = load_file(str(FIXTURE / "io.safetensors"))
    model = load_delta(path, "random:tiny-clip:0").eval()
    with torch.no_grad():
        logits = model.logits(model.encode_video(io["video"]), io[f"{name}.text"])
    torch.testing.assert_close(logits, io[f"{name}.logits"], rtol=0, atol=1e-4)


def test_an_unknown_format_is_refused(tmp_path):
    from safetensors.torch import save_file

    from vidlift.transfer.delta import DeltaMismatchError

    bad = tmp_path / "d.safetensors"
    save_file({"x": torch.zeros(1)}, str(bad), metadata={"vidlift": json.dumps({"format": "vidlift-transfer-delta/0"})})
    with pytest.raises(DeltaMismatchError, match="format 'vidlift-transfer-delta/0', expected"):
        load_delta(bad, "random:tiny-clip:0")


PRE12 = Path(__file__).resolve().parent.parent / "fixtures" / "deltas_pre12"


@pytest.mark.parametrize("name", ["st_adapter", "full_finetune", "aim", "distillation"])
def test_deltas_saved_before_issue_12_rebuild_the_model_they_saved(name):
    """Issue 12 changed defaults (ST-Adapter's pooling, full_finetune's frozen token table, AIM's
    drop path) and renamed the image-tower student distillation -> tower_compression. Deltas
    written before (scripts/make_old_deltas.py at 7187d7a) lack those hyper-parameters: they
    must load as the model they were (legacy_defaults, RENAMED) and give that version's logits."""
    io = load_file(str(PRE12 / "io.safetensors"))
    model = load_delta(PRE12 / f"{name}.safetensors", "random:tiny-clip:0").eval()
    with torch.no_grad():
        logits = model.logits(model.encode_video(io["video"]), io[f"{name}.text"])
    torch.testing.assert_close(logits, io[f"{name}.logits"], rtol=0, atol=1e-5)
    expected = {"st_adapter": ("pooling", "frames"), "full_finetune": ("freeze_token_embedding", False),
                "aim": ("drop_path", 0.0), "distillation": ("width", 16)}[name]
    (strategy,) = model.strategies
    assert getattr(strategy, expected[0]) == expected[1]
    assert strategy.name == ("tower_compression" if name == "distillation" else name)
