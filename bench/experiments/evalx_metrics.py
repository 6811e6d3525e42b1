"""Other training-free metrics' terms as few-label features, alone and with the shipped pixel / Haar features; softness
and ridge chosen by training-image LOTO, then Kodak LOTO. Run after the matching extra script:

    python bench/experiments/evalx_metrics.py mdsi-nlpd   # extra3.py train|kodak: MDSI at 1x/2x/4x, NLPD-like
    python bench/experiments/evalx_metrics.py scielab     # extra4.py train|kodak: S-CIELAB-like
    python bench/experiments/evalx_metrics.py adm         # extra5.py train|kodak: ADM-like
"""

import sys

import numpy as np
from common import CACHE, labels, loto, report, srcc

from iqa_cli.api import load_model
from iqa_cli.train import heads

# name -> (cache prefix, feature names, (label, columns) of the two subsets compared)
SETS = {
    "mdsi-nlpd": (
        "extra3",
        [f"mdsi{s}_{p}" for s in (1, 2, 4) for p in ("score", "gs", "cs", "gcs")]
        + [f"nlpd{s}_{c}" for s in range(5) for c in ("y", "rg", "yb")],
        ("mdsi", np.arange(0, 12)),
        ("nlpd", np.arange(12, 27)),
    ),
    "scielab": (
        "extra4",
        [f"s{s}_{p}" for s in (1, 2, 4, 8) for p in ("dlum", "dchr", "dchr2", "mlum", "mchr")],
        ("chroma", np.array([1, 2, 6, 7, 11, 12, 16, 17])),
        ("all4", np.arange(20)),
    ),
    "adm": (
        "extra5",
        [f"{c}_s{s}_{p}" for c in ("y", "rg", "yb") for s in (1, 2, 3, 4) for p in ("dl", "ai")],
        ("detail-loss", np.arange(0, 24, 2)),
        ("additive", np.arange(1, 24, 2)),
    ),
}
prefix, names, (name_a, cols_a), (name_b, cols_b) = SETS[sys.argv[1]]
m = load_model("causal-iqa", device="cpu").module
pixel = heads.feature_groups(m)["pixel"]
n_mean = sum(m.config.map_channels)
haar = np.arange(2 * n_mean, 2 * n_mean + 4)
F0tr, F0te = np.load(CACHE / "feat_train.npy"), np.load(CACHE / "feat_kodak.npy")
Xtr = np.maximum(np.load(CACHE / f"{prefix}_train.npy"), 0)
Xte = np.maximum(np.load(CACHE / f"{prefix}_kodak.npy"), 0)
ytr, ttr, ltr, _ = labels("train")
yte, tte, lte, _ = labels("kodak")
for i, n in enumerate(names):
    print(f"{n:14s} kodak {srcc(-Xte[:, i], yte):.4f} train {srcc(-Xtr[:, i], ytr):.4f}")


def ev(name, A, B, detail=False):
    """Choose softness and ridge by training-image LOTO on ``A``, then report Kodak LOTO on ``B``."""
    best = None
    for c in (1.0, 3.0, 10.0):
        for ridge in (0.03, 0.1, 0.3, 1.0):
            s = np.maximum(A.mean(0), 1e-9) * c
            r = srcc(loto(A, ytr, ttr, A, ttr, s, ridge), ytr)
            if best is None or r > best[0]:
                best = (r, c, ridge)
    r, c, ridge = best
    p = loto(A, ytr, ttr, B, tte, np.maximum(A.mean(0), 1e-9) * c, ridge)
    print(f"[train-dev {r:.4f} c{c} r{ridge}] ", end="")
    report(name, p, yte, tte, lte, detail)


def both(cols_f, cols_x):
    """Shipped features ``cols_f`` next to the candidate features ``cols_x``, for training and Kodak pairs."""
    return np.c_[F0tr[:, cols_f], Xtr[:, cols_x]], np.c_[F0te[:, cols_f], Xte[:, cols_x]]


every = np.arange(Xtr.shape[1])
ev("pixel", F0tr[:, pixel], F0te[:, pixel])
ev(name_a, Xtr[:, cols_a], Xte[:, cols_a])
ev(name_b, Xtr[:, cols_b], Xte[:, cols_b])
ev("all", Xtr, Xte)
for base, cols_f in (("haar", haar), ("pixel", pixel)):
    ev(f"{base}+{name_a}", *both(cols_f, cols_a))
    ev(f"{base}+{name_b}", *both(cols_f, cols_b))
ev("pixel+all", *both(pixel, every), detail=True)
ev("haar+all", *both(haar, every), detail=True)
