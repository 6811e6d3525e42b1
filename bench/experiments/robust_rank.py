"""Choosing the robust variant's settings (visibility K, soft-ranking gate keep and tau, jnd) on TRAINING images only.

Each setting is the product recipe's (``iqa train --robust``, :mod:`iqa_cli.train.robust_recipe`) on the block of a
causal-iqa weights file (``--base``, default the shipped one):

- clean: SRCC of the calibrated feature against the condition means on the 2600 training development pairs (the 65
  conditions re-created on the 40 images of ``selection.dev_train_refs``, 8 bits, as the recipe; the few-label head
  is monotone in that one feature, so this is the head's SRCC); the heads are fitted there, as the recipe does;
- attacked: the fixed score reflection attack (10 steps per rung, 2/255 and 4/255, about the median clean score) on
  the development conditions re-created on the first ``--attack-images`` training images (longer side 288, as
  bench/robustness.py on Kodak): SRCC of attacked vs clean scores.

Writes one JSON line per setting to stdout. Usage:
OMP_NUM_THREADS=1 python bench/experiments/robust_rank.py [--attack-images 1] [--base WEIGHTS]
    [--grid K:keep:tau:jnd[:pool_weight],...]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from common import attack_set, reflection_attack  # noqa: E402

from iqa_cli.api import Scorer, load_model  # noqa: E402
from iqa_cli.eval import srcc  # noqa: E402
from iqa_cli.models.causal import CausalIQA  # noqa: E402
from iqa_cli.synth.devset import load_refs  # noqa: E402
from iqa_cli.train import selection  # noqa: E402
from iqa_cli.train.robust_recipe import RobustSettings, eight_bit_pairs, fit_robust_heads, robust_variant  # noqa: E402

DEFAULT_GRID = "1:0.6:0.25:2:ref"


@torch.inference_mode()
def train_features(models: list[CausalIQA]) -> tuple[np.ndarray, np.ndarray]:
    """(N, S, 2) label-free and calibrated block features of the 8-bit training development pairs under each
    model (the parameter-free part once per pair), and the pairs' condition means."""
    blocks = [m.masked_haar for m in models]
    assert all(b is not None for b in blocks)
    rows, mos = [], []
    for cond, ref, dist in eight_bit_pairs(load_refs(selection.dev_train_refs())):
        r, d = (torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255.0 for x in (ref, dist))
        prepared = {b.pool_weight: b.prepare(r, d) for b in blocks}  # parameter-free apart from the pool weight
        maps = [
            b.maps(prepared[b.pool_weight], b.loss_weight, b.chroma_visibility, b.masking_gain, b.content_energy)
            for b in blocks
        ]
        rows.append([b.features(m.mean(dim=(2, 3)))[0].numpy() for b, m in zip(blocks, maps)])
        mos.append(cond.mean_score)
    return np.array(rows, np.float64), np.array(mos)


def settings(text: str) -> RobustSettings:
    """``K:keep:tau:jnd[:pool_weight]`` (pool weight default ``max``, HaarPSI's)."""
    parts = text.split(":")
    return RobustSettings(*(float(x) for x in parts[:4]), pool_weight=parts[4] if len(parts) > 4 else "max")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--attack-images", type=int, default=1)
    ap.add_argument("--grid", default=DEFAULT_GRID, help="K:keep:tau:jnd[:pool_weight],...")
    ap.add_argument("--base", type=Path, default=None, help="causal-iqa weights with the masked Haar block")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    source = load_model("causal-iqa", weights=args.base, device="cpu")
    assert isinstance(source.module, CausalIQA)
    grid = [settings(s) for s in args.grid.split(",")]
    models = [robust_variant(source.module, s) for s in grid]
    feats, mos = train_features(models)
    print(f"# train features {time.time() - t0:.0f}s", flush=True)
    _, ts = attack_set(0, args.attack_images)
    spec = load_model("causal-iqa-robust", device="cpu").spec
    for i, (s, m) in enumerate(zip(grid, models)):
        t1 = time.time()
        fit_robust_heads(m, feats[:, i], mos)
        scorer = Scorer(spec, m.with_config(head="few_label").eval(), torch.device("cpu"))
        with torch.inference_mode():
            clean = np.array([float(scorer.score_tensors(r, d)[0]) for r, d in ts])
        center = float(np.median(clean))
        res = [reflection_attack(scorer, r, d, center) for r, d in ts]
        row = s.to_dict() | {
            "train_clean_srcc": round(srcc(-feats[:, i, 1], mos), 4),
            "attack_pairs": len(ts),
            "center": round(center, 2),
        }
        for j, e in enumerate((2, 4)):
            att = np.array([r[j].attacked_score for r in res])
            row[f"att_vs_clean_{e}"] = round(srcc(att, clean), 4)
            row[f"no_progress_{e}"] = int(sum(r[j].no_progress for r in res))
        row["seconds"] = round(time.time() - t1)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
