"""The causal model's fixed (parameter-free) degradation branches: the pixel branch and the Haar block.

Both compare the reference and the distorted image in fixed colour channels made once for the pair
(:func:`fixed_colour`); every output is exactly 0 for identical images and each change is divided by the local
energy it competes with (contrast masking by construction).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from iqa_cli.models.functional import (
    OPPONENT,
    YIQ,
    box_mean,
    dissimilarity,
    gradient_magnitude,
    haar_magnitudes,
    half_mean,
    half_means,
    mean_2x2,
)

# Luminance, the opponent red-green and yellow-blue channels (pixel branch), and YIQ's I and Q (Haar block); the
# first row is both branches' luminance.
FIXED_COLOUR = (*OPPONENT, YIQ[1], YIQ[2])


YIQ_ROWS = (0, 3, 4)
"""The rows of :data:`FIXED_COLOUR` that are YIQ (the Haar blocks' colour space)."""


def fixed_colour(*images: torch.Tensor, rows: tuple[int, ...] | None = None) -> torch.Tensor:
    """RGB images (N_i, 3, H, W) in [0, 1] -> (sum N_i, 5, ceil(H/2), ceil(W/2)): the fixed branches' five colour
    channels of ``cat(images)``, 2x2 means. Per image, the 2x2 means of R, G and B (:func:`half_mean`: two strided
    passes), then the colour rows as one small matrix product on the quarter-size image: the values of the stride-2
    convolution to float rounding, at about half its cost on CPU, and without concatenating the full-size images.
    ``rows``: only these rows of :data:`FIXED_COLOUR`, in this order (the same values as those channels of all
    five, which is what the blocks slice when they need only YIQ)."""
    table = FIXED_COLOUR if rows is None else tuple(FIXED_COLOUR[i] for i in rows)
    weight = images[0].new_tensor(table)  # (n, 3)
    one_shape = len({x.shape[1:] for x in images}) == 1  # then the means of all images in one tensor, one product
    means = [half_means(*images)] if one_shape else [half_mean(x) for x in images]
    out = [torch.matmul(weight, h.flatten(2)).unflatten(2, h.shape[2:]) for h in means]
    return torch.cat(out) if len(out) > 1 else out[0]


class PixelDegradation(nn.Module):
    """Fixed multi-scale degradation maps in opponent colour, each normalised by the reference content.

    At strides 2, 4, 8 and 16 (2x2 average pooling of the opponent channels), five channels, each 0 for identical
    images and bounded:

    - contrast-structure loss ``1 - (2 cov + C2) / (var_r + var_d + C2)`` of luminance over 7x7 windows;
    - luminance change ``(mu_r - mu_d)^2 / (mu_r^2 + mu_d^2 + C1)``;
    - gradient-magnitude change ``(g_r - g_d)^2 / (g_r^2 + g_d^2 + c)`` (1 - GMS, GMSD's c = 0.0026);
    - two chroma changes ``(c_r - c_d)^2 / (c_r^2 + c_d^2 + T)`` of the red-green and yellow-blue channels (3x3 means).

    ``visibility`` multiplies the four stabilising constants (C1, C2, c, T). They act as a visibility floor: a change
    much smaller than the constant's square root barely registers. At 1 they are SSIM's and GMSD's; larger values make
    the maps blind to faint changes — fewer mild distortions seen, but far fewer imperceptible perturbations either
    (measured in bench/RESULTS.md; the robust variant uses a larger value).

    Shape: ref, dist (B, 3, H, W) in [0, 1] -> 5 maps (B, 5, ceil(H/s), ceil(W/s)).
    """

    CHANNELS = 5
    STRIDES = (2, 4, 8, 16)
    C1, C2, C_GRAD, T_CHROMA = 1e-4, 9e-4, 0.0026, 0.003

    def __init__(self, visibility: float = 1.0) -> None:
        super().__init__()
        self.c1, self.c2 = self.C1 * visibility, self.C2 * visibility
        self.c_grad, self.t_chroma = self.C_GRAD * visibility, self.T_CHROMA * visibility

    def forward(
        self, ref: torch.Tensor, dist: torch.Tensor, half: torch.Tensor | None = None, strides: int | None = None
    ) -> list[torch.Tensor]:
        """The maps of ref vs dist; ``half`` = ``fixed_colour(ref, dist)``, if already made; ``strides``: only the
        maps of the first (finest) that many strides (default: all)."""
        b = ref.shape[0]
        o = (half if half is not None else fixed_colour(ref, dist))[:, :3]
        maps = []
        for i in range(len(self.STRIDES) if strides is None else strides):
            if i:
                o = half_mean(o)
            o_r, o_d = o[:b], o[b:]
            l_r, l_d = o_r[:, :1], o_d[:, :1]
            stats = box_mean(torch.cat([l_r, l_d, l_r * l_r, l_d * l_d, l_r * l_d], dim=1), 7)
            mu_r, mu_d, m_rr, m_dd, m_rd = stats.split(1, dim=1)
            var_r = (m_rr - mu_r * mu_r).clamp_min(0.0)
            var_d = (m_dd - mu_d * mu_d).clamp_min(0.0)
            cov = m_rd - mu_r * mu_d
            # 1 - cs written as a squared-difference ratio: exactly 0 when equal, in [0, 2]
            cs_loss = (var_r + var_d - 2.0 * cov).clamp_min(0.0) / (var_r + var_d + self.c2)
            lum = dissimilarity(mu_r, mu_d, self.c1)
            g = gradient_magnitude(o[:, :1])  # ref and dist in one batch: no concatenation
            grad = dissimilarity(g[:b], g[b:], self.c_grad)
            c = box_mean(o[:, 1:], 3)
            chroma = dissimilarity(c[:b], c[b:], self.t_chroma)
            maps.append(torch.cat([cs_loss, lum, grad, chroma], dim=1))
        return maps


HAARPSI_ALPHA = 4.2
"""HaarPSI's logistic slope (Reisenhofer et al. 2018)."""


def haarpsi_deficit(u: torch.Tensor) -> torch.Tensor:
    """HaarPSI's per-position transducer as a deficit: ``sigmoid(alpha) - sigmoid(alpha (1 - u))`` for a
    dissimilarity ``u = 1 - s``, written to be exactly 0 at ``u == 0``."""
    a = HAARPSI_ALPHA
    e = math.exp(-a)
    # with t = expm1(alpha u): exp(-alpha (1 - u)) = e (1 + t), so the difference of the two sigmoids is
    # e t / ((1 + e) (1 + e + e t)) = t / ((1 + e) ((1 + e) / e + t)); one transcendental call, not two
    t = torch.expm1(a * u)
    return t / ((1.0 + e) * ((1.0 + e) / e + t))


def haarpsi_loss(deficit: torch.Tensor) -> torch.Tensor:
    """``1 - HaarPSI`` from the total weighted deficit (``HaarPSI = (logit(sigmoid(alpha) - deficit) / alpha)^2``),
    exactly 0 at ``deficit == 0``.

    Written without cancellation: with ``top = sigmoid(alpha)`` and ``L(d) = logit(top - d)``, the drop
    ``L(0) - L(d) = log1p(d / ((1 - top) (top - d)))`` and ``1 - HaarPSI = HaarPSI(0) - HaarPSI(d)`` (HaarPSI(0) is 1
    up to rounding) ``= drop (2 L(0) - drop) / alpha^2``. The textbook form, a difference of two squared logits near
    1, loses about three digits in float32 (a last-bit change of ``deficit`` moved a score by ~1e-4)."""
    a = HAARPSI_ALPHA
    top = 1.0 / (1.0 + math.exp(-a))
    logit_top = math.log(top / (1.0 - top))
    d = deficit.clamp(0.0, top - 0.5 - 1e-6)
    drop = torch.log1p(d / ((1.0 - top) * (top - d)))
    return drop * (2.0 * logit_top - drop) / (a * a)


class HaarDegradation(nn.Module):
    """HaarPSI's perceptual similarity terms as degradation features (Reisenhofer et al. 2018).

    On YIQ, 2x2-averaged (stride 2): Haar wavelet magnitudes of luminance at scales 1-2 compared per orientation
    with ``s = (2ab + C) / (a^2 + b^2 + C)`` (C = 30 on the 0-255 scale) and weighted by the larger scale-3
    magnitude ``w``; I and Q compared after a 2x2 mean, weighted by the mean of the two luminance weights.
    One change from HaarPSI: I and Q are compared signed, not as magnitudes, so a hue inversion (e.g. a negative
    saturation multiplier) is a loss, not a smaller desaturation.

    :meth:`forward` returns stride-2 maps whose spatial means pool exactly (and tile by tile):
    ``w_k * (sigmoid(alpha) - sigmoid(alpha * s_k))`` and ``w_k`` for k in (horizontal, vertical, chroma).
    :meth:`features` turns those means into four degradation features, each exactly 0 for identical images: the
    three weighted deficits ``sum(w (sigmoid(alpha) - sigmoid(alpha s))) / sum(w)`` and ``1 - HaarPSI``.
    ``visibility`` multiplies C (as in :class:`PixelDegradation`).
    """

    FEATURES = 4
    C, SCALES = 30.0, 3

    def __init__(self, visibility: float = 1.0) -> None:
        super().__init__()
        self.c = self.C * visibility

    def forward(self, ref: torch.Tensor, dist: torch.Tensor, half: torch.Tensor | None = None) -> torch.Tensor:
        """ref, dist (B, 3, H, W) in [0, 1] -> (B, 6, ceil(H/2), ceil(W/2)): 3 weighted deficits, 3 weights.

        ``half`` = ``fixed_colour(ref, dist)``, if already made.
        """
        b = ref.shape[0]
        half = half if half is not None else fixed_colour(ref, dist)
        lum = 255.0 * half[:, :1]  # YIQ's Y, I, Q on the 0-255 scale are channels 0, 3, 4 of half
        mags = haar_magnitudes(lum, self.SCALES)
        w = torch.maximum(mags[2][:b], mags[2][b:])  # (B, 2, h, w): horizontal, vertical
        u_lum = (
            dissimilarity(mags[0][:b], mags[0][b:], self.c) + dissimilarity(mags[1][:b], mags[1][b:], self.c)
        ) / 2.0
        iq = mean_2x2(255.0 * half[:, 3:])  # signed (class doc)
        u_iq = dissimilarity(iq[:b], iq[b:], self.c).mean(dim=1, keepdim=True)
        weights = torch.cat([w, w.mean(dim=1, keepdim=True)], dim=1)
        return torch.cat([weights * haarpsi_deficit(torch.cat([u_lum, u_iq], dim=1)), weights], dim=1)

    @classmethod
    def features(cls, means: torch.Tensor) -> torch.Tensor:
        """(B, 6) spatial means of :meth:`forward`'s maps -> (B, 4) degradation features, exactly 0 for
        identical images: the three weighted deficits and ``1 - HaarPSI``."""
        num, den = means[:, :3], means[:, 3:]
        eps = 1e-6
        deficits = num / (den + eps)
        total = num.sum(dim=1) / (den.sum(dim=1) + eps)
        loss = haarpsi_loss(total)
        return torch.cat([deficits, loss.unsqueeze(1)], dim=1)

    @classmethod
    def deficit_map(cls, maps: torch.Tensor) -> torch.Tensor:
        """Per-position deficits (B, 3, h, w) whose spatial means are the first three :meth:`features`."""
        return maps[:, :3] / (maps[:, 3:].mean(dim=(2, 3), keepdim=True) + 1e-6)
