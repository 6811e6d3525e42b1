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
    "nan_grad_fallbacks", "eps", "no_progress", "error",
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
    eps: float
    no_progress: bool


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
    eps: float | None = None
    no_progress: bool | None = None
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


def parse_eps_list(value: str) -> list[float]:
    """One or several budgets separated by commas (each as :func:`parse_eps`), ascending, duplicates dropped.

    Raises:
        UsageError: an empty list or entry, or a bad budget (named in the message).
    """
    parts = [p.strip() for p in str(value).split(",")]
    if not any(parts) or not all(parts):
        raise UsageError(f"--eps must be one budget or several separated by commas (2/255,4/255), got {value!r}")
    return sorted({parse_eps(p) for p in parts})


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


def _check_args(scorer: Scorer, eps: float | Sequence[float], steps: int, method: str, restarts: int = 1) -> None:
    if method not in METHODS:
        raise UsageError(f"unknown attack method {method!r}: expected one of {', '.join(METHODS)}")
    if not scorer.spec.differentiable:
        raise UsageError(f"model {scorer.name!r} is not differentiable — attack a differentiable --model")
    budgets = [eps] if isinstance(eps, (int, float)) else list(eps)
    if not budgets:
        raise UsageError("need at least one --eps budget")
    for e in budgets:
        if steps < 1 or not 0.0 < e <= 1.0:
            raise UsageError(f"need steps >= 1 and 0 < eps <= 1, got steps={steps}, eps={e:g}")
    if restarts < 1:
        raise UsageError(f"need --restarts >= 1, got {restarts}")


def eps_ladder(budgets: Iterable[float]) -> list[float]:
    """Budgets the PGD attacks climb, ascending: every power of two ``2**k / 255`` (k >= 0) below the largest
    budget, then the budgets themselves (a rung within 1e-9 of a budget is that budget).

    The rungs do not depend on which budgets are asked for, only on the largest one: a call at 64/255 goes through
    exactly the computation of a call at 8/255 first (same rungs, steps and seed), then climbs on."""
    wanted = sorted(set(budgets))
    top = wanted[-1]
    rungs = list(wanted)
    k = 0
    while (r := 2.0**k / 255.0) < top - 1e-9:
        if all(abs(r - b) > 1e-9 for b in wanted):
            rungs.append(r)
        k += 1
    return sorted(rungs)


def step_sizes(eps: float, steps: int) -> list[float]:
    """PGD step sizes at budget ``eps``: a cosine decay from ``4 * eps / steps`` to a tenth of that (their sum is
    about 2.2 eps: enough to cross the ball, with small steps at the end where large ones overshoot); one step is
    ``eps``."""
    if steps == 1:
        return [eps]
    top = 4.0 * eps / steps
    return [top * (0.1 + 0.45 * (1.0 + math.cos(math.pi * k / (steps - 1)))) for k in range(steps)]


def attack_budgets(
    scorer: Scorer,
    ref_t: torch.Tensor,
    dist_t: torch.Tensor,
    *,
    budgets: Sequence[float],
    steps: int = 10,
    method: Method = "reflect",
    center: float | None = None,
    round8: bool = True,
    restarts: int = 1,
    generator: torch.Generator | None = None,
) -> list[AttackResult]:
    """Attack one pair of (1, C, H, W) tensors in [0, 1] at several L-inf budgets; one result per budget, in
    ascending order of budget.

    PGD methods (``reflect``, ``pgd-*``) climb the :func:`eps_ladder` of the budgets. At each rung, ``restarts``
    runs of ``steps`` sign-gradient steps (sizes from :func:`step_sizes`): the first starts from the best image
    found so far (warm start; the clean image at the first rung), the others from uniform noise in the ball. Every
    iterate is projected into the ball, rounded to 8 bits inside it (``round8``) and re-scored: that rounded,
    re-scored image is the candidate, and the best candidate by the attack objective (closest to the reflected
    score for ``reflect``, highest/lowest raw score for ``*-up``/``*-down``) is kept. FGSM (``fgsm-*``) takes one
    step of size eps per budget, with no ladder.

    Guarantee, by construction: the candidates at a budget include the clean image and the best image of every
    smaller budget of this call (it lies in the smaller ball, hence in this one, already on the 8-bit grid), and
    a candidate replaces the best only when its objective is strictly higher. So the result at a budget is never
    worse, for the objective, than the clean image or than the result at any smaller budget of the same call; and
    since the rungs depend only on the largest budget, separate calls at ``2**k / 255`` budgets agree with this too.
    ``no_progress`` marks a budget where no candidate beat the clean image: the returned image is the clean one and
    the zero shift means the attack found nothing, not that the model is robust.

    Args:
        scorer: a loaded differentiable model.
        ref_t, dist_t: reference and distorted image.
        budgets: L-inf budgets in [0, 1] units.
        steps: PGD iterations per rung (FGSM: one).
        method: ``reflect``, ``pgd-up``, ``pgd-down``, ``fgsm-up`` or ``fgsm-down`` (up/down = raw score).
        center: reflection point; default: midpoint of the model's bounded scale.
        round8: round the adversarial image to 8 bits (inside the eps ball) before re-scoring.
        restarts: PGD runs per rung (the first warm-started, the others from random points in the ball).
        generator: random source of the restarts and the gradient fallback (seed 0 if None).

    Raises:
        UsageError: bad method/eps/steps/restarts, non-differentiable model, or ``reflect`` without a centre on an
            unbounded scale.
        IQAError: the model gives a non-finite score on the clean pair.
    """
    import torch

    _check_args(scorer, budgets, steps, method, restarts)
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    dev = scorer.device
    ref, clean = ref_t.to(dev).detach(), dist_t.to(dev).detach()

    def score(x: torch.Tensor) -> float:
        with torch.no_grad():
            return float(scorer.score_tensors(ref, x).reshape(-1)[0])

    s0 = score(clean)
    if not math.isfinite(s0):
        raise IQAError(f"model {scorer.name!r} gave a non-finite score ({s0}) on the clean pair")
    center = reflection_center(scorer.spec, [s0], center) if method == "reflect" else None
    target = 2.0 * center - s0 if center is not None else 0.0

    def objective(s: float) -> float:
        if not math.isfinite(s):
            return -math.inf
        return -abs(s - target) if method == "reflect" else (s if method.endswith("up") else -s)

    best_x, best_s, best_obj, progress = clean, s0, objective(s0), False
    fallbacks = 0
    wanted = sorted(set(budgets))
    fgsm = method.startswith("fgsm")
    results: list[AttackResult] = []
    for eps in wanted if fgsm else eps_ladder(wanted):
        sizes = step_sizes(eps, 1 if fgsm else steps)
        for r in range(1 if fgsm else restarts):
            if fgsm:
                x = clean
            elif r == 0:
                x = best_x
            else:
                x = project(clean + (torch.rand(clean.shape, generator=gen) * 2.0 - 1.0).to(clean) * eps, clean, eps)
            for alpha in sizes:
                s, g, fb = _safe_grad(scorer, ref, x, eps, gen)
                fallbacks += fb
                sv = float(s[0])
                if method == "reflect":
                    direction = -math.copysign(1.0, sv - target) if sv != target else 0.0
                else:
                    direction = 1.0 if method.endswith("up") else -1.0
                x = project(x + direction * alpha * g.sign(), clean, eps).detach()
                cand = round_in_ball(x, clean, eps) if round8 else x
                cs = score(cand)
                if objective(cs) > best_obj:
                    best_x, best_s, best_obj, progress = cand, cs, objective(cs), True
        if any(abs(eps - b) <= 1e-12 for b in wanted):
            diff = (best_x.double() - clean.double()).flatten()
            mse = float(diff.pow(2).mean())
            psnr = 100.0 if mse <= 1e-10 else min(100.0, 10.0 * math.log10(1.0 / mse))
            linf = float(diff.abs().max())
            adv = best_x.detach().cpu()
            results.append(AttackResult(adv, s0, best_s, center, linf, psnr, fallbacks, eps, not progress))
    return results


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
    restarts: int = 1,
    generator: torch.Generator | None = None,
) -> AttackResult:
    """Attack one pair of (1, C, H, W) tensors in [0, 1]: perturb ``dist_t`` within ``eps`` (L-inf).

    :func:`attack_budgets` with one budget (the PGD attacks still climb the power-of-two rungs below ``eps``): the
    result is at least as good, for the attack objective, as the clean image and as this call at any ``2**k / 255``
    below ``eps``. Arguments and errors as there.
    """
    return attack_budgets(
        scorer, ref_t, dist_t, budgets=[eps], steps=steps, method=method, center=center, round8=round8,
        restarts=restarts, generator=generator,
    )[0]  # fmt: skip


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
    eps: float | Sequence[float],
    steps: int = 10,
    method: Method = "reflect",
    center: float | None = None,
    round8: bool = True,
    restarts: int = 1,
    resize: Literal["none", "dist"] = "none",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    save_dir: Path | None = None,
    dist_root: Path | None = None,
    seed: int = 0,
) -> Iterator[AttackRow]:
    """Attack pairs in order, one :class:`AttackRow` per pair and budget (``eps``: one or several, rows of a pair in
    ascending budget; a bad pair yields one row per budget with its error). Each pair is attacked by one
    :func:`attack_budgets` call with its own generator seeded ``seed``, so a row does not depend on the other pairs.

    For ``reflect`` on an unbounded scale without ``center``, all pairs are scored clean first and the median
    is the reflection point. ``save_dir`` receives each adversarial image as PNG (8-bit, or 16-bit when not
    ``round8``) under its path relative to ``dist_root`` (default: the common folder of the distorted images); with
    several budgets the file name gets an ``_eps<levels>`` suffix (levels of 1/255).

    Raises:
        UsageError: as :func:`attack_budgets`; raised by this call (before any row), not by the iteration.
    """
    budgets = sorted({float(eps)} if isinstance(eps, (int, float)) else {float(e) for e in eps})
    _check_args(scorer, budgets, steps, method, restarts)
    items = list(pairs)
    if method == "reflect" and center is None and scorer.spec.scale is None:
        from iqa_cli.api import score_pairs

        scores = [r.score for r in score_pairs(scorer, items, resize=resize, max_pixels=max_pixels)]
        center = reflection_center(scorer.spec, [s for s in scores if s is not None and math.isfinite(s)])
    if save_dir is not None and dist_root is None and items:
        dist_root = Path(os.path.commonpath([str(Path(p.dist).absolute().parent) for p in items]))
    opts = {"budgets": budgets, "steps": steps, "method": method, "center": center, "round8": round8,
            "restarts": restarts}  # fmt: skip
    return _rows(scorer, items, opts, resize, max_pixels, save_dir, dist_root, seed)


def _rows(
    scorer: Scorer, items: list[Pair], opts: dict[str, Any], resize: Literal["none", "dist"], max_pixels: int,
    save_dir: Path | None, dist_root: Path | None, seed: int,
) -> Iterator[AttackRow]:  # fmt: skip
    import torch

    from iqa_cli.io import to_tensor, write_image

    budgets: list[float] = opts["budgets"]
    for pair in items:
        base = {"ref": str(pair.ref), "dist": str(pair.dist), "model": scorer.name, "method": opts["method"]}
        try:
            ref, dist = align_pair(
                read_image(pair.ref, max_pixels=max_pixels), read_image(pair.dist, max_pixels=max_pixels),
                resize=resize,
            )  # fmt: skip
            gen = torch.Generator().manual_seed(seed)
            results = attack_budgets(scorer, to_tensor(ref), to_tensor(dist), generator=gen, **opts)
        except IQAError as exc:
            for e in budgets:
                yield AttackRow(**base, eps=e, error=str(exc))
            continue
        except (RuntimeError, ValueError, MemoryError, OSError) as exc:
            log.debug("attack on %s failed", pair, exc_info=True)
            for e in budgets:
                yield AttackRow(**base, eps=e, error=f"{type(exc).__name__}: {exc}")
            continue
        for res in results:
            row = AttackRow(
                **base, center=res.center, clean_score=res.clean_score, attacked_score=res.attacked_score,
                shift=res.attacked_score - res.clean_score, linf=res.linf, psnr_db=res.psnr_db,
                nan_grad_fallbacks=res.nan_grad_fallbacks, eps=res.eps, no_progress=res.no_progress,
            )  # fmt: skip
            if save_dir is not None and dist_root is not None:
                try:
                    out = adversarial_path(save_dir, Path(pair.dist), dist_root)
                    if len(budgets) > 1:
                        out = out.with_name(f"{out.stem}_eps{res.eps * 255:g}{out.suffix}")
                    out.parent.mkdir(parents=True, exist_ok=True)
                    bits = 8 if opts["round8"] else 16
                    write_image(out, res.adversarial[0].permute(1, 2, 0).numpy(), bit_depth=bits)
                except (IQAError, OSError, ValueError) as exc:
                    row = AttackRow(**base, eps=res.eps, error=f"cannot save the adversarial image: {exc}")
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
    """Batch figures of rows of one budget: mean |shift|, mean |shift| over the std of the clean scores (fraction
    of their spread), SRCC of attacked vs clean scores, how many pairs the attack made ``no_progress`` on (a zero
    shift there means the attack found nothing, not robustness) and, with ``labels`` (from :func:`read_labels`),
    SRCC of clean and of attacked scores against them. Figures that are undefined (too few pairs, constant scores)
    are None."""
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
        "no_progress": sum(1 for r in ok if r.no_progress),
    }
    if labels is not None:
        lab = [(labels[k], r) for r in ok if (k := _key(r.ref, r.dist)) in labels]
        y = [v for v, _ in lab]
        out["n_labelled"] = len(lab)
        out["srcc_clean_vs_labels"] = _srcc([r.clean_score for _, r in lab], y)
        out["srcc_attacked_vs_labels"] = _srcc([r.attacked_score for _, r in lab], y)
    return out
