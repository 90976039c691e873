"""The demo's mechanics on a tiny random backbone (the shipped `tiny` is tested in test_pretrain)."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from vidlift.backbones import CLIP, get_arch, save_backbone
from vidlift.backbones.tokenizer import ClipBpeTokenizer
from vidlift.cli import main
from vidlift.synthetic.demo import LABEL_SETS


def test_demo_reports_both_label_sets_and_reuses_the_benchmark(tmp_path, capsys):
    torch.manual_seed(0)
    cfg = get_arch("tiny-clip")
    cfg.text.vocab_size, cfg.text.eos_token_id, cfg.text.context_length = 49408, 49407, 32
    save_backbone(CLIP(cfg), tmp_path / "bb", "hf", tokenizer=ClipBpeTokenizer(context_length=32))
    args = ["demo", "--out", str(tmp_path / "out"), "--backbone", f"hf:{tmp_path / 'bb'}",
            "--num-videos", "56", "--workers", "0", "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "zero-shot" in printed and "linear probe (mean-pooled)" in printed and "temporal transformer" in printed
    result = json.loads((tmp_path / "out" / "results.json").read_text())
    assert result["chance"] == {"appearance": 1 / 64, "motion": 1 / 14}
    assert result["num_train"] + result["num_test"] <= 56
    for method in ("zero-shot", "linear probe (mean-pooled)", "temporal transformer"):
        assert set(result["accuracy"][method]) == set(LABEL_SETS)
        assert all(0.0 <= v <= 1.0 for v in result["accuracy"][method].values())
    assert (tmp_path / "out" / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = tmp_path / "out" / "recognition" / "meta.json"
    stamp = meta.stat().st_mtime_ns
    assert main(args) == 0  # same settings: the benchmark is reused, not regenerated
    assert meta.stat().st_mtime_ns == stamp
