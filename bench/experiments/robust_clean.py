"""Clean SRCC against the condition scores on bench/robustness.py's Kodak pairs (first N held-out images, longer side
288): the shipped causal-iqa and causal-iqa-robust, and any causal-iqa-robust weights files given.

Usage: OMP_NUM_THREADS=1 python bench/experiments/robust_clean.py [--images 4] [--weights FILE ...]
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from iqa_cli.api import load_model  # noqa: E402
from iqa_cli.eval import srcc  # noqa: E402
from iqa_cli.synth.devset import load_conditions, load_refs, make_dev_pairs, pristine_paths  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--weights", type=Path, nargs="*", default=[], help="other causal-iqa-robust weights files")
    args = ap.parse_args()
    torch.set_num_threads(1)
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
        "causal-iqa (shipped)": load_model("causal-iqa", device="cpu"),
        "causal-iqa-robust (shipped)": load_model("causal-iqa-robust", device="cpu"),
    } | {str(w): load_model("causal-iqa-robust", weights=w, device="cpu") for w in args.weights}
    out = {}
    with torch.inference_mode():
        for name, scorer in scorers.items():
            s = np.array([float(scorer.score_tensors(r, d)[0]) for r, d in ts])
            out[name] = round(srcc(s, mos), 4)
    print(json.dumps({"pairs": len(pairs), "srcc_clean_vs_mos": out}, indent=1))


if __name__ == "__main__":
    main()
