"""Visibility constants x k in the fixed branches: clean LOTO accuracy and 4/255 reflection robustness."""

import json
import sys
import time

import numpy as np
import torch
from common import fit_few_label, labels, loto, pair_features, srcc

from iqa_cli.api import load_model
from iqa_cli.attack import attack_pair
from iqa_cli.models import causal
from iqa_cli.models.causal import CausalIQA, fixed_colour
from iqa_cli.synth.devset import load_conditions, load_refs, make_dev_pairs, pristine_paths
from iqa_cli.train import heads, selection

k = float(sys.argv[1])
kh = float(sys.argv[2]) if len(sys.argv) > 2 else k
torch.set_num_threads(1)
P, H = causal.PixelDegradation, causal.HaarDegradation
P.C1, P.C2, P.C_GRAD, P.T_CHROMA = P.C1 * k, P.C2 * k, P.C_GRAD * k, P.T_CHROMA * k
H.C = H.C * kh
scorer = load_model("causal-iqa", device="cpu")
model = scorer.module.eval()
pixel = heads.feature_groups(model)["pixel"]


def feats(r, t):
    half = fixed_colour(torch.cat([r, t]))
    pooled = CausalIQA.pool(model.pixel(r, t, half))
    return torch.cat([pooled, H.features(model.haar(r, t, half).mean(dim=(2, 3)))], dim=1)[0].numpy()


t0 = time.time()
Ftr, Fte = pair_features("train", feats), pair_features("kodak", feats)
ytr, ttr, _, _ = labels("train")
yte, tte, _, _ = labels("kodak")
base = np.maximum(Ftr.mean(0), 1e-6)
best = (-1, None)
for c in selection.SOFTNESS_GRID:
    for r in selection.RIDGE_GRID:
        rho = srcc(loto(Ftr, ytr, ttr, Ftr, ttr, base * c, r), ytr)
        if rho > best[0]:
            best = (rho, (c, r))
c, r = best[1]
pk = loto(Ftr, ytr, ttr, Fte, tte, base * c, r)
res = {
    "k": k,
    "kh": kh,
    "softness": c,
    "ridge": r,
    "train_loto": round(best[0], 4),
    "kodak_loto": round(srcc(pk, yte), 4),
}
w, b = fit_few_label(Ftr, ytr, base * c, r)
with torch.no_grad():
    model.feature_scale.fill_(1.0)
    model.feature_scale[pixel] = torch.from_numpy((base * c).astype(np.float32))
    model.fl_weights.zero_()
    model.fl_weights[pixel] = torch.from_numpy(w)
    model.fl_bias.fill_(b)
res["kodak_insample_shipped"] = round(srcc(b - np.log1p(Fte / (base * c)) @ w, yte), 4)
refs = load_refs(pristine_paths("holdout")[:4])
pairs = list(make_dev_pairs(refs, load_conditions(), max_side=288))
mos = np.array([p.condition.mean_score for p in pairs])
ts = [
    (
        torch.from_numpy(np.array(p.ref)).permute(2, 0, 1)[None].float(),
        torch.from_numpy(np.array(p.dist)).permute(2, 0, 1)[None].float(),
    )
    for p in pairs
]
with torch.inference_mode():
    clean = np.array([float(scorer.score_tensors(a, d)[0]) for a, d in ts])
center = float(np.median(clean))
res["clean_vs_mos_288"] = round(srcc(clean, mos), 4)
for eps in (2, 4):
    gen = torch.Generator().manual_seed(0)
    att = np.array(
        [
            attack_pair(
                scorer, a, d, eps=eps / 255, steps=10, method="reflect", center=center, generator=gen
            ).attacked_score
            for a, d in ts
        ]
    )
    res[f"att_vs_clean_{eps}"] = round(srcc(att, clean), 4)
res["seconds"] = round(time.time() - t0)
print(json.dumps(res), flush=True)
