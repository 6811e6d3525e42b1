import sys
import numpy as np
sys.path.insert(0, "bench/experiments"); sys.path.insert(0, ".")
from common import *
from iqa_cli.api import load_model
from iqa_cli.train import run
m = load_model("causal-iqa", device="cpu").module
scale = m.feature_scale.numpy()
cfg = m.config
n_mean = sum(cfg.map_channels); nl = sum(cfg.degradation)
Ftr, Fte = np.load("runs/exp/feat_train.npy"), np.load("runs/exp/feat_kodak.npy")
ytr, ttr, ltr, _ = labels("train"); yte, tte, lte, _ = labels("kodak")
haar = np.arange(2 * n_mean, 2 * n_mean + 4)
pix_mean = np.arange(nl, n_mean); pix_std = np.arange(n_mean + nl, 2 * n_mean)
sets = {"haar": haar, "haar_total": haar[3:], "pixmean": pix_mean, "pixmean+haar": np.r_[pix_mean, haar],
        "pixel": np.r_[pix_mean, pix_std, haar]}
for name, cols in sets.items():
    for ridge in (0.1, 1.0, 10.0):
        p = loto(Ftr[:, cols], ytr, ttr, Fte[:, cols], tte, scale[cols], ridge)
        report(f"{name} ridge {ridge}", p, yte, tte)
