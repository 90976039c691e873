"""EVA-CLIP (EVA02-CLIP): a second vision-tower family behind the backbone contract.

EVA02's image tower (2-D RoPE, SwiGLU MLP, sub-LNs) with vidlift's CLIP text tower, loaded
from open_clip's layout (``openclip:EVA02-B-16:<file>``, ``openclip:auto:<dir>``) or built
empty (``random:tiny-eva``, ``random:EVA02-B-16``). Registered below, one line per registry.
"""

from ..formats import openclip as _openclip_format
from ..registry import Family, register_family
from . import openclip
from .config import ARCHS, EvaClipConfig, EvaVisionConfig, get_arch
from .model import EvaClip
from .vision import EvaAttention, EvaBlock, EvaVisionTransformer, SwiGluMlp

register_family(Family("eva-clip", EvaClipConfig, EvaClip, ARCHS, get_arch,
                       "EVA02-CLIP: EVA02 image tower (RoPE, SwiGLU, sub-LN), CLIP text tower"))
_openclip_format.FAMILY_LAYOUTS.append(openclip)

__all__ = ["ARCHS", "EvaClipConfig", "EvaVisionConfig", "get_arch", "EvaClip", "EvaAttention", "EvaBlock",
           "EvaVisionTransformer", "SwiGluMlp"]
