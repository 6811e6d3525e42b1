"""CPRL robust fine-tuning: soft-ranking channel activations trained with a PNS-guided minimax game.

The student is the trained ``causal-iqa`` with every ReLU of its encoder and degradation heads replaced by the
soft-ranking channel activation (:class:`iqa_cli.models.layers.SoftRankActivation`), initialised from the teacher
(the standard model). Each step:

- inner (max): PGD finds a perturbation ``delta`` of the distorted image, ``|delta|_inf <= eps``, that moves the
  student's score most (the worst-case intervention on what the score should not depend on);
- outer (min): *sufficiency* — the student's clean score matches the teacher's (accuracy is kept), and
  *necessity* — the score under the worst-case perturbation stays where the clean score is (the kept channels
  carry the quality, the damped ones cannot be used to move it). The two terms are the PNS surrogate; their
  weights trade accuracy against robustness.

The quality heads (buffers) are copied from the teacher and kept fixed.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from iqa_cli.attack.pgd import ball_noise, round_in_ball, sign_steps
from iqa_cli.models.causal import CausalIQA
from iqa_cli.synth import distortions
from iqa_cli.train.features import to_batch
from iqa_cli.train.schedule import StepCallback, cosine_lr, descend, report_step

log = logging.getLogger(__name__)


@dataclass
class RobustConfig:
    """Recipe of the robust fine-tuning (stored in the weights metadata)."""

    eps: float = 4.0 / 255.0
    """L-inf radius of the worst-case perturbation of the distorted image (the inner max)."""
    pgd_steps: int = 3
    """Signed-gradient steps of the inner max."""
    w_necessity: float = 2.0
    """Weight of the necessity term against the sufficiency term (robustness against accuracy)."""
    steps: int = 300
    """Fine-tuning steps (each one PGD attack and one optimiser step)."""
    lr: float = 3e-4
    """Peak learning rate of the cosine schedule."""
    batch: int = 8
    crop: int = 96
    """Pairs per step and the side of their crops."""
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def make_student(teacher: CausalIQA) -> CausalIQA:
    """The soft-ranking variant of ``teacher`` with its weights (new soft-rank importances start at 0)."""
    cfg = teacher.config.to_dict() | {"activation": "softrank"}
    student = CausalIQA(cfg)
    own = student.state_dict()
    teacher_state = teacher.state_dict()
    missing = [k for k in own if k not in teacher_state]
    if any(not k.endswith("importance") for k in missing):
        raise ValueError(f"teacher and student differ beyond the soft-rank importances: {missing[:5]}")
    student.load_state_dict(teacher_state | {k: own[k] for k in missing}, strict=True)
    return student


def _batch(images: Sequence[np.ndarray], cfg: RobustConfig, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
    names = distortions.names()
    refs, dists = [], []
    for _ in range(cfg.batch):
        im = images[int(rng.integers(len(images)))]
        h, w = im.shape[:2]
        y, x = int(rng.integers(h - cfg.crop + 1)), int(rng.integers(w - cfg.crop + 1))
        ref = im[y : y + cfg.crop, x : x + cfg.crop].astype(np.float32) / 255.0
        name = names[int(rng.integers(len(names)))]
        # include near-pristine pairs: the attack matters most on good images
        strength = float(rng.uniform(0.0, 1.0)) ** 2
        dists.append(distortions.apply(name, ref, strength, rng))
        refs.append(ref)
    return to_batch(refs), to_batch(dists)


def pgd_delta(
    objective: Callable[[torch.Tensor], torch.Tensor],
    dist: torch.Tensor,
    eps: float,
    steps: int,
    gen: torch.Generator,
) -> torch.Tensor:
    """Perturbation ``delta`` (``|delta|_inf <= eps``) of ``dist`` that raises ``objective(clamp(dist + delta))``:
    a random start in the ball, then ``steps`` signed-gradient steps of ``2.5 eps / steps``
    (:func:`~iqa_cli.attack.pgd.sign_steps` on the perturbation, clamped to the ball; NaN gradients count as 0)."""

    def ascent(delta: torch.Tensor) -> torch.Tensor:
        delta = delta.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(objective((dist + delta).clamp(0, 1)), delta)
        return torch.nan_to_num(grad)

    delta = ball_noise(dist, eps, gen)
    sizes = [2.5 * eps / max(steps, 1)] * steps
    for stepped in sign_steps(delta, ascent, sizes, lambda d: d.clamp(-eps, eps)):
        delta = stepped
    return delta


def _score_gap(model: CausalIQA, ref: torch.Tensor, clean: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """How far the scores of ``adv`` are from ``clean`` (what the inner max of the training game raises)."""
    return (model(ref, adv) - clean).pow(2).sum()


def _pushed_score(model: CausalIQA, ref: torch.Tensor, direction: float, adv: torch.Tensor) -> torch.Tensor:
    """The score of ``adv`` signed by ``direction`` (what the minimax head's inner max raises)."""
    return direction * model(ref, adv).sum()


def robust_finetune(
    teacher: CausalIQA,
    images: Sequence[np.ndarray],
    cfg: RobustConfig,
    on_step: StepCallback | None = None,
) -> CausalIQA:
    """Fine-tune the soft-ranking student of ``teacher`` with the minimax game; returns it in eval mode."""
    torch.manual_seed(cfg.seed)
    teacher.eval()
    student = make_student(teacher)
    student.train()
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(cfg.seed)
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        rng = np.random.default_rng([cfg.seed, 7, step])
        ref, dist = _batch(images, cfg, rng)
        with torch.no_grad():
            target = teacher(ref, dist)
        clean = student(ref, dist)
        gap = functools.partial(_score_gap, student, ref, clean.detach())
        delta = pgd_delta(gap, dist, cfg.eps, cfg.pgd_steps, gen)
        adv = (dist + delta).clamp(0, 1).detach()
        attacked = student(ref, adv)
        sufficiency = (clean - target).abs().mean() / 100.0
        necessity = (attacked - clean).abs().mean() / 100.0
        loss = sufficiency + cfg.w_necessity * necessity
        descend(opt, params, loss, cosine_lr(cfg.lr, step, cfg.steps))
        losses = {"loss": loss, "sufficiency": sufficiency, "necessity": necessity}
        report_step(log, "robust step", step, cfg.steps, losses, t0, every=25, on_step=on_step)
    student.eval()
    return student


def adversarial_features(
    model: CausalIQA,
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    eps: float,
    steps: int,
    seed: int = 0,
) -> np.ndarray:
    """Pooled features of worst-case perturbed distorted images (the inner max of the minimax game).

    For each pair the perturbation (L-inf ``eps``, PGD, rounded to 8 bits) moves the model's score away from the
    clean score in the direction the score reflection attack would push it (toward the opposite end of the scale).
    """
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for ref_np, dist_np in pairs:
        ref = torch.from_numpy(np.array(ref_np)).permute(2, 0, 1)[None].float()
        dist = torch.from_numpy(np.array(dist_np)).permute(2, 0, 1)[None].float()
        with torch.no_grad():
            clean = float(model(ref, dist))
        direction = -1.0 if clean >= 50.0 else 1.0  # push good down, bad up
        delta = pgd_delta(functools.partial(_pushed_score, model, ref, direction), dist, eps, steps, gen)
        adv = round_in_ball((dist + delta).clamp(0, 1), dist, eps)
        with torch.no_grad():
            rows.append(model.pooled_features(ref, adv)[0].numpy())
    return np.stack(rows)
