import sys
import numpy as np
sys.path.insert(0, "bench/experiments"); sys.path.insert(0, ".")
from common import *
from scipy.optimize import nnls
from iqa_cli.api import load_model
from iqa_cli.train import run
m = load_model("causal-iqa", device="cpu").module
scale = m.feature_scale.numpy()
pixel = run.feature_groups(m)["pixel"]
Ftr, Fte = np.load("runs/exp/feat_train.npy")[:, pixel], np.load("runs/exp/feat_kodak.npy")[:, pixel]
sc = scale[pixel]
ytr, ttr, ltr, _ = labels("train"); yte, tte, lte, _ = labels("kodak")

def fit(z, y, ridge):
    zm = z.mean(0); ym = y.mean(); zc = z - zm; yc = y - ym; n, f = zc.shape
    a = np.vstack([-zc, np.sqrt(ridge * n / f) * np.eye(f) * zc.std(0).mean()])
    w, _ = nnls(a, np.r_[yc, np.zeros(f)], maxiter=50 * f)
    return w, ym + zm @ w

def lo(Ztr, Zte, y, ridge):
    pred = np.zeros(len(Zte)); pt = np.zeros(len(Ztr))
    for t in np.unique(tte):
        k = ttr != t
        w, b = fit(Ztr[k], y[k], ridge)
        pred[tte == t] = b - Zte[tte == t] @ w
        pt[ttr == t] = b - Ztr[ttr == t] @ w
    return pt, pred
link = lambda y: np.exp(y / 2)
for p in (1.0, 1.5, 2.0):
    for c in (1.0, 3.0, 10.0):
        tr = lambda F: np.log1p((F / (sc * c)) ** p)
        for ridge in (0.1,):
            pt, pr = lo(tr(Ftr), tr(Fte), link(ytr), ridge)
            print(f"[train-dev {srcc(pt, ytr):.4f}] ", end="")
            report(f"p{p} c{c} r{ridge}", pr, yte, tte)
