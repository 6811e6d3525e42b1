"""Monotone additive head: each feature's own piecewise-linear increasing curve (non-negative ramps between
quantile knots, fitted by NNLS with a ridge), LOTO on training pairs and on Kodak."""

import numpy as np
from common import TYPES, labels
from scipy.optimize import nnls
from scipy.stats import spearmanr

from iqa_cli.api import load_model
from iqa_cli.train import selection

sc = load_model("causal-iqa", device="cpu")
m = sc.module
base = m.feature_scale.numpy() / selection.head_softness(sc.metadata)
Ftr, Fte = np.load("runs/exp/feat_train.npy"), np.load("runs/exp/feat_kodak.npy")
ytr, ttr, _, _ = labels("train")
yte, tte, ltr, _ = labels("kodak")


def ramps(z, knots):
    cols = []
    for j in range(z.shape[1]):
        k = knots[j]
        for a, b in zip(k[:-1], k[1:]):
            cols.append(np.clip(z[:, j] - a, 0, b - a))
        cols.append(np.maximum(z[:, j] - k[-1], 0))  # beyond the last knot: linear
    return np.stack(cols, 1)


def fit(X, y, ridge):
    xm, ym = X.mean(0), y.mean()
    Xc, yc = X - xm, y - ym
    n, f = Xc.shape
    a = np.vstack([-Xc, np.sqrt(ridge * n / f) * np.eye(f) * (Xc.std(0).mean() + 1e-12)])
    w, _ = nnls(a, np.concatenate([yc, np.zeros(f)]))
    return w, ym + xm @ w


def loto(Ztr, Zte, tte_, nk, ridge):
    pred = np.zeros(len(Zte))
    for t in TYPES:
        tr = ttr != t
        qs = np.linspace(0, 1, nk + 1)[:-1]
        knots = [np.quantile(Ztr[tr, j], qs) for j in range(Ztr.shape[1])]
        w, b = fit(ramps(Ztr[tr], knots), ytr[tr], ridge)
        s = tte_ == t
        pred[s] = b - ramps(Zte[s], knots) @ w
    return pred


for cols in ([48, 116, 139], [116, 139], [48, 116, 136, 137, 138, 139]):
    for k in (1.0, 3.0, 10.0):
        Ztr = np.log1p(Ftr[:, cols] / (base[cols] * k))
        Zte = np.log1p(Fte[:, cols] / (base[cols] * k))
        for nk in (1, 3, 5):
            for ridge in (0.01, 0.1, 1.0):
                ptr = loto(Ztr, Ztr, ttr, nk, ridge)
                pte = loto(Ztr, Zte, tte, nk, ridge)
                print(
                    f"cols {cols} k{k} knots {nk} ridge {ridge}: "
                    f"train {spearmanr(ptr, ytr)[0]:.4f} kodak {spearmanr(pte, yte)[0]:.4f}",
                    flush=True,
                )
