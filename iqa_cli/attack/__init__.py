"""Adversarial robustness check: how far can an imperceptible perturbation of the distorted image move a score?

The *score reflection attack* (CPRL paper) drives a model's score toward its reflection about the middle of the
range the scores spread over (good looks bad, bad looks good) with L-inf bounded PGD; plain FGSM/PGD attacks push
the raw score up or down. The adversarial image is rounded to 8 bits (as a user would save it) while staying
within ``eps`` of the clean distorted image, then re-scored.

One job a module: :mod:`~iqa_cli.attack.budgets` (``--eps`` parsing, the budget ladder, step sizes),
:mod:`~iqa_cli.attack.pgd` (the signed-gradient step loop, also the robust training's, and the L-inf ball),
:mod:`~iqa_cli.attack.gradient` (the gradient and its NaN/zero fallback), :mod:`~iqa_cli.attack.objective`
(methods, reflection centre, the objective), :mod:`~iqa_cli.attack.pair` (one pair of tensors),
:mod:`~iqa_cli.attack.batch` (pairs of files, one row a pair and budget), :mod:`~iqa_cli.attack.report` (batch
figures, labels).

References:
    L. Wang, D. Yuan. Causal Perception Inspired Representation Learning for Trustworthy Image Quality
    Assessment (CPRL): score reflection attack.
    A. Madry et al. Towards deep learning models resistant to adversarial attacks. ICLR 2018 (PGD).
"""

from iqa_cli.attack.batch import COLUMNS, AttackRow, adversarial_path, attack_pairs
from iqa_cli.attack.budgets import eps_ladder, parse_eps, parse_eps_list, step_sizes
from iqa_cli.attack.gradient import JITTER
from iqa_cli.attack.objective import METHODS, Method, center_rule, reflection_center
from iqa_cli.attack.pair import AttackOptions, AttackResult, attack_budgets, attack_pair
from iqa_cli.attack.pgd import project, round_in_ball, sign_steps
from iqa_cli.attack.report import read_labels, summarise

__all__ = [
    "COLUMNS",
    "JITTER",
    "METHODS",
    "AttackOptions",
    "AttackResult",
    "AttackRow",
    "Method",
    "adversarial_path",
    "attack_budgets",
    "attack_pair",
    "attack_pairs",
    "center_rule",
    "eps_ladder",
    "parse_eps",
    "parse_eps_list",
    "project",
    "read_labels",
    "reflection_center",
    "round_in_ball",
    "sign_steps",
    "step_sizes",
    "summarise",
]
