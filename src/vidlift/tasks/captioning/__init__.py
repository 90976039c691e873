"""The captioning task (being built; see issue 10)."""
