"""Prompt templates for zero-shot recognition (torch-free, so the CLI can show defaults cheaply)."""

# Averaged over (CLIP's prompt ensembling); each holds one {} for the class name.
DEFAULT_TEMPLATES = ("a video of {}.", "a photo of {}.")
