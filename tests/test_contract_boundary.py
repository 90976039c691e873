"""Code outside vidlift.backbones uses a backbone through its contract only
(:class:`vidlift.backbones.contract.VisionLanguageBackbone`), never through a family's
attributes: an AST scan of every module under src/vidlift except backbones/.

Three kinds of attribute access are refused:

- a CLIP-family attribute on any object (``x.visual``, ``x.logit_scale``, ``x.ln_post`` …);
- a tower or block internal reached from a backbone, a block or a tower (``backbone.text``,
  ``backbone.cfg``, ``ctx.block.attn``, ``block.ln_1``, ``tower.blocks`` …);
- a CLIP config section (``cfg.vision``, ``model.cfg.text``, ``cfg.loss``).

Attributes a module reads on itself (``self.q_proj`` in vidlift's own Attention-based heads,
``self.visual`` in a distillation student) are the module's own business and are not refused.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vidlift

SRC = Path(vidlift.__file__).resolve().parent

# Attributes only a CLIP-family model (or its towers) has: refused on any receiver.
FAMILY_ATTRIBUTES = {
    "visual", "visual_proj", "text_proj", "logit_scale", "logit_bias", "ln_post", "ln_pre", "ln_final",
    "token_embedding", "class_embedding", "attn_pool", "patch_embed", "pos_embed",
}
# Internals of a tower or block: refused when reached from something that is one.
INTERNALS = {
    "text", "cfg", "blocks", "transformer", "hooks", "attn", "mlp", "ln_1", "ln_2", "q_proj", "k_proj", "v_proj",
    "out_proj", "encode_text", "forward_text_features", "clamp_logit_scale",
}
# Names under which code holds a backbone, one of its towers or one of its blocks.
HOLDERS = {"backbone", "bb", "block", "blocks", "tower"}
CONFIG_SECTIONS = {"vision", "text", "loss"}


def _chain(node: ast.expr) -> list[str]:
    """The names along an attribute chain, root first: ``model.backbone.visual`` -> [model,
    backbone, visual]; calls and subscripts keep their callee / container."""
    out: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            out.append(node.attr)
            node = node.value
        elif isinstance(node, (ast.Call, ast.Subscript)):
            node = node.func if isinstance(node, ast.Call) else node.value
        elif isinstance(node, ast.Name):
            out.append(node.id)
            return out[::-1]
        else:
            return out[::-1]


def violations(path: Path, root: Path = SRC.parent) -> list[str]:
    """``file:line: expression (why)`` for every refused attribute access in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        receiver = _chain(node.value)
        if not receiver:
            continue
        own = receiver[0] == "self" and not HOLDERS.intersection(receiver[1:])
        why = None
        if node.attr in FAMILY_ATTRIBUTES and not own:
            why = "a CLIP-family attribute"
        elif node.attr in INTERNALS and HOLDERS.union({"vision_block"}).intersection(receiver):
            why = "a tower / block internal"
        elif node.attr in CONFIG_SECTIONS and receiver[-1] == "cfg" and not own:
            why = "a CLIP config section"
        if why:
            found.append(f"{path.relative_to(root)}:{node.lineno}: {'.'.join(receiver)}.{node.attr} ({why})")
    return found


def test_the_scan_finds_what_it_should(tmp_path):
    code = ("def f(model, ctx, cfg, self=None):\n"
            "    model.backbone.visual.blocks\n"      # family attribute
            "    ctx.block.attn.q_proj\n"             # block internal, twice
            "    model.backbone.cfg\n"                # backbone internal
            "    cfg.vision.width\n"                  # config section
            "    self.attn.q_proj\n"                  # own module: fine
            "    model.backbone.token_layout\n"       # contract: fine
            "    self.backbone.vision_block(0).num_heads\n")  # contract: fine
    path = tmp_path / "probe.py"
    path.write_text(code)
    got = violations(path, tmp_path)
    assert sorted(g.split(": ", 1)[1].split(" (")[0] for g in got) == [
        "cfg.vision", "ctx.block.attn", "ctx.block.attn.q_proj", "model.backbone.cfg", "model.backbone.visual",
        "model.backbone.visual.blocks",
    ], got


def test_no_module_outside_backbones_touches_clip_internals():
    files = sorted(p for p in SRC.rglob("*.py") if "backbones" not in p.relative_to(SRC).parts)
    assert any(p.relative_to(SRC).parts[0] == "transfer" for p in files)
    found = [v for p in files for v in violations(p)]
    assert not found, "CLIP internals outside vidlift.backbones:\n" + "\n".join(found)
