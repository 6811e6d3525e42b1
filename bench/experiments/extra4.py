"""S-CIELAB-like features: opponent channels low-passed (chroma more than luminance, as human acuity) then compared."""

import sys

import numpy as np
import torch
import torch.nn.functional as F
from common import save_features

torch.set_num_threads(1)
W = torch.tensor([[0.299, 0.587, 0.114], [0.5, -0.5, 0.0], [0.25, 0.25, -0.5]])


def gblur(x, s):
    r = int(3 * s + 0.5)
    k = torch.exp(-(torch.arange(-r, r + 1, dtype=torch.float32) ** 2) / (2 * s * s))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def extra(r, d):
    o = torch.einsum("oc,bchw->bohw", W, torch.cat([r, d]))
    o = F.avg_pool2d(o, 2)
    f = []
    for s in (1.0, 2.0, 4.0, 8.0):
        b = gblur(o, s)
        diff = (b[:1] - b[1:]).abs()[0]
        lum_std = (gblur(o[:1, :1] ** 2, s) - gblur(o[:1, :1], s) ** 2).clamp_min(0).sqrt()[0, 0]
        f += [
            diff[0].mean().item(),
            (diff[1] + diff[2]).mean().item(),
            ((diff[1] ** 2 + diff[2] ** 2).mean().sqrt()).item(),
            (diff[0] / (lum_std + 0.02)).mean().item(),
            ((diff[1] + diff[2]) / (lum_std + 0.02)).mean().item(),
        ]
    return np.array(f)


if __name__ == "__main__":
    which = sys.argv[1]
    save_features(which, "extra4", extra)
