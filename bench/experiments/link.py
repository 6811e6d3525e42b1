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
links = {"identity": lambda y: y, "logit": lambda y: np.log((y - 1.0) / (5.0 - y)), "logit-wide": lambda y: np.log((y - 0.8) / (5.2 - y)),
         "log": lambda y: np.log(y - 0.9), "exp": lambda y: np.exp(y / 2), "sq": lambda y: y ** 2}
for name, f in links.items():
    for ridge in (0.1, 1.0):
        ptr = loto(Ftr, f(ytr), ttr, Ftr, ttr, sc, ridge)
        p = loto(Ftr, f(ytr), ttr, Fte, tte, sc, ridge)
        print(f"[train-dev {srcc(ptr, ytr):.4f}] ", end="")
        report(f"{name} r{ridge}", p, yte, tte)
