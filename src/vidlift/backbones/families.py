"""Where backbone families outside the CLIP core live: importing this module registers them
(one import line per family package; each package ends with its ``register_family`` line)."""

from . import eva  # noqa: F401  (EVA02-CLIP)
