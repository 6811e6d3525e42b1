"""Accuracy benchmark: the 65 KADID development conditions re-created on the held-out Kodak24 images.

Each distorted image gets its condition's mean human score (KADID's generator conventions, see
iqa_cli.synth.devset). Reports SRCC / PLCC (4-parameter logistic) / KRCC over all pairs for:

- causal-iqa, label-free head (no human score involved anywhere);
- causal-iqa, few-label head judged by leave-one-type-out: for each distortion type the head is fitted on the
  other 12 types' conditions re-created on *training* images (BSDS500) and scores the held-out type on Kodak;
- causal-iqa as shipped (its default head, fitted on all 13 types: an optimistic, in-sample number, shown for
  reference only);
- PSNR, SSIM, MS-SSIM and HaarPSI, in the same run on the same pairs.

The Kodak references are downsized to a longer side of 512 px by default: KADID-10k's images are 512x384, and the
conditions' parameters (blur sigma, shift, jitter and block sizes in pixels) were rated at that size (the BSDS500
training images, 481x321, are close to it). ``--max-side 0`` keeps Kodak's full 768x512.

Usage: python bench/accuracy.py [--weights FILE] [--train-dev runs/r3/dev_train_features.npz] [--max-side N]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iqa_cli.api import load_model  # noqa: E402
from iqa_cli.eval import correlations  # noqa: E402
from iqa_cli.models.baselines import MSSSIM, PSNR, SSIM, HaarPSI  # noqa: E402
from iqa_cli.synth.devset import (  # noqa: E402
    find_data_dir,
    load_conditions,
    load_refs,
    make_dev_pairs,
    pristine_paths,
    require_data_dir,
)
from iqa_cli.train import heads, masked, selection  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--train-dev", type=Path, default=None, help="cached training-image dev features (npz)")
    ap.add_argument("--max-side", type=int, default=512, help="longer side of the Kodak refs (0: full 768 px)")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N Kodak images")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench/out/accuracy.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    scorer = load_model("causal-iqa", weights=args.weights, device="cpu")
    model = scorer.module
    data_dir = require_data_dir(find_data_dir(Path(__file__).resolve().parents[1]))
    holdout = pristine_paths("holdout", data_dir)[: args.limit]
    refs = load_refs(holdout)
    mods = {"psnr": PSNR(), "ssim": SSIM(), "ms-ssim": MSSSIM(), "haarpsi": HaarPSI()}
    base: dict[str, list[float]] = {k: [] for k in mods}

    def score_baselines(ref: np.ndarray, dist: np.ndarray) -> None:  # same pairs, generated once
        r = torch.from_numpy(np.array(ref)).permute(2, 0, 1)[None].float()
        d = torch.from_numpy(np.array(dist)).permute(2, 0, 1)[None].float()
        with torch.inference_mode():
            for k, m in mods.items():
                base[k].append(float(m(r, d)))

    block = model.masked_haar
    settings = []
    if block is not None:  # the masked Haar block's calibrated feature under each candidate setting (nested LOTO)
        gain = float(block.masking_gain.detach())
        settings = masked.weight_settings(gain) + masked.weight_settings(0.0)
    grids: dict[str, list[np.ndarray]] = {"kodak": [], "train": []}

    def grid_hook(which: str, then=None):
        def hook(ref: np.ndarray, dist: np.ndarray) -> None:
            if block is not None:
                grids[which].append(masked.grid_features(block, [(ref, dist)], settings)[0])
            if then is not None:
                then(ref, dist)

        return hook

    max_side = args.max_side or None
    kodak = selection.dev_features(model, refs, max_side=max_side, on_pair=grid_hook("kodak", score_baselines))
    train_refs = load_refs(selection.dev_train_refs(data_dir))
    if args.train_dev is not None and args.train_dev.is_file():
        z = np.load(args.train_dev)
        train_dev = selection.DevFeatures(z["features"], z["mos"], z["type_ids"], z["levels"], [])
        if block is not None:
            hook = grid_hook("train")
            for p in make_dev_pairs(train_refs, load_conditions(), seed=0):
                hook(p.ref, p.dist)
    else:
        train_dev = selection.dev_features(model, train_refs, on_pair=grid_hook("train"))
    scale = model.feature_scale.numpy()
    feats = torch.from_numpy(kodak.features).float()
    with torch.inference_mode():
        lf = model.head_label_free(feats).numpy()
        shipped = model.score_features(feats).numpy()
    groups = heads.feature_groups(model)
    group = (scorer.metadata.get("heads") or {}).get("few_label_group", "all")
    ridge = selection.head_ridge(scorer.metadata)  # the shipped head's settings (its softness is in feature_scale)
    head_rows: dict[str, np.ndarray] = {}
    ablation: dict[str, np.ndarray] = {}
    if block is not None:
        n = len(settings) // 2
        tr, ko = np.stack(grids["train"])[:, :, 1], np.stack(grids["kodak"])[:, :, 1]
        nest = partial(masked.nested_loto, tr, train_dev.mos, train_dev.type_ids, ko, kodak.type_ids)
        head_rows["causal-iqa few-label (masked Haar, nested leave-one-type-out)"] = nest(range(n))[0]
        ablation = {
            "ablation: masking only (degradation weights 1), LOTO": nest([0])[0],
            "ablation: degradation weights only (masking gain 0), nested LOTO": nest(range(n, 2 * n))[0],
            "ablation: neither (HaarPSI special case, calibrated), LOTO": nest([n])[0],
        }
        group = "pixel"  # the previous default's feature group, as a further ablation row
    else:
        head_rows[f"causal-iqa few-label (leave-one-type-out, {group} features)"] = selection.leave_one_type_out(
            train_dev, scale, test=kodak, ridge=ridge, columns=groups[group]
        )
    ablation |= {
        f"ablation: few-label LOTO, {name} features": selection.leave_one_type_out(
            train_dev, scale, test=kodak, ridge=ridge, columns=cols
        )
        for name, cols in groups.items()
        if name != group or block is not None
    }
    rows = {
        **head_rows,
        "causal-iqa label-free": lf,
        f"causal-iqa shipped head ({model.config.head}, in-sample)": shipped,
        **{k: np.asarray(v) for k, v in base.items()},
        **ablation,
    }
    mos = kodak.mos
    results = {}
    for name, pred in rows.items():
        c = correlations(pred, mos)
        per_type = {}
        for t in np.unique(kodak.type_ids):
            sel = kodak.type_ids == t
            per_type[int(t)] = round(float(correlations(pred[sel], mos[sel]).srcc), 3)
        results[name] = {"srcc": c.srcc, "plcc": c.plcc, "krcc": c.krcc, "per_type_srcc": per_type}
    elapsed = time.perf_counter() - t0
    out = {
        "pairs": len(mos),
        "images": len(refs),
        "max_side": max_side,
        "weights": str(scorer.weights),
        "weights_sha256": scorer.weights_sha256,
        "seconds": round(elapsed, 1),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2))
    print(f"{len(mos)} pairs on {len(refs)} held-out Kodak images, {elapsed:.0f}s")
    print("| metric | SRCC | PLCC | KRCC |\n|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['srcc']:.3f} | {r['plcc']:.3f} | {r['krcc']:.3f} |")
    types = sorted({int(t) for t in kodak.type_ids})
    print("\nper-type SRCC (within type, across images and levels):")
    print("| metric | " + " | ".join(str(t) for t in types) + " |")
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r['per_type_srcc'][t]:.2f}" for t in types) + " |")


if __name__ == "__main__":
    main()
