"""ADM-like features (Li et al. 2011: detail losses vs additive impairments): signed Haar-like coefficients of the
reference and the distorted image at 4 scales, the distorted coefficient split into the restored part
k * c_ref (k = clip(c_dist / c_ref, 0, 1)) and the additive rest; per scale the detail loss 1 - sum|R|/sum|c_ref| and
the additive impairment mean(|A| / (M + T)), both weighted by masking M (local mean |c_ref|), for luminance and
two opponent chroma channels."""

import sys

import numpy as np
import torch
import torch.nn.functional as F
from common import save_features

torch.set_num_threads(1)
W = torch.tensor([[0.299, 0.587, 0.114], [0.5, -0.5, 0.0], [0.25, 0.25, -0.5]])


def box(x, k):
    p = k // 2
    x = F.pad(x, (p, k - 1 - p, p, k - 1 - p), mode="replicate")
    return F.avg_pool2d(x, k, stride=1)


def coeffs(x, s):
    n = 2**s
    m = box(x, n)
    h = n // 2
    pad = F.pad(m, (h, h, h, h), mode="replicate")
    H, Wd = x.shape[-2:]
    ch = pad[..., h : h + H, 2 * h : 2 * h + Wd] - pad[..., h : h + H, 0:Wd]
    cv = pad[..., 2 * h : 2 * h + H, h : h + Wd] - pad[..., 0:H, h : h + Wd]
    return torch.cat([ch, cv], 1)


def extra(r, d):
    o = torch.einsum("oc,bchw->bohw", W, torch.cat([r, d]))
    o = F.avg_pool2d(o, 2)
    f = []
    for c, T in ((0, 0.01), (1, 0.01), (2, 0.01)):
        x = o[:, c : c + 1]
        for s in (1, 2, 3, 4):
            cc = coeffs(x, s)
            cr, cd = cc[:1], cc[1:]
            k = (cd / torch.where(cr.abs() < 1e-6, torch.full_like(cr, 1e-6), cr)).clamp(0, 1)
            R = k * cr
            A = cd - R
            M = box(cr.abs().mean(1, keepdim=True), 3)
            wgt = 1.0 / (M + T)
            dl = 1 - (R.abs() * wgt).sum() / ((cr.abs() * wgt).sum() + 1e-9)
            ai = (A.abs() * wgt).mean()
            f += [dl.item(), ai.item()]
    return np.array(f)


if __name__ == "__main__":
    which = sys.argv[1]
    save_features(which, "extra5", extra)
