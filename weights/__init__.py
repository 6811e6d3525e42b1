"""Shipped weights (installed as ``iqa_cli.shipped``): safetensors files, manifest.json, MODEL_CARD.md."""
