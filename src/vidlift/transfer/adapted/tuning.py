"""Full fine-tuning and partial tuning: existing backbone weights train, nothing is inserted.

Both only *declare* backbone parameters (``model.train_backbone``), chosen by role through the
backbone contract (``backbone.parameter_names(tower, part)``), never by a family's module
names; the forward pass is the backbone's own. Full fine-tuning adds per-parameter learning
rates (layer-wise decay from ``backbone.layer_index``, a larger rate for modules other
strategies add), read through ``TransferModel.lr_scale``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..base import Strategy, TransferCompositionError
from ..checks import check_bool, check_number
from ..model import TransferModel

TOWERS = ("visual", "text")


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


def tower_depth(model: TransferModel, tower: str, who: str) -> int:
    """Blocks of ``tower``; the text tower is a capability (refused, naming ``who``, without one)."""
    return model.depth if tower == "visual" else model.backbone.require_text(who).depth


def tower_names(model: TransferModel, tower: str, who: str) -> list[str]:
    """Every parameter name of ``tower`` (its projection into the joint space included): the
    parts before, in and after its blocks."""
    bb = model.backbone
    names = bb.parameter_names(tower, "embed")
    for i in range(tower_depth(model, tower, who)):
        names += bb.parameter_names(tower, "block", i)
    return names + bb.parameter_names(tower, "head")


@dataclass
class FullFinetune(Strategy):
    """Full fine-tuning: every backbone weight trains end to end, as in ActionCLIP (Wang et al.,
    arXiv 2109.08472), CLIP4Clip (Luo et al., Neurocomputing 2022) and ViFi-CLIP (Rasheed et
    al., "Fine-tuned CLIP Models are Efficient Video Learners", CVPR 2023), usually together
    with a temporal head from another strategy.

    ``towers=("visual", "text")`` (ViFi-CLIP: both encoders) trains every backbone parameter,
    logit scale (and SigLIP's bias) included, except the text token table while
    ``freeze_token_embedding`` (default True, ViFi-CLIP's); ``("visual",)`` trains the image
    tower and its projection and leaves the text side and the temperature frozen
    (CLIP4Clip-style video-only tuning with a fixed text space).

    ``freeze_token_embedding``: ViFi-CLIP's trainer (``trainers/vificlip.py``, ``USE: both``)
    turns on gradients for every parameter of its ``ViFiCLIP`` module, but that module holds
    no token table: ``VLPromptLearner`` runs ``clip_model.token_embedding`` once, at build
    time, and keeps the class prompts' embeddings as a buffer. So the token embedding (49,408
    × 512 = 25.3M at ViT-B/16) stays frozen, and ViFi-CLIP trains 124.3M parameters, not
    CLIP's 149.6M. ActionCLIP's optimiser takes ``model.parameters()`` whole, token table
    included: ``freeze_token_embedding=False`` for it. The table is found through the
    contract (``TextEncoder.token_embedding_weight``).

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
    # deltas saved before freeze_token_embedding (issue 12) trained the token table
    legacy_defaults: ClassVar[dict[str, Any]] = {"freeze_token_embedding": False}
    family: ClassVar[str] = "full fine-tuning"
    paper: ClassVar[str] = ("Rasheed et al., CVPR 2023 (ViFi-CLIP, arXiv 2212.03640); "
                            "Wang et al., arXiv 2109.08472 (ActionCLIP)")
    trains_backbone: ClassVar[bool] = True
    excludes: ClassVar[tuple[str, ...]] = ("partial tuning", "lora")

    towers: tuple[str, ...] = ("visual", "text")
    layer_decay: float = 1.0
    new_module_lr_scale: float = 10.0
    freeze_token_embedding: bool = True

    def __post_init__(self) -> None:
        try:
            self.towers = normalize_towers(self.towers, allowed=(("visual", "text"), ("visual",)))
        except ValueError as e:
            raise ValueError(f"{self.name}: {e}") from None
        check_number(self.name, "layer_decay", self.layer_decay, 0.0, 1.0, low_open=True, high_open=False)
        check_number(self.name, "new_module_lr_scale", self.new_module_lr_scale, low=0.0, low_open=True)
        check_bool(self.name, "freeze_token_embedding", self.freeze_token_embedding)

    def apply(self, model: TransferModel) -> None:
        clash = [s for s in model.strategies if s is not self and s.family in self.excludes]
        if clash:
            raise TransferCompositionError(
                f"full_finetune already trains every backbone weight; combining it with {clash[0].name} "
                f"({clash[0].family}) would freeze or re-parametrise those weights. Use one of them")
        what = f"all weights of the {' and '.join(self.towers)} tower(s)"
        if self.towers == TOWERS:  # every weight of the backbone, joint-space scalars included
            text = model.backbone.require_text(self.name)
            names = model.backbone_parameter_names()
            if self.freeze_token_embedding:  # ViFi-CLIP (class docstring)
                table = text.token_embedding_weight
                params = dict(model.backbone.named_parameters())
                names = [n for n in names if params[n] is not table]
                what += " but the token embedding"
        else:  # image tower + its projection only; text and temperature stay
            names = tower_names(model, "visual", self.name)
        model.train_backbone(names, what)

    def lr_scale(self, name: str, model: TransferModel) -> float | None:
        """``name`` as in ``model.named_parameters()``: a multiplier of the base learning rate."""
        if model.is_added(name):
            return self.new_module_lr_scale
        if not name.startswith("backbone."):
            return None
        if self.layer_decay == 1.0:
            return 1.0
        return self.layer_decay ** _decay_exponent(name.removeprefix("backbone."), model)


def _decay_exponent(name: str, model: TransferModel) -> int:
    """BEiT's layer id, counted from the top, from the backbone's ``layer_index`` (0 for the
    embeddings, i + 1 for block i, L + 1 above the blocks): block i of a tower of L gets
    L - i, the embeddings L + 1, anything above the blocks (and the joint-space scalars) 0."""
    where = model.backbone.layer_index(name)
    if where is None:
        return 0
    tower, index = where
    return tower_depth(model, tower, FullFinetune.name) + 1 - index


SUBSETS = ("last_blocks", "norms", "biases", "projections")


@dataclass
class PartialTuning(Strategy):
    """Partial tuning: one chosen subset of the backbone's own weights trains, the rest stays
    frozen (the survey's "partial tuning" family: mPLUG-2, TEA). ``subset``:

    - ``"last_blocks"``: the top ``k`` blocks of each chosen tower and everything above them
      (final LayerNorm, SigLIP's MAP head, the projection), as MAE's partial fine-tuning
      (He et al., CVPR 2022, §4.3) tunes "the last several blocks" with what sits on top;
    - ``"norms"``: every LayerNorm gain and bias of the chosen towers (the backbone's
      ``parameter_names(tower, "norm")``: block, final and pooling-head norms, EVA's sub-LNs);
    - ``"biases"``: BitFit (Ben Zaken et al., "BitFit: Simple Parameter-efficient
      Fine-tuning for Transformer-based Masked Language-models", ACL 2022): every bias term of
      the chosen towers, the LayerNorm biases included as in BitFit's code (≈0.10M on a
      ViT-B/16 image tower);
    - ``"projections"``: the linear maps into the joint space (``parameter_names(tower,
      "projection")``, the text one when ``"text"`` is in ``towers``). The logit scale is *not* included: it
      is a temperature shared by both towers, not a projection, and prompt / PEFT methods
      (CoOp) keep it fixed too. SigLIP has no image projection, so ``("visual",)`` finds
      nothing there (an error).

    ``towers``: ("visual",) by default — the video side adapts, the text space stays that of
    the pretrained model. Only parameters of the backbone itself are selected, never modules
    other strategies inserted: the subsets are the contract's parts
    (``backbone.parameter_names(tower, "block" | "head" | "norm" | "bias" | "projection")``),
    so every family names its own.
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
                f"partial_tuning: the {'/'.join(self.towers)} tower(s) of the {model.backbone.family} backbone have "
                f"no {self.subset} parameters (SigLIP, for one, has no image projection); add 'text' to towers or "
                "pick another subset")
        what = {"last_blocks": f"last {self.k} blocks and above", "norms": "LayerNorm gains and biases",
                "biases": "bias terms (BitFit)", "projections": "joint-space projections"}[self.subset]
        model.train_backbone(names, f"{what} of the {' and '.join(self.towers)} tower(s)")

    def select(self, model: TransferModel) -> list[str]:
        """Backbone parameter names of the chosen subset."""
        bb = model.backbone
        part = {"norms": "norm", "biases": "bias", "projections": "projection"}.get(self.subset)
        names: list[str] = []
        for tower in self.towers:
            depth = tower_depth(model, tower, self.name)
            if part is not None:
                names += bb.parameter_names(tower, part)
                continue
            if self.k > depth:
                raise TransferCompositionError(
                    f"partial_tuning: k={self.k} last blocks requested, but the {tower} tower has only {depth}")
            for i in range(depth - self.k, depth):
                names += bb.parameter_names(tower, "block", i)
            names += bb.parameter_names(tower, "head")
        return names


__all__ = ["FullFinetune", "PartialTuning", "SUBSETS", "normalize_towers"]
