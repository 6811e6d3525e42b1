"""Adversarial robustness check: how far can an imperceptible perturbation of the distorted image move a score?

The *score reflection attack* (CPRL paper) drives a model's score toward its reflection about the middle of the
range the scores spread over (good looks bad, bad looks good) with L-inf bounded PGD; plain FGSM/PGD attacks push
the raw score up or down. The adversarial image is rounded to 8 bits (as a user would save it) while staying
within ``eps`` of the clean distorted image, then re-scored.

References:
    L. Wang, D. Yuan. Causal Perception Inspired Representation Learning for Trustworthy Image Quality
    Assessment (CPRL): score reflection attack.
    A. Madry et al. Towards deep learning models resistant to adversarial attacks. ICLR 2018 (PGD).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from iqa_cli.errors import IQAError, UsageError
from iqa_cli.io import DEFAULT_MAX_PIXELS, align_pair, read_image

if TYPE_CHECKING:
    import torch

    from iqa_cli.api import Scorer
    from iqa_cli.models.registry import ModelSpec
    from iqa_cli.pairs import Pair

log = logging.getLogger(__name__)

Method = Literal["reflect", "pgd-up", "pgd-down", "fgsm-up", "fgsm-down"]
METHODS: tuple[str, ...] = ("reflect", "pgd-up", "pgd-down", "fgsm-up", "fgsm-down")
COLUMNS = (
    "ref", "dist", "model", "method", "center", "clean_score", "attacked_score", "shift", "linf", "psnr_db",
    "nan_grad_fallbacks", "error",
)  # fmt: skip
JITTER = (0.25, 0.5, 1.0)  # fallback jitter amplitudes, as fractions of eps


@dataclass(frozen=True)
class AttackResult:
    """One attacked pair. ``adversarial`` is (1, C, H, W) on the CPU, within ``eps`` of the clean image."""

    adversarial: torch.Tensor
    clean_score: float
    attacked_score: float
    center: float | None
    linf: float
    psnr_db: float
    nan_grad_fallbacks: int


@dataclass(frozen=True)
class AttackRow:
    """One row of ``iqa attack`` output (columns :data:`COLUMNS`); failed pairs carry ``error``."""

    ref: str
    dist: str
    model: str
    method: str
    center: float | None = None
    clean_score: float | None = None
    attacked_score: float | None = None
    shift: float | None = None
    linf: float | None = None
    psnr_db: float | None = None
    nan_grad_fallbacks: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_eps(value: str | float) -> float:
    """Perturbation budget in [0, 1] units: ``"2/255"``, a fraction < 1 (``0.008``) or 8-bit levels >= 1 (``2``).

    Raises:
        UsageError: not a number, or not in (0, 1] after conversion.
    """
    text = str(value).strip()
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            eps = float(num) / float(den)
        else:
            eps = float(text)
            eps = eps / 255.0 if eps >= 1.0 else eps
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--eps must be like 2/255, 0.008 or 2 (8-bit levels), got {value!r}") from None
    if not (math.isfinite(eps) and 0.0 < eps <= 1.0):
        raise UsageError(f"--eps must be in (0, 1] of the pixel range, got {value!r} = {eps:g}")
    return eps


def reflection_center(spec: ModelSpec, clean_scores: Sequence[float], given: float | None = None) -> float:
    """Point the reflection attack mirrors scores about: ``given``, else the midpoint of a bounded scale, else
    the median of the clean scores.

    Raises:
        UsageError: unbounded scale, no ``given`` centre and fewer than two clean scores.
    """
    if given is not None:
        return float(given)
    if spec.scale is not None:
        return (spec.scale[0] + spec.scale[1]) / 2.0
    if len(clean_scores) < 2:
        raise UsageError(
            f"model {spec.name!r} has an unbounded scale ({spec.unit}) and the median of one clean score is the "
            "score itself — pass --center VALUE (the middle of the scores you expect) or attack several pairs"
        )
    return float(np.median(np.asarray(clean_scores, dtype=np.float64)))


def center_rule(spec: ModelSpec, given: float | None) -> str:
    """Which rule :func:`reflection_center` applies, in words."""
    if given is not None:
        return "given with --center"
    return "midpoint of the scale" if spec.scale is not None else "median of the clean scores"


def _score_grad(scorer: Scorer, ref: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        s = scorer.score_tensors(ref, x).reshape(-1)
        if not s.requires_grad:  # the score ignores dist entirely
            return s.detach(), torch.zeros_like(x)
        (g,) = torch.autograd.grad(s.sum(), x, allow_unused=True)
    return s.detach(), torch.zeros_like(x) if g is None else g


def _usable(g: torch.Tensor) -> bool:
    return bool(g.isfinite().all()) and bool(g.abs().amax() > 0)


def _safe_grad(
    scorer: Scorer, ref: torch.Tensor, x: torch.Tensor, eps: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Score and d score / d x at ``x``; a NaN or all-zero gradient is replaced by one taken at a jittered point
    (uniform noise of eps/4, eps/2, eps), and as a last resort by random signs. Returns (score, grad, fallback)."""
    import torch

    s, g = _score_grad(scorer, ref, x)
    if _usable(g):
        return s, g, 0
    for amp in JITTER:
        noise = (torch.rand(x.shape, generator=gen) * 2.0 - 1.0).to(x) * (eps * amp)
        _, g = _score_grad(scorer, ref, (x + noise).clamp(0.0, 1.0))
        if _usable(g):
            return s, g, 1
    log.debug("gradient unusable even at jittered points; stepping in a random direction")
    return s, (torch.rand(x.shape, generator=gen) * 2.0 - 1.0).to(x), 1


def project(x: torch.Tensor, clean: torch.Tensor, eps: float) -> torch.Tensor:
    """Clip ``x`` to the L-inf ball of radius ``eps`` around ``clean`` and to [0, 1]."""
    import torch

    return torch.minimum(torch.maximum(x, clean - eps), clean + eps).clamp(0.0, 1.0)


def round_in_ball(x: torch.Tensor, clean: torch.Tensor, eps: float) -> torch.Tensor:
    """Round to the 8-bit levels k/255 inside the eps ball around ``clean`` and inside [0, 1]: the nearest level,
    or, where that would leave the ball, the last level inside it toward the clean value; where no level lies
    inside the ball (eps < 1/255 off the grid), the clean value. Level arithmetic in float64."""
    import torch

    c, e = clean.double() * 255.0, eps * 255.0
    lo = torch.ceil(c - e - 1e-6).clamp_min(0.0)  # 1e-6 level: k/255 in float32 is not exactly k/255
    hi = torch.floor(c + e + 1e-6).clamp_max(255.0)
    q = torch.minimum(torch.maximum(torch.round(x.double() * 255.0), lo), hi)
    return (torch.where(lo > hi, c, q) / 255.0).to(x.dtype)


def _check_args(scorer: Scorer, eps: float, steps: int, method: str) -> None:
    if method not in METHODS:
        raise UsageError(f"unknown attack method {method!r}: expected one of {', '.join(METHODS)}")
    if not scorer.spec.differentiable:
        raise UsageError(f"model {scorer.name!r} is not differentiable — attack a differentiable --model")
    if steps < 1 or not 0.0 < eps <= 1.0:
        raise UsageError(f"need steps >= 1 and 0 < eps <= 1, got steps={steps}, eps={eps:g}")


def attack_pair(
    scorer: Scorer,
    ref_t: torch.Tensor,
    dist_t: torch.Tensor,
    *,
    eps: float,
    steps: int = 10,
    method: Method = "reflect",
    center: float | None = None,
    round8: bool = True,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """Attack one pair of (1, C, H, W) tensors in [0, 1]: perturb ``dist_t`` within ``eps`` (L-inf).

    PGD with sign steps of ``2.5 * eps / steps`` keeps the best iterate (closest to the reflected score for
    ``reflect``, highest/lowest raw score for ``*-up``/``*-down``); FGSM is one step of ``eps``.

    Args:
        scorer: a loaded differentiable model.
        ref_t, dist_t: reference and distorted image.
        eps: L-inf budget in [0, 1] units.
        steps: PGD iterations (ignored by FGSM).
        method: ``reflect``, ``pgd-up``, ``pgd-down``, ``fgsm-up`` or ``fgsm-down`` (up/down = raw score).
        center: reflection point; default: midpoint of the model's bounded scale.
        round8: round the adversarial image to 8 bits (inside the eps ball) before re-scoring.
        generator: random source of the gradient fallback (seed 0 if None).

    Raises:
        UsageError: bad method/eps/steps, non-differentiable model, or ``reflect`` without a centre on an
            unbounded scale.
        IQAError: the model gives a non-finite score (clean or attacked).
    """
    import torch

    _check_args(scorer, eps, steps, method)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    dev = scorer.device
    ref, clean = ref_t.to(dev).detach(), dist_t.to(dev).detach()
    with torch.no_grad():
        s0 = float(scorer.score_tensors(ref, clean).reshape(-1)[0])
    if not math.isfinite(s0):
        raise IQAError(f"model {scorer.name!r} gave a non-finite score ({s0}) on the clean pair")
    if method == "reflect":
        center = reflection_center(scorer.spec, [s0], center)
    else:
        center = None
    target = 2.0 * center - s0 if center is not None else 0.0
    fgsm = method.startswith("fgsm")
    n_steps, alpha = (1, eps) if fgsm else (steps, 2.5 * eps / steps)

    def objective(s: float) -> float:
        return -abs(s - target) if method == "reflect" else (s if method.endswith("up") else -s)

    x, best_x, best = clean.clone(), clean, objective(s0)
    fallbacks = 0
    for k in range(n_steps):
        s, g, fb = _safe_grad(scorer, ref, x, eps, gen)
        fallbacks += fb
        sv = float(s[0])
        if k > 0 and objective(sv) > best:
            best_x, best = x, objective(sv)
        if method == "reflect":
            direction = -math.copysign(1.0, sv - target) if sv != target else 0.0
        else:
            direction = 1.0 if method.endswith("up") else -1.0
        x = project(x + direction * alpha * g.sign(), clean, eps).detach()
    with torch.no_grad():
        last = float(scorer.score_tensors(ref, x).reshape(-1)[0])
        if objective(last) > best:
            best_x = x
        adv = round_in_ball(best_x, clean, eps) if round8 else best_x
        attacked = float(scorer.score_tensors(ref, adv).reshape(-1)[0])
    if not math.isfinite(attacked):
        raise IQAError(f"model {scorer.name!r} gave a non-finite score ({attacked}) on the adversarial image")
    diff = (adv.double() - clean.double()).flatten()
    mse = float(diff.pow(2).mean())
    psnr = 100.0 if mse <= 1e-10 else min(100.0, 10.0 * math.log10(1.0 / mse))
    return AttackResult(adv.detach().cpu(), s0, attacked, center, float(diff.abs().max()), psnr, fallbacks)


def adversarial_path(save_dir: Path, dist: Path, dist_root: Path) -> Path:
    """Where the adversarial version of ``dist`` is written: its path relative to ``dist_root``, as PNG."""
    try:
        rel = Path(dist).absolute().relative_to(Path(dist_root).absolute())
    except ValueError:
        rel = Path(Path(dist).name)
    return Path(save_dir) / rel.with_suffix(".png")


def attack_pairs(
    scorer: Scorer,
    pairs: Iterable[Pair],
    *,
    eps: float,
    steps: int = 10,
    method: Method = "reflect",
    center: float | None = None,
    round8: bool = True,
    resize: Literal["none", "dist"] = "none",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    save_dir: Path | None = None,
    dist_root: Path | None = None,
    seed: int = 0,
) -> Iterator[AttackRow]:
    """Attack pairs in order, one :class:`AttackRow` each (a bad pair yields a row with its error).

    For ``reflect`` on an unbounded scale without ``center``, all pairs are scored clean first and the median
    is the reflection point. ``save_dir`` receives each adversarial image as PNG (8-bit, or 16-bit when not
    ``round8``) under its path relative to ``dist_root`` (default: the common folder of the distorted images).

    Raises:
        UsageError: as :func:`attack_pair`; raised by this call (before any row), not by the iteration.
    """
    import torch

    _check_args(scorer, eps, steps, method)
    items = list(pairs)
    if method == "reflect" and center is None and scorer.spec.scale is None:
        from iqa_cli.api import score_pairs

        scores = [r.score for r in score_pairs(scorer, items, resize=resize, max_pixels=max_pixels)]
        center = reflection_center(scorer.spec, [s for s in scores if s is not None and math.isfinite(s)])
    if save_dir is not None and dist_root is None and items:
        dist_root = Path(os.path.commonpath([str(Path(p.dist).absolute().parent) for p in items]))
    opts = {"eps": eps, "steps": steps, "method": method, "center": center, "round8": round8}
    return _rows(scorer, items, opts, resize, max_pixels, save_dir, dist_root, torch.Generator().manual_seed(seed))


def _rows(
    scorer: Scorer, items: list[Pair], opts: dict[str, Any], resize: Literal["none", "dist"], max_pixels: int,
    save_dir: Path | None, dist_root: Path | None, gen: torch.Generator,
) -> Iterator[AttackRow]:  # fmt: skip
    from iqa_cli.io import to_tensor, write_image

    for pair in items:
        base = {"ref": str(pair.ref), "dist": str(pair.dist), "model": scorer.name, "method": opts["method"]}
        try:
            ref, dist = align_pair(
                read_image(pair.ref, max_pixels=max_pixels), read_image(pair.dist, max_pixels=max_pixels),
                resize=resize,
            )  # fmt: skip
            res = attack_pair(scorer, to_tensor(ref), to_tensor(dist), generator=gen, **opts)
            row = AttackRow(
                **base, center=res.center, clean_score=res.clean_score, attacked_score=res.attacked_score,
                shift=res.attacked_score - res.clean_score, linf=res.linf, psnr_db=res.psnr_db,
                nan_grad_fallbacks=res.nan_grad_fallbacks,
            )  # fmt: skip
            if save_dir is not None and dist_root is not None:
                out = adversarial_path(save_dir, Path(pair.dist), dist_root)
                out.parent.mkdir(parents=True, exist_ok=True)
                bits = 8 if opts["round8"] else 16
                write_image(out, res.adversarial[0].permute(1, 2, 0).numpy(), bit_depth=bits)
        except IQAError as exc:
            row = AttackRow(**base, error=str(exc))
        except (RuntimeError, ValueError, MemoryError, OSError) as exc:
            log.debug("attack on %s failed", pair, exc_info=True)
            row = AttackRow(**base, error=f"{type(exc).__name__}: {exc}")
        yield row


def read_labels(path: Path) -> dict[tuple[str, str], float]:
    """Subjective scores from a CSV ``ref,dist,score`` (relative paths against the CSV's folder), keyed by the
    resolved (ref, dist) paths; read by :func:`iqa_cli.datasets.table.read_pair_table`.

    Raises:
        DatasetError: unreadable file, missing columns, no rows, an empty cell or a score that is not a number.
    """
    from iqa_cli.datasets.table import read_pair_table

    return {_key(r.ref, r.dist): r.score for r in read_pair_table(path, "labels CSV", score=True)}


def _key(ref: str | Path, dist: str | Path) -> tuple[str, str]:
    return str(Path(ref).resolve()), str(Path(dist).resolve())


def _srcc(a: Any, b: Any) -> float | None:
    from iqa_cli.eval import srcc

    try:
        return srcc(a, b)
    except UsageError:  # fewer than 3 pairs or constant scores
        return None


def summarise(rows: Iterable[AttackRow], labels: Mapping[tuple[str, str], float] | None = None) -> dict[str, Any]:
    """Batch figures: mean |shift|, mean |shift| over the std of the clean scores (fraction of their spread),
    SRCC of attacked vs clean scores and, with ``labels`` (from :func:`read_labels`), SRCC of clean and of
    attacked scores against them. Figures that are undefined (too few pairs, constant scores) are None."""
    rows = list(rows)
    ok = [r for r in rows if r.error is None]
    clean = np.array([r.clean_score for r in ok], dtype=np.float64)
    att = np.array([r.attacked_score for r in ok], dtype=np.float64)
    mean_abs = float(np.mean(np.abs(att - clean))) if ok else None
    std = float(np.std(clean)) if ok else 0.0
    centers = sorted({r.center for r in ok if r.center is not None})
    out: dict[str, Any] = {
        "n": len(rows),
        "attacked": len(ok),
        "failed": len(rows) - len(ok),
        "center": centers[0] if len(centers) == 1 else (centers or None),
        "mean_abs_shift": mean_abs,
        "clean_std": std if ok else None,
        "shift_over_spread": mean_abs / std if mean_abs is not None and std > 0 else None,
        "srcc_attacked_vs_clean": _srcc(att, clean),
        "max_linf": max((r.linf or 0.0) for r in ok) if ok else None,
        "min_psnr_db": min((r.psnr_db or 0.0) for r in ok) if ok else None,
        "nan_grad_fallbacks": sum(r.nan_grad_fallbacks or 0 for r in ok),
    }
    if labels is not None:
        lab = [(labels[k], r) for r in ok if (k := _key(r.ref, r.dist)) in labels]
        y = [v for v, _ in lab]
        out["n_labelled"] = len(lab)
        out["srcc_clean_vs_labels"] = _srcc([r.clean_score for _, r in lab], y)
        out["srcc_attacked_vs_labels"] = _srcc([r.attacked_score for _, r in lab], y)
    return out
