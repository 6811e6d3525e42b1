"""The attack on one pair of tensors: PGD up the budget ladder (or one FGSM step a budget), the best 8-bit candidate
kept, one :class:`AttackResult` a budget."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from iqa_cli.attack.budgets import eps_ladder, step_sizes
from iqa_cli.attack.gradient import safe_grad
from iqa_cli.attack.objective import METHODS, Method, Objective, reflection_center
from iqa_cli.attack.pgd import ball_noise, project, round_in_ball, sign_steps
from iqa_cli.errors import IQAError, UsageError

if TYPE_CHECKING:
    import torch
    from typing_extensions import Unpack

    from iqa_cli.api import Scorer


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


class AttackOptions(TypedDict, total=False):
    """The options of :func:`attack_budgets` besides the budgets, as keywords of :func:`attack_pair`."""

    steps: int
    method: Method
    center: float | None
    round8: bool
    restarts: int
    generator: torch.Generator | None


def check_args(scorer: Scorer, eps: float | Sequence[float], steps: int, method: str, restarts: int = 1) -> None:
    """Refuse a bad method, budget, step or restart count, or a model without gradients.

    Raises:
        UsageError: naming the bad value.
    """
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

    PGD methods (``reflect``, ``pgd-*``) climb the :func:`~iqa_cli.attack.budgets.eps_ladder` of the budgets. At
    each rung, ``restarts`` runs of ``steps`` sign-gradient steps (:func:`~iqa_cli.attack.pgd.sign_steps`, sizes
    from :func:`~iqa_cli.attack.budgets.step_sizes`): the first starts from the best image found so far (warm start;
    the clean image at the first rung), the others from uniform noise in the ball. Every iterate is projected into
    the ball, rounded to 8 bits inside it (``round8``) and re-scored: that rounded, re-scored image is the
    candidate, and the best candidate by the attack objective (closest to the reflected score for ``reflect``,
    highest/lowest raw score for ``*-up``/``*-down``) is kept. FGSM (``fgsm-*``) takes one step of size eps per
    budget, with no ladder.

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

    check_args(scorer, budgets, steps, method, restarts)
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
    objective = Objective(method, 2.0 * center - s0 if center is not None else 0.0)
    fallbacks = 0

    def ascent(x: torch.Tensor, eps: float) -> torch.Tensor:
        nonlocal fallbacks
        s, g, fb = safe_grad(scorer, ref, x, eps, gen)
        fallbacks += fb
        return objective.direction(float(s[0])) * g

    best_x, best_s, best_obj, progress = clean, s0, objective.value(s0), False
    wanted = sorted(set(budgets))
    fgsm = method.startswith("fgsm")
    results: list[AttackResult] = []
    for eps in wanted if fgsm else eps_ladder(wanted):
        sizes = step_sizes(eps, 1 if fgsm else steps)
        for r in range(1 if fgsm else restarts):
            if fgsm:
                start = clean
            elif r == 0:
                start = best_x
            else:
                start = project(clean + ball_noise(clean, eps, gen), clean, eps)
            into_ball = functools.partial(project, clean=clean, eps=eps)
            for x in sign_steps(start, functools.partial(ascent, eps=eps), sizes, into_ball):
                cand = round_in_ball(x, clean, eps) if round8 else x
                cs = score(cand)
                if objective.value(cs) > best_obj:
                    best_x, best_s, best_obj, progress = cand, cs, objective.value(cs), True
        if any(abs(eps - b) <= 1e-12 for b in wanted):
            results.append(_result(best_x, clean, s0, best_s, center, fallbacks, eps, not progress))
    return results


def _result(
    best: torch.Tensor, clean: torch.Tensor, s0: float, score: float, center: float | None, fallbacks: int,
    eps: float, no_progress: bool,
) -> AttackResult:  # fmt: skip
    diff = (best.double() - clean.double()).flatten()
    mse = float(diff.pow(2).mean())
    psnr = 100.0 if mse <= 1e-10 else min(100.0, 10.0 * math.log10(1.0 / mse))
    linf = float(diff.abs().max())
    return AttackResult(best.detach().cpu(), s0, score, center, linf, psnr, fallbacks, eps, no_progress)


def attack_pair(
    scorer: Scorer, ref_t: torch.Tensor, dist_t: torch.Tensor, *, eps: float, **options: Unpack[AttackOptions]
) -> AttackResult:
    """Attack one pair of (1, C, H, W) tensors in [0, 1]: perturb ``dist_t`` within ``eps`` (L-inf).

    :func:`attack_budgets` with one budget (the PGD attacks still climb the power-of-two rungs below ``eps``): the
    result is at least as good, for the attack objective, as the clean image and as this call at any ``2**k / 255``
    below ``eps``. Options (:class:`AttackOptions`), their defaults and the errors as there.
    """
    return attack_budgets(scorer, ref_t, dist_t, budgets=[eps], **options)[0]
