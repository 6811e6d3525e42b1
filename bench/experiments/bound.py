"""The per-type oracle: each type's LOTO predictions mapped to the right MOS, order within the type kept (0.967)."""

import numpy as np
from common import TYPES, labels, loto, report

from iqa_cli.api import load_model
from iqa_cli.train import heads

m = load_model("causal-iqa", device="cpu").module
scale = m.feature_scale.numpy() * 3
pixel = heads.feature_groups(m)["pixel"]
F0tr, F0te = np.load("runs/exp/feat_train.npy"), np.load("runs/exp/feat_kodak.npy")
ytr, ttr, ltr, _ = labels("train")
yte, tte, lte, _ = labels("kodak")
p = loto(F0tr[:, pixel], ytr, ttr, F0te[:, pixel], tte, scale[pixel], 0.03)
report("loto", p, yte, tte)
# per-type best monotone calibration: rank-match predictions within type to mos (sorted)
q = np.zeros_like(p)
for t in TYPES:
    s = tte == t
    order = np.argsort(np.argsort(-p[s]))  # rank 0 = best predicted
    q[s] = np.sort(yte[s])[::-1][order]
report("per-type monotone oracle", q, yte, tte)
# oracle with level-perfect ranking for selected types
for bad in ([5], [21], [7], [15], [23], [5, 21], [5, 7, 15, 21, 23]):
    r = q.copy()
    for t in bad:
        r[tte == t] = yte[tte == t]
    report(f"oracle + perfect {bad}", r, yte, tte)
