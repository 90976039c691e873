"""The bookkeeping half of a :class:`~vidlift.transfer.TransferModel`: what each strategy
declared, and what follows from it — which parameters train, which combinations are refused,
the learning-rate and weight-decay rules an optimiser reads, the parameter report.

Strategies call the declaration methods (:meth:`TransferDeclarations.insert`, ``add_head``,
``set_role``, ``train_backbone``) from their ``apply``; everything else here is read after
the model is built. The forward pass is :mod:`.model`'s.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from torch import nn

from ..backbones import Backbone, BackboneMeta
from ..backbones.contract import VisionLanguageBackbone
from .base import ROLES, Insertion, MeanPool, Strategy, TemplatePrompt, TransferCompositionError

if TYPE_CHECKING:
    from .report import ParameterReport

# Parameters of added modules that are tokens or tables rather than weights: no weight decay
# (as CLIP, ViT and VPT train them). The backbone's own tables are its to name (``is_table``).
_NO_DECAY = re.compile(r"(pos_embed|position|temporal_embed|time_embed|prompt|\.ctx$|(^|\.)query$|class_embedding|"
                       r"token_embedding|probe)")


class TransferDeclarations(nn.Module):
    """A backbone and the declarations of the strategies applied to it.

    ``backbone`` is a :class:`~vidlift.backbones.Backbone` (from ``load_backbone``: the model
    with its preprocessing, tokenizer and identity) whose model implements the
    :class:`~vidlift.backbones.contract.VisionLanguageBackbone` contract; ``num_frames`` is the
    T that temporal modules are built for. Building applies every strategy, fills the roles
    nobody declared with their defaults (mean over frames, the "a video of {}." prompt), then
    freezes every parameter that no strategy declared.
    """

    def __init__(self, backbone: Backbone, strategies: Sequence[Strategy] = (), num_frames: int = 8) -> None:
        super().__init__()
        if not isinstance(backbone, Backbone):
            raise TypeError(f"TransferModel needs a vidlift Backbone (from load_backbone: the model with its "
                            f"preprocessing, tokenizer and identity), not {type(backbone).__name__}")
        if not isinstance(backbone.model, VisionLanguageBackbone):
            raise TypeError(f"TransferModel needs a backbone implementing vidlift.backbones.contract."
                            f"VisionLanguageBackbone, got {type(backbone.model).__name__}")
        # Strategies change the backbone in place (hooks, LoRA wrappers, requires_grad), so one
        # backbone object serves one TransferModel: a second would silently share its modules.
        if getattr(backbone.model, "_vidlift_transfer_model", False):
            raise TransferCompositionError(
                "this backbone already belongs to a TransferModel (or to a build that failed); "
                "load a fresh one with load_backbone() for every model")
        backbone.model._vidlift_transfer_model = True
        self.backbone: VisionLanguageBackbone = backbone.model
        self.preprocess = backbone.preprocess
        self.tokenizer = backbone.tokenizer
        self.meta: BackboneMeta = backbone.meta
        self.num_frames = num_frames
        self.strategies: list[Strategy] = list(strategies)
        self.heads = nn.ModuleDict()
        self.roles = nn.ModuleDict()
        self.insertions: list[Insertion] = []
        self._role_owner: dict[str, str] = {}
        self._declared_modules: list[tuple[str, nn.Module]] = []
        # id(parameter) -> (strategy, name at declaration): ids survive the renaming done by
        # wrappers that a later strategy injects (PEFT moves q_proj.weight to q_proj.base_layer.weight).
        self._declared_backbone: dict[int, tuple[str, str]] = {}
        self._current: Strategy | None = None
        self._check_composition()
        for s in self.strategies:
            self._current = s
            s.apply(self)  # type: ignore[arg-type]  # the TransferModel this class is the base of
        self._current = None
        if "video_head" not in self.roles:
            self.roles["video_head"] = MeanPool()
        if "class_prompt" not in self.roles:
            self.roles["class_prompt"] = TemplatePrompt()
        self._freeze_undeclared()

    # -- what strategies read while they apply -----------------------------------------------
    @property
    def depth(self) -> int:
        """Blocks of the image tower."""
        return self.backbone.vision_depth

    @property
    def width(self) -> int:
        """Token width D of the image tower."""
        return self.backbone.vision_width

    @property
    def embed_dim(self) -> int:
        """Width E of the joint space."""
        return self.backbone.embed_dim

    def place(self, module: nn.Module) -> nn.Module:
        """Put a new module on the backbone's device and dtype (returns it)."""
        return module.to(device=self.backbone.device, dtype=self.backbone.dtype)

    def backbone_parameter_names(self) -> list[str]:
        """Names (as in ``backbone.named_parameters()``) of the backbone's own parameters, not
        those of modules the strategies inserted at its hook sites."""
        added = self._module_tensor_ids()
        return [n for n, p in self.backbone.named_parameters() if id(p) not in added]

    # -- declarations (called by Strategy.apply) ---------------------------------------
    def _owner(self) -> str:
        if self._current is None:
            raise RuntimeError("declarations are only allowed inside Strategy.apply")
        return self._current.name

    def insert(self, site: str, module: nn.Module, what: str | None = None) -> nn.Module:
        """Add ``module`` at hook ``site`` of the backbone (``visual.embed``, ``visual.out``,
        ``text.embed``, ``visual.blocks.<i>.<block site>``; negative i counts from the end;
        ``backbone.hook_sites()`` lists them). Its parameters train."""
        owner = self._owner()
        try:
            self.backbone.add_hook(site, module)
        except KeyError as e:
            raise TransferCompositionError(f"{owner}: {e.args[0]} (the {self.backbone.family} backbone)") from None
        self._declare(site, module, what)
        return module

    def add_head(self, name: str, module: nn.Module, what: str | None = None) -> nn.Module:
        """Register a new trainable module outside the backbone (``model.heads[name]``)."""
        if name in self.heads:
            raise TransferCompositionError(f"{self._owner()}: a head named {name!r} already exists")
        self.heads[name] = module
        self._declare(f"heads.{name}", module, what)
        return module

    def set_role(self, role: str, module: nn.Module, what: str | None = None) -> nn.Module:
        """Fill exclusive ``role`` (one of :data:`~vidlift.transfer.base.ROLES`) with ``module``;
        its parameters train."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
        owner = self._owner()
        if role in self._role_owner:
            raise TransferCompositionError(
                f"{self._role_owner[role]} and {owner} both provide the {role.replace('_', ' ')}; "
                "combine at most one of them")
        self._role_owner[role] = owner
        self.roles[role] = module
        self._declare(f"roles.{role}", module, what)
        return module

    def train_backbone(self, names: Iterable[str], what: str = "backbone parameters") -> int:
        """Declare existing backbone parameters (names as in ``backbone.named_parameters()``,
        e.g. from ``backbone.parameter_names(tower, part)``) as trainable. Returns how many
        elements they hold."""
        owner = self._owner()
        params = dict(self.backbone.named_parameters())
        count = 0
        chosen = list(names)
        for n in chosen:
            if n not in params:
                raise KeyError(f"{owner}: the backbone has no parameter {n!r}")
            other = self._declared_backbone.get(id(params[n]), (owner, n))[0]
            if other != owner:
                raise TransferCompositionError(f"{other} and {owner} both train {n}; combine at most one of them")
            self._declared_backbone[id(params[n])] = (owner, n)
            count += params[n].numel()
        self.insertions.append(Insertion(owner, "backbone", f"{what} ({len(chosen)} tensors)", count))
        return count

    def _declare(self, where: str, module: nn.Module, what: str | None) -> None:
        n = sum(p.numel() for p in module.parameters())
        self._declared_modules.append((self._owner(), module))
        self.insertions.append(Insertion(self._owner(), where, what or type(module).__name__, n))

    def _check_composition(self) -> None:
        names = [s.name for s in self.strategies]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise TransferCompositionError(f"strategy {sorted(dup)[0]!r} is listed twice")
        for s in self.strategies:
            for other in self.strategies:
                if other is not s and (other.family in s.excludes or s.family in other.excludes):
                    raise TransferCompositionError(
                        f"{s.name} ({s.family}) cannot be combined with {other.name} ({other.family})")
        frozen_only = [s.name for s in self.strategies if s.needs_frozen_backbone]
        training = [s.name for s in self.strategies if s.trains_backbone]
        if frozen_only and training:
            raise TransferCompositionError(
                f"{frozen_only[0]} reads a frozen backbone (no gradient through it), so combining it with "
                f"{training[0]}, which trains inside the backbone, makes no sense")

    def _module_tensor_ids(self) -> set[int]:
        """ids of every parameter and buffer of the modules the strategies declared."""
        return {id(t) for _, m in self._declared_modules for t in itertools.chain(m.parameters(), m.buffers())}

    def _freeze_undeclared(self) -> None:
        self._added_ids = self._module_tensor_ids()
        declared = self._added_ids | set(self._declared_backbone)
        for p in self.parameters():
            p.requires_grad_(id(p) in declared)
        self._backbone_trains = any(p.requires_grad for p in self.backbone.parameters())

    # -- what the declarations imply -----------------------------------------------------------
    def is_added(self, name: str) -> bool:
        """Whether parameter ``name`` (as in ``named_parameters()``) belongs to a module a
        strategy added (inserted at a hook site, a head, a role), rather than to the backbone."""
        return id(self.get_parameter(name)) in self._added_ids

    def added_state_names(self) -> set[str]:
        """Names in ``state_dict()`` of the parameters and buffers of the modules the strategies
        added (wherever they sit: inside the backbone's hook sites, heads, roles)."""
        ids = self._module_tensor_ids()
        return {n for n, t in self.state_dict(keep_vars=True).items() if id(t) in ids}

    def trainable_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        return ((n, p) for n, p in self.named_parameters() if p.requires_grad)

    def lr_scale(self, name: str) -> float:
        """Learning-rate multiplier of trainable parameter ``name``: the last strategy with an
        opinion (layer-wise decay, a separate rate for new modules) decides; 1 otherwise."""
        scale = 1.0
        for s in self.strategies:
            opinion = s.lr_scale(name, self)  # type: ignore[arg-type]
            if opinion is not None:
                scale = opinion
        return scale

    def no_weight_decay(self, name: str, param: nn.Parameter) -> bool:
        """Whether parameter ``name`` trains without weight decay: gains, biases and other
        vectors (ndim < 2); for the modules strategies added, tokens and tables by name
        (prompts, context vectors, queries, position embeddings); for the backbone's own
        parameters, the tables the backbone names (``backbone.is_table``)."""
        if param.ndim < 2:
            return True
        if not self.is_added(name) and name.startswith("backbone."):
            return self.backbone.is_table(name.removeprefix("backbone."))
        return bool(_NO_DECAY.search(name))

    def parameter_report(self) -> ParameterReport:
        from .report import ParameterReport

        return ParameterReport.of(self)

    def extra_repr(self) -> str:
        return f"strategies={[s.name for s in self.strategies]}, num_frames={self.num_frames}"


__all__ = ["TransferDeclarations"]
