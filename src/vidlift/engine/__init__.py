"""The training engine: Lightning around (backbone × transfer × task), YAML configs with
command-line overrides, and a metrics.json with accuracy and cost for every run."""

from .config import ConfigError, load_config
from .run import evaluate, fit, predict

__all__ = ["ConfigError", "load_config", "fit", "evaluate", "predict"]
