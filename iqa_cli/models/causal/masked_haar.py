"""The masked Haar block: learned content / degradation codes and masking on HaarPSI's perceptual front end.

Front end (fixed, HaarPSI's): YIQ at stride 2; |Haar| coefficients of luminance at sizes 2, 4, 8 in two
orientations (``a`` for the reference, ``b`` for the distorted image); I and Q after a 2x2 mean (signed, see
:class:`~iqa_cli.models.causal.fixed.HaarDegradation`); the larger size-8 magnitude as the attention weight ``w``
(or the reference's alone, see ``pool_weight`` below).

Codes, per position and band (sizes 2 and 4, both orientations):

- *degradation code*: the change of each band split by its direction. ``loss`` where the distorted image has less
  energy than the reference (structure removed: blur, compression, pixelation), ``gain`` where it has more (structure
  added: noise, blocking edges, ringing); chroma change on I and Q. Each is HaarPSI's ratio
  ``(a - b)^2 / (a^2 + b^2 + C)``, exactly 0 for identical images (the null intervention).
- *content code*: the band energy both images share, ``min(a, b)^2`` at size 2, averaged over a 5x5 neighbourhood.
  Degradation cannot create it (content invariance): it is the reference's where the distortion only adds, the
  distorted image's where it only removes.

Masking (a learned divisive normalisation): added energy hides in texture, so the gain change is divided by
``a^2 + b^2 + C + g * content`` (the neighbourhood's shared energy joins the pointwise energy, so where the
content is textured the same added noise counts less); removed structure is not masked. The visibility constant
``C`` follows the domain's contrast: ``C = 30 * content_energy / reference_energy``, the mean shared energy of
pristine images of the domain over that of the natural training images (both buffers; equal, so ``C = 30``, until
``iqa adapt`` re-estimates ``content_energy`` on a new domain). Degradation weights: ``loss_weight`` scales the loss
channel, ``chroma_visibility`` multiplies the chroma constant. The learned parameters are those three
(``g = masking_gain``); with ``g = 0`` and both others 1 the block is HaarPSI (signed chroma) exactly.

Soft-ranking gate (optional, off by default: ``rank_keep = 1``): at each position the five degradation channels
(gain and loss per orientation, chroma; the loss channel scaled by ``loss_weight`` for the calibrated feature) pass
through CPRL's soft-ranking channel gate (:mod:`~iqa_cli.models.causal.rank_gate`, parameters ``rank_keep`` and
``rank_tau``) before the deficit: the channels that dominate the position (the degradation that is there) are kept,
the rest are damped. Gated channels are never larger than the channels and are exactly 0 where these are, so
identical images still give 0.

Just-noticeable difference (optional, off by default: ``jnd = 0``): each band and chroma change is shrunk by a
soft threshold, ``d -> a + sign(d - a) max(|d - a| - jnd * reach, 0)``, where ``reach`` is the L1 norm on the 8-bit
pixels of the kernel behind that coefficient (:attr:`MaskedHaar.BAND_REACH`, :attr:`MaskedHaar.CHROMA_REACH`): the
most a change of ``jnd`` levels per pixel can move it. So a perturbation of at most ``jnd`` 8-bit levels cannot make
any change visible to the block where there was none (an identical pair stays at exactly 0), and it moves every
visible change by at most what it would move it without the threshold. ``visibility`` multiplies ``C``.

Pooling weight (``pool_weight``): ``"max"`` (default, HaarPSI's) is the larger size-8 magnitude of the two images;
``"ref"`` is the reference's alone, so no change of the distorted image can move the weights (only the deficits).

``causal-iqa-robust`` uses the gate (keep 0.6, tau 0.25), jnd 2, visibility 1 and reference pooling weights, chosen
on training images (bench/experiments/robust_rank.py, bench/RESULTS.md).

Two features, each ``1 - mHaarPSI``, exactly 0 for identical images: *label-free* (masking only: ``g`` and
``content_energy`` come from unlabelled images) and *calibrated* (masking plus the two degradation weights, fitted to
a few human-scored conditions). Their per-position sums pool exactly, tile by tile (:meth:`MaskedHaar.forward`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from iqa_cli.models.causal.fixed import YIQ_ROWS, fixed_colour, haarpsi_deficit, haarpsi_loss
from iqa_cli.models.causal.rank_gate import gated
from iqa_cli.models.functional import YIQ, box_mean, haar_magnitude_stack, mean_2x2

NEIGHBOURHOOD = 5
"""Side (stride-2 pixels) of the window the content code averages over."""


def _channel_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of the two channels of ``x`` (B, 2, h, w) -> (B, 1, h, w): ``mean(dim=1)``'s values, one add cheaper."""
    return (x[:, :1] + x[:, 1:]) / 2.0


def _weighted_deficit(w: torch.Tensor, w_iq: torch.Tensor, u_lum: torch.Tensor, u_iq: torch.Tensor) -> torch.Tensor:
    """``sum_k w_k D(u_k)`` (B, 1, h, w) over the two luminance orientations (weights ``w``, dissimilarities
    ``u_lum``, (B, 2, h, w)) and chroma (``w_iq``, ``u_iq``, (B, 1, h, w)); ``D``: :func:`haarpsi_deficit`, on the
    three channels at once."""
    deficit = haarpsi_deficit(torch.cat([u_lum, u_iq], dim=1))
    return w[:, :1] * deficit[:, :1] + w[:, 1:] * deficit[:, 1:2] + w_iq * deficit[:, 2:]


@dataclass
class Prepared:
    """:meth:`MaskedHaar.prepare`'s output for B pairs: (ref, dist) band magnitudes (B, 4, h, w) (sizes 2 then 4,
    vertical then horizontal at each), (ref, dist) I and Q (B, 2, h, w), the attention weight (B, 2, h, w) and the
    content energy before its normalisation (B, 1, h, w)."""

    bands: tuple[torch.Tensor, torch.Tensor]
    chroma: tuple[torch.Tensor, torch.Tensor]
    weight: torch.Tensor
    energy: torch.Tensor


class MaskedHaar(nn.Module):
    """See the module docstring. Shape: ref, dist (B, 3, H, W) in [0, 1] -> maps (B, 3, ceil(H/2), ceil(W/2))."""

    FEATURES = 2
    MAPS = 3
    content_energy: torch.Tensor  # buffers
    reference_energy: torch.Tensor
    C, SCALES = 30.0, 3
    # L1 norms, on 8-bit pixels, of the kernels behind the band magnitudes (sizes 2, 4: Haar on the 2x2-mean
    # luminance) and of I and Q (two 2x2 means of YIQ): a change of L levels per pixel moves them by <= L x these
    BAND_REACH = (2.0, 4.0)
    CHROMA_REACH = tuple(sum(abs(v) for v in row) for row in YIQ[1:])

    POOL_WEIGHTS = ("max", "ref")

    def __init__(
        self,
        visibility: float = 1.0,
        rank_keep: float = 1.0,
        rank_tau: float = 0.25,
        jnd: float = 0.0,
        pool_weight: str = "max",
    ) -> None:
        super().__init__()
        if not 0.0 < rank_keep <= 1.0 or rank_tau <= 0.0 or jnd < 0.0:
            raise ValueError(f"rank_keep must be in (0, 1], rank_tau > 0, jnd >= 0; got {rank_keep}, {rank_tau}, {jnd}")
        if pool_weight not in self.POOL_WEIGHTS:
            raise ValueError(f"pool_weight must be one of {self.POOL_WEIGHTS}, got {pool_weight!r}")
        self.c = self.C * visibility
        self.rank_keep, self.rank_tau, self.jnd, self.pool_weight = rank_keep, rank_tau, jnd, pool_weight
        self.loss_weight = nn.Parameter(torch.tensor(1.0))
        self.chroma_visibility = nn.Parameter(torch.tensor(1.0))
        self.masking_gain = nn.Parameter(torch.tensor(0.0))
        self.register_buffer("content_energy", torch.tensor(1.0))
        self.register_buffer("reference_energy", torch.tensor(1.0))

    def _visible(self, a: torch.Tensor, d: torch.Tensor, reach: float | tuple[float, ...]) -> torch.Tensor:
        """``d`` with its change from ``a`` shrunk (soft threshold) by ``jnd * reach``: the largest change of this
        coefficient that a change of ``jnd`` 8-bit levels per pixel can make (``reach``: its kernel's L1 norm on the
        8-bit pixels; a tuple gives one per channel). ``d`` itself when ``jnd == 0``."""
        if self.jnd == 0.0:
            return d
        limit = self.jnd * (d.new_tensor(reach).view(1, -1, 1, 1) if isinstance(reach, tuple) else reach)
        diff = d - a
        return a + torch.sign(diff) * torch.relu(diff.abs() - limit)

    def prepare(self, ref: torch.Tensor, dist: torch.Tensor, half: torch.Tensor | None = None) -> Prepared:
        """The parameter-free part: band magnitudes, chroma, attention weights and the unnormalised content
        energy. ``half`` = ``fixed_colour(ref, dist)`` (all five channels, or only YIQ's: ``rows=YIQ_ROWS``), if
        already made."""
        b = ref.shape[0]
        half = fixed_colour(ref, dist) if half is None else half
        iq_start = 1 if half.shape[1] == len(YIQ_ROWS) else YIQ_ROWS[1]  # YIQ's I and Q: channels 3, 4 of all five
        mags = haar_magnitude_stack(255.0 * half[:, :1], self.SCALES)  # (2B, 6, h, w): sizes 2, 4, 8
        iq = mean_2x2(255.0 * half[:, iq_start : iq_start + 2])
        m_ref, m_dist = mags[:b], mags[b:]
        shared = torch.minimum(m_ref[:, :2], m_dist[:, :2]).pow(2).mean(dim=1, keepdim=True)
        w_ref, w_dist = m_ref[:, 4:], m_dist[:, 4:]
        return Prepared(
            bands=(m_ref[:, :4], m_dist[:, :4]),
            chroma=(iq[:b], iq[b:]),
            weight=w_ref if self.pool_weight == "ref" else torch.maximum(w_ref, w_dist),
            energy=box_mean(shared, NEIGHBOURHOOD),
        )

    def forward(
        self, ref: torch.Tensor, dist: torch.Tensor, half: torch.Tensor | None = None, label_free: bool = True
    ) -> torch.Tensor:
        """Maps whose spatial means pool exactly: ``sum_k w_k D_k`` for the label-free and the calibrated
        deficits, and ``sum_k w_k`` (k: horizontal, vertical, chroma; ``D`` as in HaarPSI). ``half`` as in
        :meth:`prepare`; ``label_free=False`` skips the label-free map (zeros: its feature is exactly 0)."""
        return self.maps(
            self.prepare(ref, dist, half),
            self.loss_weight,
            self.chroma_visibility,
            self.masking_gain,
            self.content_energy,
            label_free,
        )

    def maps(
        self,
        p: Prepared,
        loss_weight: torch.Tensor | float,
        chroma_visibility: torch.Tensor | float,
        masking_gain: torch.Tensor | float,
        content_energy: torch.Tensor | float,
        label_free: bool = True,
    ) -> torch.Tensor:
        """:meth:`forward`'s maps from prepared inputs and given parameters (fitting tries many on one
        :meth:`prepare`); ``label_free=False``: the label-free map is left at 0, not computed."""
        g = torch.as_tensor(masking_gain).clamp_min(0.0)
        c = self.c * (content_energy / self.reference_energy)  # the domain's visibility floor
        masked_c = c + g * p.energy
        a, d = p.bands  # both band sizes at once (channels: size 2 vertical, horizontal; size 4 vertical, horizontal)
        d = self._visible(a, d, tuple(r for r in self.BAND_REACH for _ in range(2)))
        # the change split by its sign (no torch.where: on the CPU it costs ten times an arithmetic op): where
        # d < a the loss is change / (energy + c) and the gain 0, elsewhere the other way round (same values)
        diff = a - d
        energy = a * a + d * d
        loss = diff.clamp_min(0.0).pow(2) / (energy + c)
        gain = diff.clamp_max(0.0).pow(2) / (energy + masked_c)
        u_gain = (gain[:, :2] + gain[:, 2:]) / 2.0
        u_loss = (loss[:, :2] + loss[:, 2:]) / 2.0
        i_r, i_d = p.chroma
        i_d = self._visible(i_r, i_d, self.CHROMA_REACH)
        chroma_change = (i_r - i_d).pow(2)
        chroma_energy = i_r * i_r + i_d * i_d
        c_chroma = c * torch.as_tensor(chroma_visibility).clamp_min(1e-3)
        u_iq_cal = _channel_mean(chroma_change / (chroma_energy + c_chroma))
        u_loss_cal = torch.as_tensor(loss_weight).clamp_min(0.0) * u_loss
        u_iq_lf = _channel_mean(chroma_change / (chroma_energy + c)) if label_free else None
        if self.rank_keep < 1.0:  # the soft-ranking gate on the five channels (gain, loss per orientation; chroma)
            cal_ch = gated(torch.cat([u_gain, u_loss_cal, u_iq_cal], dim=1), self.rank_keep, self.rank_tau)
            u_lum_cal, u_iq_cal = cal_ch[:, :2] + cal_ch[:, 2:4], cal_ch[:, 4:]
            if u_iq_lf is not None:
                lf_ch = gated(torch.cat([u_gain, u_loss, u_iq_lf], dim=1), self.rank_keep, self.rank_tau)
                u_lum_lf, u_iq_lf = lf_ch[:, :2] + lf_ch[:, 2:4], lf_ch[:, 4:]
        else:
            u_lum_lf, u_lum_cal = u_gain + u_loss, u_gain + u_loss_cal
        w = p.weight
        w_sum = w[:, :1] + w[:, 1:]
        w_iq = w_sum / 2.0
        cal = _weighted_deficit(w, w_iq, u_lum_cal, u_iq_cal)
        lf = torch.zeros_like(cal) if u_iq_lf is None else _weighted_deficit(w, w_iq, u_lum_lf, u_iq_lf)
        return torch.cat([lf, cal, w_sum + w_iq], dim=1)

    @staticmethod
    def features(means: torch.Tensor) -> torch.Tensor:
        """(B, 3) spatial means of :meth:`forward`'s maps -> (B, 2): ``1 - mHaarPSI``, label-free and calibrated."""
        return haarpsi_loss(means[:, :2] / (means[:, 2:] + 1e-6))

    @staticmethod
    def deficit_map(maps: torch.Tensor) -> torch.Tensor:
        """Per-position deficits (B, 2, h, w) whose spatial means are the two features' total deficits."""
        return maps[:, :2] / (maps[:, 2:].mean(dim=(2, 3), keepdim=True) + 1e-6)
