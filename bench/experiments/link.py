"""A link on the MOS before the few-label head (logit, log, exp, square): training and Kodak LOTO."""

import numpy as np
from common import compare, labels, shipped_features

_, Ftr, Fte, sc = shipped_features("pixel")
ytr, ttr, ltr, _ = labels("train")
yte, tte, lte, _ = labels("kodak")
links = {
    "identity": lambda y: y,
    "logit": lambda y: np.log((y - 1.0) / (5.0 - y)),
    "logit-wide": lambda y: np.log((y - 0.8) / (5.2 - y)),
    "log": lambda y: np.log(y - 0.9),
    "exp": lambda y: np.exp(y / 2),
    "sq": lambda y: y**2,
}
for name, f in links.items():
    for ridge in (0.1, 1.0):
        compare(f"{name} r{ridge}", Ftr, ytr, ttr, Fte, yte, tte, sc, ridge, link=f)
