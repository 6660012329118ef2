"""The lab: load runs, the audit, the deck, capacity, chaos, the CI gate and the live checks."""
