"""Energy-weighted pooling of the pixel maps (extra2.py) with the pixel group, identity and exp links: LOTO."""

import numpy as np
from common import labels, loto, report, srcc

from iqa_cli.api import load_model
from iqa_cli.train import heads

m = load_model("causal-iqa", device="cpu").module
scale = m.feature_scale.numpy()
pixel = heads.feature_groups(m)["pixel"]
cfg = m.config
n_mean = sum(cfg.map_channels)
nl = sum(cfg.degradation)
F0tr, F0te = np.load("runs/exp/feat_train.npy"), np.load("runs/exp/feat_kodak.npy")
Xtr, Xte = np.abs(np.load("runs/exp/extra2_train.npy")), np.abs(np.load("runs/exp/extra2_kodak.npy"))
ytr, ttr, ltr, _ = labels("train")
yte, tte, lte, _ = labels("kodak")
# extra2 layout: for each stride (4): wmax(5), wref(5)
wmax = np.r_[[np.arange(s * 10, s * 10 + 5) for s in range(4)]].ravel()
wref = wmax + 5
haar = np.arange(2 * n_mean, 2 * n_mean + 4)
pstd = np.arange(n_mean + nl, 2 * n_mean)
pmean = np.arange(nl, n_mean)


def link(y):
    return np.exp(y / 2)


def ev(name, A, B, detail=False, c=3.0, ridge=0.1):
    s = np.maximum(A.mean(0), 1e-6) * c
    ptr = loto(A, link(ytr), ttr, A, ttr, s, ridge)
    p = loto(A, link(ytr), ttr, B, tte, s, ridge)
    print(f"[train-dev {srcc(ptr, ytr):.4f}] ", end="")
    report(name, p, yte, tte, lte, detail)


ev("base pixel", F0tr[:, pixel], F0te[:, pixel])
ev("wmax+haar", np.c_[Xtr[:, wmax], F0tr[:, haar]], np.c_[Xte[:, wmax], F0te[:, haar]])
ev("wref+haar", np.c_[Xtr[:, wref], F0tr[:, haar]], np.c_[Xte[:, wref], F0te[:, haar]])
ev("pixel+wmax", np.c_[F0tr[:, pixel], Xtr[:, wmax]], np.c_[F0te[:, pixel], Xte[:, wmax]])
ev("pixel+wref", np.c_[F0tr[:, pixel], Xtr[:, wref]], np.c_[F0te[:, pixel], Xte[:, wref]])
ev("pixel+both", np.c_[F0tr[:, pixel], Xtr], np.c_[F0te[:, pixel], Xte], detail=True)
ev("wmax+wref+std+haar", np.c_[Xtr, F0tr[:, pstd], F0tr[:, haar]], np.c_[Xte, F0te[:, pstd], F0te[:, haar]])
