import sys
import numpy as np
sys.path.insert(0, "bench/experiments"); sys.path.insert(0, ".")
from common import *
from iqa_cli.api import load_model
from iqa_cli.train import run
m = load_model("causal-iqa", device="cpu").module
scale = m.feature_scale.numpy()
pixel = run.feature_groups(m)["pixel"]
Ftr, Fte = np.load("runs/exp/feat_train.npy")[:, pixel], np.load("runs/exp/feat_kodak.npy")[:, pixel]
sc = scale[pixel]
ytr, ttr, ltr, _ = labels("train"); yte, tte, lte, _ = labels("kodak")
for c in (0.03, 0.1, 0.3, 1.0, 3.0):
    for link in ("id", "exp"):
        f = (lambda y: y) if link == "id" else (lambda y: np.exp(y / 2))
        for ridge in (0.03, 0.1, 0.3):
            ptr = loto(Ftr, f(ytr), ttr, Ftr, ttr, sc * c, ridge)
            p = loto(Ftr, f(ytr), ttr, Fte, tte, sc * c, ridge)
            print(f"[train-dev {srcc(ptr, ytr):.4f}] ", end="")
            report(f"c{c} {link} r{ridge}", p, yte, tte)
