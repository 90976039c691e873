"""vidlift: transfer image-language foundation models (CLIP, SigLIP and kin) to video tasks."""

__version__ = "0.1.0"
