"""Captioning metrics through the COCO caption evaluation code (``pycocoevalcap``).

BLEU-4 (Papineni et al., ACL 2002), METEOR 1.5 (Denkowski & Lavie, 2014), ROUGE-L (Lin, 2004)
and CIDEr-D (Vedantam et al., CVPR 2015), after the Stanford PTB tokenizer with punctuation
removed — the protocol of the coco-caption code (Chen et al., arXiv 1504.00325;
``tylin/coco-caption``) that video captioning papers (UniVL, CLIP4Caption, SwinBERT) report
with. Every caption of a video is a reference. Scores are reported × 100, as papers print them.

Which CIDEr: ``pycocoevalcap.cider.Cider`` is CIDEr-D (its ``CiderScorer`` clips each
candidate n-gram count by the reference's, ``min(vec_hyp, vec_ref)``, and multiplies by the
Gaussian length penalty ``exp(-(len_c - len_r)^2 / (2 * 6^2))`` with sigma 6, then × 10: the
definition of CIDEr-D in Vedantam et al., section 4.3). Its document frequencies come from the
references of the evaluated set, so a set of one video scores CIDEr 0 (every n-gram's idf is 0).
BLEU is corpus-level with the "closest" reference length.

Java: the PTB tokenizer and METEOR run Java (``java`` on PATH). Without it, METEOR is skipped
with a warning and the captions are tokenised in Python (:func:`simple_ptb_tokenize`, an
approximation of the PTB rules: lower case, contractions and punctuation split off, the same
punctuation dropped), also with a warning; scores may then differ slightly from the official
ones. SPICE needs a model download and is not offered.

The PTB tokenizer is run by vidlift (:func:`ptb_tokenize`) rather than through pycocoevalcap's
``PTBTokenizer`` wrapper, with the same jar, command line (``-preserveLines -lowerCase``, one
caption a line) and punctuation filter, because the wrapper writes its input file next to the
jar inside the installed package (``tempfile.NamedTemporaryFile(dir=<package folder>)``), which
fails on a read-only install (a system site-packages, a container image), and it ignores the
exit status and a short output (``zip`` drops the captions the tokenizer did not return).
vidlift writes the file to the system temporary folder and checks both.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

METRICS = ("bleu", "meteor", "rouge", "cider")
KEYS = {"bleu": "BLEU-4", "meteor": "METEOR", "rouge": "ROUGE-L", "cider": "CIDEr"}
# What pycocoevalcap's PTBTokenizer removes after tokenising.
PUNCTUATIONS = {"''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--", "...",
                ";"}
_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}
_TOKEN = re.compile(r"[a-z0-9]+(?=n't\b)|n't\b|'(?:s|re|ve|m|ll|d)\b|[a-z0-9]+(?:[.\-/][a-z0-9]+)*|\.\.\.|--|\S")


def java_available() -> bool:
    """Whether a ``java`` executable is on PATH (the PTB tokenizer and METEOR need one)."""
    return shutil.which("java") is not None


def simple_ptb_tokenize(text: str) -> str:
    """A plain-Python stand-in for the PTB tokenizer + punctuation removal: lower-cased tokens
    joined by single spaces ("A man's dog, (running)." -> "a man 's dog -lrb- running -rrb-")."""
    # PTB writes brackets as -LRB- etc.; lower-cased, they escape pycocoevalcap's punctuation
    # filter (which lists them upper-case) and stay in the official token stream, so here too.
    tokens = [_BRACKETS.get(t, t) for t in _TOKEN.findall(text.lower())]
    return " ".join(t for t in tokens if t not in PUNCTUATIONS)


def tokenize(captions: Mapping[str, Sequence[str]], java: bool) -> dict[str, list[str]]:
    """{id: [caption, ...]} -> {id: [tokenised caption, ...]} through the PTB tokenizer
    (Java) or :func:`simple_ptb_tokenize`."""
    if not java:
        return {k: [simple_ptb_tokenize(c) for c in v] for k, v in captions.items()}
    keys = [k for k, v in captions.items() for _ in v]
    tokens = ptb_tokenize([c for v in captions.values() for c in v])
    out: dict[str, list[str]] = {k: [] for k in captions}
    for k, t in zip(keys, tokens):
        out[k].append(t)
    return out


def ptb_jar() -> Path:
    """The Stanford CoreNLP 3.4.1 jar that pycocoevalcap ships for its PTB tokenizer."""
    from pycocoevalcap.tokenizer import ptbtokenizer

    jar = Path(ptbtokenizer.__file__).with_name(ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR)
    if not jar.is_file():
        raise FileNotFoundError(f"captioning: pycocoevalcap's PTB tokenizer jar is missing: {jar}")
    return jar


def ptb_tokenize(texts: Sequence[str]) -> list[str]:
    """Captions (N,) -> PTB-tokenised, lower-cased captions (N,) with :data:`PUNCTUATIONS`
    dropped: the Java tokenizer of coco-caption, run with its input file in the system
    temporary folder (module docstring). Each caption is one input line, so its white space
    (newlines included) is collapsed first."""
    texts = [" ".join(t.split()) for t in texts]
    if not texts:
        return []
    with tempfile.TemporaryDirectory(prefix="vidlift-ptb-") as folder:
        source = Path(folder) / "captions.txt"
        source.write_text("\n".join(texts), encoding="utf-8")
        cmd = ["java", "-cp", str(ptb_jar()), "edu.stanford.nlp.process.PTBTokenizer", "-preserveLines",
               "-lowerCase", str(source)]
        done = subprocess.run(cmd, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"captioning: the PTB tokenizer ({' '.join(cmd[:4])}) exited with status "
                           f"{done.returncode}: {done.stderr.decode(errors='replace').strip()[-500:]}")
    lines = done.stdout.decode("utf-8").split("\n")
    if len(lines) < len(texts):
        raise RuntimeError(f"captioning: the PTB tokenizer returned {len(lines)} lines for {len(texts)} captions")
    return [" ".join(w for w in line.rstrip().split(" ") if w not in PUNCTUATIONS) for line in lines[: len(texts)]]


def _meteor(gts: dict[str, list[str]], res: dict[str, list[str]]) -> float:
    from pycocoevalcap.meteor.meteor import Meteor

    scorer = Meteor()  # starts a JVM (the first call of a session takes tens of seconds)
    try:
        score, _ = scorer.compute_score(gts, res)
    finally:
        # pycocoevalcap stops the JVM only in __del__; stop it here (its __del__ then finds the
        # process ended, which is harmless). Its compute_score takes a lock that it does not give
        # back when it fails (e.g. METEOR answers a line that is not a number), and __del__ waits
        # for that lock: release it, or garbage collection would hang the run.
        scorer.meteor_p.stdin.close()
        scorer.meteor_p.kill()
        scorer.meteor_p.wait()
        if scorer.lock.locked():
            scorer.lock.release()
    return float(score)


def caption_metrics(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]],
                    metrics: Sequence[str] = METRICS) -> dict[str, float]:
    """Corpus scores of one generated caption per video against all its reference captions.

    Args:
        predictions: {video id: generated caption}.
        references: {video id: its reference captions} for every predicted video.
        metrics: any of ``bleu``, ``meteor``, ``rouge``, ``cider``.

    Returns:
        ``{"BLEU-4", "METEOR", "ROUGE-L", "CIDEr"}`` (those asked for, × 100; METEOR absent
        where Java is missing) and ``num_videos``.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"captioning: unknown metrics {unknown}; choose from {list(METRICS)}")
    if not predictions:
        raise ValueError("captioning: no prediction to score")
    missing = [v for v in predictions if v not in references]
    if missing:
        raise ValueError(f"captioning: {len(missing)} predicted videos have no reference captions, e.g. {missing[0]!r}")
    empty = [v for v in predictions if not references[v]]
    if empty:
        raise ValueError(f"captioning: video {empty[0]!r} has an empty reference list")
    java = java_available()
    if not java:
        log.warning("captioning: no `java` on PATH: captions are tokenised by vidlift's Python approximation of the "
                    "PTB tokenizer%s; install Java 17 for the official scores",
                    " and METEOR is skipped" if "meteor" in metrics else "")
    ids = sorted(predictions)
    gts = tokenize({v: list(references[v]) for v in ids}, java)
    res = tokenize({v: [predictions[v]] for v in ids}, java)
    out: dict[str, float] = {}
    for name in metrics:
        if name == "bleu":
            from pycocoevalcap.bleu.bleu import Bleu

            score = Bleu(4).compute_score(gts, res, verbose=0)[0][3]
        elif name == "meteor":
            if not java:
                continue
            score = _meteor(gts, res)
        elif name == "rouge":
            from pycocoevalcap.rouge.rouge import Rouge

            score = Rouge().compute_score(gts, res)[0]
        else:
            from pycocoevalcap.cider.cider import Cider

            score = Cider().compute_score(gts, res)[0]
        out[KEYS[name]] = 100.0 * float(score)
    out["num_videos"] = float(len(ids))
    return out


__all__ = ["caption_metrics", "ptb_tokenize", "simple_ptb_tokenize", "java_available", "METRICS", "KEYS"]
