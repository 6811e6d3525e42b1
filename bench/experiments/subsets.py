"""Exhaustive search over small feature subsets of the fixed branches (1-3 features) x softness, chosen by
leave-one-type-out SRCC on the training-image pairs; the chosen ones are then judged on Kodak (LOTO)."""

import itertools
import time

import numpy as np
from common import TYPES, labels
from scipy.optimize import nnls
from scipy.stats import spearmanr

from iqa_cli.api import load_model
from iqa_cli.train import heads, selection

sc = load_model("causal-iqa", device="cpu")
m = sc.module
base = m.feature_scale.numpy() / selection.head_softness(sc.metadata)
pixel = heads.feature_groups(m)["pixel"]
Ftr, Fte = np.load("runs/exp/feat_train.npy"), np.load("runs/exp/feat_kodak.npy")
ytr, ttr, _, _ = labels("train")
yte, tte, _, _ = labels("kodak")
RIDGE = 0.03


def fit(z, y):
    zm, ym = z.mean(0), y.mean()
    zc, yc = z - zm, y - ym
    n, f = zc.shape
    a = np.vstack([-zc, np.sqrt(RIDGE * n / f) * np.eye(f) * zc.std(0).mean()])
    w, _ = nnls(a, np.concatenate([yc, np.zeros(f)]))
    return w, ym + zm @ w


def loto(Ztr, Zte, tte_):
    pred = np.zeros(len(Zte))
    for t in TYPES:
        w, b = fit(Ztr[ttr != t], ytr[ttr != t])
        s = tte_ == t
        pred[s] = b - Zte[s] @ w
    return pred


results = []
t0 = time.time()
for k in (1.0, 3.0, 10.0):
    Ztr_all = np.log1p(Ftr / (base * k))
    Zte_all = np.log1p(Fte / (base * k))
    for size in (1, 2, 3):
        for cols in itertools.combinations(pixel, size):
            c = list(cols)
            p = loto(Ztr_all[:, c], Ztr_all[:, c], ttr)
            results.append((spearmanr(p, ytr)[0], k, c))
    print("k", k, "done", len(results), round(time.time() - t0), flush=True)
results.sort(key=lambda r: -r[0])
for r, k, c in results[:15]:
    Ztr = np.log1p(Ftr[:, c] / (base[c] * k))
    Zte = np.log1p(Fte[:, c] / (base[c] * k))
    pk = loto(Ztr, Zte, tte)
    print(f"train {r:.4f} k{k} cols {c} -> kodak LOTO {spearmanr(pk, yte)[0]:.4f}")
shipped = [48, 116, 139]
for k in (3.0,):
    Ztr = np.log1p(Ftr[:, shipped] / (base[shipped] * k))
    Zte = np.log1p(Fte[:, shipped] / (base[shipped] * k))
    print("shipped cols", spearmanr(loto(Ztr, Ztr, ttr), ytr)[0], spearmanr(loto(Ztr, Zte, tte), yte)[0])
