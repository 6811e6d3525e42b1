"""A monotone network head (1-4 hidden units, non-negative weights) on the pixel features: LOTO."""

import numpy as np
import torch
from common import TYPES, labels, report, srcc

from iqa_cli.api import load_model
from iqa_cli.train import heads

torch.set_num_threads(1)
m = load_model("causal-iqa", device="cpu").module
pixel = heads.feature_groups(m)["pixel"]
scale = m.feature_scale.numpy()[pixel] * 3
F0tr, F0te = np.load("runs/exp/feat_train.npy")[:, pixel], np.load("runs/exp/feat_kodak.npy")[:, pixel]
ytr, ttr, ltr, _ = labels("train")
yte, tte, lte, _ = labels("kodak")
Ztr = torch.tensor(np.log1p(F0tr / scale), dtype=torch.float32)
Zte = torch.tensor(np.log1p(F0te / scale), dtype=torch.float32)
sd = Ztr.std(0) + 1e-6
Ztr, Zte = Ztr / sd, Zte / sd


def fit(Z, y, hidden, wd, steps=1500, seed=0):
    g = torch.Generator().manual_seed(seed)
    f = Z.shape[1]
    a = (0.1 * torch.randn(f, hidden, generator=g)).requires_grad_()
    b1 = torch.zeros(hidden).requires_grad_()
    w2 = (0.1 * torch.randn(hidden, generator=g)).requires_grad_()
    b = torch.tensor(float(y.mean())).requires_grad_()
    opt = torch.optim.Adam([a, b1, w2, b], lr=0.01)
    yt = torch.tensor(y, dtype=torch.float32)

    def pred(Z):
        h = torch.nn.functional.softplus(Z @ torch.nn.functional.softplus(a) + b1) - torch.nn.functional.softplus(b1)
        return b - h @ torch.nn.functional.softplus(w2)

    for _ in range(steps):
        opt.zero_grad()
        loss = (pred(Z) - yt).pow(2).mean() + wd * (torch.nn.functional.softplus(a).pow(2).sum())
        loss.backward()
        opt.step()
    return pred


for hidden in (1, 4):
    for wd in (1e-4, 1e-3):
        ptr = np.zeros(len(ytr))
        pte = np.zeros(len(yte))
        for t in TYPES:
            k = ttr != t
            pr = fit(Ztr[k], ytr[k], hidden, wd)
            with torch.no_grad():
                ptr[ttr == t] = pr(Ztr[ttr == t]).numpy()
                pte[tte == t] = pr(Zte[tte == t]).numpy()
        print(f"[train-dev {srcc(ptr, ytr):.4f}] ", end="")
        report(f"mlp h{hidden} wd{wd}", pte, yte, tte)
