"""Action recognition: clips -> class scores, trained with cross-entropy, reported as top-1,
top-5 and mean class accuracy (see :mod:`.metrics`), on any dataset format that provides
labelled clips (Kinetics, SSv2, UCF101, HMDB51 …: :mod:`vidlift.data.datasets.registry`).

Sampling (:mod:`.clips`) is TSN's (Wang et al., ECCV 2016: ``frames`` segments, one frame
each) or dense (``frames`` frames ``stride`` apart in one window, as AIM, ST-Adapter and EVL);
the test split may average several views, fixed or drawn at random (X-CLIP, ViFi-CLIP).
The head (:mod:`.heads`) is a linear classifier (on the projected or the pre-projection clip
feature, with dropout), Text4Vis' frozen classifier initialised from class-name embeddings,
ActionCLIP's video-text similarity (with its 16-template ensemble), or zero-shot CLIP.
Training may mix clips (mixup / cutmix, :mod:`.training`). ``few_shot: K`` trains on K clips
per class (:mod:`.few_shot`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F

from ...data.augment import MixupCutmix
from ...data.clips import CROPS
from ...data.datasets import LABELLED_CLIPS, ClassificationSample, DatasetConfig, Records
from ...data.datasets.common import load_class_list
from ...data.transforms import VideoTransform
from ..base import StepOutput, Task
from .clips import ClipSampling, RecognitionClips
from .few_shot import sample_few_shot
from .heads import HEADS, RecognitionHead, actionclip_kl_loss, actionclip_kl_on_texts, build_head
from .metrics import classification_metrics, negative_log_likelihood
from .training import batch_generator, parse_head, parse_mixup, parse_prompt_ensemble, soft_target_cross_entropy

if TYPE_CHECKING:
    from ...transfer import TransferModel

log = logging.getLogger(__name__)

DEFAULT_PROMPT = "a video of {}."


class RecognitionTask(Task):
    """Action recognition (see module doc). Every argument is a plain value from the YAML
    ``task:`` section.

    Args:
        dataset: ``{format: <a format providing labelled clips>, **its keys}`` (see
            :mod:`vidlift.data.datasets.registry` and the reader of each format), e.g.
            ``{format: kinetics, train: train.csv, val: validate.csv, video_root: videos}``;
            paths may be relative to ``root``; ``max_missing_ratio`` (default 0.05). Besides
            the format's keys: ``class_texts`` (a file, one text per class, replacing the
            class names as the text encoded).
        frames: frames per clip (T).
        sampling, stride, dense_convention, test_sampling: which frames each split decodes
            (:class:`.clips.ClipSampling`): ``tsn`` (default) or ``dense`` (``stride`` frames
            apart; ``dense_convention`` mmaction2 / mmaction2-0.x / evl); test views
            ``uniform`` (default) or ``random`` (X-CLIP / ViFi-CLIP's test draws).
        head: ``linear``, ``text_init``, ``similarity`` or ``zero_shot`` (:mod:`.heads`), or a
            mapping ``{name: <head>, **its options}`` (``linear``: ``features`` projection |
            pre_projection, ``dropout``, ``init_std``).
        prompt: template of the class text, one ``{}``; sets the model's default class prompt
            (a strategy's learned prompt, e.g. CoOp, replaces it and ignores this).
        few_shot: K training clips per class (None: all), drawn with ``few_shot_seed``.
        test_clips, test_crops: views of the test (and predict) split, clips × crops (1 or 3);
            softmax scores are averaged over them. Validation uses one view.
        label_smoothing: of the cross-entropy (Szegedy et al., CVPR 2016).
        loss: ``ce`` (cross-entropy over classes, as Text4Vis and ViFi-CLIP) or ``kl``
            (ActionCLIP's symmetric in-batch KL; similarity head only).
        freeze_classifier: ``text_init`` only: keep the classifier at its text initialisation
            (None, the default, = true, as Text4Vis); false trains it.
        mixup: ``{mixup_alpha, cutmix_alpha, prob, switch_prob}`` (null: off): batch mixup /
            cutmix with ``label_smoothing`` and a soft-target cross-entropy (``loss: ce``).
        prompt_ensemble: ``actionclip`` (its 16 templates) or a list of templates (null: off);
            class-text heads (similarity, zero_shot) only. Evaluation averages the class
            softmax over the templates (ActionCLIP's test); with ``loss: kl`` each training
            clip's text is its class in a template drawn per (seed, epoch, clip).
        backend: video decoding backend. seed: frame/crop sampling and linear-head init.
    """

    name: ClassVar[str] = "recognition"
    dataset_kind: ClassVar[str | None] = LABELLED_CLIPS
    dataset_task_keys: ClassVar[tuple[str, ...]] = ("class_texts",)

    def __init__(self, dataset: dict[str, Any], frames: int = 8, head: str | dict[str, Any] = "similarity",
                 prompt: str = DEFAULT_PROMPT, few_shot: int | None = None, few_shot_seed: int = 0,
                 test_clips: int = 1, test_crops: int = 1, label_smoothing: float = 0.0, loss: str = "ce",
                 freeze_classifier: bool | None = None, backend: str = "pyav", seed: int = 0,
                 sampling: str = "tsn", stride: int | None = None, dense_convention: str = "mmaction2",
                 test_sampling: str = "uniform", mixup: dict[str, float] | None = None,
                 prompt_ensemble: str | list[str] | None = None) -> None:
        super().__init__()
        self.data = DatasetConfig(dataset, self.name, self.dataset_kind, task_keys=self.dataset_task_keys)
        self.sampling = ClipSampling(frames, sampling, stride, dense_convention, test_clips, test_sampling)
        head, self.head_options = parse_head(head, tuple(HEADS))
        if not isinstance(prompt, str) or prompt.count("{}") != 1:
            raise ValueError(f"recognition: prompt must hold exactly one '{{}}' for the class name, got {prompt!r}")
        if few_shot is not None and (not isinstance(few_shot, int) or isinstance(few_shot, bool) or few_shot < 1):
            raise ValueError(f"recognition: few_shot must be a positive integer or null, got {few_shot!r}")
        if test_crops not in CROPS:
            raise ValueError(f"recognition: test_crops must be 1 (centre) or 3 (three crops), got {test_crops!r}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"recognition: label_smoothing must be in [0, 1), got {label_smoothing!r}")
        if loss not in ("ce", "kl"):
            raise ValueError(f"recognition: loss must be 'ce' or 'kl', got {loss!r}")
        if loss == "kl" and (head != "similarity" or label_smoothing):
            raise ValueError("recognition: loss 'kl' (ActionCLIP) needs head 'similarity' and no label_smoothing")
        if freeze_classifier is not None and (head != "text_init" or not isinstance(freeze_classifier, bool)):
            raise ValueError(f"recognition: freeze_classifier (true or false) applies to head text_init only "
                             f"(head is {head!r}, freeze_classifier {freeze_classifier!r})")
        self.mixup = parse_mixup(mixup)
        if self.mixup is not None and loss != "ce":
            raise ValueError("recognition: mixup needs loss 'ce' (a soft-target cross-entropy); ActionCLIP's loss "
                             "'kl' pairs clips with texts of one class each, there is no mixed target to give it")
        self.templates = parse_prompt_ensemble(prompt_ensemble)
        if self.templates and not HEADS[head].encodes_class_texts or self.templates and head == "text_init":
            raise ValueError(f"recognition: prompt_ensemble needs a head that encodes class texts at every "
                             f"evaluation (similarity or zero_shot), got head {head!r}")
        self.frames, self.head_name, self.prompt = frames, head, prompt
        self.few_shot, self.few_shot_seed = few_shot, few_shot_seed
        self.test_clips, self.test_crops = test_clips, test_crops
        self.label_smoothing, self.loss = float(label_smoothing), loss
        self.freeze_classifier, self.backend, self.seed = freeze_classifier, backend, seed
        self.head: RecognitionHead | None = None
        self._class_names: tuple[str, ...] | None = None
        self._mix: MixupCutmix | None = None
        self._model_trains: bool | None = None  # known at setup
        self._epoch = 0

    # -- annotations ----------------------------------------------------------------------
    def records(self, split: str) -> Records[ClassificationSample]:
        """The annotations of ``split`` (read once; videos absent from the root are left out);
        every split but "predict" must be labelled."""
        rec = self.data.records(split)
        if split != "predict":
            unlabelled = [s.video_id for s in rec if s.label_index is None]
            if unlabelled:
                hint = f" ({self.data.format.unlabelled_hint})" if self.data.format.unlabelled_hint else ""
                raise ValueError(f"recognition: {rec.source} ({split} split) has {len(unlabelled)} unlabelled clips, "
                                 f"e.g. {unlabelled[0]!r}; {split} needs labels{hint}")
        return rec

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names in label-index order."""
        if self._class_names is None:
            self._class_names = self.data.class_names()
        return self._class_names

    def has_split(self, split: str) -> bool:
        """Whether ``split`` is configured and holds at least one clip (the engine skips
        validation otherwise)."""
        return self.data.has_split(split) and len(self.records(split)) > 0

    @property
    def class_texts(self) -> list[str]:
        """What each class is encoded as by the text heads (``dataset.class_texts`` or the
        readable class names)."""
        if self.data.get("class_texts") is not None:
            texts = list(load_class_list(self.data.path("class_texts")))
            if len(texts) != len(self.class_names):
                raise ValueError(f"recognition: dataset.class_texts has {len(texts)} lines for "
                                 f"{len(self.class_names)} classes")
            return texts
        return [self.data.format.class_text(n) for n in self.class_names]

    # -- Task interface -------------------------------------------------------------------
    def setup(self, model: TransferModel) -> None:
        if model.num_frames != self.frames:
            log.warning("recognition: the model was built for %d frames but the task samples %d",
                        model.num_frames, self.frames)
        from ...transfer.base import TemplatePrompt

        prompt_role = model.roles["class_prompt"]
        if isinstance(prompt_role, TemplatePrompt):
            prompt_role.template = self.prompt
        else:
            head = HEADS[self.head_name]
            if self.prompt != DEFAULT_PROMPT and head.encodes_class_texts:
                log.warning("recognition: the class prompt comes from a transfer strategy (%s); prompt %r is not used",
                            type(prompt_role).__name__, self.prompt)
            if head.trains and not head.trains_class_prompt and any(p.requires_grad for p in prompt_role.parameters()):
                log.warning("recognition: head %s does not train the class prompt of %s (its parameters get no "
                            "gradient); use head similarity", self.head_name, type(prompt_role).__name__)
            if self.templates:
                raise ValueError(f"recognition: prompt_ensemble puts the class texts in its templates, but the class "
                                 f"prompt comes from a transfer strategy ({type(prompt_role).__name__}); use one or "
                                 "the other")
        modes = {m: m.training for m in model.modules()}
        model.eval()  # class texts for text_init without dropout
        try:
            self.head = build_head(self.head_name, model, self.class_texts, freeze_classifier=self.freeze_classifier,
                                   seed=self.seed, templates=self.templates, options=self.head_options)
        finally:
            for m, mode in modes.items():
                m.training = mode
        self._model_trains = any(p.requires_grad for p in model.parameters())
        if self.mixup is not None:
            self._mix = MixupCutmix(len(self.class_names), label_smoothing=self.label_smoothing, **self.mixup)

    def _head(self) -> RecognitionHead:
        if self.head is None:
            raise RuntimeError("recognition: call task.setup(model) before using the task")
        return self.head

    def dataset(self, split: str, transform: VideoTransform) -> RecognitionClips:
        samples = list(self.records(split))
        if split == "train":
            if self.few_shot is not None:
                keep = sample_few_shot([s.label_index for s in samples], self.few_shot, len(self.class_names),
                                       self.few_shot_seed, self.class_names)
                samples = [samples[i] for i in keep]
        crops = self.test_crops if split in ("test", "predict") else 1
        templates = len(self.templates) if split == "train" and self.loss == "kl" else 0
        ds = RecognitionClips(samples, self.sampling.sampler(split), transform, self.backend, self.seed, crops,
                              templates)
        self.follow_epochs(ds)
        return ds

    def set_epoch(self, epoch: int) -> None:
        """The engine's epoch: passed on to the datasets, and seeds each batch's mixup draw."""
        self._epoch = int(epoch)
        super().set_epoch(epoch)

    def _check_something_trains(self) -> None:
        if self.head is None or self._model_trains is None or self._model_trains or self.head.has_trainable():
            return
        if self.head_name == "text_init":
            raise ValueError("recognition: head text_init keeps its classifier frozen at the class-text embeddings "
                             "(Text4Vis) and the transfer strategies train nothing here (mean_pool alone?), so "
                             "nothing would train. Set task.freeze_classifier=false to train the classifier (a "
                             "cosine linear probe), or add a strategy that trains (temporal_transformer, "
                             "full_finetune, an adapter ...)")

    def training_step(self, model: TransferModel, batch: dict[str, Any]) -> StepOutput:
        head = self._head()
        if not head.trains:
            raise ValueError("recognition: the zero_shot head trains nothing; evaluate it with `vidlift validate` "
                               "or `vidlift test` (or pick head similarity, text_init or linear to train)")
        self._check_something_trains()
        head.reset_cache()
        video, labels = batch["video"], batch["label"]
        if video.ndim != 5:
            raise ValueError(f"recognition: training clips must be (B, T, 3, S, S), got {tuple(video.shape)}")
        if bool((labels < 0).any()):
            raise ValueError("recognition: a training batch holds unlabelled clips")
        targets = None
        if self._mix is not None:  # one draw per batch, from (seed, epoch, its clips): resumable
            video, targets = self._mix(video, labels, generator=batch_generator(self.seed, self._epoch, batch["index"]))
        out = model.encode_video(video)
        text = head.class_text(model)  # (C, E), recomputed (with gradient) for the similarity head
        logits = head(model, out, text=text)
        if self.loss == "kl" and self.templates:  # ActionCLIP: each clip's class in its drawn template
            clip_text = head.clip_texts(model, labels, batch["template"])
            task_loss = actionclip_kl_on_texts(model, out, clip_text, labels)
        elif self.loss == "kl":
            task_loss = actionclip_kl_loss(model, out, text, labels)
        elif targets is not None:
            task_loss = soft_target_cross_entropy(logits, targets.to(logits.device))
        else:
            task_loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        aux = model.auxiliary_losses(out, text=text, logits=logits, pixels=video, class_texts=self.class_texts,
                                     prompt=self.prompt)
        loss = task_loss + sum(aux.values()) if aux else task_loss
        logs = {"task_loss": float(task_loss.detach()),
                "top1": float((logits.detach().argmax(-1) == labels).float().mean())}
        logs.update({f"aux_{k}": float(v.detach()) for k, v in aux.items()})
        return StepOutput(loss, logs)

    def scores(self, model: TransferModel, video: torch.Tensor) -> torch.Tensor:
        """Class probabilities (B, C) of clips (B, T, 3, S, S) or views (B, V, T, 3, S, S):
        the softmax of each view's logits, averaged over views. Class texts are encoded once
        per evaluation (until :meth:`compute_metrics` or a training step)."""
        head = self._head()
        if video.ndim == 5:
            video = video[:, None]
        if video.ndim != 6:
            raise ValueError(f"recognition: expected clips (B, T, 3, S, S) or views (B, V, T, 3, S, S), "
                             f"got {tuple(video.shape)}")
        with torch.no_grad():
            total = None
            for v in range(video.shape[1]):  # one view at a time: memory of one clip batch
                probs = head(model, model.encode_video(video[:, v]), cache=True).float().softmax(-1)
                total = probs if total is None else total + probs
        return total / video.shape[1]

    def evaluation_step(self, model: TransferModel, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"scores": self.scores(model, batch["video"]), "labels": batch["label"]}

    def compute_metrics(self, outputs: dict[str, torch.Tensor], split: str) -> dict[str, float]:
        self._head().reset_cache()
        scores, labels = outputs["scores"].float(), outputs["labels"].long()
        metrics = classification_metrics(scores, labels)
        metrics["loss"] = negative_log_likelihood(scores, labels)
        # Clips that did not decode are left out (and logged): the count says how many remain.
        metrics["num_clips"] = int(labels.numel())
        return metrics

    def predict_step(self, model: TransferModel, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """Per clip ``{"video_id", "top5": [[class name, probability], ...]}`` (best first,
        min(5, C) classes; probabilities averaged over the test views)."""
        probs = self.scores(model, batch["video"]).cpu()
        top = probs.topk(min(5, probs.shape[1]), dim=1)
        names = self.class_names
        return [{"video_id": vid, "top5": [[names[int(c)], round(float(p), 6)] for p, c in zip(ps, cs)]}
                for vid, ps, cs in zip(batch["video_id"], top.values, top.indices)]

    def example_batch(self, transform: VideoTransform, num_frames: int) -> dict[str, Any]:
        batch = super().example_batch(transform, num_frames)
        batch.update(label=torch.zeros(1, dtype=torch.long))
        return batch

    def views(self, split: str) -> int:
        """Views per clip of ``split``: clips × crops on test and predict, 1 elsewhere."""
        return self.test_clips * self.test_crops if split in ("test", "predict") else 1

    @property
    def trains(self) -> bool:
        """False for the zero_shot head (evaluation only). Raises ValueError, saying how to
        train the classifier, when Text4Vis' frozen classifier is all the run has (after
        :meth:`setup`)."""
        if not HEADS[self.head_name].trains:
            return False
        self._check_something_trains()
        return True

    def extra_repr(self) -> str:
        dense = f" stride {self.sampling.stride}" if self.sampling.sampling == "dense" else ""
        extra = "".join(f", {k}" for k, on in (("mixup", self.mixup is not None),
                                                 (f"{len(self.templates)} templates", bool(self.templates))) if on)
        return (f"format={self.data.name}, head={self.head_name}, frames={self.frames} "
                f"({self.sampling.sampling}{dense}), views={self.test_clips}x{self.test_crops}, "
                f"few_shot={self.few_shot}{extra}")


__all__ = ["RecognitionTask", "DEFAULT_PROMPT"]
