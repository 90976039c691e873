"""Write the golden fixture of torchvision's augmentation outputs, for vidlift's parity test.

What it writes: ``tests/fixtures/torchvision_augment_golden.npz`` — a fixed uint8 clip
(2 frames, 3 x 13 x 17) and what torchvision (``torchvision.transforms.functional`` on tensors,
the functions its ``RandomResizedCrop``, ``RandomHorizontalFlip`` and ``RandAugment`` call)
makes of it:

* ``hflip``;
* ``resized_crop`` at fixed boxes, bilinear and bicubic, antialiased;
* every RandAugment op (``autoaugment._apply_op``, the function ``RandAugment`` applies) at the
  magnitudes of bins 0, 9 and 30 of 31, both signs for the signed ops;
* ``adjust_hue`` at fixed shifts;
* ``RandomResizedCrop.get_params`` and ``RandomCrop.get_params`` boxes, and whole
  ``RandAugment(2, 9)`` / ``RandAugment(3, 20)``, ``ColorJitter(0.4, 0.4, 0.2, 0.1)`` (plain and
  inside ``RandomApply(p=0.8)``) and ``RandomGrayscale(0.5)`` outputs, after
  ``torch.manual_seed(seed)``:
  vidlift draws from a ``torch.Generator`` seeded alike and must land on the same boxes and ops.

torchvision does not import beside vidlift's CPU torch, so this runs in a throwaway venv
outside the repo (see DESIGN.md section 6)::

    python3 -m venv /tmp/tvenv
    /tmp/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 numpy
    cd /path/to/vidlift && /tmp/tvenv/bin/python scripts/make_torchvision_golden.py

The output is deterministic for a given torch / torchvision version; rerun only when the fixture
itself must change, and commit the file it writes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import _apply_op

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torchvision_augment_golden.npz"
SEED = 2024
BINS = 31
MAGNITUDE_BINS = (0, 9, 30)
# (top, left, height, width, out_h, out_w) inside a 13 x 17 frame
CROPS = ((0, 0, 13, 17, 8, 8), (2, 3, 9, 11, 8, 8), (5, 1, 4, 6, 12, 12), (0, 4, 13, 9, 6, 10), (1, 1, 2, 2, 1, 1))
INTERPOLATIONS = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC}
# (height, width, scale_min, scale_max, ratio_min, ratio_max) for RandomResizedCrop.get_params
RRC_CASES = ((13, 17, 0.08, 1.0, 3 / 4, 4 / 3), (224, 320, 0.08, 1.0, 3 / 4, 4 / 3), (40, 400, 0.5, 1.0, 3 / 4, 4 / 3),
             (30, 30, 0.9, 1.0, 2.0, 3.0))
RANDOM_CROP_CASES = ((13, 17, 8, 8), (240, 320, 224, 224), (20, 20, 20, 20))
SEEDS = tuple(range(12))
RAND_AUGMENT = ((2, 9), (3, 20))
HUES = (-0.5, -0.2, 0.05, 0.3, 0.5)
JITTER = (0.4, 0.4, 0.2, 0.1)  # X-CLIP's brightness, contrast, saturation, hue


def augmentation_space(height: int, width: int) -> dict[str, tuple[torch.Tensor, bool]]:
    return T.RandAugment()._augmentation_space(BINS, (height, width))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    g = torch.Generator().manual_seed(SEED)
    clip = torch.randint(0, 256, (2, 3, 13, 17), dtype=torch.uint8, generator=g)
    clip[1] = clip[1] // 3 + 60  # a second frame with another histogram and range
    arrays: dict[str, np.ndarray] = {"clip": clip.numpy(), "hflip": F.hflip(clip).numpy()}

    for name, mode in INTERPOLATIONS.items():
        for k, (top, left, h, w, oh, ow) in enumerate(CROPS):
            out = F.resized_crop(clip, top, left, h, w, [oh, ow], mode, antialias=True)
            arrays[f"resized_crop/{name}/{k}"] = out.numpy()
    arrays["resized_crop_boxes"] = np.asarray(CROPS, dtype=np.int64)

    rows, magnitudes, outputs = [], [], []
    for op, (table, signed) in augmentation_space(13, 17).items():
        values = [float(table[b].item()) for b in MAGNITUDE_BINS] if table.ndim else [0.0]
        for value in values:
            for sign in ((1.0, -1.0) if signed and value != 0 else (1.0,)):
                rows.append(op)
                magnitudes.append(sign * value)
                outputs.append(_apply_op(clip, op, sign * value, InterpolationMode.NEAREST, None).numpy())
    arrays["op_names"] = np.asarray(rows)
    arrays["op_magnitudes"] = np.asarray(magnitudes, dtype=np.float64)
    arrays["op_outputs"] = np.stack(outputs)

    boxes = []
    for h, w, s0, s1, r0, r1 in RRC_CASES:
        for seed in SEEDS:
            torch.manual_seed(seed)
            boxes.append(T.RandomResizedCrop.get_params(torch.zeros(3, h, w), [s0, s1], [r0, r1]))
    arrays["rrc_cases"] = np.asarray(RRC_CASES, dtype=np.float64)
    arrays["rrc_boxes"] = np.asarray(boxes, dtype=np.int64).reshape(len(RRC_CASES), len(SEEDS), 4)

    boxes = []
    for h, w, th, tw in RANDOM_CROP_CASES:
        for seed in SEEDS:
            torch.manual_seed(seed)
            boxes.append(T.RandomCrop.get_params(torch.zeros(3, h, w), (th, tw)))
    arrays["random_crop_cases"] = np.asarray(RANDOM_CROP_CASES, dtype=np.int64)
    arrays["random_crop_boxes"] = np.asarray(boxes, dtype=np.int64).reshape(len(RANDOM_CROP_CASES), len(SEEDS), 4)

    for num_ops, magnitude in RAND_AUGMENT:
        outs = []
        for seed in SEEDS:
            torch.manual_seed(seed)
            outs.append(T.RandAugment(num_ops, magnitude, BINS)(clip).numpy())
        arrays[f"rand_augment/{num_ops}/{magnitude}"] = np.stack(outs)
    arrays["hues"] = np.asarray(HUES, dtype=np.float64)
    arrays["hue_outputs"] = np.stack([F.adjust_hue(clip, h).numpy() for h in HUES])
    pipelines = {"color_jitter": T.ColorJitter(*JITTER),
                 "color_jitter_p0.8": T.RandomApply([T.ColorJitter(*JITTER)], 0.8),
                 "grayscale_p0.5": T.RandomGrayscale(0.5)}
    for name, transform in pipelines.items():
        outs = []
        for seed in SEEDS:
            torch.manual_seed(seed)
            outs.append(transform(clip).numpy())
        arrays[name] = np.stack(outs)
    arrays["seeds"] = np.asarray(SEEDS, dtype=np.int64)
    arrays["versions"] = np.asarray([f"torch {torch.__version__}", f"torchvision {torchvision.__version__}"])

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB): {len(rows)} op outputs, "
          f"{len(INTERPOLATIONS) * len(CROPS)} resized crops")


if __name__ == "__main__":
    main()
