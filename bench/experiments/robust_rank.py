"""Choosing the robust variant's visibility K, soft-ranking gate (keep, tau) and just-noticeable difference (jnd) on
TRAINING images only.

For each setting (K, keep, tau[, jnd]) of the masked Haar block (its learned parameters as the default model's):

- clean: SRCC of the calibrated feature against the condition means on the 2600 cached training development pairs
  (runs/exp/train.npz, bench/experiments/cache.py train; the few-label head is monotone in that one feature, so this
  is the head's SRCC); the few-label calibration (one weight) is fitted there;
- attacked: the fixed score reflection attack (10 steps per rung, 2/255 and 4/255, about the median clean score) on
  the development conditions re-created on the first ``--attack-images`` training images (longer side 288, as
  bench/robustness.py on Kodak): SRCC of attacked vs clean scores.

Writes one JSON line per setting to stdout. Usage:
OMP_NUM_THREADS=1 python bench/experiments/robust_rank.py [--attack-images 2] [--cache runs/exp/train.npz]
    [--base WEIGHTS]
    [--grid K:keep:tau[:jnd],...]
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from iqa_cli.api import Scorer, load_model
from iqa_cli.attack import attack_budgets
from iqa_cli.eval import srcc
from iqa_cli.models.causal import CausalIQA
from iqa_cli.models.causal.heads import write_heads
from iqa_cli.models.causal.masked_haar import MaskedHaar
from iqa_cli.synth.devset import load_conditions, load_refs, make_dev_pairs
from iqa_cli.train import masked, selection
from iqa_cli.train.heads import fit_head

PARAMS = {"content_energy": 389.95, "masking_gain": 4.0, "loss_weight": 1.5, "chroma_visibility": 2.0}
DEFAULT_GRID = "1:1:0.25,4:1:0.25,8:1:0.25,16:1:0.25,4:0.4:0.25,8:0.4:0.25,16:0.4:0.25,8:0.6:0.25,8:0.4:0.1"


def base_model(weights: Path | None = None) -> CausalIQA:
    """``weights`` (a causal-iqa file with the masked Haar block, e.g. the new default), else the shipped default
    with the block added at the measured parameters :data:`PARAMS` (the stand-in used until those weights land)."""
    if weights is not None:
        model = load_model("causal-iqa", weights=weights, device="cpu").module
        assert isinstance(model, CausalIQA) and model.config.masked_haar, f"{weights}: no masked Haar block"
        return model
    model = masked.with_masked_haar(load_model("causal-iqa", device="cpu").module)
    with torch.no_grad():
        for k, v in PARAMS.items():
            getattr(model.masked_haar, k).fill_(v)
    return model


def variant(base: CausalIQA, k: float, keep: float, tau: float, jnd: float = 0.0) -> CausalIQA:
    out = CausalIQA(replace(base.config, visibility=k, rank_keep=keep, rank_tau=tau, jnd=jnd))
    out.load_state_dict(base.state_dict(), strict=True)
    return out.eval()


@torch.inference_mode()
def train_cal_features(blocks: list[MaskedHaar], cache: Path) -> np.ndarray:
    """(N, S) calibrated feature of every cached training pair under each block."""
    z = np.load(cache)
    rows = []
    for i, k in enumerate(z["ref_idx"]):
        r = torch.from_numpy(z[f"ref_{k}"]).permute(2, 0, 1)[None].float() / 255.0
        d = torch.from_numpy(z[f"dist_{i}"]).permute(2, 0, 1)[None].float() / 255.0
        p = blocks[0].prepare(r, d)
        maps = [b.maps(p, b.loss_weight, b.chroma_visibility, b.masking_gain, b.content_energy) for b in blocks]
        rows.append([float(b.features(m.mean(dim=(2, 3)))[0, 1]) for b, m in zip(blocks, maps)])
    return np.array(rows), z["mos"]


def calibrate(model: CausalIQA, cal: np.ndarray, mos: np.ndarray) -> None:
    """Few-label head on the block's calibrated feature (the last column) alone."""
    n = model.config.n_features
    scale = np.ones(n)
    scale[-1] = max(float(cal.mean()), 1e-6)
    head = fit_head(cal[:, None], mos, scale[-1:], ridge=masked.FEW_LABEL_RIDGE)
    w = np.zeros(n, np.float32)
    w[-1] = head.weights[0]
    write_heads(model, scale=scale, few_label=type(head)(w, head.bias, head.floor))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--attack-images", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path("runs/exp/train.npz"))
    ap.add_argument("--grid", default=DEFAULT_GRID)
    ap.add_argument("--base", type=Path, default=None, help="causal-iqa weights with the masked Haar block")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    base = base_model(args.base)
    grid = [tuple(float(x) for x in s.split(":")) for s in args.grid.split(",")]
    models = [variant(base, *g) for g in grid]
    cal, mos = train_cal_features([m.masked_haar for m in models], args.cache)
    print(f"# train features {time.time() - t0:.0f}s", flush=True)
    refs = load_refs(selection.dev_train_refs()[: args.attack_images])
    pairs = list(make_dev_pairs(refs, load_conditions(), max_side=288))
    ts = [
        (
            torch.from_numpy(np.array(p.ref)).permute(2, 0, 1)[None].float(),
            torch.from_numpy(np.array(p.dist)).permute(2, 0, 1)[None].float(),
        )
        for p in pairs
    ]
    spec = load_model("causal-iqa", device="cpu").spec
    for g, m, i in zip(grid, models, range(len(grid))):
        t1 = time.time()
        calibrate(m, cal[:, i], mos)
        m.eval()
        scorer = Scorer(spec, m, torch.device("cpu"))
        with torch.inference_mode():
            clean = np.array([float(scorer.score_tensors(r, d)[0]) for r, d in ts])
        center = float(np.median(clean))
        res = [
            attack_budgets(
                scorer,
                r,
                d,
                budgets=[2 / 255, 4 / 255],
                steps=10,
                method="reflect",
                center=center,
                generator=torch.Generator().manual_seed(0),
            )
            for r, d in ts
        ]
        row = {
            "K": g[0],
            "keep": g[1],
            "tau": g[2],
            "jnd": g[3] if len(g) > 3 else 0.0,
            "train_clean_srcc": round(srcc(-cal[:, i], mos), 4),
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
