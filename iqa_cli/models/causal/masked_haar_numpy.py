"""The masked Haar block's maps for inference on the CPU, in NumPy: the values of :meth:`MaskedHaar.forward
<iqa_cli.models.causal.masked_haar.MaskedHaar.forward>`'s differentiable path to float rounding, several times faster.

Why: the block is ~100 elementwise operations on stride-2 maps (about 50k values per channel for a 512x384 pair). On
such small tensors an eager PyTorch call costs more in dispatch (~10 us each on the benchmark machine) than in
arithmetic, and its ``exp`` / ``expm1`` are slow; a NumPy ufunc call costs ~1 us and writes into buffers it is given.
The operations below are the differentiable path's, in the same order (``+ - * /`` round exactly as torch's, so most
intermediate values are bitwise the same; ``expm1`` and the reductions may differ in the last bits), so identical
images still give exact zeros. Used only where no gradient is recorded, for float32 CPU tensors and without the
soft-ranking gate (:func:`applies`); tests compare it with the differentiable path.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from iqa_cli.models.causal.fixed import HAARPSI_ALPHA, YIQ_ROWS

F32 = np.float32


class MaskedHaar(Protocol):
    """What this module reads of :class:`iqa_cli.models.causal.masked_haar.MaskedHaar` (which imports this
    module)."""

    @property
    def SCALES(self) -> int: ...
    @property
    def NEIGHBOURHOOD(self) -> int: ...
    @property
    def BAND_REACH(self) -> tuple[float, ...]: ...
    @property
    def CHROMA_REACH(self) -> tuple[float, ...]: ...
    @property
    def c(self) -> float: ...
    @property
    def jnd(self) -> float: ...
    @property
    def rank_keep(self) -> float: ...
    @property
    def pool_weight(self) -> str: ...
    @property
    def content_energy(self) -> torch.Tensor: ...
    @property
    def reference_energy(self) -> torch.Tensor: ...
    @property
    def loss_weight(self) -> torch.Tensor: ...
    @property
    def chroma_visibility(self) -> torch.Tensor: ...
    @property
    def masking_gain(self) -> torch.Tensor: ...


def applies(block: MaskedHaar, half: torch.Tensor) -> bool:
    """Whether :func:`maps` may stand in for the differentiable path: no gradient recorded, float32 on the CPU, no
    soft-ranking gate."""
    return (
        not torch.is_grad_enabled()
        and half.device.type == "cpu"
        and half.dtype == torch.float32
        and block.rank_keep >= 1.0
    )


def _window_sums(x: np.ndarray, k: int, axis: int) -> np.ndarray:
    """:func:`iqa_cli.models.functional.window_sums` (the same additions in the same order)."""
    n = x.shape[axis]
    length = n - k + 1

    def take(a: np.ndarray, start: int, size: int) -> np.ndarray:
        index = [slice(None)] * a.ndim
        index[axis] = slice(start, start + size)
        return a[tuple(index)]

    total: np.ndarray | None = None
    span, m, offset = x, 1, 0
    while m <= k:
        if k & m:
            part = take(span, offset, length)
            total = part if total is None else total + part
            offset += m
        if 2 * m <= k:
            size = span.shape[axis] - m
            span = take(span, 0, size) + take(span, m, size)
        m *= 2
    assert total is not None
    return total


def _pad_edge(x: np.ndarray, top: int, bottom: int, out: np.ndarray | None = None) -> np.ndarray:
    """``x`` with its last two axes padded by replicating the edge, ``top`` before and ``bottom`` after (both axes);
    cheaper than ``np.pad(mode="edge")`` on these small arrays. ``out``: the padded buffer, if made already (its
    interior is then assumed written)."""
    h, w = x.shape[-2:]
    if out is None:
        out = np.empty((*x.shape[:-2], h + top + bottom, w + top + bottom), F32)
        out[..., top : top + h, top : top + w] = x
    out[..., :top, top : top + w] = out[..., top : top + 1, top : top + w]
    out[..., top + h :, top : top + w] = out[..., top + h - 1 : top + h, top : top + w]
    out[..., :, :top] = out[..., :, top : top + 1]
    out[..., :, top + w :] = out[..., :, top + w - 1 : top + w]
    return out


def box_mean(x: np.ndarray, k: int) -> np.ndarray:
    """:func:`iqa_cli.models.functional.box_mean` over the last two axes."""
    r = k // 2
    out = _window_sums(_window_sums(_pad_edge(x, r, r), k, -1), k, -2)
    out /= F32(k * k)
    return out


def mean_2x2(x: np.ndarray, scale: float) -> np.ndarray:
    """:func:`iqa_cli.models.functional.mean_2x2` of ``scale * x`` over the last two axes."""
    h, w = x.shape[-2:]
    p = np.empty((*x.shape[:-2], h + 1, w + 1), F32)
    np.multiply(x, F32(scale), out=p[..., :h, :w])
    _pad_edge(x, 0, 1, out=p)
    out = p[..., :-1, :-1] + p[..., 1:, :-1]
    out += p[..., :-1, 1:]
    out += p[..., 1:, 1:]
    out *= F32(0.25)
    return out


def _clamp(x: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """``x`` clamped (a new array; torch's clamp: NumPy's maximum with a scalar is several times slower)."""
    return torch.from_numpy(x).clamp(low, high).numpy()


def haar_magnitude_stack(lum: np.ndarray, scales: int, scale: float = 1.0) -> np.ndarray:
    """:func:`iqa_cli.models.functional.haar_magnitude_stack` of ``scale * lum`` (N, H, W) -> (N, 2 * scales, H, W)."""
    big = 2**scales
    n_img, h, w = lum.shape
    lo = big // 2 - 1
    p = np.zeros((n_img, h + big - 1, w + big - 1), F32)
    np.multiply(lum, F32(scale), out=p[:, lo : lo + h, lo : lo + w])
    wide, tall = [p], [p]
    for k in range(scales):
        m = 2**k
        wide.append(wide[-1][..., :, :-m] + wide[-1][..., :, m:])
        tall.append(tall[-1][..., :-m, :] + tall[-1][..., m:, :])
    out = np.empty((n_img, 2 * scales, h, w), F32)
    for k in range(1, scales + 1):
        n, top = 2**k, big // 2 - 2 ** (k - 1)
        rows = wide[k][..., top : top + h + n - 1, top : top + w]
        cols = tall[k][..., top : top + h, top : top + w + n - 1]
        for j in range(k - 1):
            m = 2**j
            rows = rows[..., :-m, :] + rows[..., m:, :]
            cols = cols[..., :, :-m] + cols[..., :, m:]
        half = n // 2
        np.subtract(rows[..., half : half + h, :], rows[..., :h, :], out=out[:, 2 * k - 2])
        np.subtract(cols[..., :, half : half + w], cols[..., :, :w], out=out[:, 2 * k - 1])
    np.abs(out, out=out)
    for k in range(1, scales + 1):
        out[:, 2 * k - 2 : 2 * k] *= F32(2.0**-k)  # a power of two: the same rounding as dividing by 2**k
    return out


def haarpsi_deficit(u: np.ndarray) -> np.ndarray:
    """:func:`iqa_cli.models.causal.fixed.haarpsi_deficit`, in place on ``u``."""
    a = HAARPSI_ALPHA
    e = np.exp(-a)
    u *= F32(a)
    np.expm1(u, out=u)  # t
    den = u + F32((1.0 + e) / e)
    den *= F32(1.0 + e)
    u /= den
    return u


def _visible(a: np.ndarray, d: np.ndarray, limit: np.ndarray | float) -> np.ndarray:
    """:meth:`MaskedHaar._visible` with ``limit = jnd * reach`` (broadcast over channels)."""
    diff = d - a
    shrunk = np.abs(diff)
    shrunk -= limit
    return a + np.sign(diff) * _clamp(shrunk, low=0.0)


def maps(block: MaskedHaar, half: torch.Tensor, b: int, label_free: bool) -> torch.Tensor:
    """:meth:`MaskedHaar.forward`'s maps (B, 3, h, w) from ``half`` = ``fixed_colour(ref, dist)`` (2B, 5 or 3, h, w)
    for B pairs, where :func:`applies`."""
    hf = half.detach().numpy()
    iq_start = 1 if hf.shape[1] == len(YIQ_ROWS) else YIQ_ROWS[1]
    mags = haar_magnitude_stack(hf[:, 0], block.SCALES, 255.0)  # (2B, 6, h, w)
    iq = mean_2x2(hf[:, iq_start : iq_start + 2], 255.0)
    m_ref, m_dist = mags[:b], mags[b:]
    shared = np.minimum(m_ref[:, :2], m_dist[:, :2])
    shared *= shared
    energy = box_mean((shared[:, :1] + shared[:, 1:]) / F32(2.0), block.NEIGHBOURHOOD)  # (B, 1, h, w)

    with torch.no_grad():
        c_t = block.c * (block.content_energy / block.reference_energy)
        c = float(c_t)
        g = float(torch.as_tensor(block.masking_gain).clamp_min(0.0))
        c_chroma = float(c_t * torch.as_tensor(block.chroma_visibility).clamp_min(1e-3))
        loss_weight = float(torch.as_tensor(block.loss_weight).clamp_min(0.0))
    masked_c = energy * F32(g)
    masked_c += F32(c)

    a, d = m_ref[:, :4], m_dist[:, :4]
    if block.jnd != 0.0:
        reach = np.array([r for r in block.BAND_REACH for _ in range(2)], F32).reshape(1, -1, 1, 1)
        d = _visible(a, d, F32(block.jnd) * reach)
    diff = a - d
    en = a * a
    en += d * d
    loss = _clamp(diff, low=0.0)
    loss *= loss
    loss /= en + F32(c)
    gain = _clamp(diff, high=0.0)
    gain *= gain
    en += masked_c
    gain /= en
    u = np.empty((b, 3, *energy.shape[-2:]), F32)
    u_gain = gain[:, :2] + gain[:, 2:]
    u_gain /= F32(2.0)
    u_loss = loss[:, :2] + loss[:, 2:]
    u_loss /= F32(2.0)

    i_r, i_d = iq[:b], iq[b:]
    if block.jnd != 0.0:
        i_d = _visible(i_r, i_d, F32(block.jnd) * np.array(block.CHROMA_REACH, F32).reshape(1, -1, 1, 1))
    change = i_r - i_d
    change *= change
    ch_en = i_r * i_r
    ch_en += i_d * i_d

    def chroma_u(constant: float, out: np.ndarray) -> None:
        x = change / (ch_en + F32(constant))
        np.add(x[:, :1], x[:, 1:], out=out)
        out /= F32(2.0)

    w_ref, w_dist = m_ref[:, 4:], m_dist[:, 4:]
    w = w_ref if block.pool_weight == "ref" else np.maximum(w_ref, w_dist)
    w_sum = w[:, :1] + w[:, 1:]
    w_iq = w_sum / F32(2.0)
    out = np.empty((b, 3, *energy.shape[-2:]), F32)

    def weighted(target: np.ndarray) -> None:  # _weighted_deficit of u (consumed)
        dd = haarpsi_deficit(u)
        np.multiply(w[:, :1], dd[:, :1], out=target)
        target += w[:, 1:] * dd[:, 1:2]
        target += w_iq * dd[:, 2:]

    if label_free:
        np.add(u_gain, u_loss, out=u[:, :2])
        chroma_u(c, u[:, 2:])
        weighted(out[:, :1])
    else:
        out[:, :1] = 0.0
    u_loss *= F32(loss_weight)
    np.add(u_gain, u_loss, out=u[:, :2])
    chroma_u(c_chroma, u[:, 2:])
    weighted(out[:, 1:2])
    np.add(w_sum, w_iq, out=out[:, 2:])
    return torch.from_numpy(out)
