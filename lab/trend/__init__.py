"""`make trend`: the history of key figures (gate, nightly capacity) and its change points."""
