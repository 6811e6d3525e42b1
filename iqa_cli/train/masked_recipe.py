"""``iqa train --masked``: the recipe behind the shipped default ``causal-iqa`` (the masked Haar block).

Starts from a causal-iqa weights file (``--out``'s, else the shipped one), adds the masked Haar block and fits it
by the protocol of :mod:`iqa_cli.train.masked` on the 65 development conditions re-created on the 40 training
images of :func:`~iqa_cli.train.selection.dev_train_refs` (BSDS500, never Kodak). Every other parameter and head
buffer of the base is kept. CPU only; a few minutes.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from iqa_cli.errors import TrainingError
from iqa_cli.models.causal import CausalIQA
from iqa_cli.train.publish import check_out_dir, ship_weights
from iqa_cli.train.recipe import MODEL_NAME

if TYPE_CHECKING:
    from iqa_cli.api import Scorer

log = logging.getLogger(__name__)


def source_and_refs(base: Path) -> tuple[Scorer, CausalIQA, list[tuple[str, np.ndarray]]]:
    """The causal-iqa weights ``base`` loaded on the CPU (scorer and its model), and the development training
    images (40 BSDS500)."""
    from iqa_cli.api import load_model
    from iqa_cli.synth.devset import load_refs
    from iqa_cli.train.selection import dev_train_refs

    source = load_model(MODEL_NAME, weights=base, device="cpu")
    if not isinstance(source.module, CausalIQA):
        raise TrainingError(f"{base} is not a causal-iqa weights file")
    refs = load_refs(dev_train_refs())
    if not refs:
        raise TrainingError("no training images found under ../shared/data/pristine — set IQA_SHARED_DATA")
    return source, source.module, refs


def run_masked(
    out_dir: Path, workdir: Path, base: Path, *, seed: int = 0, threads: int = 1, force: bool = False
) -> dict[str, Any]:
    """Fit the masked Haar block on top of ``base``; write ``out_dir/causal-iqa.safetensors``; return a summary."""
    from iqa_cli.train.masked import fit_masked_model
    from iqa_cli.train.selection import N_DEV_TRAIN_IMAGES

    in_place = (out_dir / f"{MODEL_NAME}.safetensors").resolve() == base.resolve()
    check_out_dir(out_dir, f"{MODEL_NAME}.safetensors", force, in_place=in_place)
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    source, base_model, refs = source_and_refs(base)
    model, summary = fit_masked_model(base_model, refs, seed=seed, log=log.info)
    recipe = dict(source.metadata.get("recipe") or {})
    recipe |= {
        "masked_command": f"iqa train --masked --seed {seed}",
        "masked_base_sha256": source.weights_sha256,
        "n_dev_train_images": N_DEV_TRAIN_IMAGES,
    }
    data = dict(source.metadata.get("data") or {})
    data["masked_haar"] = (
        "labels/kadid_dev_conditions.csv (65 condition means) re-created on 40 BSDS500 images: content energy and "
        "masking gain without the scores, the two degradation weights and the calibration with them"
    )
    path, sha = ship_weights(out_dir, MODEL_NAME, model, recipe, data, summary)
    summary |= {"weights": str(path), "sha256": sha, "total_seconds": round(time.perf_counter() - t0, 1)}
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
