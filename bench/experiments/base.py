import sys
import numpy as np
sys.path.insert(0, "bench/experiments"); sys.path.insert(0, ".")
from common import *
import torch
from iqa_cli.api import load_model
from iqa_cli.train import run
m = load_model("causal-iqa", device="cpu").module
scale = m.feature_scale.numpy()
groups = run.feature_groups(m)
Ftr, Fte = np.load("runs/exp/feat_train.npy"), np.load("runs/exp/feat_kodak.npy")
ytr, ttr, ltr, _ = labels("train"); yte, tte, lte, _ = labels("kodak")
for g, cols in groups.items():
    p = loto(Ftr[:, cols], ytr, ttr, Fte[:, cols], tte, scale[cols])
    report(f"LOTO {g}", p, yte, tte, lte, detail=(g == "pixel"))
    w, b = fit_few_label(Fte[:, cols], yte, scale[cols])
    report(f"in-sample kodak {g}", b - np.log1p(Fte[:, cols] / scale[cols]) @ w, yte, tte)
