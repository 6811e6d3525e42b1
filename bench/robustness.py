"""Robustness benchmark: the score reflection attack on development-condition pairs of held-out Kodak images.

For each model and eps (2/255, 4/255; 10 PGD steps per rung of the attack's eps ladder 1/255, 2/255, 4/255, warm
started from the best image of the rung below; every iterate rounded to 8 bits and re-scored, the best kept) it
reports the mean |score shift| as a fraction of the clean scores' spread (std), the SRCC of attacked vs clean scores,
and the SRCC of clean and attacked scores against the condition scores. The reflection point of each row is the
scale midpoint for bounded scales (causal-iqa 50, SSIM/MS-SSIM/HaarPSI 0.5) and the median clean score otherwise.
``no_progress`` counts the pairs where the attack found no image better than the clean one (their shift is 0 because
the attack found nothing, not because the model resisted).

Usage: python bench/robustness.py [--images 4] [--max-side 288] [--median-center] [--restarts 1]
       [--models causal-iqa,causal-iqa-robust,ssim,ms-ssim,haarpsi]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iqa_cli.api import load_model  # noqa: E402
from iqa_cli.attack import attack_budgets, reflection_center  # noqa: E402
from iqa_cli.eval import srcc  # noqa: E402
from iqa_cli.synth.devset import (  # noqa: E402
    CONDITIONS_FILE,
    find_data_dir,
    load_conditions,
    load_refs,
    make_dev_pairs,
    pristine_paths,
    require_data_dir,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=4, help="first N held-out Kodak images")
    ap.add_argument("--max-side", type=int, default=288)
    ap.add_argument("--models", default="causal-iqa,causal-iqa-robust,ssim,ms-ssim,haarpsi")
    ap.add_argument("--eps", default="2,4", help="budgets in 8-bit levels")
    ap.add_argument("--steps", type=int, default=10, help="PGD steps per rung of the eps ladder")
    ap.add_argument("--restarts", type=int, default=1, help="PGD runs per rung (the first warm-started)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--median-center", action="store_true", help="reflect about the median clean score for every model")
    ap.add_argument("--out", type=Path, default=Path("bench/out/robustness.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data_dir = require_data_dir(find_data_dir(Path(__file__).resolve().parents[1]))
    refs = load_refs(pristine_paths("holdout", data_dir)[: args.images])
    pairs = list(make_dev_pairs(refs, load_conditions(data_dir / CONDITIONS_FILE), max_side=args.max_side))
    mos = np.array([p.condition.mean_score for p in pairs])
    tensors = [
        (
            torch.from_numpy(np.array(p.ref)).permute(2, 0, 1)[None].float(),
            torch.from_numpy(np.array(p.dist)).permute(2, 0, 1)[None].float(),
        )
        for p in pairs
    ]
    results = []
    for name in args.models.split(","):
        scorer = load_model(name, device="cpu")
        t0 = time.perf_counter()
        with torch.inference_mode():
            clean = np.array([float(scorer.score_tensors(r, d)[0]) for r, d in tensors])
        clean_time = (time.perf_counter() - t0) / len(tensors)
        center = float(np.median(clean)) if args.median_center else reflection_center(scorer.spec, clean.tolist())
        sign = 1.0 if scorer.higher_is_better else -1.0
        levels = sorted(float(e) for e in args.eps.split(","))
        t1 = time.perf_counter()
        per_pair = [
            attack_budgets(
                scorer,
                r,
                d,
                budgets=[e / 255.0 for e in levels],
                steps=args.steps,
                restarts=args.restarts,
                method="reflect",
                center=center,
                generator=torch.Generator().manual_seed(0),
            )
            for r, d in tensors
        ]
        attack_time = (time.perf_counter() - t1) / len(tensors)
        for i, eps_levels in enumerate(levels):
            attacked = np.array([res[i].attacked_score for res in per_pair])
            shift = np.abs(attacked - clean)
            row = {
                "model": name,
                "eps": f"{eps_levels:g}/255",
                "center": round(center, 4),
                "mean_abs_shift": float(shift.mean()),
                "shift_over_spread": float(shift.mean() / clean.std()),
                "srcc_attacked_vs_clean": srcc(attacked, clean),
                "srcc_clean_vs_mos": srcc(sign * clean, mos),
                "srcc_attacked_vs_mos": srcc(sign * attacked, mos),
                "no_progress": int(sum(res[i].no_progress for res in per_pair)),
                "clean_ms_per_pair": round(clean_time * 1000, 1),
                "attack_s_per_pair": round(attack_time, 2),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "pairs": len(pairs),
                "images": args.images,
                "max_side": args.max_side,
                "steps": args.steps,
                "restarts": args.restarts,
                "results": results,
            },
            indent=2,
        )
    )
    print(
        f"\n{len(pairs)} pairs ({args.images} Kodak images, longer side {args.max_side}), {args.steps} PGD steps per "
        f"rung, {args.restarts} run(s) per rung, adversarial images rounded to 8 bits"
    )
    print(
        "| model | eps | reflection point | mean abs shift / clean spread | SRCC attacked vs clean "
        "| SRCC clean vs MOS | SRCC attacked vs MOS | no progress |\n|---|---|---|---|---|---|---|---|"
    )
    for r in results:
        print(
            f"| {r['model']} | {r['eps']} | {r['center']:g} | {r['shift_over_spread']:.3f} | "
            f"{r['srcc_attacked_vs_clean']:.3f} | {r['srcc_clean_vs_mos']:.3f} | {r['srcc_attacked_vs_mos']:.3f} | "
            f"{r['no_progress']} |"
        )


if __name__ == "__main__":
    main()
