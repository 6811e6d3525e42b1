"""The reproducible training recipe behind the shipped ``causal-iqa`` weights (``iqa train``).

1. Self-supervised disentanglement on the training split of ../shared/data/pristine (BSDS500 + Urban100; Kodak24 is
   held out for the benchmark), see :mod:`iqa_cli.train.selfsup`. Checkpoints make it resumable.
2. Feature scale and the label-free head from synthetic degradations of training images (no human score).
3. The few-label head from the 65 KADID development conditions re-created on training images (40 BSDS500
   images, never Kodak), each pair labelled with its condition's mean human score.
4. The default head is chosen by leave-one-type-out cross-validation on those training-image pairs (fit the
   few-label head on 12 types, score the 13th), compared with the label-free head on the same pairs
   (:mod:`iqa_cli.train.selection`).
5. Weights + metadata (recipe, data, head choice) written to the output folder and listed in its
   ``manifest.json``. ``iqa train`` writes to a run folder (``<workdir>/weights``) by default; the shipped
   ``weights/`` folder, or any existing weights file, is only replaced with ``force``
   (:func:`iqa_cli.train.publish.check_out_dir`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from iqa_cli.errors import TrainingError
from iqa_cli.eval import srcc
from iqa_cli.models.causal import CausalConfig, CausalIQA
from iqa_cli.models.causal.heads import FewLabelHead, write_heads
from iqa_cli.train.heads import feature_groups, fit_feature_scale, fit_few_label_on, fit_label_free
from iqa_cli.train.publish import check_out_dir, ship_weights
from iqa_cli.train.schedule import StepCallback
from iqa_cli.train.selection import (
    N_DEV_TRAIN_IMAGES,
    N_SYNTHETIC,
    DevFeatures,
    dev_features,
    dev_train_refs,
    select_few_label,
    synthetic_features,
)
from iqa_cli.train.selfsup import TrainConfig, train

MODEL_NAME = "causal-iqa"


def fit_heads(model: CausalIQA, train_images: Sequence[np.ndarray], dev: DevFeatures, seed: int = 0) -> dict[str, Any]:
    """Fit scale, label-free and few-label heads into ``model``; choose the default head; return a summary.

    The few-label head's feature group (all / learned / pixel), softness and ridge are chosen by leave-one-type-out
    SRCC on the training-image development pairs (:func:`~iqa_cli.train.selection.select_few_label`); the label-free
    head always uses all features (no human score touches it; the softness only rescales its projection, which tau
    absorbs).
    """
    syn = synthetic_features(model, train_images, seed=seed)
    base_scale = fit_feature_scale(syn)
    groups = feature_groups(model)
    loto, group, softness, ridge = select_few_label(dev, base_scale, groups)
    scale = base_scale * softness
    lf = fit_label_free(syn, scale)
    fl = fit_few_label_on(dev.features, dev.mos, scale, groups[group], ridge)
    write_heads(model, scale=scale, label_free=lf, few_label=FewLabelHead(*fl, floor=1.0))
    with torch.no_grad():
        lf_scores = model.head_label_free(torch.from_numpy(dev.features).float().to(model.fl_bias.device)).cpu().numpy()
    summary: dict[str, Any] = {
        "train_dev_pairs": len(dev.mos),
        "label_free_srcc_train_dev": round(srcc(lf_scores, dev.mos), 4),
        "few_label_loto_srcc_train_dev_by_group": loto,
        "few_label_group": group,
        "few_label_softness": softness,
        "few_label_ridge": ridge,
        "few_label_loto_srcc_train_dev": loto[group],
    }
    better = summary["few_label_loto_srcc_train_dev"] >= summary["label_free_srcc_train_dev"]
    summary["default_head"] = "few_label" if better else "label_free"
    return summary


def run_training(
    out_dir: Path,
    workdir: Path,
    *,
    steps: int = 2000,
    widths: tuple[int, int, int] = (16, 32, 48),
    refit_from: Path | None = None,
    seed: int = 0,
    threads: int = 1,
    device: str = "cpu",
    on_step: StepCallback | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """The whole recipe; writes ``out_dir/causal-iqa.safetensors`` and updates the manifest. Returns a summary.

    ``widths``: encoder channels per stage; the content and degradation codes get half of each.
    ``refit_from``: a causal-iqa weights file whose trained encoder is kept (steps 2-5 only: the heads are refitted);
    its training recipe is carried over, so the file still says how the encoder was made.
    ``device``: where the self-supervised stage trains and the heads' features are computed (``cpu``, ``cuda``, ...;
    recorded in the recipe).
    ``force``: allow writing into the shipped weights folder and over an existing file
    (:func:`~iqa_cli.train.publish.check_out_dir`, checked before any work).
    """
    from iqa_cli.synth.devset import load_refs, pristine_paths
    from iqa_cli.train.data import load_images

    in_place = refit_from is not None and (out_dir / f"{MODEL_NAME}.safetensors").resolve() == refit_from.resolve()
    check_out_dir(out_dir, f"{MODEL_NAME}.safetensors", force, in_place=in_place)
    torch.set_num_threads(threads)
    paths = pristine_paths("train")
    if not paths:
        raise TrainingError("no training images found under ../shared/data/pristine — set IQA_SHARED_DATA")
    t0 = time.perf_counter()
    images = load_images(paths, max_side=512)
    workdir.mkdir(parents=True, exist_ok=True)
    if refit_from is not None:
        from iqa_cli.api import load_model

        source = load_model(MODEL_NAME, weights=refit_from, device="cpu")
        if not isinstance(source.module, CausalIQA):
            raise TrainingError(f"--refit-heads {refit_from} is not a causal-iqa weights file")
        model = source.module
        recipe = dict(source.metadata.get("recipe") or {})
        recipe["heads_command"] = "iqa train --refit-heads"
        recipe["encoder_from_sha256"] = source.weights_sha256
    else:
        w1, w2, w3 = widths
        halves = (w1 // 2, w2 // 2, w3 // 2)
        arch = CausalConfig(widths=(w1, w2, w3), content=halves, degradation=halves)
        cfg = TrainConfig(steps=steps, seed=seed, model=arch.to_dict())
        ckpt = workdir / "checkpoint.safetensors"
        model = train(images, cfg, checkpoint=ckpt, checkpoint_every=200, on_step=on_step, device=device)
        command = f"iqa train --steps {steps} --seed {seed} --widths {','.join(str(w) for w in widths)}"
        recipe = cfg.to_dict() | {
            "command": command + (f" --device {device}" if device != "cpu" else ""),
            "device": device,
        }
    t_train = time.perf_counter() - t0
    dev_cache = workdir / "dev_train_features.npz"
    model.to(device)  # features for the heads on the training device; the fits themselves are numpy
    dev = dev_features(model, load_refs(dev_train_refs()), seed=seed)
    np.savez(dev_cache, features=dev.features, mos=dev.mos, type_ids=dev.type_ids, levels=dev.levels)
    summary = fit_heads(model, images, dev, seed=seed)
    model.cpu()
    final = model.with_config(head=summary["default_head"])
    recipe |= {
        "n_dev_train_images": N_DEV_TRAIN_IMAGES,
        "n_synthetic": N_SYNTHETIC,
        "ridge": summary["few_label_ridge"],
        "softness": summary["few_label_softness"],
    }
    data = {
        "train": "pristine/bsds500/{train,val,test} + pristine/urban100 (549 images, longer side <= 512)",
        "holdout": "pristine/kodak24 (never used in training or head fitting)",
        "few_label_labels": "labels/kadid_dev_conditions.csv (65 condition means) re-created on 40 BSDS500 images",
    }
    path, sha = ship_weights(out_dir, MODEL_NAME, final, recipe, data, summary)
    summary.update(
        {
            "weights": str(path),
            "sha256": sha,
            "train_seconds": round(t_train, 1),
            "total_seconds": round(time.perf_counter() - t0, 1),
        }
    )
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
