"""Training code (self-supervised disentanglement, quality heads). Kept apart from inference code."""
