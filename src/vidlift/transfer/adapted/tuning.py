"""Full fine-tuning and partial tuning: existing backbone weights train, nothing is inserted.

Both only *declare* backbone parameters (``model.train_backbone``); the forward pass is the
backbone's own. Full fine-tuning adds per-parameter learning rates (layer-wise decay, a
larger rate for modules other strategies add), read by ``TransferModel.param_groups``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from ..base import Strategy, TransferCompositionError, TransferModel
from ..checks import check_number

TOWERS = ("visual", "text")

# Parameters of the image / text tower that sit *before* the first block (BEiT's layer 0).
_EMBEDDINGS = re.compile(
    r"^(visual\.(patch_embed|pos_embed|class_embedding|ln_pre)|text\.(token_embedding|pos_embed))(\.|$)")
_BLOCK = re.compile(r"^(visual|text)\.transformer\.blocks\.(\d+)\.")
# Everything after the last block: ln_post / ln_final, SigLIP's MAP head, the projections.
_AFTER_BLOCKS = {"visual": ("visual.ln_post.", "visual.attn_pool.", "visual_proj."),
                 "text": ("text.ln_final.", "text_proj.")}


def normalize_towers(towers, allowed: tuple[tuple[str, ...], ...] | None = None) -> tuple[str, ...]:
    """("text", "visual") / ["visual"] -> canonical tuple in TOWERS order; ValueError otherwise."""
    if isinstance(towers, str):
        towers = (towers,)
    towers = tuple(towers)
    unknown = [t for t in towers if t not in TOWERS]
    if unknown or not towers or len(set(towers)) != len(towers):
        raise ValueError(f"towers must be a non-empty subset of {TOWERS} without repeats, got {towers!r}")
    out = tuple(t for t in TOWERS if t in towers)
    if allowed is not None and out not in allowed:
        raise ValueError(f"towers must be one of {list(allowed)}, got {towers!r}")
    return out


def _own_parameters(model: TransferModel) -> list[str]:
    """The backbone's own parameter names: without modules other strategies inserted at hook
    sites, nor the LoRA matrices PEFT added (the lora strategy declares those)."""
    return [n for n, _ in model.backbone.named_parameters() if ".hooks." not in n and ".lora_" not in n]


def _in_towers(name: str, towers: tuple[str, ...]) -> bool:
    """Whether backbone parameter ``name`` belongs to one of ``towers`` (projections included)."""
    return any(name.startswith((f"{t}.", f"{t}_proj.")) for t in towers)


@dataclass
class FullFinetune(Strategy):
    """Full fine-tuning: every backbone weight trains end to end, as in ActionCLIP (Wang et al.,
    arXiv 2109.08472), CLIP4Clip (Luo et al., Neurocomputing 2022) and ViFi-CLIP (Rasheed et
    al., "Fine-tuned CLIP Models are Efficient Video Learners", CVPR 2023), usually together
    with a temporal head from another strategy.

    ``towers=("visual", "text")`` (ViFi-CLIP: both encoders) trains every backbone parameter,
    logit scale (and SigLIP's bias) included; ``("visual",)`` trains the image tower and its
    projection and leaves the text side and the temperature frozen (CLIP4Clip-style
    video-only tuning with a fixed text space).

    Learning rates (``lr_scale``): ``layer_decay`` < 1 gives BEiT-style layer-wise decay
    (Bao et al., ICLR 2022; per tower of L blocks: block i gets decay**(L - i), the
    embeddings decay**(L + 1), final norms / projections / logit scale 1). 1.0 (off) is the
    default because ViFi-CLIP and ActionCLIP use one rate for the backbone. Parameters of
    modules other strategies add (``heads.*``, ``roles.*``, hook modules) get
    ``new_module_lr_scale`` × the base rate: ActionCLIP trains its new temporal fusion
    module at 10× CLIP's rate (its K400 config: ``lr: 5.e-6``, ``f_ratio: 10``).

    Cannot be combined with partial tuning or LoRA (they would freeze, or re-parametrise, the
    weights this strategy trains): :class:`~vidlift.transfer.TransferCompositionError`.
    """

    name: ClassVar[str] = "full_finetune"
    family: ClassVar[str] = "full fine-tuning"
    paper: ClassVar[str] = ("Rasheed et al., CVPR 2023 (ViFi-CLIP, arXiv 2212.03640); "
                            "Wang et al., arXiv 2109.08472 (ActionCLIP)")
    trains_backbone: ClassVar[bool] = True
    excludes: ClassVar[tuple[str, ...]] = ("partial tuning", "lora")

    towers: tuple[str, ...] = ("visual", "text")
    layer_decay: float = 1.0
    new_module_lr_scale: float = 10.0

    def __post_init__(self) -> None:
        try:
            self.towers = normalize_towers(self.towers, allowed=(("visual", "text"), ("visual",)))
        except ValueError as e:
            raise ValueError(f"{self.name}: {e}") from None
        check_number(self.name, "layer_decay", self.layer_decay, 0.0, 1.0, low_open=True, high_open=False)
        check_number(self.name, "new_module_lr_scale", self.new_module_lr_scale, low=0.0, low_open=True)

    def apply(self, model: TransferModel) -> None:
        clash = [s for s in model.strategies if s is not self and s.family in self.excludes]
        if clash:
            raise TransferCompositionError(
                f"full_finetune already trains every backbone weight; combining it with {clash[0].name} "
                f"({clash[0].family}) would freeze or re-parametrise those weights. Use one of them")
        names = _own_parameters(model)
        if self.towers != TOWERS:  # image tower + its projection only; text and temperature stay
            names = [n for n in names if _in_towers(n, self.towers)]
        model.train_backbone(names, f"all weights of the {' and '.join(self.towers)} tower(s)")

    def lr_scale(self, name: str, model: TransferModel) -> float | None:
        """``name`` as in ``model.named_parameters()``: a multiplier of the base learning rate."""
        if name.startswith(("heads.", "roles.")) or ".hooks." in name:
            return self.new_module_lr_scale
        if not name.startswith("backbone."):
            return None
        if self.layer_decay == 1.0:
            return 1.0
        return self.layer_decay ** _decay_exponent(name.removeprefix("backbone."), model)


def _decay_exponent(name: str, model: TransferModel) -> int:
    """BEiT's layer id, counted from the top: block i of a tower of L gets L - i, the
    embeddings L + 1, anything above the blocks 0."""
    m = _BLOCK.match(name)
    if m:
        depth = len(getattr(model.backbone, m.group(1)).blocks)
        return depth - int(m.group(2))
    e = _EMBEDDINGS.match(name)
    if e:
        tower = "visual" if name.startswith("visual.") else "text"
        return len(getattr(model.backbone, tower).blocks) + 1
    return 0


SUBSETS = ("last_blocks", "norms", "biases", "projections")


@dataclass
class PartialTuning(Strategy):
    """Partial tuning: one chosen subset of the backbone's own weights trains, the rest stays
    frozen (the survey's "partial tuning" family: mPLUG-2, TEA). ``subset``:

    - ``"last_blocks"``: the top ``k`` blocks of each chosen tower and everything above them
      (final LayerNorm, SigLIP's MAP head, the projection), as MAE's partial fine-tuning
      (He et al., CVPR 2022, §4.3) tunes "the last several blocks" with what sits on top;
    - ``"norms"``: every LayerNorm gain and bias of the chosen towers (ln_1, ln_2, ln_pre,
      ln_post / ln_final, the MAP head's norm);
    - ``"biases"``: BitFit (Ben Zaken et al., "BitFit: Simple Parameter-efficient
      Fine-tuning for Transformer-based Masked Language-models", ACL 2022): every bias term of
      the chosen towers, the LayerNorm biases included as in BitFit's code (≈0.10M on a
      ViT-B/16 image tower);
    - ``"projections"``: the linear maps into the joint space (``visual_proj``, and
      ``text_proj`` when ``"text"`` is in ``towers``). The logit scale is *not* included: it
      is a temperature shared by both towers, not a projection, and prompt / PEFT methods
      (CoOp) keep it fixed too. SigLIP has no image projection, so ``("visual",)`` finds
      nothing there (an error).

    ``towers``: ("visual",) by default — the video side adapts, the text space stays that of
    the pretrained model. Only parameters of the backbone itself are selected, never modules
    other strategies inserted.
    """

    name: ClassVar[str] = "partial_tuning"
    family: ClassVar[str] = "partial tuning"
    paper: ClassVar[str] = ("Ben Zaken et al., ACL 2022 (BitFit, arXiv 2106.10199); "
                            "He et al., CVPR 2022 (MAE partial fine-tuning)")
    trains_backbone: ClassVar[bool] = True

    subset: str = "last_blocks"
    k: int = 2
    towers: tuple[str, ...] = ("visual",)

    def __post_init__(self) -> None:
        if self.subset not in SUBSETS:
            raise ValueError(f"{self.name}: unknown partial-tuning subset {self.subset!r}; choose one of "
                             f"{', '.join(SUBSETS)}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise ValueError(f"{self.name}: k must be a positive number of blocks (an integer), got {self.k!r}")
        try:
            self.towers = normalize_towers(self.towers)
        except ValueError as e:
            raise ValueError(f"{self.name}: {e}") from None

    def apply(self, model: TransferModel) -> None:
        names = self.select(model)
        if not names:
            raise TransferCompositionError(
                f"partial_tuning: the {'/'.join(self.towers)} tower(s) of this backbone have no {self.subset} "
                "(SigLIP has no image projection; add 'text' to towers or pick another subset)")
        what = {"last_blocks": f"last {self.k} blocks and above", "norms": "LayerNorm gains and biases",
                "biases": "bias terms (BitFit)", "projections": "joint-space projections"}[self.subset]
        model.train_backbone(names, f"{what} of the {' and '.join(self.towers)} tower(s)")

    def select(self, model: TransferModel) -> list[str]:
        """Backbone parameter names of the chosen subset."""
        named = dict(model.backbone.named_parameters())
        names = [n for n in _own_parameters(model) if _in_towers(n, self.towers)]
        if self.subset == "last_blocks":
            keep = []
            for tower in self.towers:
                depth = len(getattr(model.backbone, tower).blocks)
                if self.k > depth:
                    raise TransferCompositionError(
                        f"partial_tuning: k={self.k} last blocks requested, but the {tower} tower has only {depth}")
                blocks = tuple(f"{tower}.transformer.blocks.{i}." for i in range(depth - self.k, depth))
                keep += [n for n in names if n.startswith(blocks + _AFTER_BLOCKS[tower])]
            return keep
        if self.subset == "norms":
            norms = {f"{mod}.{p}" for mod, m in model.backbone.named_modules()
                     if isinstance(m, nn.LayerNorm) for p, _ in m.named_parameters(recurse=False)}
            return [n for n in names if n in norms]
        if self.subset == "biases":
            return [n for n in names if n.rsplit(".", 1)[-1] == "bias" and named[n].ndim == 1]
        return [n for n in names if n.startswith(("visual_proj.", "text_proj."))]


__all__ = ["FullFinetune", "PartialTuning", "SUBSETS", "normalize_towers"]
