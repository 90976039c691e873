"""Optional dependencies: which extra (``pip install 'vidlift[EXTRA]'``) brings which packages.

``pip install vidlift`` alone gives the backbones, video decoding with PyAV, ``vidlift
extract``, ``zero-shot``, ``convert``, ``synth`` and ``pretrain-tiny``. The rest needs an extra
(``pyproject.toml``'s ``[project.optional-dependencies]``): a command declares the extras it
needs, and a missing one is reported before any work, as the line to run.
"""

from __future__ import annotations

import importlib.util

# extra -> the import names of the packages it installs (kept in step with pyproject.toml).
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("lightning", "tensorboard", "scipy"),
    "captioning": ("pycocoevalcap",),
    "lora": ("peft",),
    "demo": ("matplotlib",),
}


class MissingExtraError(ImportError):
    """``feature`` needs the optional packages of ``extra``, and ``missing`` of them are not installed."""

    def __init__(self, feature: str, extra: str, missing: list[str]) -> None:
        self.feature, self.extra, self.missing = feature, extra, missing
        super().__init__(
            f"{feature} needs the [{extra}] extra: pip install 'vidlift[{extra}]' "
            f"({', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed)",
            name=missing[0],
        )


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or half-installed package
        return False


def missing_packages(extra: str) -> list[str]:
    """The import names of ``extra``'s packages that cannot be imported here."""
    if extra not in EXTRAS:
        raise KeyError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    return [name for name in EXTRAS[extra] if not _importable(name)]


def require_extra(extra: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` (naming ``feature`` and the pip line) if ``extra`` is not installed."""
    missing = missing_packages(extra)
    if missing:
        raise MissingExtraError(feature, extra, missing)


def extra_providing(module: str | None) -> str | None:
    """The extra whose packages include the top-level package of ``module`` (e.g. ``peft.tuners``
    -> ``lora``), or ``None``: turns a ModuleNotFoundError raised deep inside a command into the
    same message as :func:`require_extra`."""
    top = (module or "").split(".")[0]
    # Lightning's own packages, which `lightning` pulls in.
    top = {"pytorch_lightning": "lightning", "lightning_fabric": "lightning"}.get(top, top)
    return next((extra for extra, names in EXTRAS.items() if top in names), None)


__all__ = ["EXTRAS", "MissingExtraError", "missing_packages", "require_extra", "extra_providing"]
