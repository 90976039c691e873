"""Action recognition: clips -> class scores, trained with cross-entropy, reported as top-1,
top-5 and mean class accuracy (see :mod:`.metrics`), on Kinetics, SSv2, UCF101 or HMDB51.

Sampling is TSN's (Wang et al., ECCV 2016): ``frames`` segments, one frame each, random
inside its segment for training and the centre for evaluation; the test split may average
several views (:mod:`.views`). The head (:mod:`.heads`) is a linear classifier, a Text4Vis
classifier initialised from class-name embeddings, ActionCLIP's video-text similarity, or
zero-shot CLIP. ``few_shot: K`` trains on K clips per class (:mod:`.few_shot`).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from ...data.datasets import ClassificationSample, Records
from ...data.datasets.common import DEFAULT_MAX_MISSING_RATIO, load_class_list
from ...data.video import SegmentSampler
from ..base import StepOutput, Task
from .few_shot import sample_few_shot
from .heads import HEADS, RecognitionHead, actionclip_kl_loss, build_head
from .metrics import classification_metrics, negative_log_likelihood
from .views import CROPS, RecognitionClips, eval_sampler

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test", "predict")
DEFAULT_PROMPT = "a video of {}."
# Keys of the ``dataset`` mapping per format, besides the common ones.
FORMAT_KEYS = {
    "kinetics": ("train", "val", "test", "predict", "classes"),
    "ssv2": ("train", "val", "test", "predict", "labels", "test_answers"),
    "ucf101": ("splits", "split", "train", "val", "test", "predict", "class_index"),
    "hmdb51": ("splits", "split"),
}
COMMON_KEYS = ("format", "video_root", "root", "max_missing_ratio", "class_texts")
REQUIRED_KEYS = {"kinetics": ("video_root",), "ssv2": ("labels", "video_root"), "ucf101": ("video_root",),
                 "hmdb51": ("splits", "video_root")}


def readable_class_name(name: str, fmt: str) -> str:
    """The text a class name is encoded as: underscores become spaces, and UCF101's CamelCase
    is split ("ApplyEyeMakeup" -> "Apply Eye Makeup")."""
    text = name.replace("_", " ")
    if fmt == "ucf101":
        text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", text)
    return " ".join(text.split())


def check_dataset_config(dataset: dict[str, Any]) -> dict[str, Any]:
    """Validate the ``dataset`` mapping (format and keys); returns a copy."""
    if not isinstance(dataset, dict):
        raise ValueError("recognition: dataset must be a mapping with a format, e.g. {format: kinetics, train: ..., "
                         "val: ..., test: ..., video_root: ...}")
    fmt = dataset.get("format")
    if fmt not in FORMAT_KEYS:
        raise ValueError(f"recognition: dataset.format must be one of {', '.join(FORMAT_KEYS)}, got {fmt!r}")
    known = FORMAT_KEYS[fmt] + COMMON_KEYS
    unknown = sorted(set(dataset) - set(known))
    if unknown:
        raise ValueError(f"recognition: dataset ({fmt}) has unknown key(s) {unknown}; known: {sorted(known)}")
    missing = [k for k in REQUIRED_KEYS[fmt] if dataset.get(k) is None]
    if fmt == "ucf101" and all(dataset.get(k) is None for k in ("splits", "train", "test")):
        missing.append("splits (or train/test list files)")
    if fmt == "kinetics" and not any(dataset.get(k) for k in ("train", "val", "test", "predict")):
        missing.append("train/val/test (CSV files)")
    if missing:
        raise ValueError(f"recognition: dataset ({fmt}) needs {', '.join(missing)}")
    return dict(dataset)


class RecognitionTask(Task):
    """Action recognition (see module doc). Every argument is a plain value from the YAML
    ``task:`` section.

    Args:
        dataset: ``{format: kinetics|ssv2|ucf101|hmdb51, video_root: ..., ...}``; paths may be
            relative to ``root``. kinetics: ``train``/``val``/``test`` CSVs, optional
            ``classes`` (one name per line; default: the sorted labels of the train CSV).
            ssv2: ``train``/``val``/``test`` JSON, ``labels`` (labels.json), optional
            ``test_answers`` (test-answers.csv, labels the test JSON). ucf101: ``splits``
            (ucfTrainTestlist folder) and ``split`` (1-3), or ``train``/``test`` list files,
            optional ``class_index``; val is the test list unless ``val`` is given. hmdb51:
            ``splits`` (testTrainMulti_7030_splits folder) and ``split``; val is the test
            subset. Any format: ``predict`` (default: the test annotations),
            ``max_missing_ratio`` (default 0.05), ``class_texts`` (a file, one text per class,
            replacing the class names as the text encoded).
        frames: TSN segments (frames per clip).
        head: ``linear``, ``text_init``, ``similarity`` or ``zero_shot`` (:mod:`.heads`).
        prompt: template of the class text, one ``{}``; sets the model's default class prompt
            (a strategy's learned prompt, e.g. CoOp, replaces it and ignores this).
        few_shot: K training clips per class (None: all), drawn with ``few_shot_seed``.
        test_clips, test_crops: views of the test (and predict) split, clips × crops (1 or 3);
            softmax scores are averaged over them. Validation uses one view.
        label_smoothing: of the cross-entropy (Szegedy et al., CVPR 2016).
        loss: ``ce`` (cross-entropy over classes, as Text4Vis and ViFi-CLIP) or ``kl``
            (ActionCLIP's symmetric in-batch KL; similarity head only).
        freeze_classifier: keep the ``text_init`` classifier at its text initialisation.
        decoder: video decoding backend. seed: frame/crop sampling and linear-head init.
    """

    name: ClassVar[str] = "recognition"

    def __init__(self, dataset: dict[str, Any], frames: int = 8, head: str = "similarity",
                 prompt: str = DEFAULT_PROMPT, few_shot: int | None = None, few_shot_seed: int = 0,
                 test_clips: int = 1, test_crops: int = 1, label_smoothing: float = 0.0, loss: str = "ce",
                 freeze_classifier: bool = False, decoder: str = "pyav", seed: int = 0) -> None:
        super().__init__()
        self.data = check_dataset_config(dataset)
        if not isinstance(frames, int) or frames < 1:
            raise ValueError(f"recognition: frames must be a positive integer, got {frames!r}")
        if head not in HEADS:
            raise ValueError(f"recognition: unknown head {head!r}; heads: {', '.join(HEADS)}")
        if not isinstance(prompt, str) or prompt.count("{}") != 1:
            raise ValueError(f"recognition: prompt must hold exactly one '{{}}' for the class name, got {prompt!r}")
        if few_shot is not None and (not isinstance(few_shot, int) or isinstance(few_shot, bool) or few_shot < 1):
            raise ValueError(f"recognition: few_shot must be a positive integer or null, got {few_shot!r}")
        if not isinstance(test_clips, int) or test_clips < 1:
            raise ValueError(f"recognition: test_clips must be a positive integer, got {test_clips!r}")
        if test_crops not in CROPS:
            raise ValueError(f"recognition: test_crops must be 1 (centre) or 3 (three crops), got {test_crops!r}")
        if not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"recognition: label_smoothing must be in [0, 1), got {label_smoothing!r}")
        if loss not in ("ce", "kl"):
            raise ValueError(f"recognition: loss must be 'ce' or 'kl', got {loss!r}")
        if loss == "kl" and (head != "similarity" or label_smoothing):
            raise ValueError("recognition: loss 'kl' (ActionCLIP) needs head 'similarity' and no label_smoothing")
        self.frames, self.head_name, self.prompt = frames, head, prompt
        self.few_shot, self.few_shot_seed = few_shot, few_shot_seed
        self.test_clips, self.test_crops = test_clips, test_crops
        self.label_smoothing, self.loss = float(label_smoothing), loss
        self.freeze_classifier, self.decoder, self.seed = freeze_classifier, decoder, seed
        self.head: RecognitionHead | None = None
        self._records: dict[str, Records[ClassificationSample]] = {}
        self._class_names: tuple[str, ...] | None = None
        self._datasets: list[RecognitionClips] = []

    # -- annotations ----------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        value = Path(os.fspath(self.data[key])).expanduser()
        root = self.data.get("root")
        return value if root is None or value.is_absolute() else Path(root).expanduser() / value

    def _source(self, split: str) -> str:
        """The dataset key holding ``split``'s annotations."""
        fmt, d = self.data["format"], self.data
        if split not in SPLITS:
            raise ValueError(f"recognition: unknown split {split!r}; splits: {', '.join(SPLITS)}")
        if fmt == "hmdb51":
            return "splits"
        if d.get(split) is not None:
            return split
        if split == "predict":
            return self._source("test")
        if fmt == "ucf101":
            if split == "val" and d.get("test") is not None:
                return "test"
            if d.get("splits") is not None:
                return "splits"
        raise ValueError(f"recognition: the {fmt} dataset has no {split!r} split: add dataset.{split}")

    def records(self, split: str) -> Records[ClassificationSample]:
        """The annotations of ``split`` (read once; videos absent from the root are left out)."""
        if split in self._records:
            return self._records[split]
        d, fmt = self.data, self.data["format"]
        key = self._source(split)
        root = self._path("video_root")
        ratio = float(d.get("max_missing_ratio", DEFAULT_MAX_MISSING_RATIO))
        subset = "train" if split == "train" else "test"
        if fmt == "kinetics":
            from ...data.datasets import read_kinetics

            classes = self._path("classes") if d.get("classes") is not None else None
            if classes is None and key != "train" and d.get("train") is not None:
                classes = self.records("train").classes
            elif classes is None and key != "train":
                # No class list and no training split (zero-shot evaluation): every split must
                # index the same classes, so take the sorted union of all configured splits.
                names: set[str] = set()
                for other in ("val", "test", "predict"):
                    if d.get(other) is not None:
                        names |= set(read_kinetics(self._path(other), None, max_missing_ratio=1.0).classes)
                classes = tuple(sorted(names))
            rec = read_kinetics(self._path(key), root, classes=classes, max_missing_ratio=ratio)
        elif fmt == "ssv2":
            from ...data.datasets import read_ssv2

            answers = self._path("test_answers") if key == "test" and d.get("test_answers") is not None else None
            rec = read_ssv2(self._path(key), self._path("labels"), root, answers_path=answers, max_missing_ratio=ratio)
        elif fmt == "ucf101":
            from ...data.datasets.ucf101 import read_ucf101

            index = self._path("class_index") if d.get("class_index") is not None else None
            rec = read_ucf101(self._path(key), root, class_index=index, split=int(d.get("split", 1)),
                              subset=subset, max_missing_ratio=ratio)
        else:
            from ...data.datasets.hmdb51 import read_hmdb51

            rec = read_hmdb51(self._path("splits"), int(d.get("split", 1)), subset, root, max_missing_ratio=ratio)
        if split != "predict":
            unlabelled = [s.video_id for s in rec if s.label_index is None]
            if unlabelled:
                hint = " (SSv2: give dataset.test_answers)" if fmt == "ssv2" else ""
                raise ValueError(f"recognition: {rec.source} ({split} split) has {len(unlabelled)} unlabelled clips, "
                                 f"e.g. {unlabelled[0]!r}; {split} needs labels{hint}")
        self._records[split] = rec
        return rec

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class names in label-index order."""
        if self._class_names is None:
            d = self.data
            if d["format"] == "kinetics" and d.get("classes") is not None:
                names = load_class_list(self._path("classes"))
            elif d["format"] == "ssv2":
                from ...data.datasets import read_ssv2_labels

                names = read_ssv2_labels(self._path("labels"))
            else:
                split = next(s for s in ("train", "test", "val", "predict") if self._configured(s))
                names = self.records(split).classes
            if not names:
                raise ValueError("recognition: the annotations name no class")
            self._class_names = tuple(names)
        return self._class_names

    def _configured(self, split: str) -> bool:
        try:
            self._source(split)
        except ValueError:
            return False
        return True

    def has_split(self, split: str) -> bool:
        """Whether ``split`` is configured and holds at least one clip (the engine skips
        validation otherwise)."""
        return self._configured(split) and len(self.records(split)) > 0

    @property
    def class_texts(self) -> list[str]:
        """What each class is encoded as by the text heads (``dataset.class_texts`` or the
        readable class names)."""
        if self.data.get("class_texts") is not None:
            texts = list(load_class_list(self._path("class_texts")))
            if len(texts) != len(self.class_names):
                raise ValueError(f"recognition: dataset.class_texts has {len(texts)} lines for "
                                 f"{len(self.class_names)} classes")
            return texts
        return [readable_class_name(n, self.data["format"]) for n in self.class_names]

    # -- Task interface -------------------------------------------------------------------
    def setup(self, model: Any) -> None:
        if model.num_frames != self.frames:
            log.warning("recognition: the model was built for %d frames but the task samples %d",
                        model.num_frames, self.frames)
        from ...transfer.base import TemplatePrompt

        prompt_role = model.roles["class_prompt"]
        if isinstance(prompt_role, TemplatePrompt):
            prompt_role.template = self.prompt
        else:
            if self.prompt != DEFAULT_PROMPT and self.head_name != "linear":
                log.warning("recognition: the class prompt comes from a transfer strategy (%s); prompt %r is not used",
                            type(prompt_role).__name__, self.prompt)
            if self.head_name in ("linear", "text_init") and any(p.requires_grad for p in prompt_role.parameters()):
                log.warning("recognition: head %s does not train the class prompt of %s (its parameters get no "
                            "gradient); use head similarity", self.head_name, type(prompt_role).__name__)
        modes = {m: m.training for m in model.modules()}
        model.eval()  # class texts for text_init without dropout
        try:
            self.head = build_head(self.head_name, model, self.class_texts,
                                   freeze_classifier=self.freeze_classifier, seed=self.seed)
        finally:
            for m, mode in modes.items():
                m.training = mode

    def _head(self) -> RecognitionHead:
        if self.head is None:
            raise RuntimeError("recognition: call task.setup(model) before using the task")
        return self.head

    def dataset(self, split: str, transform: Any) -> RecognitionClips:
        samples = list(self.records(split))
        if split == "train":
            if self.few_shot is not None:
                keep = sample_few_shot([s.label_index for s in samples], self.few_shot, len(self.class_names),
                                       self.few_shot_seed, self.class_names)
                samples = [samples[i] for i in keep]
            sampler, crops = SegmentSampler(self.frames, "train"), 1
        elif split == "val":
            sampler, crops = SegmentSampler(self.frames, "test"), 1
        else:
            sampler, crops = eval_sampler(self.frames, self.test_clips), self.test_crops
        ds = RecognitionClips(samples, sampler, transform, self.decoder, self.seed, crops)
        self._datasets.append(ds)
        return ds

    def set_epoch(self, epoch: int) -> None:
        for ds in self._datasets:
            ds.set_epoch(epoch)

    def training_step(self, model: Any, batch: dict[str, Any]) -> StepOutput:
        head = self._head()
        if not head.trains:
            raise ValueError("recognition: the zero_shot head trains nothing; evaluate it with `vidlift validate` "
                               "or `vidlift test` (or pick head similarity, text_init or linear to train)")
        head.reset_cache()
        video, labels = batch["video"], batch["label"]
        if video.ndim != 5:
            raise ValueError(f"recognition: training clips must be (B, T, 3, S, S), got {tuple(video.shape)}")
        if bool((labels < 0).any()):
            raise ValueError("recognition: a training batch holds unlabelled clips")
        out = model.encode_video(video)
        text = head.class_text(model)  # (C, E), recomputed (with gradient) for the similarity head
        logits = head(model, out, text=text)
        if self.loss == "kl":
            task_loss = actionclip_kl_loss(model, out, text, labels)
        else:
            task_loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        aux = model.auxiliary_losses(out, text=text)
        loss = task_loss + sum(aux.values()) if aux else task_loss
        logs = {"task_loss": float(task_loss.detach()),
                "top1": float((logits.detach().argmax(-1) == labels).float().mean())}
        logs.update({f"aux_{k}": float(v.detach()) for k, v in aux.items()})
        return StepOutput(loss, logs)

    def scores(self, model: Any, video: torch.Tensor) -> torch.Tensor:
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

    def evaluation_step(self, model: Any, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return {"scores": self.scores(model, batch["video"]), "labels": batch["label"]}

    def compute_metrics(self, outputs: dict[str, torch.Tensor], split: str) -> dict[str, float]:
        self._head().reset_cache()
        scores, labels = outputs["scores"].float(), outputs["labels"].long()
        metrics = classification_metrics(scores, labels)
        metrics["loss"] = negative_log_likelihood(scores, labels)
        # Clips that did not decode are left out (and logged): the count says how many remain.
        metrics["num_clips"] = int(labels.numel())
        return metrics

    def predict_step(self, model: Any, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """Per clip ``{"video_id", "top5": [[class name, probability], ...]}`` (best first,
        min(5, C) classes; probabilities averaged over the test views)."""
        probs = self.scores(model, batch["video"]).cpu()
        top = probs.topk(min(5, probs.shape[1]), dim=1)
        names = self.class_names
        return [{"video_id": vid, "top5": [[names[int(c)], round(float(p), 6)] for p, c in zip(ps, cs)]}
                for vid, ps, cs in zip(batch["video_id"], top.values, top.indices)]

    def example_batch(self, transform: Any, num_frames: int) -> dict[str, Any]:
        batch = super().example_batch(transform, num_frames)
        batch.update(label=torch.zeros(1, dtype=torch.long), video_id=["example"])
        return batch

    def views(self, split: str) -> int:
        """Views per clip evaluated on ``split`` (clips × crops on test, 1 elsewhere)."""
        return self.test_clips * self.test_crops if split == "test" else 1

    def extra_repr(self) -> str:
        return (f"format={self.data['format']}, head={self.head_name}, frames={self.frames}, "
                f"views={self.test_clips}x{self.test_crops}, few_shot={self.few_shot}")


__all__ = ["RecognitionTask", "readable_class_name", "check_dataset_config", "SPLITS", "FORMAT_KEYS"]
