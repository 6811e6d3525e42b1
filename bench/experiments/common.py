"""Shared pieces of the experiment scripts: the cached development pairs and features, leave-one-type-out, reports.

Run the scripts from the repository root; caches live in ``runs/exp/`` (git-ignored), written without pickles.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from iqa_cli.eval import srcc  # noqa: E402
from iqa_cli.train.heads import fit_few_label  # noqa: E402

CACHE = Path("runs/exp")
TYPES = [1, 3, 5, 7, 10, 11, 13, 15, 16, 19, 21, 23, 25]


def attack_set(first: int, stop: int) -> tuple[list, list[tuple[torch.Tensor, torch.Tensor]]]:
    """The robustness experiments' attacked pairs: the development conditions re-created on training images
    ``selection.dev_train_refs()[first:stop]`` (longer side 288, as bench/robustness.py on Kodak), and their (ref,
    dist) tensors (1, 3, H, W)."""
    from iqa_cli.synth.devset import load_conditions, load_refs, make_dev_pairs
    from iqa_cli.train import selection

    refs = load_refs(selection.dev_train_refs()[first:stop])
    pairs = list(make_dev_pairs(refs, load_conditions(), max_side=288))
    tensors = [
        (
            torch.from_numpy(np.array(p.ref)).permute(2, 0, 1)[None].float(),
            torch.from_numpy(np.array(p.dist)).permute(2, 0, 1)[None].float(),
        )
        for p in pairs
    ]
    return pairs, tensors


def reflection_attack(scorer, ref: torch.Tensor, dist: torch.Tensor, center: float) -> list:
    """The robustness experiments' attack on one pair: the fixed score reflection attack about ``center`` at 2/255
    and 4/255, 10 steps per rung, seed 0 (one :class:`~iqa_cli.attack.AttackResult` per budget)."""
    from iqa_cli.attack import attack_budgets

    return attack_budgets(
        scorer,
        ref,
        dist,
        budgets=[2 / 255, 4 / 255],
        steps=10,
        method="reflect",
        center=center,
        generator=torch.Generator().manual_seed(0),
    )


def to_tensor(a: np.ndarray) -> torch.Tensor:
    """uint8 ``HxWx3`` -> float ``(1, 3, H, W)`` in [0, 1]."""
    return torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255.0


def save_pairs(which: str, refs: list[np.ndarray], dists: list[np.ndarray], meta: np.ndarray) -> None:
    """Cache uint8 pairs (one array per image: they differ in size) and their (mos, type, level, ref index) rows."""
    CACHE.mkdir(parents=True, exist_ok=True)
    images = {f"ref_{k}": r for k, r in enumerate(refs)} | {f"dist_{i}": d for i, d in enumerate(dists)}
    np.savez(
        CACHE / f"{which}.npz",
        mos=meta[:, 0],
        type_ids=meta[:, 1].astype(int),
        levels=meta[:, 2].astype(int),
        ref_idx=meta[:, 3].astype(int),
        **images,
    )


def labels(which: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mos, type ids, levels, reference index) of the cached pairs."""
    z = np.load(CACHE / f"{which}.npz")
    return z["mos"], z["type_ids"], z["levels"], z["ref_idx"]


def cached_pairs(which: str) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The cached (ref, dist) pairs as float tensors, in cache order."""
    z = np.load(CACHE / f"{which}.npz")
    for i, k in enumerate(z["ref_idx"]):
        yield to_tensor(z[f"ref_{k}"]), to_tensor(z[f"dist_{i}"])


def pair_features(which: str, fn: Callable[[torch.Tensor, torch.Tensor], np.ndarray]) -> np.ndarray:
    """``fn(ref, dist)`` for every cached pair, stacked."""
    with torch.inference_mode():
        return np.array([fn(r, d) for r, d in cached_pairs(which)])


def save_features(which: str, prefix: str, fn: Callable[[torch.Tensor, torch.Tensor], np.ndarray]) -> None:
    """Compute :func:`pair_features` and write them to ``runs/exp/<prefix>_<which>.npy``."""
    out = pair_features(which, fn)
    np.save(CACHE / f"{prefix}_{which}.npy", out)
    print("done", len(out), out[0].shape)


def shipped_features(group: str | None = "pixel"):
    """The shipped causal-iqa, its cached pooled features (training, Kodak) and its feature scale, restricted to the
    columns of feature group ``group`` (None: every column)."""
    from iqa_cli.api import load_model
    from iqa_cli.train import heads

    model = load_model("causal-iqa", device="cpu").module
    cols = heads.feature_groups(model)[group] if group else slice(None)
    ftr, fte = np.load(CACHE / "feat_train.npy")[:, cols], np.load(CACHE / "feat_kodak.npy")[:, cols]
    return model, ftr, fte, model.feature_scale.numpy()[cols]


def loto(Ftr, ytr, ttr, Fte, tte, scale, ridge=1.0):
    """Leave-one-type-out predictions of the few-label head: fitted on the training types but one."""
    pred = np.zeros(len(Fte))
    for t in np.unique(tte):
        k = ttr != t
        w, b = fit_few_label(Ftr[k], ytr[k], scale, ridge)
        s = tte == t
        pred[s] = b - np.log1p(Fte[s] / scale) @ w
    return pred


def report(name, pred, y, t, lv=None, detail=False):
    """One line: overall SRCC and per-type SRCC (with ``detail``, mean prediction and MOS per level)."""
    per = {tt: srcc(pred[t == tt], y[t == tt]) for tt in TYPES}
    print(f"{name}: SRCC {srcc(pred, y):.4f} | " + " ".join(f"{tt}:{per[tt]:.2f}" for tt in TYPES))
    if detail:
        for tt in TYPES:
            s = t == tt
            m = [pred[s & (lv == level)].mean() for level in range(1, 6)]
            mo = [y[s & (lv == level)].mean() for level in range(1, 6)]
            print(
                f"  type {tt:2d} pred "
                + " ".join(f"{a:5.2f}" for a in m)
                + "   mos "
                + " ".join(f"{a:5.2f}" for a in mo)
            )


def compare(name, Ftr, ytr, ttr, Fte, yte, tte, scale, ridge, link=None):
    """Training-image LOTO in brackets, then the Kodak LOTO report line; ``link`` transforms the MOS before fitting."""
    f = link or (lambda y: y)
    ptr = loto(Ftr, f(ytr), ttr, Ftr, ttr, scale, ridge)
    p = loto(Ftr, f(ytr), ttr, Fte, tte, scale, ridge)
    print(f"[train-dev {srcc(ptr, ytr):.4f}] ", end="")
    report(name, p, yte, tte)
