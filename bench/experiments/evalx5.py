import sys
import numpy as np
sys.path.insert(0, "bench/experiments"); sys.path.insert(0, ".")
from common import *
from iqa_cli.api import load_model
from iqa_cli.train import run
m = load_model("causal-iqa", device="cpu").module
groups = run.feature_groups(m)
cfg = m.config; n_mean = sum(cfg.map_channels)
F0tr, F0te = np.load("runs/exp/feat_train.npy"), np.load("runs/exp/feat_kodak.npy")
Xtr, Xte = np.maximum(np.load("runs/exp/extra5_train.npy"), 0), np.maximum(np.load("runs/exp/extra5_kodak.npy"), 0)
ytr, ttr, ltr, _ = labels("train"); yte, tte, lte, _ = labels("kodak")
names = [f"{c}_s{s}_{p}" for c in ("y", "rg", "yb") for s in (1, 2, 3, 4) for p in ("dl", "ai")]
for i, n in enumerate(names):
    print(f"{n:14s} kodak {srcc(-Xte[:, i], yte):.4f} train {srcc(-Xtr[:, i], ytr):.4f}")
haar = np.arange(2 * n_mean, 2 * n_mean + 4)
pixel = groups["pixel"]
nl = np.arange(1, 24, 2); md = np.arange(0, 24, 2)


def ev(name, A, B, detail=False):
    best = None
    for c in (1.0, 3.0, 10.0):
        for ridge in (0.03, 0.1, 0.3, 1.0):
            s = np.maximum(A.mean(0), 1e-9) * c
            ptr = loto(A, ytr, ttr, A, ttr, s, ridge)
            r = srcc(ptr, ytr)
            if best is None or r > best[0]:
                best = (r, c, ridge)
    r, c, ridge = best
    s = np.maximum(A.mean(0), 1e-9) * c
    p = loto(A, ytr, ttr, B, tte, s, ridge)
    print(f"[train-dev {r:.4f} c{c} r{ridge}] ", end="")
    report(name, p, yte, tte, lte, detail)


ev("pixel", F0tr[:, pixel], F0te[:, pixel])
ev("detail-loss", Xtr[:, md], Xte[:, md])
ev("additive", Xtr[:, nl], Xte[:, nl])
ev("adm all", Xtr, Xte)
ev("haar+dl", np.c_[F0tr[:, haar], Xtr[:, md]], np.c_[F0te[:, haar], Xte[:, md]])
ev("haar+ai", np.c_[F0tr[:, haar], Xtr[:, nl]], np.c_[F0te[:, haar], Xte[:, nl]])
ev("pixel+dl", np.c_[F0tr[:, pixel], Xtr[:, md]], np.c_[F0te[:, pixel], Xte[:, md]])
ev("pixel+ai", np.c_[F0tr[:, pixel], Xtr[:, nl]], np.c_[F0te[:, pixel], Xte[:, nl]])
ev("pixel+adm", np.c_[F0tr[:, pixel], Xtr], np.c_[F0te[:, pixel], Xte], detail=True)
ev("haar+adm", np.c_[F0tr[:, haar], Xtr], np.c_[F0te[:, haar], Xte], detail=True)
