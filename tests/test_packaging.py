"""Packaging: the minimal install (no extras) runs the core commands, the others name their extra,
and the version is written once.

The minimal install is emulated in a subprocess whose import system cannot see the extras'
packages (a ``sitecustomize`` on ``PYTHONPATH`` hides them from the path finder, so
``import peft`` fails and ``find_spec("peft")`` is ``None``, as when they are not installed).
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import importlib.metadata
import json
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from safetensors.torch import load_file

import vidlift
from tests.videos import write_video
from vidlift.backbones import get_arch
from vidlift.extras import EXTRAS

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Import names of every optional package: the extras', Lightning's own, and torchmetrics (tests only).
OPTIONAL = sorted({n for names in EXTRAS.values() for n in names} | {"pytorch_lightning", "lightning_fabric",
                                                                      "torchmetrics"})

HIDE = textwrap.dedent(
    """
    import sys
    from importlib.machinery import PathFinder

    HIDDEN = set({hidden!r})


    class _WithoutExtras(PathFinder):
        @classmethod
        def find_spec(cls, fullname, path=None, target=None):
            if fullname.partition(".")[0] in HIDDEN:
                return None  # as for a package that is not installed
            return super().find_spec(fullname, path, target)


    sys.meta_path[:] = [_WithoutExtras if f is PathFinder else f for f in sys.meta_path]
    """
)


@pytest.fixture(scope="module")
def minimal(tmp_path_factory):
    """Run ``python -m vidlift ARGS`` (or ``python -c CODE``) with the optional packages hidden."""
    site = tmp_path_factory.mktemp("without_extras")
    (site / "sitecustomize.py").write_text(HIDE.format(hidden=OPTIONAL))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1"}

    def run(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "vidlift", *args]
        return subprocess.run(cmd, env=env, cwd=site, capture_output=True, text=True, timeout=300)

    return run


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    write_video(folder / "clip.mp4", 24)
    return folder


def test_the_extras_are_really_hidden(minimal):
    probe = "import importlib.util, json; print(json.dumps({n: importlib.util.find_spec(n) is None for n in %r}))"
    r = minimal(code=probe % OPTIONAL)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {n: True for n in OPTIONAL}


def test_extract_and_zero_shot_work_without_the_extras(minimal, clips, tmp_path):
    out = tmp_path / "feats"
    r = minimal("extract", "--backbone", "tiny", "--videos", str(clips), "--out", str(out), "--frames", "4",
                "--layers", "-1", "--no-progress")
    assert r.returncode == 0, r.stderr
    v = get_arch("tiny-ilfm").vision
    feats = load_file(str(out / "features" / "clip.safetensors"))
    assert feats["embeds"].shape == (4, get_arch("tiny-ilfm").embed_dim)
    assert feats[f"layer_{v.layers - 1}"].shape == (4, v.grid_size**2 + 1, v.width)
    assert feats["indices"].shape == (4,)
    assert [json.loads(line)["status"] for line in (out / "manifest.jsonl").read_text().splitlines()] == ["ok"]

    labels = ["a red square", "a blue circle", "a green star"]
    pred = tmp_path / "pred.json"
    r = minimal("zero-shot", "--backbone", "tiny", "--videos", str(clips), "--labels", ",".join(labels),
                "--frames", "4", "--json", str(pred))
    assert r.returncode == 0, r.stderr
    result = json.loads(pred.read_text())
    (p,) = result["predictions"]
    assert result["failed"] == [] and p["video_id"] == "clip" and p["frames"] == 4
    assert sorted(t["label"] for t in p["top"]) == sorted(labels)
    assert sum(t["score"] for t in p["top"]) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize(("args", "extra"), [
    (("fit", "--config", "run.yaml"), "train"),
    (("validate", "--config", "run.yaml"), "train"),
    (("demo", "--out", "demo_out"), "demo"),
    (("transfers", "--strategy", "lora", "--backbone", "tiny"), "lora"),
])
def test_commands_that_need_an_extra_say_which(minimal, args, extra):
    r = minimal(*args)
    assert r.returncode == 2
    assert f"needs the [{extra}] extra: pip install 'vidlift[{extra}]'" in r.stderr
    assert "Traceback" not in r.stderr
    if args[0] == "fit":
        assert r.stderr.startswith("vidlift fit needs the [train] extra: pip install 'vidlift[train]'")


def test_extras_match_the_code():
    deps = PYPROJECT["project"]["optional-dependencies"]
    core = " ".join(PYPROJECT["project"]["dependencies"]).lower()
    for extra, names in EXTRAS.items():
        assert extra in deps
        for name in names:
            assert name in " ".join(deps[extra]), (extra, name)
            assert name not in core, f"{name} is optional ([{extra}]) but listed as a core dependency"
    assert "torchmetrics" not in core and "regex" not in core


def test_version_is_written_once():
    assert "version" not in PYPROJECT["project"] and "version" in PYPROJECT["project"]["dynamic"]
    assert importlib.metadata.version("vidlift") == vidlift.__version__
    assert (Path(vidlift.__file__).parent / "py.typed").is_file()
