"""Deltas saved before issue 12 (delta format 2), for tests/transfer/test_delta_upgrade.py.

Issue 12 added hyper-parameters whose new defaults build a different model than a delta saved
before them recorded (``full_finetune.freeze_token_embedding``, ``st_adapter.pooling``,
``aim``'s and ``divided_st``'s ``drop_path``) and renamed the image-tower student
``distillation`` -> ``tower_compression``. Run once, in a checkout of commit 7187d7a (the last
version before issue 12), with that checkout's ``src`` on PYTHONPATH:

    git worktree add /tmp/pre12 7187d7a
    PYTHONPATH=/tmp/pre12/src HF_HUB_OFFLINE=1 .venv/bin/python scripts/make_pre12_deltas.py tests/fixtures/deltas_pre12

It writes, per strategy, a delta with perturbed trained tensors and (in io.safetensors) the
input clip, text embeddings and the logits that version gave.
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
SMALL = {"st_adapter": {"bottleneck": 8}, "full_finetune": {"towers": ["visual", "text"]},
         "distillation": {"width": 16}}
for name in ("st_adapter", "full_finetune", "aim", "distillation"):
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
