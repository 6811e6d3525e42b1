"""What an attack pursues: the methods, the reflection centre and target, and the objective a candidate is judged by.

The *score reflection attack* (CPRL) drives a score toward its reflection about the middle of the range the scores
spread over (good looks bad, bad looks good); the plain FGSM/PGD attacks push the raw score up or down.

References:
    L. Wang, D. Yuan. Causal Perception Inspired Representation Learning for Trustworthy Image Quality
    Assessment (CPRL): score reflection attack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from iqa_cli.errors import UsageError

if TYPE_CHECKING:
    from iqa_cli.models.registry import ModelSpec

Method = Literal["reflect", "pgd-up", "pgd-down", "fgsm-up", "fgsm-down"]
METHODS: tuple[str, ...] = ("reflect", "pgd-up", "pgd-down", "fgsm-up", "fgsm-down")


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


@dataclass(frozen=True)
class Objective:
    """The attack objective of one pair: ``reflect`` wants the score at ``target`` (the clean score reflected about
    the centre), ``*-up`` / ``*-down`` want the raw score high / low."""

    method: str
    target: float = 0.0

    def value(self, score: float) -> float:
        """How good a candidate's score is for the attack (higher is better; a non-finite score is the worst)."""
        if not math.isfinite(score):
            return -math.inf
        if self.method == "reflect":
            return -abs(score - self.target)
        return score if self.method.endswith("up") else -score

    def direction(self, score: float) -> float:
        """+1 where raising the score helps the attack, -1 where lowering it does, 0 at the target."""
        if self.method == "reflect":
            return -math.copysign(1.0, score - self.target) if score != self.target else 0.0
        return 1.0 if self.method.endswith("up") else -1.0
