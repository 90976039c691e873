"""Write golden fixtures from the real open_clip library, for vidlift's parity tests.

What it writes (all under ``tests/fixtures/``):

* ``openclip_tiny/gelu/`` and ``openclip_tiny/quickgelu/`` -- a tiny open_clip ``CLIP``
  (ViT image tower + text tower) with every tensor randomly re-initialised, saved the way hub
  repos carry open_clip weights:

  - ``open_clip_model.safetensors`` and ``open_clip_pytorch_model.bin`` (same state dict),
  - ``config.json`` in the layout of open_clip's ``model_configs/*.json``,
  - ``open_clip_config.json`` in the hub layout (``model_cfg`` + ``preprocess_cfg``),
  - ``io.safetensors`` -- fixed inputs and open_clip's outputs for them (eval mode, fp32).

  Both variants hold the *same* weights and inputs; they differ only in the activation
  (``quick_gelu``), so a loader that ignores that flag fails one of the two.

* ``openclip_tokenizer_golden.json`` -- ``open_clip.tokenize`` ids for a set of tricky strings.

open_clip imports torchvision, which does not import beside vidlift's CPU torch, so this runs
in a throwaway venv outside the repo (see DESIGN.md section 6)::

    python3 -m venv /tmp/ocvenv
    /tmp/ocvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 open-clip-torch safetensors
    cd /path/to/vidlift && /tmp/ocvenv/bin/python scripts/make_openclip_golden.py

The output is deterministic for a given open_clip / torch version; rerun only when the fixture
itself must change, and commit the files it writes.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import open_clip
import torch
from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD
from open_clip.model import CLIP
from safetensors.torch import save_file

SEED = 1234
NUM_SAMPLES = 3

MODEL_CFG = {
    "embed_dim": 32,
    "vision_cfg": {
        "image_size": 32,
        "patch_size": 8,
        "width": 64,
        "layers": 2,
        "head_width": 32,  # open_clip derives heads = width // head_width = 2
        "mlp_ratio": 4.0,
    },
    "text_cfg": {
        "context_length": 16,
        "vocab_size": 512,
        "width": 64,
        "heads": 2,
        "layers": 2,
    },
}

# Strings chosen to exercise every step of CLIP's text pipeline: ftfy repair, double html
# unescape, whitespace collapse, lower-casing, the pre-tokenisation regex (contractions,
# letters, single digits, punctuation runs), byte fallback for non-Latin scripts and emoji,
# and truncation past 77 tokens.
TOKENIZER_STRINGS = [
    "a photo of a cat",
    "A Photo Of A DOG.",
    "hello, world! how's it going? i'm fine; they've left...",
    "Café crème brûlée à la française, naïve façade",
    "a man 🏄 surfing a wave 🌊🌊",
    "fish &amp; chips &lt;3 &amp;amp; more",
    # A literal "<" stops ftfy from unescaping html, so only the double unescape handles this.
    "1 < 2 &amp;amp; rock &amp;amp;roll",
    "   multiple    spaces\tand\ttabs\nand newlines   ",
    "",
    "the year 2024 had 365 days and 3.14159 is pi",
    "東京タワーの写真",
    "Привет мир, это видео",
    "mojibake: cafÃ© and donâ€™t",
    "under_score snake_case kebab-case CamelCase URL http://example.com/a?b=c",
    "x" * 5 + " " + " ".join(f"word{i}" for i in range(60)),
    " ".join(["a very long caption about a person riding a bicycle down a hill"] * 8),
    # The literal text of a special token is ordinary text: it must not end the row early.
    "a caption with <|endoftext|> inside",
]

TOKENIZER_CONTEXT_LENGTH = 77


def build_model(quick_gelu: bool) -> CLIP:
    return CLIP(
        embed_dim=MODEL_CFG["embed_dim"],
        vision_cfg=dict(MODEL_CFG["vision_cfg"]),
        text_cfg=dict(MODEL_CFG["text_cfg"]),
        quick_gelu=quick_gelu,
    )


@torch.no_grad()
def randomize_(model: CLIP, generator: torch.Generator) -> None:
    """Give every tensor a random, non-default value.

    Default inits (LayerNorm 1/0, zero biases, the standard logit scale) would let a loader
    that silently skips such a tensor still pass a parity test; random values everywhere make
    any dropped or mis-mapped tensor change the outputs. Matrices get std fan_in**-0.5 rather
    than 0.02 so attention is far from uniform and activations sit where GELU and QuickGELU
    differ clearly.
    """

    def normal(shape, std, mean=0.0):
        return torch.randn(shape, generator=generator) * std + mean

    for name, p in sorted(model.named_parameters()):
        leaf = name.rsplit(".", 1)[-1]
        if name == "logit_scale":
            p.copy_(torch.tensor(math.log(1 / 0.05)) + normal(p.shape, 0.1))
        elif ".ln_" in f".{name}" and leaf == "weight":
            p.copy_(normal(p.shape, 0.1, mean=1.0))
        elif leaf.endswith("bias"):
            p.copy_(normal(p.shape, 0.02))
        elif name in ("visual.class_embedding", "visual.positional_embedding",
                      "positional_embedding", "token_embedding.weight"):
            p.copy_(normal(p.shape, 0.5))
        elif p.ndim >= 2:
            fan_in = p.shape[0] if name in ("visual.proj", "text_projection") else p[0].numel()
            p.copy_(normal(p.shape, fan_in ** -0.5))
        else:
            raise RuntimeError(f"no init rule for parameter {name} {tuple(p.shape)}")


def make_inputs(generator: torch.Generator) -> dict[str, torch.Tensor]:
    v, t = MODEL_CFG["vision_cfg"], MODEL_CFG["text_cfg"]
    images = torch.randn(NUM_SAMPLES, 3, v["image_size"], v["image_size"], generator=generator)

    # open_clip pools text at argmax(ids), i.e. at the end-of-text token, which must be the
    # largest id in the row. Put it at different positions (including the very last slot) so
    # a pooler that takes a fixed position or the first zero fails.
    ctx, vocab = t["context_length"], t["vocab_size"]
    sot, eot = vocab - 2, vocab - 1
    text = torch.zeros(NUM_SAMPLES, ctx, dtype=torch.int64)
    for row, eot_pos in enumerate([5, 11, ctx - 1][:NUM_SAMPLES]):
        text[row, 0] = sot
        text[row, 1:eot_pos] = torch.randint(1, sot, (eot_pos - 1,), generator=generator)
        text[row, eot_pos] = eot
    return {"images": images, "text": text}


@torch.no_grad()
def run_model(model: CLIP, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    model.eval()
    out: dict[str, torch.Tensor] = {}

    # Per-block tokens via hooks rather than forward_intermediates: hooks see exactly what each
    # residual block emits, independent of open_clip's intermediate-output options.
    hooks = []
    v_blocks = model.visual.transformer.resblocks
    hooks.append(v_blocks[0].register_forward_pre_hook(
        lambda m, args: out.__setitem__("visual_tokens_in", args[0].clone())))
    for i, blk in enumerate(v_blocks):
        hooks.append(blk.register_forward_hook(
            lambda m, args, y, i=i: out.__setitem__(f"visual_block_{i}", y.clone())))
    for i, blk in enumerate(model.transformer.resblocks):
        hooks.append(blk.register_forward_hook(
            lambda m, args, y, i=i: out.__setitem__(f"text_block_{i}", y.clone())))
    try:
        out["image_features"] = model.encode_image(inputs["images"], normalize=False)
        out["text_features"] = model.encode_text(inputs["text"], normalize=False)
    finally:
        for h in hooks:
            h.remove()
    out["logit_scale"] = model.logit_scale.exp().reshape(())
    img = out["image_features"] / out["image_features"].norm(dim=-1, keepdim=True)
    txt = out["text_features"] / out["text_features"].norm(dim=-1, keepdim=True)
    out["logits_per_image"] = out["logit_scale"] * img @ txt.T
    return {k: v.contiguous() for k, v in out.items()}


def write_variant(folder: Path, quick_gelu: bool, state_dict, inputs) -> dict[str, torch.Tensor]:
    folder.mkdir(parents=True, exist_ok=True)
    model = build_model(quick_gelu)
    model.load_state_dict(state_dict, strict=True)
    outputs = run_model(model, inputs)

    # Cross-check against open_clip's own forward, so the stored features are exactly what
    # users of open_clip get, not an artefact of the hooks above.
    with torch.no_grad():
        img_f, txt_f, scale = model(inputs["images"], inputs["text"])
    torch.testing.assert_close(img_f, outputs["image_features"] / outputs["image_features"].norm(dim=-1, keepdim=True))
    torch.testing.assert_close(txt_f, outputs["text_features"] / outputs["text_features"].norm(dim=-1, keepdim=True))
    torch.testing.assert_close(scale.reshape(()), outputs["logit_scale"])

    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(folder / "open_clip_model.safetensors"))
    torch.save(sd, folder / "open_clip_pytorch_model.bin")

    cfg = dict(MODEL_CFG)
    cfg["quick_gelu"] = quick_gelu
    (folder / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    hub_cfg = {
        "model_cfg": cfg,
        "preprocess_cfg": {"mean": list(OPENAI_DATASET_MEAN), "std": list(OPENAI_DATASET_STD)},
    }
    (folder / "open_clip_config.json").write_text(json.dumps(hub_cfg, indent=2) + "\n")

    save_file({**inputs, **outputs}, str(folder / "io.safetensors"),
              # One key only: safetensors writes metadata in hash order, and a single entry
              # keeps the file byte-for-byte reproducible.
              metadata={"generated_by": json.dumps({
                  "open_clip": open_clip.__version__, "torch": torch.__version__,
                  "quick_gelu": quick_gelu, "seed": SEED}, sort_keys=True)})
    return outputs


def write_tokenizer_golden(path: Path) -> None:
    ids = open_clip.tokenize(TOKENIZER_STRINGS, context_length=TOKENIZER_CONTEXT_LENGTH)
    payload = {
        "open_clip_version": open_clip.__version__,
        "context_length": TOKENIZER_CONTEXT_LENGTH,
        "cases": [{"text": s, "ids": row.tolist()} for s, row in zip(TOKENIZER_STRINGS, ids)],
    }
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=repo / "tests" / "fixtures")
    args = parser.parse_args()

    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    base = build_model(quick_gelu=False)
    randomize_(base, gen)
    state_dict = base.state_dict()
    inputs = make_inputs(gen)

    root = args.out / "openclip_tiny"
    gelu = write_variant(root / "gelu", False, state_dict, inputs)
    quick = write_variant(root / "quickgelu", True, state_dict, inputs)
    # The fixture is only useful if the activation visibly changes the outputs.
    for key in ("image_features", "text_features"):
        gap = (gelu[key] - quick[key]).abs().max().item()
        assert gap > 1e-2, f"{key}: GELU and QuickGELU outputs too close ({gap:.2e})"

    write_tokenizer_golden(args.out / "openclip_tokenizer_golden.json")

    for f in sorted(args.out.rglob("*")):
        if f.is_file() and (f.parent.name in ("gelu", "quickgelu") or f.name.startswith("openclip_tok")):
            print(f"{f.relative_to(args.out)}  {f.stat().st_size:,} B")


if __name__ == "__main__":
    main()
