"""Clean SRCC against the condition scores on bench/robustness.py's Kodak pairs (first N held-out images, longer side
288): the shipped causal-iqa, the masked Haar default stand-in (robust_rank.base_model, calibrated like the robust
variant on the training pairs) and the shipped causal-iqa-robust.

Usage: OMP_NUM_THREADS=1 python bench/experiments/robust_clean.py [--images 4] [--cache runs/exp/train.npz]
"""

import argparse
import json

import numpy as np
import torch
from make_robust import block_features
from robust_rank import base_model, calibrate

from iqa_cli.api import load_model
from iqa_cli.eval import srcc
from iqa_cli.synth.devset import load_conditions, load_refs, make_dev_pairs, pristine_paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--cache", default="runs/exp/train.npz")
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = base_model().eval()
    feats, mos_t = block_features(base, args.cache)
    calibrate(base, feats[:, 1], mos_t)
    base.eval()
    pairs = list(make_dev_pairs(load_refs(pristine_paths("holdout")[: args.images]), load_conditions(), max_side=288))
    mos = np.array([p.condition.mean_score for p in pairs])
    ts = [
        (
            torch.from_numpy(np.array(p.ref)).permute(2, 0, 1)[None].float(),
            torch.from_numpy(np.array(p.dist)).permute(2, 0, 1)[None].float(),
        )
        for p in pairs
    ]
    scorers = {
        "causal-iqa (shipped)": load_model("causal-iqa", device="cpu").module,
        "masked Haar default stand-in": base,
        "causal-iqa-robust (shipped)": load_model("causal-iqa-robust", device="cpu").module,
    }
    out = {}
    with torch.inference_mode():
        for name, m in scorers.items():
            s = np.array([float(m(r, d)[0]) for r, d in ts])
            out[name] = round(srcc(s, mos), 4)
    print(json.dumps({"pairs": len(pairs), "srcc_clean_vs_mos": out}, indent=1))


if __name__ == "__main__":
    main()
