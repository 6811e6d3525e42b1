"""Candidate extra features on cached pairs."""

import sys

import torch
import torch.nn.functional as F
from common import save_features

from iqa_cli.models.causal import HaarDegradation, PixelDegradation, fixed_colour
from iqa_cli.models.functional import half_mean

torch.set_num_threads(1)
haar = HaarDegradation()
pix = PixelDegradation()
C = 0.0026


def grad(lum):
    return pix._grad_mag(lum)


def topk(m, frac):
    v = m.flatten(1)
    k = max(1, int(frac * v.shape[1]))
    return v.topk(k, dim=1).values.mean(1)


def extra(r, d):
    f = []
    half = fixed_colour(torch.cat([r, d]))
    o = half
    # D: signed gradient loss / gain at strides 2,4,8 ; chroma loss/gain
    for i in range(3):
        if i:
            o = half_mean(o)
        g = grad(o[:, :1])
        gr, gd = g[:1], g[1:]
        den = gr * gr + gd * gd + C
        f += [(F.relu(gr - gd).pow(2) / den).mean(), (F.relu(gd - gr).pow(2) / den).mean()]
        cr = torch.sqrt(o[:1, 1:3].pow(2).sum(1) + 1e-8)
        cd = torch.sqrt(o[1:, 1:3].pow(2).sum(1) + 1e-8)
        den = cr * cr + cd * cd + 0.003
        f += [(F.relu(cr - cd).pow(2) / den).mean(), (F.relu(cd - cr).pow(2) / den).mean()]
    # B: global colourfulness ratio
    cr = torch.sqrt(half[:1, 1:3].pow(2).sum(1)).mean()
    cd = torch.sqrt(half[1:, 1:3].pow(2).sum(1)).mean()
    ratio = (cd + 1e-3) / (cr + 1e-3)
    f += [F.relu(1 - ratio), F.relu(ratio - 1)]
    # A: top-1% / top-5% of pixel maps at stride 8 and of haar deficit map
    maps = pix(r, d, half)
    m8 = maps[2][0]
    for c in range(5):
        f += [topk(m8[c : c + 1][None], 0.01)[0], topk(m8[c : c + 1][None], 0.05)[0]]
    hm = haar(r, d, half)
    dm = HaarDegradation.deficit_map(hm).sum(1, keepdim=True)
    f += [topk(half_mean(half_mean(dm)), 0.01)[0], topk(half_mean(half_mean(dm)), 0.05)[0]]
    # C: Haar block on 2x-downsampled pair
    r2, d2 = half_mean(r), half_mean(d)
    f += list(HaarDegradation.features(haar(r2, d2).mean(dim=(2, 3)))[0])
    r4, d4 = half_mean(r2), half_mean(d2)
    f += list(HaarDegradation.features(haar(r4, d4).mean(dim=(2, 3)))[0])
    return torch.stack([torch.as_tensor(x) for x in f]).numpy()


if __name__ == "__main__":
    which = sys.argv[1]
    save_features(which, "extra", extra)
