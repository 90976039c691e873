"""LoRA through the PEFT library: low-rank deltas on the backbone's attention / MLP Linears.

The Linears are chosen by kind (:data:`~vidlift.backbones.contract.LORA_KINDS`: ``attn_q``,
``attn_k``, ``attn_v``, ``attn_out``, ``mlp_in``, ``mlp_out``); the backbone turns kinds into
its own module names (``backbone.lora_targets(towers, kinds)``), so the strategy never names a
family's modules. PEFT wraps each targeted ``nn.Linear`` in a LoRA layer (the original moves
to ``<module>.base_layer``, the deltas are ``<module>.lora_A.default`` /
``<module>.lora_B.default``); only the A/B matrices are declared trainable. ``merge`` folds
W + (alpha / r)·B·A back into the Linear and removes the wrappers, leaving a plain backbone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...backbones.contract import LORA_KINDS, BackboneCapabilityError
from ...extras import require_extra
from ..base import Strategy, TransferCompositionError
from ..checks import check_number, check_probability
from ..model import TransferModel
from .tuning import normalize_towers

# The module names of earlier versions, still accepted (configs, saved deltas) and read as kinds.
OLD_NAMES = {"q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "out_proj": "attn_out", "fc1": "mlp_in",
             "fc2": "mlp_out"}
ADAPTER = "default"


@dataclass
class Lora(Strategy):
    """LoRA (Hu et al., "LoRA: Low-Rank Adaptation of Large Language Models", ICLR 2022): each
    targeted frozen weight W (out × in) gets a trainable low-rank delta, h = W x + (alpha / r)
    · B A x with A (r × in), B (out × r), so r·(in + out) new parameters per Linear.

    Defaults follow the paper: query and value projections (its §7.1 finding that adapting
    W_q and W_v together is best for a fixed budget), r = 8 with alpha = 8 (its RoBERTa /
    DeBERTa settings, scaling 1), no dropout. Initialisation is PEFT's default, that of the
    authors' ``loralib``: A Kaiming-uniform (the paper's text says Gaussian), B = 0, so the
    model starts exactly as the frozen backbone. ``towers``: ("visual",) by default;
    ``("visual", "text")`` adapts the text tower too. ``targets`` are kinds of Linear inside
    the blocks (:data:`~vidlift.backbones.contract.LORA_KINDS`): ``attn_q``, ``attn_k``,
    ``attn_v``, ``attn_out``, ``mlp_in``, ``mlp_out`` (the old module names ``q_proj`` …
    ``fc2`` are read as these). A kind may cover several Linears (EVA-CLIP's SwiGLU has two
    input projections); a backbone that cannot target a kind refuses, naming ``lora``.

    LoRA alone models no time (the survey's remark); combine it with a temporal head.
    ``merge`` folds the deltas into the weights for inference (zero added latency, the
    paper's point), after which the backbone holds its family's plain modules again.

    List it *before* strategies that declare backbone weights by name (partial tuning): PEFT
    renames the Linears it wraps (``…q_proj.weight`` → ``…q_proj.base_layer.weight``).
    """

    name: ClassVar[str] = "lora"
    family: ClassVar[str] = "lora"
    paper: ClassVar[str] = "Hu et al., ICLR 2022 (arXiv 2106.09685)"
    trains_backbone: ClassVar[bool] = True

    r: int = 8
    alpha: float = 8.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("attn_q", "attn_v")
    towers: tuple[str, ...] = ("visual",)

    def __post_init__(self) -> None:
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r < 1:
            raise ValueError(f"{self.name}: r (the LoRA rank) must be a positive integer, got {self.r!r}")
        check_number(self.name, "alpha", self.alpha, low=0.0, low_open=True)
        check_probability(self.name, "dropout", self.dropout)
        targets = (self.targets,) if isinstance(self.targets, str) else tuple(self.targets)
        kinds = tuple(OLD_NAMES.get(t, t) if isinstance(t, str) else t for t in targets)
        unknown = [t for t in kinds if t not in LORA_KINDS]
        if unknown or not kinds or len(set(kinds)) != len(kinds):
            raise ValueError(f"{self.name}: targets must be distinct kinds among {', '.join(LORA_KINDS)}, "
                             f"got {targets!r}")
        self.targets = kinds
        try:
            self.towers = normalize_towers(self.towers)
        except ValueError as e:
            raise ValueError(f"{self.name}: {e}") from None

    def apply(self, model: TransferModel) -> None:
        require_extra("lora", "the lora transfer strategy")
        from peft import LoraConfig, inject_adapter_in_model

        earlier = [i.strategy for i in model.insertions if i.where == "backbone"]
        if earlier:
            raise TransferCompositionError(
                f"list lora before {earlier[0]}: {earlier[0]} declared backbone weights by name, and PEFT renames "
                "the Linear layers LoRA wraps (…q_proj.weight becomes …q_proj.base_layer.weight)")
        if any(_lora_modules(model)):
            raise TransferCompositionError("lora: the backbone already holds LoRA layers")
        bb = model.backbone
        if "text" in self.towers:
            bb.require_text(self.name)
        try:
            pattern = bb.lora_targets(self.towers, self.targets)
        except BackboneCapabilityError:
            raise
        except ValueError as e:
            raise TransferCompositionError(f"{self.name}: the {bb.family} backbone refuses the LoRA targets "
                                           f"{list(self.targets)} on {list(self.towers)}: {e}") from e
        config = LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout, bias="none",
                            target_modules=pattern)
        inject_adapter_in_model(config, model.backbone, adapter_name=ADAPTER)
        names = [n for n, _ in model.backbone.named_parameters() if ".lora_A." in n or ".lora_B." in n]
        n_layers = len(names) // 2
        model.train_backbone(names, f"LoRA r={self.r} on {', '.join(self.targets)} of {n_layers} Linears")

    def merge(self, model: TransferModel) -> bool:
        """Fold every LoRA delta into its Linear (W ← W + (alpha / r)·B·A) and put the plain
        Linear back, so the backbone's parameter names are a plain backbone's again. True once the
        strategy lives in the weights (also when an earlier call merged it)."""
        for name, layer in list(_lora_modules(model)):
            layer.merge(safe_merge=True, adapter_names=[ADAPTER])
            parent_name, _, child = name.rpartition(".")
            parent = model.backbone.get_submodule(parent_name)
            setattr(parent, child, layer.get_base_layer())
        return True


def _lora_modules(model: TransferModel):
    """(name, PEFT LoRA layer) pairs inside the backbone."""
    from peft.tuners.lora import LoraLayer

    return ((n, m) for n, m in model.backbone.named_modules() if isinstance(m, LoraLayer))


__all__ = ["Lora", "OLD_NAMES"]
