"""Label-free training of the causal-disentanglement model on pristine images.

Each step draws crops of two different pristine images A and B and one synthetic degradation (type, strength,
random seed) applied identically to both, plus a weaker version of it on A. The losses are the paper's:

- reconstruction: the decoder turns (content of A_ref, degradation of A) into the residual A_dist - A_ref;
- intervention (swap): (content of A_ref, degradation of B) must decode to A's residual too — the degradation code
  carries the degradation, not the content it was seen on;
- intervention (null): (content of A_dist, null degradation) decodes to no change, and (content of A_dist,
  degradation of A) decodes to the same residual — nulling the degradation of a distorted image gives its reference;
- content invariance: content codes of A_ref and A_dist agree (normalised by their spread, so they cannot collapse);
- monotonicity: the pooled masked degradation grows with strength (margin ranking, weak < strong);
- degradation estimation: the degradation type is recognisable from the pooled masked features.

No human score is used.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from iqa_cli.models.causal import HEAD_BUFFERS, CausalConfig, CausalIQA
from iqa_cli.synth import distortions
from iqa_cli.train.checkpoint import load_checkpoint, save_checkpoint
from iqa_cli.train.decoder import InterventionDecoder
from iqa_cli.train.features import to_batch
from iqa_cli.train.schedule import StepCallback, cosine_lr, descend, report_step

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Recipe of a self-supervised run (stored in the weights metadata)."""

    steps: int = 2000
    batch: int = 12
    crop: int = 96
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    min_strength: float = 0.05
    distortion_names: tuple[str, ...] = ()
    w_rec: float = 10.0
    w_swap: float = 10.0
    w_null: float = 10.0
    w_inv: float = 0.1
    w_rank: float = 1.0
    w_cls: float = 0.5
    model: dict = field(default_factory=lambda: CausalConfig().to_dict())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["distortion_names"] = list(self.distortion_names)
        return d


class CropSampler:
    """Draws training tuples (A_ref, A_dist, A_weak, B_ref, B_dist, type index) from in-memory images."""

    def __init__(self, images: Sequence[np.ndarray], names: Sequence[str], crop: int, min_strength: float) -> None:
        usable = [im for im in images if min(im.shape[:2]) >= crop]
        if len(usable) < 2:
            raise ValueError(f"need at least 2 images of at least {crop}x{crop} pixels, got {len(usable)}")
        self.images = usable
        self.names = list(names)  # may repeat a name to weight it; labels index the unique names
        self.classes = sorted(set(self.names))
        self.crop = crop
        self.min_strength = min_strength

    def _crop(self, rng: np.random.Generator) -> np.ndarray:
        im = self.images[int(rng.integers(len(self.images)))]
        h, w = im.shape[:2]
        y = int(rng.integers(h - self.crop + 1))
        x = int(rng.integers(w - self.crop + 1))
        out = im[y : y + self.crop, x : x + self.crop]
        if rng.random() < 0.5:
            out = out[:, ::-1]
        if out.dtype == np.uint8:
            return np.ascontiguousarray(out, dtype=np.float32) / 255.0
        if out.dtype == np.uint16:
            return np.ascontiguousarray(out, dtype=np.float32) / 65535.0
        return np.ascontiguousarray(out, dtype=np.float32)

    def sample(self, batch: int, rng: np.random.Generator) -> tuple[torch.Tensor, ...]:
        rows: list[list[np.ndarray]] = [[], [], [], [], []]
        labels, strengths = [], []
        for _ in range(batch):
            a, b = self._crop(rng), self._crop(rng)
            name = self.names[int(rng.integers(len(self.names)))]
            k = self.classes.index(name)
            s = float(rng.uniform(self.min_strength, 1.0))
            weak = s * float(rng.uniform(0.25, 0.75))
            seed = int(rng.integers(2**31))
            a_d = distortions.apply(name, a, s, np.random.default_rng(seed))
            b_d = distortions.apply(name, b, s, np.random.default_rng(seed))
            a_w = distortions.apply(name, a, weak, np.random.default_rng(seed))
            for row, im in zip(rows, (a, a_d, a_w, b, b_d)):
                row.append(im)
            labels.append(k)
            strengths.append(s)
        tensors = [to_batch(r) for r in rows]
        return (*tensors, torch.tensor(labels), torch.tensor(strengths))


def _norm_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    spread = 0.5 * (a.detach().var(dim=(0, 2, 3)) + b.detach().var(dim=(0, 2, 3))).mean().clamp_min(1e-6)
    return (a - b).pow(2).mean() / spread


def losses(
    model: CausalIQA,
    decoder: InterventionDecoder,
    classifier: nn.Module,
    batch: tuple[torch.Tensor, ...],
    cfg: TrainConfig,
) -> dict[str, torch.Tensor]:
    """All training losses for one batch (see the module docstring)."""
    a_ref, a_dist, a_weak, b_ref, b_dist, labels, _ = batch
    n = a_ref.shape[0]
    size = a_ref.shape[-2:]
    feats = model.features(torch.cat([a_ref, a_dist, a_weak, b_ref, b_dist]))
    f = [list(x.split(n)) for x in feats]  # f[scale][image]
    per = [[f[s][i] for s in range(3)] for i in range(5)]  # per[image][scale]
    c_ref, c_dist = model.content(per[0]), model.content(per[1])
    d_a = model.degradation(per[0], per[1])
    d_w = model.degradation(per[0], per[2])
    d_b = model.degradation(per[3], per[4])
    c_b = model.content(per[3])
    m_a = [m(c, d) for m, c, d in zip(model.masking, c_ref, d_a)]
    m_w = [m(c, d) for m, c, d in zip(model.masking, c_ref, d_w)]
    m_b = [m(c, d) for m, c, d in zip(model.masking, c_b, d_b)]
    phi_a, phi_w, phi_b = model.pool(m_a), model.pool(m_w), model.pool(m_b)

    residual = model._rgb(a_dist) - model._rgb(a_ref)  # the decoder speaks RGB; grey is replicated
    out: dict[str, torch.Tensor] = {}
    out["rec"] = F.l1_loss(decoder(c_ref, d_a, size), residual)
    out["swap"] = F.l1_loss(decoder(c_ref, d_b, size), residual)
    zeros = [torch.zeros_like(d) for d in d_a]
    out["null"] = F.l1_loss(decoder(c_dist, zeros, size), torch.zeros_like(residual)) + F.l1_loss(
        decoder(c_dist, d_a, size), residual
    )
    inv = _norm_mse(c_ref[0], c_dist[0])
    for a, b in zip(c_ref[1:], c_dist[1:]):
        inv = inv + _norm_mse(a, b)
    out["inv"] = inv / 3.0
    q_a = torch.log(phi_a.mean(dim=1) + 1e-4)
    q_w = torch.log(phi_w.mean(dim=1) + 1e-4)
    out["rank"] = F.relu(0.1 - (q_a - q_w)).mean()
    logits = classifier(torch.log1p(torch.cat([phi_a, phi_b]) * 100.0))
    out["cls"] = F.cross_entropy(logits, torch.cat([labels, labels]))
    total = (
        cfg.w_rec * out["rec"]
        + cfg.w_swap * out["swap"]
        + cfg.w_null * out["null"]
        + cfg.w_inv * out["inv"]
        + cfg.w_rank * out["rank"]
        + cfg.w_cls * out["cls"]
    )
    out["total"] = total
    return out


def train(
    images: Sequence[np.ndarray],
    cfg: TrainConfig,
    model: CausalIQA | None = None,
    checkpoint: Path | None = None,
    checkpoint_every: int = 250,
    on_step: StepCallback | None = None,
    device: str | torch.device = "cpu",
) -> CausalIQA:
    """Self-supervised training; returns the model (heads not fitted yet), on the CPU.

    Args:
        images: pristine images, HxWx3 uint8 or float32 in [0, 1].
        cfg: the recipe.
        model: start from this model (fine-tuning, ``iqa adapt``); a fresh one otherwise.
        checkpoint: file to save/resume the training state (safetensors, no pickle).
        checkpoint_every: steps between checkpoints.
        on_step: called after every step with (step, loss values).
        device: where the networks train (crops and degradations are made on the CPU). A run on a GPU follows the
            same recipe but not the same floating-point path: its weights are close to, not equal to, a CPU run's.
    """
    torch.manual_seed(cfg.seed)
    names = list(cfg.distortion_names) or distortions.names()
    model = model or CausalIQA(CausalConfig.from_dict(cfg.model))
    decoder = InterventionDecoder(model.config)
    classifier = nn.Linear(model.config.n_learned_features, len(set(names)))
    for module in (model, decoder, classifier):
        module.to(device)
    params = list(model.parameters()) + list(decoder.parameters()) + list(classifier.parameters())
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    modules: dict[str, nn.Module] = {"model": model, "decoder": decoder, "classifier": classifier}
    start = 0
    if checkpoint is not None and checkpoint.is_file():
        # the quality heads are refitted after training: the model keeps its own head buffers
        start = load_checkpoint(checkpoint, modules, opt, keep={"model": HEAD_BUFFERS})
        log.info("resumed from %s at step %d", checkpoint, start)
    sampler = CropSampler(images, names, cfg.crop, cfg.min_strength)
    model.train()
    t0 = time.perf_counter()
    for step in range(start, cfg.steps):
        rng = np.random.default_rng([cfg.seed, step])
        batch = tuple(t.to(device) for t in sampler.sample(cfg.batch, rng))
        out = losses(model, decoder, classifier, batch, cfg)
        descend(opt, params, out["total"], cosine_lr(cfg.lr, step, cfg.steps))
        report_step(log, "step", step, cfg.steps, out, t0, every=50, on_step=on_step)
        if checkpoint is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == cfg.steps):
            save_checkpoint(checkpoint, step + 1, modules, opt)
    model.eval()
    return model.cpu()
