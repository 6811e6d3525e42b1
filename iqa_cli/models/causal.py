"""Causal-disentanglement FR-IQA model: content / degradation split, visual masking, label-free and few-label heads.

One encoder is shared by the reference and the distorted image and gives features at three scales (1/2, 1/4, 1/8).
At each scale a *content* code is read from an image's own features and a *degradation* code from the change of
features between reference and distorted image (through bias-free layers, so the degradation code of a reference
against itself is exactly the null code). The *masking module* lets the reference content set a gain in (0, 1] on
each degradation channel at each position (noise hides in texture, contrast masking, luminance adaptation). The
masked degradation is pooled (mean and root-mean-square per channel) into a feature vector, from which a head gives
the score on the iqa scale: 0-100, higher is better, 100 = identical to the reference.

Two heads share the trained encoder:
- label-free: a projection on the principal direction of the pooled masked degradation of synthetic training
  distortions (no human score), ``100 * exp(-proj / tau)``;
- few-label: a non-negative (monotone) ridge regression from the same features fitted to human condition scores,
  mapped so that identical images score 100 (linear in the predicted MOS down to 5, then a smooth positive tail).

The :class:`InterventionDecoder` is used only in training: it decodes a (content, degradation) pair into the
residual ``dist - ref`` so degradation codes can be swapped between images and nulled.

References:
    Z. Zhang et al. Causal Disentanglement for Full-Reference Image Quality Assessment, 2026.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from iqa_cli.models.baselines import YIQ, haar_magnitudes
from iqa_cli.models.layers import make_activation, opponent_init, smooth_abs
from iqa_cli.models.registry import ModelSpec, register

HEADS = ("label_free", "few_label")
HEAD_BUFFERS = ("feature_scale", "lf_direction", "lf_tau", "fl_weights", "fl_bias", "fl_floor")


@dataclass(frozen=True)
class CausalConfig:
    """Architecture hyper-parameters (stored in the weights metadata)."""

    widths: tuple[int, int, int] = (16, 32, 48)
    content: tuple[int, int, int] = (8, 16, 24)
    degradation: tuple[int, int, int] = (8, 16, 24)
    activation: str = "relu"
    head: str = "few_label"
    pixel_branch: bool = True
    haar: bool = True
    visibility: float = 1.0  # multiplies the fixed branches' stabilising constants (see PixelDegradation)

    @classmethod
    def from_dict(cls, d: dict) -> CausalConfig:
        """From stored metadata; weights written before the Haar block existed have no ``haar`` key (False), and
        none before the visibility constant have ``visibility`` (1.0, the default)."""
        return cls(**({"haar": False} | {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}))

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def map_channels(self) -> tuple[int, ...]:
        """Channels of each masked degradation map (learned scales, then the pixel branch's scales)."""
        pixel = (PixelDegradation.CHANNELS,) * len(PixelDegradation.STRIDES)
        return tuple(self.degradation) + (pixel if self.pixel_branch else ())

    @property
    def map_strides(self) -> tuple[int, ...]:
        """Stride (in input pixels) of each masked degradation map."""
        return (2, 4, 8) + (PixelDegradation.STRIDES if self.pixel_branch else ())

    @property
    def n_learned_features(self) -> int:
        return 2 * sum(self.degradation)

    @property
    def n_haar_features(self) -> int:
        return HaarDegradation.FEATURES if self.haar else 0

    @property
    def n_features(self) -> int:
        """Pooled features: mean and deviation of every map channel, then the Haar block (if any)."""
        return 2 * sum(self.map_channels) + self.n_haar_features


def _conv(cin: int, cout: int, stride: int = 1, k: int = 3, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(
        cin,
        cout,
        k,
        stride=stride,
        padding=k // 2,
        bias=bias,
    )


class Encoder(nn.Module):
    """Shared multi-scale feature extractor.

    Shape: (B, 3, H, W) -> [(B, w0, H/2, W/2), (B, w1, H/4, W/4), (B, w2, H/8, W/8)].
    """

    def __init__(self, cfg: CausalConfig) -> None:
        super().__init__()
        w0, w1, w2 = cfg.widths
        act = cfg.activation
        self.colour = nn.Conv2d(3, 3, 1)
        opponent_init(self.colour)
        self.stage1 = nn.Sequential(_conv(3, w0, 2), make_activation(act, w0), _conv(w0, w0), make_activation(act, w0))
        self.stage2 = nn.Sequential(_conv(w0, w1, 2), make_activation(act, w1), _conv(w1, w1), make_activation(act, w1))
        self.stage3 = nn.Sequential(_conv(w1, w2, 2), make_activation(act, w2), _conv(w2, w2), make_activation(act, w2))

    def _colour(self, x: torch.Tensor) -> torch.Tensor:
        """``self.colour`` (a 1x1 convolution) as one batched matrix product: same values, but the 3-channel 1x1
        convolution takes about 5 ms per 512x384 image on 2 CPU threads here, the product 0.2 ms."""
        n, c, h, w = x.shape
        weight = self.colour.weight.view(1, 3, c).expand(n, 3, c)
        return torch.baddbmm(self.colour.bias.view(1, 3, 1), weight, x.reshape(n, c, h * w)).view(n, 3, h, w)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        # channels-last (NHWC) convolutions: on CPU oneDNN runs these narrow 3x3 convolutions 1.3-9x faster than
        # NCHW ones (same values to float rounding); every later layer keeps the layout
        f1 = self.stage1(self._colour(x).contiguous(memory_format=torch.channels_last))
        f2 = self.stage2(f1)
        f3 = self.stage3(f2)
        return [f1, f2, f3]


class DegradationHead(nn.Module):
    """Degradation code from the feature change, bias-free so ``d(ref, ref) == 0`` exactly."""

    def __init__(self, cin: int, cout: int, activation: str) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, cout, 1, bias=False),
            make_activation(activation, cout),
            nn.Conv2d(cout, cout, 1, bias=False),
        )

    def forward(self, f_ref: torch.Tensor, f_dist: torch.Tensor) -> torch.Tensor:
        return self.net(f_dist - f_ref)


class MaskingModule(nn.Module):
    """Content modulates degradation: ``masked = |d| * exp(-softplus(conv(content)))`` (= ``sigmoid(-conv)``).

    The gain depends on the reference content around each position (texture and contrast energy in the content
    code), as in human visual masking. Shape: content (B, Cc, h, w), degradation (B, Cd, h, w) -> (B, Cd, h, w).
    """

    def __init__(self, content_ch: int, degradation_ch: int) -> None:
        super().__init__()
        self.gain = nn.Conv2d(
            content_ch,
            degradation_ch,
            3,
            padding=1,
        )
        nn.init.zeros_(self.gain.weight)
        nn.init.constant_(self.gain.bias, -2.0)

    def forward(self, content: torch.Tensor, degradation: torch.Tensor) -> torch.Tensor:
        gain = torch.sigmoid(-self.gain(content))  # exp(-softplus(z)) in one op
        return smooth_abs(degradation) * gain


class PixelDegradation(nn.Module):
    """Fixed multi-scale degradation maps in opponent colour, each normalised by the reference content.

    At strides 2, 4, 8 and 16 (2x2 average pooling of the opponent channels), five channels, each 0 for identical
    images and bounded (contrast masking by construction: every change is divided by the local energy it competes
    with):

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

    @staticmethod
    def _mean(x: torch.Tensor, k: int) -> torch.Tensor:
        """k x k box mean of every channel with replicated borders (separable depthwise convolutions in channels-last
        layout: CPU ``avg_pool2d`` and NCHW depthwise convolutions are several times slower; same values)."""
        c = x.shape[1]
        row = x.new_full((c, 1, 1, k), 1.0 / k)
        x = F.pad(x, (k // 2,) * 4, mode="replicate").contiguous(memory_format=torch.channels_last)
        x = F.conv2d(x, row, groups=c)
        return F.conv2d(x, row.transpose(2, 3), groups=c)

    @staticmethod
    def _grad_mag(lum: torch.Tensor) -> torch.Tensor:
        """Gradient magnitude (B, C, H, W) -> (B, C, H, W): Prewitt filters ``[1, 0, -1] / 3`` across 3-pixel sums
        along the edge, replicated borders. Separable sums of shifted slices: to float rounding the 3x3
        convolutions' values, cheaper on CPU."""
        h, w = lum.shape[-2:]
        p = F.pad(lum, (1, 1, 1, 1), mode="replicate")
        tall = p[..., :-2, :] + p[..., 1:-1, :] + p[..., 2:, :]  # 3-pixel sums down each column
        wide = p[..., :, :-2] + p[..., :, 1:-1] + p[..., :, 2:]  # 3-pixel sums along each row
        gx = (tall[..., :, :w] - tall[..., :, 2:]) / 3.0
        gy = (wide[..., :h, :] - wide[..., 2:, :]) / 3.0
        return torch.sqrt(gx * gx + gy * gy + 1e-12)

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
            stats = self._mean(torch.cat([l_r, l_d, l_r * l_r, l_d * l_d, l_r * l_d], dim=1), 7)
            mu_r, mu_d, m_rr, m_dd, m_rd = stats.split(1, dim=1)
            var_r = (m_rr - mu_r * mu_r).clamp_min(0.0)
            var_d = (m_dd - mu_d * mu_d).clamp_min(0.0)
            cov = m_rd - mu_r * mu_d
            # 1 - cs written as a squared-difference ratio: exactly 0 when equal, in [0, 2]
            cs_loss = (var_r + var_d - 2.0 * cov).clamp_min(0.0) / (var_r + var_d + self.c2)
            lum = (mu_r - mu_d).pow(2) / (mu_r * mu_r + mu_d * mu_d + self.c1)
            g = self._grad_mag(o[:, :1])  # ref and dist in one batch: no concatenation
            g_r, g_d = g[:b], g[b:]
            grad = (g_r - g_d).pow(2) / (g_r * g_r + g_d * g_d + self.c_grad)
            c = self._mean(o[:, 1:], 3)
            c_r, c_d = c[:b], c[b:]
            chroma = (c_r - c_d).pow(2) / (c_r * c_r + c_d * c_d + self.t_chroma)
            maps.append(torch.cat([cs_loss, lum, grad, chroma], dim=1))
        return maps


# Luminance, the opponent red-green and yellow-blue channels (pixel branch), and YIQ's I and Q (Haar block); the
# first row is both branches' luminance.
_FIXED_COLOUR = (YIQ[0], (0.5, -0.5, 0.0), (0.25, 0.25, -0.5), YIQ[1], YIQ[2])


def _pad_even(x: torch.Tensor) -> torch.Tensor:
    """Replicate one row / column where the size is odd (a 2x2 mean then equals ``avg_pool2d(ceil_mode=True)``)."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, w % 2, 0, h % 2), mode="replicate") if h % 2 or w % 2 else x


def half_mean(x: torch.Tensor) -> torch.Tensor:
    """2x2 means at stride 2, as ``avg_pool2d(x, 2, ceil_mode=True)`` (which is far slower on CPU)."""
    x = _pad_even(x)
    return 0.25 * (x[..., ::2, ::2] + x[..., 1::2, ::2] + x[..., ::2, 1::2] + x[..., 1::2, 1::2])


def fixed_colour(*images: torch.Tensor) -> torch.Tensor:
    """RGB images (N_i, 3, H, W) in [0, 1] -> (sum N_i, 5, ceil(H/2), ceil(W/2)): the fixed branches' colour
    channels of ``cat(images)``, 2x2 means (a stride-2 convolution per image: concatenating the full-size images
    first costs more than the convolution; same values)."""
    weight = (images[0].new_tensor(_FIXED_COLOUR) / 4.0).view(5, 3, 1, 1).expand(5, 3, 2, 2).contiguous()
    out = [F.conv2d(_pad_even(x), weight, stride=2) for x in images]
    return torch.cat(out) if len(out) > 1 else out[0]


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
    C, ALPHA, SCALES = 30.0, 4.2, 3

    def __init__(self, visibility: float = 1.0) -> None:
        super().__init__()
        self.c = self.C * visibility

    def _dissim(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``1 - s`` written as ``(a - b)^2 / (a^2 + b^2 + C)``: exactly 0 where ``a == b``."""
        return (a - b).pow(2) / (a * a + b * b + self.c)

    def _deficit(self, u: torch.Tensor) -> torch.Tensor:
        """``sigmoid(alpha) - sigmoid(alpha (1 - u))``, written to be exactly 0 at ``u == 0``."""
        e = math.exp(-self.ALPHA)
        return e * torch.expm1(self.ALPHA * u) / ((1.0 + e) * (1.0 + torch.exp(-self.ALPHA * (1.0 - u))))

    def forward(self, ref: torch.Tensor, dist: torch.Tensor, half: torch.Tensor | None = None) -> torch.Tensor:
        """ref, dist (B, 3, H, W) in [0, 1] -> (B, 6, ceil(H/2), ceil(W/2)): 3 weighted deficits, 3 weights.

        ``half`` = ``fixed_colour(ref, dist)``, if already made.
        """
        b = ref.shape[0]
        half = half if half is not None else fixed_colour(ref, dist)
        lum = 255.0 * half[:, :1]  # YIQ's Y, I, Q on the 0-255 scale are channels 0, 3, 4 of half
        mags = haar_magnitudes(lum, self.SCALES)
        w = torch.maximum(mags[2][:b], mags[2][b:])  # (B, 2, h, w): horizontal, vertical
        u_lum = (self._dissim(mags[0][:b], mags[0][b:]) + self._dissim(mags[1][:b], mags[1][b:])) / 2.0
        p = F.pad(255.0 * half[:, 3:], (0, 1, 0, 1), mode="replicate")  # 2x2 means at stride 1, signed (class doc)
        iq = 0.25 * (p[..., :-1, :-1] + p[..., 1:, :-1] + p[..., :-1, 1:] + p[..., 1:, 1:])
        u_iq = self._dissim(iq[:b], iq[b:]).mean(dim=1, keepdim=True)
        weights = torch.cat([w, w.mean(dim=1, keepdim=True)], dim=1)
        return torch.cat([weights * self._deficit(torch.cat([u_lum, u_iq], dim=1)), weights], dim=1)

    @classmethod
    def _haarpsi(cls, deficit: torch.Tensor) -> torch.Tensor:
        """HaarPSI from the total weighted deficit: ``(logit(sigmoid(alpha) - deficit) / alpha)^2``."""
        top = 1.0 / (1.0 + math.exp(-cls.ALPHA))
        ratio = top - deficit.clamp(0.0, top - 0.5 - 1e-6)
        return (torch.log(ratio / (1.0 - ratio)) / cls.ALPHA) ** 2

    @classmethod
    def features(cls, means: torch.Tensor) -> torch.Tensor:
        """(B, 6) spatial means of :meth:`forward`'s maps -> (B, 4) degradation features, exactly 0 for
        identical images: the three weighted deficits and ``1 - HaarPSI``."""
        num, den = means[:, :3], means[:, 3:]
        eps = 1e-6
        deficits = num / (den + eps)
        total = num.sum(dim=1) / (den.sum(dim=1) + eps)
        loss = cls._haarpsi(torch.zeros_like(total)) - cls._haarpsi(total)
        return torch.cat([deficits, loss.unsqueeze(1)], dim=1)

    @classmethod
    def deficit_map(cls, maps: torch.Tensor) -> torch.Tensor:
        """Per-position deficits (B, 3, h, w) whose spatial means are the first three :meth:`features`."""
        return maps[:, :3] / (maps[:, 3:].mean(dim=(2, 3), keepdim=True) + 1e-6)


def _own_positions(m: torch.Tensor, s: int, box: tuple[int, ...], size: tuple[int, int]) -> torch.Tensor:
    """A tile's own positions of its stride-``s`` map (the halo cut off); ``box`` = (y0, y1, ya, x0, x1, xa): the
    tile's rows y0:y1 and columns x0:x1, computed from ya, xa on; ``size`` = the whole image's (h, w)."""
    y0, y1, ya, x0, x1, xa = box
    top, left = (y0 - ya) // s, (x0 - xa) // s
    bottom = top + math.ceil((y1 - y0) / s) if y1 < size[0] else m.shape[-2]
    right = left + math.ceil((x1 - x0) / s) if x1 < size[1] else m.shape[-1]
    return m[..., top:bottom, left:right]


def _smooth_sqrt(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``sqrt(x + eps^2) - eps`` written as ``x / (sqrt(x + eps^2) + eps)``: exactly 0 at 0, finite gradient."""
    return x / (torch.sqrt(x + eps * eps) + eps)


def _soft_floor(rel: torch.Tensor, eps: float = 0.05) -> torch.Tensor:
    """Identity above ``eps``, an exponential tail below: positive, monotone, never a zero gradient."""
    tail = eps * torch.exp((rel.clamp(max=eps) - eps) / eps)
    return torch.where(rel >= eps, rel, tail)


@dataclass(frozen=True)
class Branches:
    """Which feature groups :meth:`CausalIQA.masked_degradation` computes; the others' pooled features are 0.

    The default is everything (what fitting a head needs); :meth:`CausalIQA.needed_branches` gives the groups a
    head uses.

    Attributes:
        learned: the learned path (encoder, content and degradation heads, masking): all three scales or none.
        pixel_strides: how many of the pixel branch's strides (2, 4, 8, 16) are computed, from the finest (each is
            made from the one before by 2x2 means); 0 = none.
        haar: the Haar block.
    """

    learned: bool = True
    pixel_strides: int = len(PixelDegradation.STRIDES)
    haar: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.pixel_strides <= len(PixelDegradation.STRIDES):
            raise ValueError(f"pixel_strides must be in 0..{len(PixelDegradation.STRIDES)}, got {self.pixel_strides}")

    def computed_maps(self, cfg: CausalConfig) -> list[bool]:
        """Per masked degradation map of ``cfg`` (learned scales, then pixel strides): whether it is computed."""
        pixel = [i < self.pixel_strides for i in range(len(PixelDegradation.STRIDES))] if cfg.pixel_branch else []
        return [self.learned] * len(cfg.degradation) + pixel


class CausalIQA(nn.Module):
    """The causal-disentanglement quality model (inference path). See the module docstring.

    Inference computes only the feature groups the active head has a non-zero weight on (see :meth:`forward`);
    :meth:`pooled_features` computes them all unless told otherwise.

    Shape: ref, dist (B, 3, H, W) in [0, 1] (grey: 1 channel, replicated) -> scores (B,).
    """

    def __init__(self, config: CausalConfig | dict | None = None) -> None:
        super().__init__()
        if isinstance(config, dict):
            config = CausalConfig.from_dict(config)
        self.config = config or CausalConfig()
        cfg = self.config
        if cfg.head not in HEADS:
            raise ValueError(f"unknown head {cfg.head!r}: expected one of {HEADS}")
        self.encoder = Encoder(cfg)
        self.content_heads = nn.ModuleList(nn.Conv2d(w, c, 1) for w, c in zip(cfg.widths, cfg.content))
        self.degradation_heads = nn.ModuleList(
            DegradationHead(w, d, cfg.activation) for w, d in zip(cfg.widths, cfg.degradation)
        )
        self.masking = nn.ModuleList(MaskingModule(c, d) for c, d in zip(cfg.content, cfg.degradation))
        self.pixel = PixelDegradation(cfg.visibility) if cfg.pixel_branch else None
        self.haar = HaarDegradation(cfg.visibility) if cfg.haar else None
        n = cfg.n_features
        # Heads: fitted after training (buffers, saved with the weights).
        self.register_buffer("feature_scale", torch.ones(n))
        self.register_buffer("lf_direction", torch.full((n,), 1.0 / math.sqrt(n)))
        self.register_buffer("lf_tau", torch.tensor(1.0))
        self.register_buffer("fl_weights", torch.zeros(n))
        self.register_buffer("fl_bias", torch.tensor(5.0))
        self.register_buffer("fl_floor", torch.tensor(1.0))

    # -- representation -------------------------------------------------------------------------------------------
    @staticmethod
    def _rgb(x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            return x.expand(-1, 3, -1, -1)
        if x.shape[1] != 3:
            raise ValueError(f"expected 1 or 3 channels, got {x.shape[1]}")
        return x

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features of one image at three scales."""
        return self.encoder(self._rgb(x))

    def content(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        """Content codes from an image's features."""
        return [h(f) for h, f in zip(self.content_heads, feats)]

    def degradation(self, f_ref: list[torch.Tensor], f_dist: list[torch.Tensor]) -> list[torch.Tensor]:
        """Degradation codes of the distorted image relative to the reference (null for dist == ref)."""
        return [h(a, b) for h, a, b in zip(self.degradation_heads, f_ref, f_dist)]

    def masked_degradation(
        self, ref: torch.Tensor, dist: torch.Tensor, branches: Branches | None = None
    ) -> tuple[list[torch.Tensor], dict]:
        """Masked degradation maps per scale, plus the intermediate codes (for training and inspection).

        Args:
            ref, dist: the pair.
            branches: the feature groups to compute (default: all); the maps are then those of the computed groups
                only, in the usual order, and ``codes`` holds only the computed codes.
        """
        want = branches or Branches()
        masked: list[torch.Tensor] = []
        codes: dict = {}
        if want.learned:
            # two encoder passes: on 2 CPU threads one pass over cat([ref, dist]) is slower (larger working set)
            f_ref, f_dist = self.features(ref), self.features(dist)
            c_ref = self.content(f_ref)
            d = self.degradation(f_ref, f_dist)
            masked += [m(c, dd) for m, c, dd in zip(self.masking, c_ref, d)]
            codes |= {"f_ref": f_ref, "f_dist": f_dist, "c_ref": c_ref, "d": d}
        pixel = self.pixel is not None and want.pixel_strides > 0
        haar = self.haar is not None and want.haar
        if pixel or haar:
            r, t = self._rgb(ref), self._rgb(dist)
            half = fixed_colour(r, t)
            if pixel:
                masked += self.pixel(r, t, half, strides=want.pixel_strides)
            if haar:
                codes["haar"] = self.haar(r, t, half)
        return masked, codes

    def _by_map(self, masked: list[torch.Tensor], branches: Branches | None) -> list[torch.Tensor | None]:
        """``masked`` aligned with the config's maps (:attr:`CausalConfig.map_channels`): None where skipped."""
        maps = iter(masked)
        return [next(maps) if on else None for on in (branches or Branches()).computed_maps(self.config)]

    @staticmethod
    def pool(masked: list[torch.Tensor]) -> torch.Tensor:
        """Pooled features (B, F): per channel the spatial mean and standard deviation of masked degradation
        (the deviation catches localised loss, as GMSD's pooling does)."""
        means = [m.mean(dim=(2, 3)) for m in masked]
        stds = [_smooth_sqrt((m.pow(2).mean(dim=(2, 3)) - mu.pow(2)).clamp_min(0.0)) for m, mu in zip(masked, means)]
        return torch.cat(means + stds, dim=1)

    def pooled_features(self, ref: torch.Tensor, dist: torch.Tensor, branches: Branches | None = None) -> torch.Tensor:
        """(B, F) pooled masked degradation features, the input of both quality heads.

        Args:
            ref, dist: the pair.
            branches: the feature groups to compute (default: all, as fitting a head needs); the features of the
                skipped ones are exactly 0.
        """
        masked, codes = self.masked_degradation(ref, dist, branches)
        b = ref.shape[0]
        # a skipped map stands in as a 1x1 map of zeros: its mean and deviation pool to exactly 0
        maps = [
            m if m is not None else ref.new_zeros((b, c, 1, 1))
            for m, c in zip(self._by_map(masked, branches), self.config.map_channels)
        ]
        pooled = self.pool(maps)
        if self.haar is None:
            return pooled
        if "haar" not in codes:
            return torch.cat([pooled, ref.new_zeros((b, HaarDegradation.FEATURES))], dim=1)
        return torch.cat([pooled, self.haar.features(codes["haar"].mean(dim=(2, 3)))], dim=1)

    def tiled_pooled_features(
        self,
        ref: torch.Tensor,
        dist: torch.Tensor,
        tile: int = 1024,
        halo: int = 128,
        branches: Branches | None = None,
    ) -> torch.Tensor:
        """Same as :meth:`pooled_features` but computed tile by tile, so memory stays bounded on huge images.

        Each tile is extended by ``halo`` pixels (beyond the receptive field) on every side that has neighbours;
        only the tile's own positions are accumulated, so the result matches the untiled one to float rounding.
        ``branches`` as in :meth:`pooled_features` (skipped features are exactly 0).
        """
        h, w = ref.shape[-2:]
        if tile % 16 or halo % 16:
            raise ValueError("tile and halo must be multiples of 16 (the coarsest stride)")
        channels, strides = self.config.map_channels, self.config.map_strides
        n_mean = sum(channels)
        sums = ref.new_zeros((ref.shape[0], n_mean))
        sq = ref.new_zeros((ref.shape[0], n_mean))
        haar_sums = ref.new_zeros((ref.shape[0], 6))
        for y0 in range(0, h, tile):
            for x0 in range(0, w, tile):
                y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
                ya, xa = max(0, y0 - halo), max(0, x0 - halo)
                yb, xb = min(h, y1 + halo), min(w, x1 + halo)
                r_tile, d_tile = ref[..., ya:yb, xa:xb], dist[..., ya:yb, xa:xb]
                masked, codes = self.masked_degradation(r_tile, d_tile, branches)
                box = (y0, y1, ya, x0, x1, xa)
                start = 0
                for s, c, m in zip(strides, channels, self._by_map(masked, branches)):
                    if m is not None:  # a skipped map keeps its sums at 0: mean and deviation exactly 0
                        part = _own_positions(m, s, box, (h, w))
                        sums[:, start : start + c] += part.sum(dim=(2, 3))
                        sq[:, start : start + c] += part.pow(2).sum(dim=(2, 3))
                    start += c
                if "haar" in codes:
                    haar_sums += _own_positions(codes["haar"], 2, box, (h, w)).sum(dim=(2, 3))
        counts = torch.cat(
            [ref.new_full((c,), float(math.ceil(h / s) * math.ceil(w / s))) for c, s in zip(channels, strides)]
        )
        means = sums / counts
        stds = _smooth_sqrt((sq / counts - means.pow(2)).clamp_min(0.0))
        if self.haar is None:
            return torch.cat([means, stds], dim=1)
        if not (branches or Branches()).haar:
            return torch.cat([means, stds, ref.new_zeros((ref.shape[0], HaarDegradation.FEATURES))], dim=1)
        haar = self.haar.features(haar_sums / float(math.ceil(h / 2) * math.ceil(w / 2)))
        return torch.cat([means, stds, haar], dim=1)

    # -- heads ----------------------------------------------------------------------------------------------------
    def head_label_free(self, feats: torch.Tensor) -> torch.Tensor:
        proj = (feats / self.feature_scale) @ self.lf_direction
        return 100.0 * torch.exp(-proj / self.lf_tau)

    def fl_transform(self, feats: torch.Tensor) -> torch.Tensor:
        """Feature transform of the few-label head: ``log1p(feats / scale)`` (monotone, 0 at 0)."""
        return torch.log1p(feats / self.feature_scale)

    def head_few_label(self, feats: torch.Tensor) -> torch.Tensor:
        mos = self.fl_bias - self.fl_transform(feats) @ self.fl_weights
        rel = (mos - self.fl_floor) / (self.fl_bias - self.fl_floor)
        return 100.0 * _soft_floor(rel)

    def score_features(self, feats: torch.Tensor, head: str | None = None) -> torch.Tensor:
        head = head or self.config.head
        if head == "label_free":
            return self.head_label_free(feats)
        if head == "few_label":
            return self.head_few_label(feats)
        raise ValueError(f"unknown head {head!r}: expected one of {HEADS}")

    def head_weights(self, head: str | None = None) -> torch.Tensor:
        """(F,) weights of a head on the pooled features (default: the configured head): the few-label head's
        ``fl_weights``, the label-free head's ``lf_direction``."""
        head = head or self.config.head
        if head == "label_free":
            return self.lf_direction
        if head == "few_label":
            return self.fl_weights
        raise ValueError(f"unknown head {head!r}: expected one of {HEADS}")

    def needed_branches(self, head: str | None = None) -> Branches:
        """The feature groups ``head`` (default: the configured one) has a non-zero weight on, read from the
        current weights (a check of F numbers).

        A group is needed when any of its features' means or deviations has a weight; the pixel branch up to its
        last stride that has one. A head with no non-zero weight at all (unfitted: a constant score) gets every
        group, so its score stays connected to the inputs as before.
        """
        cfg = self.config
        nz = (self.head_weights(head) != 0).tolist()  # NaN counts as non-zero
        if not any(nz):
            return Branches()
        n_mean, n_learned, c = sum(cfg.map_channels), sum(cfg.degradation), PixelDegradation.CHANNELS
        used = [a or b for a, b in zip(nz[:n_mean], nz[n_mean : 2 * n_mean])]  # per map channel
        pixel = [any(used[i : i + c]) for i in range(n_learned, n_mean, c)]  # per pixel stride
        return Branches(
            learned=any(used[:n_learned]),
            pixel_strides=max((i + 1 for i, on in enumerate(pixel) if on), default=0),
            haar=any(nz[2 * n_mean :]),
        )

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        """Scores (B,) from the configured head.

        In eval mode only the feature groups the head has a non-zero weight on are computed
        (:meth:`needed_branches`: the learned path, the pixel branch up to a stride, the Haar block) and the skipped
        features are set to 0. The pruning is exact: a skipped feature has weight 0, and ``0 * log1p(0 / scale)``
        (few-label head) or ``0 / scale * 0`` (label-free head) is the same 0 as the unpruned ``0 * log1p(f / scale)``
        for any finite ``f``, so the scores equal ``score_features(pooled_features(ref, dist))`` bitwise, and so
        do their gradients with respect to the inputs. It exists because the fitted few-label heads are sparse
        (the shipped causal-iqa head uses 3 of 140 features: one pixel channel at stride 2 and the Haar block), so
        the learned encoder and most of the pixel branch would otherwise be computed only to be multiplied by 0.
        In train mode everything is computed, so every parameter gets its gradient (zero where unused), as
        training's optimiser step (weight decay) expects.
        """
        branches = None if self.training else self.needed_branches()
        return self.score_features(self.pooled_features(ref, dist, branches))

    def quality_map(self, ref: torch.Tensor, dist: torch.Tensor, prune: bool = True) -> torch.Tensor:
        """Where quality was lost: (B, 1, H, W), >= 0, larger = more visible degradation (head-weighted).

        ``prune``: compute only the feature groups the head has a non-zero weight on (exact, as in
        :meth:`forward`: a skipped map would add 0 everywhere); False computes them all.
        """
        branches = self.needed_branches() if prune else None
        masked, codes = self.masked_degradation(ref, dist, branches)
        h, w = ref.shape[-2:]
        n_mean = sum(self.config.map_channels)
        weights = self.head_weights() / self.feature_scale
        out = ref.new_zeros((ref.shape[0], 1, h, w))
        start = 0
        for m, c in zip(self._by_map(masked, branches), self.config.map_channels):
            wm = weights[start : start + c] + weights[n_mean + start : n_mean + start + c]
            start += c
            if m is None:  # skipped: its weights are 0
                continue
            contrib = (m * wm.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
            out = out + F.interpolate(contrib, size=(h, w), mode="bilinear", align_corners=False)
        if "haar" in codes:
            # the three deficits with their own weights; 1 - HaarPSI (a function of all three) shares out equally
            deficits = HaarDegradation.deficit_map(codes["haar"])
            wh = weights[2 * n_mean : 2 * n_mean + 3] + weights[2 * n_mean + 3] / 3.0
            contrib = (deficits * wh.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
            out = out + F.interpolate(contrib, size=(h, w), mode="bilinear", align_corners=False)
        return out


class InterventionDecoder(nn.Module):
    """Training-only decoder: (content codes, degradation codes) -> residual image ``dist - ref``.

    Used for the interventions: decode one image's content with another's degradation (swap), or with the null
    degradation (all zeros), which must decode to no change.
    """

    def __init__(self, cfg: CausalConfig) -> None:
        super().__init__()
        c1, c2, c3 = cfg.content
        d1, d2, d3 = cfg.degradation
        self.up3 = nn.Sequential(_conv(c3 + d3, 32), nn.ReLU())
        self.up2 = nn.Sequential(_conv(32 + c2 + d2, 24), nn.ReLU())
        self.up1 = nn.Sequential(_conv(24 + c1 + d1, 16), nn.ReLU())
        self.out = _conv(16, 3)

    def forward(
        self, content: list[torch.Tensor], degradation: list[torch.Tensor], size: tuple[int, int]
    ) -> torch.Tensor:
        x = self.up3(torch.cat([content[2], degradation[2]], dim=1))
        x = F.interpolate(x, size=content[1].shape[-2:], mode="bilinear", align_corners=False)
        x = self.up2(torch.cat([x, content[1], degradation[1]], dim=1))
        x = F.interpolate(x, size=content[0].shape[-2:], mode="bilinear", align_corners=False)
        x = self.up1(torch.cat([x, content[0], degradation[0]], dim=1))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.out(x)


def build(config: CausalConfig | dict | None = None) -> CausalIQA:
    """Factory used by the registry (the config comes from the weights metadata)."""
    return CausalIQA(config)


def build_robust(config: CausalConfig | dict | None = None) -> CausalIQA:
    """Factory of the CPRL variant (soft-ranking activations) used by the registry."""
    return CausalIQA(config or CausalConfig(activation="softrank"))


register(
    ModelSpec(
        name="causal-iqa-robust",
        description="Robust variant of causal-iqa: visibility floor on the fixed branches, head refitted on clean "
        "and worst-case perturbed features (CPRL minimax; soft-ranking activations in its learned network)",
        higher_is_better=True,
        scale=(0.0, 100.0),
        unit="quality 0-100 (100 = identical)",
        factory=build_robust,
        weights="causal-iqa-robust.safetensors",
        min_size=16,
        tags=("learned", "robust"),
    )
)

register(
    ModelSpec(
        name="causal-iqa",
        description="Causal-disentanglement model with visual masking, trained here without human scores "
        "(few-label head fitted to 65 condition means)",
        higher_is_better=True,
        scale=(0.0, 100.0),
        unit="quality 0-100 (100 = identical)",
        factory=build,
        weights="causal-iqa.safetensors",
        min_size=16,
        default=True,
        tags=("learned",),
    )
)
