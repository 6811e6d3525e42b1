"""Add the condition anchors to an existing masked-Haar weights file, as ``iqa train --masked`` now writes them.

The anchors (``heads.condition_anchors``: the mean calibrated feature per development condition on the 40 training
images, :func:`iqa_cli.train.masked.condition_anchors`) are computed exactly as the recipe computes them — same
training images, same re-created conditions (seed 0), the file's own block parameters — and written into the
file's metadata; tensors are unchanged (same ``tensors_sha256``), so scores are unchanged. ``iqa adapt`` uses them
(:mod:`iqa_cli.train.adapt_masked`).

Usage: OMP_NUM_THREADS=1 python bench/experiments/add_anchors.py [--weights weights/causal-iqa.safetensors]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from iqa_cli.api import load_model  # noqa: E402
from iqa_cli.synth.devset import load_conditions, load_refs, make_dev_pairs  # noqa: E402
from iqa_cli.train.adapt_masked import setting_of  # noqa: E402
from iqa_cli.train.masked import condition_anchors, condition_key, grid_features  # noqa: E402
from iqa_cli.train.publish import ship_weights  # noqa: E402
from iqa_cli.train.selection import dev_train_refs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=Path("weights/causal-iqa.safetensors"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    scorer = load_model(weights=args.weights, device="cpu")
    block = scorer.module.masked_haar
    if block is None:
        sys.exit(f"{args.weights} has no masked Haar block")
    refs = load_refs(dev_train_refs())
    keys: list[str] = []

    def pairs():
        for p in make_dev_pairs(refs, load_conditions(), seed=0):
            keys.append(condition_key(p.condition.type_id, p.condition.level))
            yield p.ref, p.dist

    s = setting_of(block)
    feats = grid_features(block, pairs(), [type(s)(s.loss_weight, s.chroma_visibility, s.masking_gain, None)])
    anchors = condition_anchors(feats[:, 0, 1], keys)
    meta = scorer.metadata
    heads = dict(meta["heads"]) | {"condition_anchors": anchors}
    path, sha = ship_weights(args.weights.parent, args.weights.stem, scorer.module, meta["recipe"], meta["data"], heads)
    print(f"{len(keys)} pairs, {len(anchors)} anchors -> {path} sha256 {sha}")


if __name__ == "__main__":
    main()
