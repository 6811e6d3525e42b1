"""The recipe of the robust ``causal-iqa-robust`` weights (``iqa train --robust``), see :func:`run_robust`."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from iqa_cli.errors import TrainingError
from iqa_cli.eval import srcc
from iqa_cli.models.causal import CausalIQA
from iqa_cli.models.causal.heads import read_few_label, read_scale, write_heads
from iqa_cli.train.features import collect_features
from iqa_cli.train.heads import feature_groups, fit_feature_scale, fit_few_label_on, fit_label_free
from iqa_cli.train.publish import check_out_dir, ship_weights
from iqa_cli.train.recipe import MODEL_NAME
from iqa_cli.train.selection import (
    DevFeatures,
    dev_train_refs,
    head_ridge,
    head_softness,
    leave_one_type_out,
    synthetic_features,
)

log = logging.getLogger(__name__)

ROBUST_NAME = "causal-iqa-robust"
ROBUST_VISIBILITY = 8.0


def run_robust(
    out_dir: Path,
    workdir: Path,
    *,
    steps: int = 300,
    rounds: int = 2,
    eps: float = 4.0 / 255.0,
    pgd_steps: int = 5,
    n_images: int = 16,
    max_side: int = 256,
    visibility: float = ROBUST_VISIBILITY,
    seed: int = 0,
    threads: int = 1,
    force: bool = False,
) -> dict[str, Any]:
    """CPRL variant of causal-iqa (``out_dir``'s, else the shipped one): soft-ranking activations and a PNS-guided
    minimax game.

    1. Encoder: the soft-ranking student fine-tuned against worst-case perturbations
       (:func:`iqa_cli.train.robust.robust_finetune`).
    2. Head (minimax, ``rounds`` times): inner max — PGD (``eps``, ``pgd_steps``, 8-bit rounding) pushes each
       training development pair's score toward the other end of the scale; outer min — the few-label head is refitted
       on clean and perturbed features with the clean condition score, so it keeps only channels that predict
       quality (sufficient) and that the perturbation cannot move (necessary). The feature group is chosen by
       leave-one-type-out SRCC on the same data.
    3. Before the head: the fixed branches' visibility constants are multiplied by ``visibility`` (a floor under
       which changes barely register: imperceptible perturbations move far less), so the feature scale and the
       label-free head are refitted on synthetic degradations (the teacher's softness kept).

    Writes ``out_dir/causal-iqa-robust.safetensors`` and updates the manifest (``force``: also into the shipped
    weights folder or over an existing file, see :func:`~iqa_cli.train.publish.check_out_dir`). Returns a summary.
    """
    from iqa_cli.api import load_model
    from iqa_cli.synth.devset import load_conditions, load_refs, make_dev_pairs, pristine_paths
    from iqa_cli.train.data import load_images
    from iqa_cli.train.robust import RobustConfig, adversarial_features, robust_finetune

    check_out_dir(out_dir, f"{ROBUST_NAME}.safetensors", force)
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    teacher_file = out_dir / f"{MODEL_NAME}.safetensors"  # the causal-iqa beside it (weights/ by default)
    teacher_scorer = load_model(MODEL_NAME, weights=teacher_file if teacher_file.is_file() else None, device="cpu")
    teacher = teacher_scorer.module
    if not isinstance(teacher, CausalIQA):
        raise TrainingError(f"{teacher_file} is not a causal-iqa weights file")
    images = load_images(pristine_paths("train"), max_side=512)
    cfg = RobustConfig(steps=steps, seed=seed)
    student = robust_finetune(teacher, images, cfg)
    if visibility != student.config.visibility:
        student = student.with_config(visibility=visibility)
        syn = synthetic_features(student, images, seed=seed)
        scale = fit_feature_scale(syn) * head_softness(teacher_scorer.metadata)
        lf = fit_label_free(syn, scale)
        write_heads(student, scale=scale, label_free=lf, few_label=replace(read_few_label(student), floor=1.0))
    refs = load_refs(dev_train_refs()[:n_images])
    meta = list(make_dev_pairs(refs, load_conditions(), seed=seed, max_side=max_side))
    pairs = [(p.ref, p.dist) for p in meta]
    clean = collect_features(student, iter(pairs), batch=1)
    mos = np.array([p.condition.mean_score for p in meta])
    types = np.array([p.condition.type_id for p in meta])
    levels = np.array([p.condition.level for p in meta])
    scale = read_scale(student)  # softness included
    ridge = head_ridge(teacher_scorer.metadata)
    groups = feature_groups(student)
    feats, labels, tids, lvls = [clean], [mos], [types], [levels]
    history = []
    for r in range(rounds):
        adv = adversarial_features(student, pairs, eps=eps, steps=pgd_steps, seed=seed + r)
        feats.append(adv)
        labels.append(mos)
        tids.append(types)
        lvls.append(levels)
        data = DevFeatures(
            np.concatenate(feats), np.concatenate(labels), np.concatenate(tids), np.concatenate(lvls), []
        )
        loto = {
            g: round(srcc(leave_one_type_out(data, scale, ridge=ridge, columns=c), data.mos), 4)
            for g, c in groups.items()
        }
        group = max(loto, key=lambda k: loto[k])
        w, b = fit_few_label_on(data.features, data.mos, scale, groups[group], ridge)
        write_heads(student, few_label=replace(read_few_label(student), weights=w, bias=b))
        history.append({"round": r + 1, "loto_srcc_by_group": loto, "group": group})
        log.info("minimax round %d: %s", r + 1, history[-1])
    summary = {
        "rounds": history,
        "few_label_group": history[-1]["group"],
        "few_label_ridge": ridge,
        "default_head": "few_label",
    }
    final = student.with_config(head="few_label")
    recipe = cfg.to_dict() | {
        "teacher": MODEL_NAME,
        "teacher_sha256": teacher_scorer.weights_sha256,
        "minimax_rounds": rounds,
        "minimax_eps": eps,
        "minimax_pgd_steps": pgd_steps,
        "minimax_images": n_images,
        "minimax_max_side": max_side,
        "visibility": visibility,
        "command": f"iqa train --robust --robust-steps {steps} --seed {seed} --visibility {visibility:g}",
    }
    data_desc = {
        "train": "pristine/bsds500 + pristine/urban100 (as causal-iqa)",
        "holdout": "pristine/kodak24",
        "minimax_labels": f"kadid_dev_conditions.csv re-created on {n_images} BSDS500 training images",
    }
    workdir.mkdir(parents=True, exist_ok=True)
    path, sha = ship_weights(out_dir, ROBUST_NAME, final, recipe, data_desc, summary)
    summary.update({"weights": str(path), "sha256": sha, "total_seconds": round(time.perf_counter() - t0, 1)})
    (workdir / "robust_summary.json").write_text(json.dumps(summary, indent=2))
    return summary
