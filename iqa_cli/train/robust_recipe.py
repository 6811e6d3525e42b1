"""``iqa train --robust``: the recipe of the robust ``causal-iqa-robust`` weights, see :func:`run_robust`.

Starts from a causal-iqa weights file with the masked Haar block (``--out``'s, else the shipped default; made by
``iqa train --masked``) and keeps every parameter and buffer of it. Only the architecture settings of the block
change (:class:`RobustSettings`: the CPRL soft-ranking channel gate, the just-noticeable difference and the
visibility factor; defaults = the shipped robust model's, chosen on training images by
bench/experiments/robust_rank.py), then the two heads are refitted on the block's features of the 65 development
conditions re-created on the 40 training images of :func:`~iqa_cli.train.selection.dev_train_refs` (BSDS500, never
Kodak), each pair rounded to 8 bits as a saved image would be:

- few-label (the default head): one non-negative weight on ``log1p(calibrated / mean)``, the block's calibrated
  feature alone (:func:`~iqa_cli.train.heads.fit_head`, ridge :data:`~iqa_cli.train.masked.FEW_LABEL_RIDGE`);
- label-free: the block's label-free feature alone, ``tau`` putting its median on those pairs at 50.

CPU only; a few minutes.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from iqa_cli.errors import TrainingError
from iqa_cli.eval import srcc
from iqa_cli.models.causal import ROBUST_CONFIG, CausalIQA
from iqa_cli.models.causal.heads import FewLabelHead, write_heads
from iqa_cli.train.masked import FEW_LABEL_RIDGE, grid_features, label_free_tau, setting_of
from iqa_cli.train.publish import check_out_dir, ship_weights

log = logging.getLogger(__name__)

ROBUST_NAME = "causal-iqa-robust"


@dataclass(frozen=True)
class RobustSettings:
    """The masked Haar block's robustness settings (their meaning: :mod:`iqa_cli.models.causal.masked_haar`)."""

    visibility: float = ROBUST_CONFIG.visibility
    """Factor on the block's visibility constant."""
    rank_keep: float = ROBUST_CONFIG.rank_keep
    """Soft-ranking gate: fraction of the five degradation channels kept open at each position (1 = no gate)."""
    rank_tau: float = ROBUST_CONFIG.rank_tau
    """Soft-ranking gate: temperature, relative to the channels' mean at the position."""
    jnd: float = ROBUST_CONFIG.jnd
    """Just-noticeable difference in 8-bit levels: a perturbation this small cannot create a visible change."""
    pool_weight: str = ROBUST_CONFIG.pool_weight
    """Pooling weights: ``ref`` (the reference's, which no perturbation of the distorted image moves) or ``max``."""

    def to_dict(self) -> dict[str, float | str]:
        return asdict(self)


def robust_variant(base: CausalIQA, settings: RobustSettings) -> CausalIQA:
    """A copy of ``base`` (which must have the masked Haar block) with ``settings``; every parameter and buffer is
    ``base``'s, loaded strictly. Heads unchanged (refit them: :func:`fit_robust_heads`)."""
    if not base.config.masked_haar:
        raise TrainingError("the base causal-iqa has no masked Haar block — make one with `iqa train --masked` first")
    changes: dict[str, Any] = settings.to_dict()  # the settings are config fields of the same names
    out = CausalIQA(replace(base.config, **changes))
    out.load_state_dict(base.state_dict(), strict=True)
    return out.eval()


def eight_bit_pairs(
    refs: Sequence[tuple[str, np.ndarray]], seed: int = 0
) -> Iterator[tuple[Any, np.ndarray, np.ndarray]]:
    """``(condition, ref, dist)`` of the development conditions re-created on ``refs``, both images rounded to 8 bits
    (``HxWx3`` uint8)."""
    from iqa_cli.synth.devset import load_conditions, make_dev_pairs

    last: tuple[int, np.ndarray] | None = None
    for p in make_dev_pairs(refs, load_conditions(), seed=seed):
        if last is None or last[0] != id(p.ref):  # the same reference object for all its conditions
            last = (id(p.ref), to_8bit(p.ref))
        yield p.condition, last[1], to_8bit(p.dist)


def to_8bit(image: np.ndarray) -> np.ndarray:
    """Float image in [0, 1] -> uint8, rounded to the nearest level."""
    return (np.asarray(image) * 255).round().astype(np.uint8)


def block_features(model: CausalIQA, pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(N, 2) label-free and calibrated features of ``model``'s masked Haar block for uint8 ``HxWx3`` pairs."""
    block = model.masked_haar
    if block is None:
        raise TrainingError("the model has no masked Haar block")
    return grid_features(block, pairs, [setting_of(block)])[:, 0]


def fit_robust_heads(model: CausalIQA, feats: np.ndarray, mos: np.ndarray) -> dict[str, Any]:
    """Write the two heads of the module docstring into ``model`` from its block features ``feats`` (N, 2: label-free,
    calibrated) of pairs labelled ``mos``; the other features get scale 1 and weight 0. Returns their summary."""
    from iqa_cli.train.heads import fit_head

    n = model.config.n_features
    scale = np.ones(n)
    scale[-1] = max(float(feats[:, 1].mean()), 1e-6)
    scale[-2] = max(float(feats[:, 0].mean()), 1e-6)
    head = fit_head(feats[:, 1:], mos, scale[-1:], ridge=FEW_LABEL_RIDGE)
    weights = np.zeros(n, np.float32)
    weights[-1] = head.weights[0]
    direction = np.zeros(n, np.float32)
    direction[-2] = 1.0
    tau = label_free_tau(feats[:, 0], float(scale[-2]))
    write_heads(
        model,
        scale=scale,
        label_free=(direction, tau),
        few_label=FewLabelHead(weights, head.bias, head.floor),
    )
    return {
        "default_head": "few_label",
        "few_label_feature": "masked Haar calibrated (last column)",
        "few_label_ridge": FEW_LABEL_RIDGE,
        "label_free_feature": "masked Haar label-free (second to last column)",
        "train_dev_pairs": len(mos),
        "few_label_srcc_train_dev": round(srcc(-feats[:, 1], mos), 4),
        "label_free_srcc_train_dev": round(srcc(-feats[:, 0], mos), 4),
    }


def fit_robust_model(
    base: CausalIQA, refs: Sequence[tuple[str, np.ndarray]], settings: RobustSettings, seed: int = 0
) -> tuple[CausalIQA, dict[str, Any]]:
    """:func:`robust_variant` of ``base`` with its heads fitted on the 8-bit development pairs of ``refs``; default
    head few-label. Returns the model and the heads' summary."""
    model = robust_variant(base, settings)
    mos: list[float] = []

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for cond, ref, dist in eight_bit_pairs(refs, seed):
            mos.append(cond.mean_score)
            yield ref, dist

    feats = block_features(model, pairs())
    summary = fit_robust_heads(model, feats, np.array(mos, np.float64))
    return model.with_config(head="few_label").eval(), summary


def run_robust(
    out_dir: Path,
    workdir: Path,
    base: Path,
    settings: RobustSettings | None = None,
    *,
    seed: int = 0,
    threads: int = 1,
    force: bool = False,
) -> dict[str, Any]:
    """Make ``out_dir/causal-iqa-robust.safetensors`` from the causal-iqa weights file ``base`` (see the module
    docstring) and list it in the manifest (``force``: also into the shipped weights folder or over an existing
    file, see :func:`~iqa_cli.train.publish.check_out_dir`). Returns a summary."""
    from iqa_cli.train.masked_recipe import source_and_refs
    from iqa_cli.train.selection import N_DEV_TRAIN_IMAGES

    settings = settings or RobustSettings()
    check_out_dir(out_dir, f"{ROBUST_NAME}.safetensors", force)
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    source, base_model, refs = source_and_refs(base)
    model, heads = fit_robust_model(base_model, refs, settings, seed=seed)
    log.info("robust heads: %s", heads)
    options = " ".join(
        f"--{k.replace('_', '-')} {f'{v:g}' if isinstance(v, float) else v}" for k, v in settings.to_dict().items()
    )
    recipe = {
        "base_weights": base.name,
        "base_sha256": source.weights_sha256,
        **settings.to_dict(),
        "n_dev_train_images": N_DEV_TRAIN_IMAGES,
        "selection": "bench/experiments/robust_rank.py on training images (see bench/RESULTS.md)",
        "command": f"iqa train --robust {options} --seed {seed}",
    }
    data = {
        "train": "40 BSDS500 training images (selection.dev_train_refs), as the masked Haar block of causal-iqa",
        "holdout": "pristine/kodak24 (never used for fitting or selection)",
        "few_label_labels": "labels/kadid_dev_conditions.csv (65 condition means) re-created on 40 BSDS500 images",
    }
    path, sha = ship_weights(out_dir, ROBUST_NAME, model, recipe, data, heads)
    summary = heads | {"settings": settings.to_dict(), "weights": str(path), "sha256": sha}
    summary["total_seconds"] = round(time.perf_counter() - t0, 1)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "robust_summary.json").write_text(json.dumps(summary, indent=2))
    return summary
