"""The grounding task (being built; see issue 10)."""
