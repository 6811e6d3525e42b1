import sys
import numpy as np
sys.path.insert(0, "bench/experiments"); sys.path.insert(0, ".")
from common import *
from iqa_cli.api import load_model
from iqa_cli.train import run
m = load_model("causal-iqa", device="cpu").module
scale = m.feature_scale.numpy()
groups = run.feature_groups(m)
F0tr, F0te = np.load("runs/exp/feat_train.npy"), np.load("runs/exp/feat_kodak.npy")
ytr, ttr, ltr, _ = labels("train"); yte, tte, lte, _ = labels("kodak")
for g in ("all", "pixel"):
    cols = groups[g]
    for c in (1.0, 3.0, 10.0):
        for ridge in (0.03, 0.1, 0.3, 1.0):
            s = scale[cols] * c
            ptr = loto(F0tr[:, cols], ytr, ttr, F0tr[:, cols], ttr, s, ridge)
            p = loto(F0tr[:, cols], ytr, ttr, F0te[:, cols], tte, s, ridge)
            print(f"[train-dev {srcc(ptr, ytr):.4f}] ", end="")
            report(f"{g} c{c} r{ridge}", p, yte, tte)
