"""The qa task (being built; see issue 10)."""
