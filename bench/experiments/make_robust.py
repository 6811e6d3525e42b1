"""Build weights/causal-iqa-robust.safetensors: the masked Haar model with the soft-ranking gate, the visibility K
and the just-noticeable difference chosen by robust_rank.py on training images.

Base: ``--base`` (a causal-iqa weights file with the masked Haar block, e.g. main's new default), else the shipped
causal-iqa with the block added (:func:`iqa_cli.train.masked.with_masked_haar`) at the measured parameters
(robust_rank.PARAMS). Heads, fitted on the 2600 training development pairs (runs/exp/train.npz, 40 BSDS500 training
images x 65 KADID development conditions; never Kodak):

- few-label (the default head): one non-negative weight on ``log1p(calibrated / mean)``, the block's calibrated
  feature alone (iqa_cli.train.heads.fit_head, ridge iqa_cli.train.masked.FEW_LABEL_RIDGE);
- label-free: the block's label-free feature alone, ``tau`` putting its median on those pairs at 50.

Usage: OMP_NUM_THREADS=1 python bench/experiments/make_robust.py --visibility K --keep KEEP --tau TAU --jnd L
    [--base FILE] [--cache runs/exp/train.npz] [--out weights]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from robust_rank import PARAMS, base_model, calibrate, variant

from iqa_cli.api import load_model
from iqa_cli.eval import srcc
from iqa_cli.models.causal import CausalIQA
from iqa_cli.models.causal.heads import write_heads
from iqa_cli.train import masked
from iqa_cli.train.publish import ship_weights


@torch.inference_mode()
def block_features(model: CausalIQA, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) label-free and calibrated features of the cached training pairs, and their condition means."""
    z = np.load(cache)
    block = model.masked_haar
    assert block is not None
    rows = []
    for i, k in enumerate(z["ref_idx"]):
        r = torch.from_numpy(z[f"ref_{k}"]).permute(2, 0, 1)[None].float() / 255.0
        d = torch.from_numpy(z[f"dist_{i}"]).permute(2, 0, 1)[None].float() / 255.0
        rows.append(block.features(block(r, d).mean(dim=(2, 3)))[0].numpy())
    return np.array(rows, np.float64), z["mos"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--visibility", type=float, required=True)
    ap.add_argument("--keep", type=float, required=True)
    ap.add_argument("--tau", type=float, required=True)
    ap.add_argument("--jnd", type=float, required=True)
    ap.add_argument("--base", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=Path("runs/exp/train.npz"))
    ap.add_argument("--out", type=Path, default=Path("weights"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.base is not None:
        scorer = load_model("causal-iqa", weights=args.base, device="cpu")
        base = base_model(args.base)
        base_desc = {"base_weights": str(args.base), "base_sha256": scorer.weights_sha256}
    else:
        base = base_model()
        shipped = load_model("causal-iqa", device="cpu")
        base_desc = {"base_weights": "causal-iqa (shipped) + with_masked_haar", "base_sha256": shipped.weights_sha256}
        base_desc["block_parameters"] = PARAMS
    model = variant(base, args.visibility, args.keep, args.tau, args.jnd)
    feats, mos = block_features(model, args.cache)
    calibrate(model, feats[:, 1], mos)
    n = model.config.n_features
    scale = model.feature_scale.numpy().astype(np.float64)
    scale[-2] = max(float(feats[:, 0].mean()), 1e-6)
    direction = np.zeros(n, np.float32)
    direction[-2] = 1.0
    tau = masked.label_free_tau(feats[:, 0], scale[-2])
    write_heads(model, scale=scale, label_free=(direction, tau))
    model = model.with_config(head="few_label").eval()
    heads = {
        "default_head": "few_label",
        "few_label_feature": "masked Haar calibrated (last column)",
        "few_label_ridge": masked.FEW_LABEL_RIDGE,
        "label_free_feature": "masked Haar label-free (second to last column)",
        "train_dev_pairs": len(mos),
        "few_label_srcc_train_dev": round(srcc(-feats[:, 1], mos), 4),
        "label_free_srcc_train_dev": round(srcc(-feats[:, 0], mos), 4),
    }
    recipe = base_desc | {
        "visibility": args.visibility,
        "rank_keep": args.keep,
        "rank_tau": args.tau,
        "jnd": args.jnd,
        "selection": "bench/experiments/robust_rank.py on training images (see bench/RESULTS.md)",
        "command": "python bench/experiments/make_robust.py " + " ".join(sys.argv[1:]),
    }
    data = {
        "train": "pristine/bsds500 + pristine/urban100 (as causal-iqa)",
        "holdout": "pristine/kodak24 (never used for fitting or selection)",
        "few_label_labels": "labels/kadid_dev_conditions.csv (65 condition means) re-created on 40 BSDS500 images",
    }
    path, sha = ship_weights(args.out, "causal-iqa-robust", model, recipe, data, heads)
    print(json.dumps({"weights": str(path), "sha256": sha, "heads": heads}, indent=1))


if __name__ == "__main__":
    main()
