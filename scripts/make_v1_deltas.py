"""Deltas saved by vidlift 0.1.0 (delta format 1), for tests/transfer/test_delta_upgrade.py.

Run once, in a checkout of commit ead065f (the last format-1 version), with that checkout's
``src`` on PYTHONPATH:

    git worktree add /tmp/v010 ead065f
    PYTHONPATH=/tmp/v010/src HF_HUB_OFFLINE=1 .venv/bin/python scripts/make_v1_deltas.py tests/fixtures/deltas_v1

It writes, per strategy whose tensor names changed in format 2, a delta with perturbed trained
tensors and (in io.safetensors) the input clip, text embeddings and the logits that version gave.
"""
import sys

import torch
from safetensors.torch import save_file

import vidlift
from vidlift.transfer import TransferModel, get_strategy, save_delta

out = sys.argv[1]
g = torch.Generator().manual_seed(0)
video = torch.randn(1, 4, 3, 32, 32, generator=g)
io = {"video": video}
SMALL = {"r2_tuning": {"dims": 16, "heads": 2, "layers": 2}, "xclip": {"train_backbone": False}}  # small files
for name in ("xclip", "xclip_prompt", "r2_tuning"):
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
