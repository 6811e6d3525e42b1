import sys
import numpy as np
sys.path.insert(0, ".")
from iqa_cli.eval import srcc
from iqa_cli.train.heads import fit_few_label

TYPES = [1, 3, 5, 7, 10, 11, 13, 15, 16, 19, 21, 23, 25]


def labels(which):
    z = np.load(f"runs/exp/{which}.npz", allow_pickle=True)
    return z["mos"], z["type_ids"], z["levels"], z["ref_idx"]


def loto(Ftr, ytr, ttr, Fte, tte, scale, ridge=1.0):
    pred = np.zeros(len(Fte))
    for t in np.unique(tte):
        k = ttr != t
        w, b = fit_few_label(Ftr[k], ytr[k], scale, ridge)
        s = tte == t
        pred[s] = b - np.log1p(Fte[s] / scale) @ w
    return pred


def report(name, pred, y, t, lv=None, detail=False):
    per = {tt: srcc(pred[t == tt], y[t == tt]) for tt in TYPES}
    print(f"{name}: SRCC {srcc(pred, y):.4f} | " + " ".join(f"{tt}:{per[tt]:.2f}" for tt in TYPES))
    if detail:
        for tt in TYPES:
            s = t == tt
            m = [pred[s & (lv == l)].mean() for l in range(1, 6)]
            mo = [y[s & (lv == l)].mean() for l in range(1, 6)]
            print(f"  type {tt:2d} pred " + " ".join(f"{a:5.2f}" for a in m) + "   mos " + " ".join(f"{a:5.2f}" for a in mo))
