"""Shipped weights (installed as ``iqa_cli.weights``): safetensors files, manifest.json, MODEL_CARD.md."""
