"""Candidate features from other training-free metrics: MDSI (Nafchi et al. 2016) at three scales with its parts,
and a normalised-Laplacian-pyramid distance (NLPD-like, Laparra et al. 2016) per scale on luminance and two opponent
chroma channels."""

import sys

import numpy as np
import torch
import torch.nn.functional as F
from common import save_features

torch.set_num_threads(1)
PRE = torch.tensor([[1.0, 0, -1], [1, 0, -1], [1, 0, -1]]) / 3.0
KX = PRE.view(1, 1, 3, 3)
KY = PRE.t().contiguous().view(1, 1, 3, 3)
LMN = torch.tensor([[0.06, 0.63, 0.27], [0.30, 0.04, -0.35], [0.34, -0.60, 0.17]])


def gm(x):
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return torch.sqrt(F.conv2d(p, KX) ** 2 + F.conv2d(p, KY) ** 2)


def mdsi(r, d, f):
    # r, d (1,3,H,W) in 0-255
    if f > 1:
        r, d = F.avg_pool2d(r, f), F.avg_pool2d(d, f)
    lr = torch.einsum("oc,bchw->bohw", LMN, r)
    ld = torch.einsum("oc,bchw->bohw", LMN, d)
    L_r, L_d = lr[:, :1], ld[:, :1]
    g_r, g_d, g_f = gm(L_r), gm(L_d), gm(0.5 * (L_r + L_d))
    c1, c2, c3 = 140.0, 55.0, 550.0
    gs = (2 * g_r * g_d + c1) / (g_r**2 + g_d**2 + c1)
    gs_rf = (2 * g_r * g_f + c2) / (g_r**2 + g_f**2 + c2)
    gs_df = (2 * g_d * g_f + c2) / (g_d**2 + g_f**2 + c2)
    gs2 = gs + gs_df - gs_rf
    m_r, n_r, m_d, n_d = lr[:, 1:2], lr[:, 2:3], ld[:, 1:2], ld[:, 2:3]
    cs = (2 * (m_r * m_d + n_r * n_d) + c3) / (m_r**2 + m_d**2 + n_r**2 + n_d**2 + c3)
    gcs = 0.6 * gs2 + 0.4 * cs
    q = gcs.clamp_min(0) ** 0.25
    score = (q - q.mean()).abs().mean() ** 0.25
    return [
        score.item(),
        (1 - gs2).clamp_min(0).mean().item(),
        (1 - cs).mean().item(),
        (1 - gcs).clamp_min(0).mean().item(),
    ]


B5 = torch.tensor([1.0, 4, 6, 4, 1])
B5 = (B5[:, None] * B5[None]) / 256.0


def blur(x):
    c = x.shape[1]
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), B5.view(1, 1, 5, 5).expand(c, 1, 5, 5), groups=c)


def nlpd(r, d, scales=5):
    # r, d (1,3,H,W) in [0,1]: opponent channels, luminance power-transformed
    w = torch.tensor([[0.299, 0.587, 0.114], [0.5, -0.5, 0.0], [0.25, 0.25, -0.5]])
    o_r = torch.einsum("oc,bchw->bohw", w, r)
    o_d = torch.einsum("oc,bchw->bohw", w, d)
    o_r = torch.cat([o_r[:, :1].clamp_min(0) ** (1 / 2.6), o_r[:, 1:]], 1)
    o_d = torch.cat([o_d[:, :1].clamp_min(0) ** (1 / 2.6), o_d[:, 1:]], 1)
    x = torch.cat([o_r, o_d])
    out = []
    sig = torch.tensor([0.17, 0.05, 0.05]).view(1, 3, 1, 1)
    for _ in range(scales):
        low = blur(x)
        down = low[..., ::2, ::2]
        up = F.interpolate(down, size=x.shape[-2:], mode="bilinear", align_corners=False)
        lap = x - up
        y = lap / (sig + blur(lap.abs()))
        diff = (y[:1] - y[1:]).pow(2).mean(dim=(2, 3)).sqrt()[0]
        out.extend(diff.tolist())
        x = down
    return out


def extra(r, d):
    f = []
    for s in (1, 2, 4):
        f += mdsi(r * 255, d * 255, s)
    f += nlpd(r, d)
    return np.array(f)


if __name__ == "__main__":
    which = sys.argv[1]
    save_features(which, "extra3", extra)
