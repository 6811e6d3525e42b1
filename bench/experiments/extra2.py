"""Energy-weighted pooling of the pixel maps."""

import sys

import torch
from common import save_features

from iqa_cli.models.causal import PixelDegradation, fixed_colour
from iqa_cli.models.functional import half_mean

torch.set_num_threads(1)
pix = PixelDegradation()


def extra(r, d):
    f = []
    half = fixed_colour(torch.cat([r, d]))
    maps = pix(r, d, half)
    o = half[:, :1]
    for i, m in enumerate(maps):
        if i:
            o = half_mean(o)
        g = pix._grad_mag(o)
        wmax = torch.maximum(g[:1], g[1:])
        wref = g[:1]
        for w in (wmax, wref):
            f.append(((m * w).sum(dim=(2, 3)) / (w.sum() + 1e-8))[0])
    return torch.cat(f).numpy()


if __name__ == "__main__":
    which = sys.argv[1]
    save_features(which, "extra2", extra)
