"""Training code for the two shipped models (needs requirements-train.txt)."""
