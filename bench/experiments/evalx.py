"""The first candidate features (extra.py: signed gradient/chroma loss and gain, colourfulness, top-k pooling, the Haar
block at 1/2 and 1/4 scale) added block by block to the pixel group: training and Kodak LOTO."""

import numpy as np
from common import labels, loto, report, srcc

from iqa_cli.api import load_model
from iqa_cli.train import heads

m = load_model("causal-iqa", device="cpu").module
scale = m.feature_scale.numpy()
groups = heads.feature_groups(m)
pixel = groups["pixel"]
Ftr, Fte = np.load("runs/exp/feat_train.npy")[:, pixel], np.load("runs/exp/feat_kodak.npy")[:, pixel]
sc = scale[pixel]
Xtr, Xte = np.abs(np.load("runs/exp/extra_train.npy")), np.abs(np.load("runs/exp/extra_kodak.npy"))
xs = np.maximum(Xtr.mean(0), 1e-6)
ytr, ttr, ltr, _ = labels("train")
yte, tte, lte, _ = labels("kodak")
blocks = {
    "signed grad": [0, 1, 4, 5, 8, 9],
    "signed chroma": [2, 3, 6, 7, 10, 11],
    "colourfulness": [12, 13],
    "top pix": list(range(14, 24)),
    "top haar": [24, 25],
    "haar/2": [26, 27, 28, 29],
    "haar/4": [30, 31, 32, 33],
}


def ev(name, cols, detail=False):
    A = np.c_[Ftr, Xtr[:, cols]]
    B = np.c_[Fte, Xte[:, cols]]
    s = np.r_[sc, xs[cols]]
    ptr = loto(A, ytr, ttr, A, ttr, s)
    p = loto(A, ytr, ttr, B, tte, s)
    print(f"[train-dev LOTO {srcc(ptr, ytr):.4f}] ", end="")
    report(name, p, yte, tte, lte, detail)


ev("base", [])
for k, v in blocks.items():
    ev(k, v)
ev("all", list(range(34)))
