"""Deltas saved by an earlier vidlift, for tests/transfer/test_delta_upgrade.py: they must still
load and give the logits that version gave.

Run once per fixture, in a checkout of the old version, with that checkout's ``src`` on
PYTHONPATH, naming the strategies in this order:

    # delta format 1 (vidlift 0.1.0, commit ead065f): three strategies' tensor names changed in format 2
    git worktree add /tmp/v010 ead065f
    PYTHONPATH=/tmp/v010/src HF_HUB_OFFLINE=1 .venv/bin/python scripts/make_old_deltas.py \\
        tests/fixtures/deltas_v1 xclip xclip_prompt r2_tuning
    # before issue 12 (commit 7187d7a): defaults changed (ST-Adapter pooling, full_finetune's token
    # table, AIM's drop path) and the image-tower student was renamed distillation -> tower_compression
    git worktree add /tmp/pre12 7187d7a
    PYTHONPATH=/tmp/pre12/src HF_HUB_OFFLINE=1 .venv/bin/python scripts/make_old_deltas.py \\
        tests/fixtures/deltas_pre12 st_adapter full_finetune aim distillation

It writes, per strategy, a delta with perturbed trained tensors and (in io.safetensors) the
input clip, text embeddings and the logits that version gave.
"""
import sys

import torch
from safetensors.torch import save_file

import vidlift
from vidlift.transfer import TransferModel, get_strategy, save_delta

out, names = sys.argv[1], sys.argv[2:]
g = torch.Generator().manual_seed(0)
video = torch.randn(1, 4, 3, 32, 32, generator=g)
io = {"video": video}
SMALL = {  # small files
    "r2_tuning": {"dims": 16, "heads": 2, "layers": 2}, "xclip": {"train_backbone": False},
    "st_adapter": {"bottleneck": 8}, "full_finetune": {"towers": ["visual", "text"]}, "distillation": {"width": 16},
}
for name in names:
    torch.manual_seed(1)
    m = TransferModel(vidlift.load_backbone("random:tiny-clip:0"), [get_strategy(name, **SMALL.get(name, {}))],
                      num_frames=4)
    with torch.no_grad():  # non-default trained tensors, so a wrong mapping shows
        for p in m.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn(p.shape, generator=g))
    m.eval()
    with torch.no_grad():
        v = m.encode_video(video)
        text = torch.randn(3, m.embed_dim, generator=g)
        io[f"{name}.text"] = text
        io[f"{name}.logits"] = m.logits(v, text)
    save_delta(m, f"{out}/{name}.safetensors")
save_file(io, f"{out}/io.safetensors")
