"""Write the golden fixture for vidlift's EVA-CLIP (EVA02-CLIP) family from the real open_clip + timm.

What it writes (under ``tests/fixtures/evaclip_tiny/``): a tiny EVA02-CLIP built by open_clip
(``CustomTextCLIP``: timm's ``eva02_base_patch16_clip_224`` image tower shrunk to width 64,
2 blocks, 32 px, and open_clip's causal text transformer), every tensor re-initialised with
random, non-default values, saved the way hub repos carry open_clip weights:

- ``open_clip_model.safetensors`` -- the state dict (fp32);
- ``open_clip_config.json`` -- hub layout, ``{"model_cfg", "preprocess_cfg"}``; the tiny tower
  is described the way current open_clip describes one, ``vision_cfg.timm_model_kwargs``
  (``img_size``, ``patch_size``, ``embed_dim``, ``depth``, ``num_heads``) over the named timm model;
- ``io.safetensors`` -- fixed inputs and the outputs open_clip / timm compute for them
  (eval mode, fp32), per-block tokens included, plus the same trunk run at 48 px with timm's
  dynamic image size (position table resampled, RoPE rebuilt for the larger grid).

open_clip 3.3.0 has no ``timm_model_kwargs`` field yet; this script passes those kwargs to
``timm.create_model`` itself while open_clip builds the model, which is what newer open_clip
does with the field.

open_clip and timm import torchvision, which does not import beside vidlift's CPU torch, so
this runs in a throwaway venv outside the repo (DESIGN.md section 6)::

    python3 -m venv /tmp/evavenv
    /tmp/evavenv/bin/pip install torch==2.14.1 torchvision==0.29.1 open_clip_torch==3.3.0 timm==1.0.29 safetensors
    cd /path/to/vidlift && /tmp/evavenv/bin/python scripts/make_evaclip_golden.py

The output is deterministic for given versions; rerun only when the fixture must change, and
commit the files it writes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
from pathlib import Path

import open_clip
import timm
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.model import CustomTextCLIP
from safetensors.torch import save_file
from torch import nn

SEED = 2024
NUM_SAMPLES = 3
BIG_SIZE = 48  # second resolution (6x6 patches): position table resampled, RoPE rebuilt

TIMM_MODEL = "eva02_base_patch16_clip_224"
TIMM_KWARGS = {"img_size": 32, "patch_size": 8, "embed_dim": 64, "depth": 2, "num_heads": 2}

MODEL_CFG = {
    "embed_dim": 32,
    "vision_cfg": {
        "image_size": 32,
        "timm_model_name": TIMM_MODEL,
        "timm_model_pretrained": False,
        "timm_pool": "token",
        "timm_proj": None,
        "timm_model_kwargs": TIMM_KWARGS,
    },
    "text_cfg": {
        "context_length": 16,
        "vocab_size": 512,
        "width": 64,
        "heads": 2,
        "layers": 2,
    },
    "custom_text": True,
}


@contextlib.contextmanager
def timm_model_kwargs(extra: dict):
    """While open_clip builds its timm tower, pass ``extra`` to ``timm.create_model``."""
    original = timm.create_model

    def create(name, **kwargs):
        return original(name, **{**kwargs, **extra})

    timm.create_model = create
    try:
        yield
    finally:
        timm.create_model = original


def build_model() -> CustomTextCLIP:
    vision_cfg = {k: v for k, v in MODEL_CFG["vision_cfg"].items() if k != "timm_model_kwargs"}
    with timm_model_kwargs(TIMM_KWARGS):
        return CustomTextCLIP(embed_dim=MODEL_CFG["embed_dim"], vision_cfg=vision_cfg,
                              text_cfg=dict(MODEL_CFG["text_cfg"]))


@torch.no_grad()
def randomize_(model: nn.Module, generator: torch.Generator) -> None:
    """Give every tensor a random, non-default value.

    Default inits (LayerNorm 1/0, zero biases, timm's 0.001-scaled head, SwiGLU's gate) would
    let a loader that skips such a tensor still pass; random values everywhere make any
    dropped or mis-mapped tensor change the outputs. Matrices get std fan_in**-0.5 so that
    attention is far from uniform and RoPE visibly changes it; norm gains vary around 1 so the
    sub-LNs inside attention and MLP matter.
    """

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=generator) * std + mean

    norms = {f"{name}.{p}" for name, m in model.named_modules() if isinstance(m, nn.LayerNorm)
             for p in ("weight", "bias")}
    for name, p in sorted(model.named_parameters()):
        leaf = name.rsplit(".", 1)[-1]
        if name == "logit_scale":
            p.copy_(torch.tensor(math.log(1 / 0.05)) + normal(p.shape, 0.1))
        elif name in norms:
            p.copy_(normal(p.shape, 0.2, mean=1.0) if leaf == "weight" else normal(p.shape, 0.1))
        elif leaf.endswith("bias"):
            p.copy_(normal(p.shape, 0.1))
        elif name in ("visual.trunk.cls_token", "visual.trunk.pos_embed", "text.positional_embedding",
                      "text.token_embedding.weight"):
            p.copy_(normal(p.shape, 0.5))
        elif p.ndim >= 2:
            fan_in = p.shape[0] if name == "text.text_projection" else p[0].numel()
            p.copy_(normal(p.shape, fan_in ** -0.5))
        else:
            raise RuntimeError(f"no init rule for parameter {name} {tuple(p.shape)}")


def make_inputs(generator: torch.Generator) -> dict[str, torch.Tensor]:
    size = MODEL_CFG["vision_cfg"]["image_size"]
    images = torch.randn(NUM_SAMPLES, 3, size, size, generator=generator)
    images_big = torch.randn(NUM_SAMPLES, 3, BIG_SIZE, BIG_SIZE, generator=generator)
    # open_clip pools text at argmax(ids): end-of-text (the largest id) at varying positions.
    t = MODEL_CFG["text_cfg"]
    ctx, vocab = t["context_length"], t["vocab_size"]
    sot, eot = vocab - 2, vocab - 1
    text = torch.zeros(NUM_SAMPLES, ctx, dtype=torch.int64)
    for row, eot_pos in enumerate([4, 10, ctx - 1][:NUM_SAMPLES]):
        text[row, 0] = sot
        text[row, 1:eot_pos] = torch.randint(1, sot, (eot_pos - 1,), generator=generator)
        text[row, eot_pos] = eot
    return {"images": images, "images_big": images_big, "text": text}


@torch.no_grad()
def run_model(model: CustomTextCLIP, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Outputs for the inputs; per-block tokens through forward hooks on the modules themselves."""
    model.eval()
    out: dict[str, torch.Tensor] = {}
    trunk = model.visual.trunk

    def keep(key):
        return lambda m, args, y: out.__setitem__(key, y.clone())

    def keep_input(m, args):
        out["visual_tokens_in"] = args[0].clone()

    hooks = [trunk.blocks[0].register_forward_pre_hook(keep_input),
             trunk.norm.register_forward_hook(keep("visual_tokens_out"))]
    hooks += [blk.register_forward_hook(keep(f"visual_block_{i}")) for i, blk in enumerate(trunk.blocks)]
    text_blocks = model.text.transformer.resblocks
    hooks += [blk.register_forward_hook(keep(f"text_block_{i}")) for i, blk in enumerate(text_blocks)]
    try:
        out["image_features"] = model.encode_image(inputs["images"], normalize=False)
        out["text_features"] = model.encode_text(inputs["text"], normalize=False)
    finally:
        for h in hooks:
            h.remove()
    out["visual_rope"] = trunk.rope.get_embed().clone()  # (patches, 2·head_dim): sin | cos
    out["logit_scale"] = model.logit_scale.exp().reshape(())
    img = out["image_features"] / out["image_features"].norm(dim=-1, keepdim=True)
    txt = out["text_features"] / out["text_features"].norm(dim=-1, keepdim=True)
    out["logits_per_image"] = out["logit_scale"] * img @ txt.T
    return out


@torch.no_grad()
def run_dynamic_size(model: CustomTextCLIP, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same trunk built with ``dynamic_img_size=True`` (timm resamples the position table
    and rebuilds RoPE for the input's grid): must equal the fixed-size model at 32 px, and
    gives the reference at 48 px."""
    dyn = timm.create_model(TIMM_MODEL, pretrained=False, num_classes=MODEL_CFG["embed_dim"], global_pool="token",
                            dynamic_img_size=True, **TIMM_KWARGS).eval()
    dyn.load_state_dict(model.visual.trunk.state_dict(), strict=True)
    torch.testing.assert_close(dyn(inputs["images"]), model.encode_image(inputs["images"]), rtol=0, atol=1e-6)
    return {"image_features_big": dyn(inputs["images_big"])}


@torch.no_grad()
def check_fixture_is_sensitive(model: CustomTextCLIP, inputs, outputs) -> None:
    """RoPE and the sub-LNs must visibly change the outputs, or the fixture proves nothing."""
    trunk = model.visual.trunk
    rope, trunk.rope = trunk.rope, None
    try:
        gap = (model.encode_image(inputs["images"]) - outputs["image_features"]).abs().max().item()
    finally:
        trunk.rope = rope
    assert gap > 1e-2, f"RoPE barely changes the image features ({gap:.2e})"
    for blk in trunk.blocks:
        for norm in (blk.attn.norm, blk.mlp.norm):
            assert isinstance(norm, nn.LayerNorm), "expected sub-LNs in attention and MLP (scale_attn_inner, scale_mlp)"
    print(f"features without RoPE differ by {gap:.3f}")


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=repo / "tests" / "fixtures" / "evaclip_tiny")
    args = parser.parse_args()

    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = build_model().eval()
    randomize_(model, gen)
    inputs = make_inputs(gen)
    outputs = run_model(model, inputs)
    outputs.update(run_dynamic_size(model, inputs))
    check_fixture_is_sensitive(model, inputs, outputs)

    # Cross-check against open_clip's own forward: the stored features are what users get.
    with torch.no_grad():
        img_f, txt_f, scale = model(inputs["images"], inputs["text"])
    torch.testing.assert_close(img_f, outputs["image_features"] / outputs["image_features"].norm(dim=-1, keepdim=True))
    torch.testing.assert_close(txt_f, outputs["text_features"] / outputs["text_features"].norm(dim=-1, keepdim=True))

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(out / "open_clip_model.safetensors"))
    hub_cfg = {
        "model_cfg": MODEL_CFG,
        "preprocess_cfg": {"mean": list(OPENAI_DATASET_MEAN), "std": list(OPENAI_DATASET_STD),
                           "interpolation": "bicubic", "resize_mode": "shortest"},
    }
    (out / "open_clip_config.json").write_text(json.dumps(hub_cfg, indent=2) + "\n")
    save_file({k: v.contiguous() for k, v in {**inputs, **outputs}.items()}, str(out / "io.safetensors"),
              # One key only: safetensors writes metadata in hash order; one entry stays reproducible.
              metadata={"generated_by": json.dumps({
                  "open_clip": open_clip.__version__, "timm": timm.__version__, "torch": torch.__version__,
                  "seed": SEED}, sort_keys=True)})

    for f in sorted(out.iterdir()):
        print(f"{f.relative_to(repo) if f.is_relative_to(repo) else f}  {f.stat().st_size:,} B")
    print(f"{len(sd)} tensors, {sum(v.numel() for k, v in model.named_parameters()):,} parameters")
    for k, v in sorted(sd.items()):
        print(f"  {k} {tuple(v.shape)}")


if __name__ == "__main__":
    main()
