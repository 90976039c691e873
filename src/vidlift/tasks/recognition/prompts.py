"""Prompt templates for recognition (torch-free, so the CLI can show defaults cheaply)."""

# Averaged over (CLIP's prompt ensembling); each holds one {} for the class name.
DEFAULT_TEMPLATES = ("a video of {}.", "a photo of {}.")

# ActionCLIP's 16 text templates (Wang et al., "ActionCLIP: A New Paradigm for Video Action
# Recognition", arXiv 2109.08472), in the order of its ``text_prompt`` (sallymmx/ActionCLIP,
# ``utils/Text_Prompt.py``): a random one per training clip, all 16 averaged at test time.
ACTIONCLIP_TEMPLATES = (
    "a photo of action {}", "a picture of action {}", "Human action of {}", "{}, an action",
    "{} this is an action", "{}, a video of action", "Playing action of {}", "{}",
    "Playing a kind of action, {}", "Doing a kind of action, {}", "Look, the human is {}",
    "Can you recognize the action of {}?", "Video classification of {}", "A video of {}",
    "The man is {}", "The woman is {}",
)

# Template sets by name, for the recognition task's ``prompt_ensemble`` key.
PROMPT_ENSEMBLES = {"actionclip": ACTIONCLIP_TEMPLATES}
