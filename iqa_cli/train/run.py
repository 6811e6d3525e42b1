"""The reproducible training recipe behind the shipped ``causal-iqa`` weights (``iqa train``).

1. Self-supervised disentanglement on the training split of ../shared/data/pristine (BSDS500 + Urban100; Kodak24 is
   held out for the benchmark), see :mod:`iqa_cli.train.selfsup`. Checkpoints make it resumable.
2. Feature scale and the label-free head from synthetic degradations of training images (no human score).
3. The few-label head from the 65 KADID development conditions re-created on training images (40 BSDS500
   images, never Kodak), each pair labelled with its condition's mean human score.
4. The default head is chosen by leave-one-type-out cross-validation on those training-image pairs (fit the
   few-label head on 12 types, score the 13th), compared with the label-free head on the same pairs.
5. Weights + metadata (recipe, data, head choice) written to the output folder and listed in its
   ``manifest.json``. ``iqa train`` writes to a run folder (``<workdir>/weights``) by default; the shipped
   ``weights/`` folder, or any existing weights file, is only replaced with ``force`` (:func:`check_out_dir`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from iqa_cli.errors import TrainingError, UsageError
from iqa_cli.eval import srcc
from iqa_cli.models.causal import CausalConfig, CausalIQA
from iqa_cli.models.causal.heads import FewLabelHead, few_label_mos, read_few_label, read_scale, write_heads
from iqa_cli.synth import distortions
from iqa_cli.train.heads import collect_features, fit_feature_scale, fit_few_label, fit_label_free
from iqa_cli.train.selfsup import TrainConfig, train

log = logging.getLogger(__name__)

MODEL_NAME = "causal-iqa"
N_DEV_TRAIN_IMAGES = 40
N_SYNTHETIC = 800
SYNTH_CROP = 256
RIDGE = 1.0
# The few-label head's hyper-parameters, chosen per feature group by leave-one-type-out SRCC on the training-image
# development pairs: softness multiplies the feature scale inside log1p(features / scale) (larger = closer to
# linear in the features), ridge is the L2 penalty of the non-negative regression.
SOFTNESS_GRID = (1.0, 3.0, 10.0)
RIDGE_GRID = (0.03, 0.1, 0.3, 1.0)


@dataclass
class DevFeatures:
    """Pooled features of re-created development pairs with their labels."""

    features: np.ndarray  # (N, F)
    mos: np.ndarray  # (N,)
    type_ids: np.ndarray  # (N,)
    levels: np.ndarray  # (N,)
    ref_names: list[str]


def dev_train_refs(data_dir: Path | None = None) -> list[Path]:
    """The training images used for the few-label head: every k-th BSDS500 image of the training split."""
    from iqa_cli.synth.devset import pristine_paths

    paths = [p for p in pristine_paths("train", data_dir) if "bsds500" in p.parts]
    step = max(1, len(paths) // N_DEV_TRAIN_IMAGES)
    return paths[::step][:N_DEV_TRAIN_IMAGES]


def dev_features(
    model: CausalIQA,
    refs: Sequence[tuple[str, np.ndarray]],
    seed: int = 0,
    max_side: int | None = None,
    on_pair: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> DevFeatures:
    """Re-create the development conditions on ``refs`` and collect the model's pooled features.

    ``on_pair(ref, dist)`` sees every generated pair once (e.g. to score baselines without re-creating the pairs).
    """
    from iqa_cli.synth.devset import load_conditions, make_dev_pairs

    conditions = load_conditions()
    meta: list[tuple[float, int, int, str]] = []

    def gen():
        for p in make_dev_pairs(refs, conditions, seed=seed, max_side=max_side):
            meta.append((p.condition.mean_score, p.condition.type_id, p.condition.level, p.ref_name))
            if on_pair is not None:
                on_pair(p.ref, p.dist)
            yield p.ref, p.dist

    feats = collect_features(model, gen(), batch=1)
    return DevFeatures(
        features=feats,
        mos=np.array([m[0] for m in meta], np.float64),
        type_ids=np.array([m[1] for m in meta]),
        levels=np.array([m[2] for m in meta]),
        ref_names=[m[3] for m in meta],
    )


def synthetic_features(
    model: CausalIQA,
    images: Sequence[np.ndarray],
    n: int = N_SYNTHETIC,
    seed: int = 0,
    crop: int = SYNTH_CROP,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """Pooled features of ``n`` random synthetic degradations of random crops of ``images``."""
    rng = np.random.default_rng(seed)
    names = list(names or distortions.names())

    def gen():
        for _ in range(n):
            im = images[int(rng.integers(len(images)))]
            h, w = im.shape[:2]
            c = min(crop, h, w)
            y, x = int(rng.integers(h - c + 1)), int(rng.integers(w - c + 1))
            ref = im[y : y + c, x : x + c]
            ref = ref.astype(np.float32) / 255.0 if ref.dtype == np.uint8 else ref.astype(np.float32)
            name = names[int(rng.integers(len(names)))]
            dist = distortions.apply(name, ref, float(rng.uniform(0.05, 1.0)), rng)
            yield ref, dist

    return collect_features(model, gen(), batch=16)


def feature_groups(model: CausalIQA) -> dict[str, np.ndarray]:
    """Column indices of the pooled features: ``all``, ``learned`` (encoder scales) and ``pixel`` (the fixed,
    training-free branches: pixel maps and the Haar block)."""
    cfg = model.config
    n_mean = sum(cfg.map_channels)
    n_learned = sum(cfg.degradation)
    learned = np.r_[0:n_learned, n_mean : n_mean + n_learned]
    pixel = np.setdiff1d(np.arange(cfg.n_features), learned)  # the fixed branches: pixel maps and Haar block
    groups = {"all": np.arange(cfg.n_features), "learned": learned}
    if len(pixel):
        groups["pixel"] = pixel
    return groups


def fit_few_label_on(
    features: np.ndarray, mos: np.ndarray, scale: np.ndarray, columns: np.ndarray, ridge: float = RIDGE
) -> tuple[np.ndarray, float]:
    """Few-label head using only ``columns`` (the other weights are 0)."""
    w_sub, b = fit_few_label(features[:, columns], mos, scale[columns], ridge)
    w = np.zeros(features.shape[1], np.float32)
    w[columns] = w_sub
    return w, b


def leave_one_type_out(
    train: DevFeatures,
    scale: np.ndarray,
    test: DevFeatures | None = None,
    ridge: float = RIDGE,
    columns: np.ndarray | None = None,
) -> np.ndarray:
    """Few-label predictions (MOS scale) for each pair of ``test`` (default: ``train``) from a head fitted on the
    other distortion types of ``train``."""
    test = test or train
    columns = np.arange(train.features.shape[1]) if columns is None else columns
    pred = np.zeros(len(test.mos))
    for t in np.unique(test.type_ids):
        keep = train.type_ids != t
        w, b = fit_few_label_on(train.features[keep], train.mos[keep], scale, columns, ridge)
        sel = test.type_ids == t
        pred[sel] = few_label_mos(test.features[sel], scale, w, b)
    return pred


def select_few_label(
    dev: DevFeatures, base_scale: np.ndarray, groups: dict[str, np.ndarray]
) -> tuple[dict[str, float], str, float, float]:
    """Leave-one-type-out SRCC on ``dev`` of every (feature group, softness, ridge) in the grids.

    Returns the best SRCC per group and the chosen (group, softness, ridge); a tie keeps the first setting in grid
    order (groups as listed, then softness, then ridge, each ascending)."""
    best: dict[str, float] = {}
    choice: tuple[float, str, float, float] = (-2.0, "all", 1.0, RIDGE)
    for name, cols in groups.items():
        for softness in SOFTNESS_GRID:
            for ridge in RIDGE_GRID:
                rho = round(srcc(leave_one_type_out(dev, base_scale * softness, ridge=ridge, columns=cols), dev.mos), 4)
                best[name] = max(best.get(name, -2.0), rho)
                if rho > choice[0]:
                    choice = (rho, name, softness, ridge)
    return best, choice[1], choice[2], choice[3]


def fit_heads(model: CausalIQA, train_images: Sequence[np.ndarray], dev: DevFeatures, seed: int = 0) -> dict:
    """Fit scale, label-free and few-label heads into ``model``; choose the default head; return a summary.

    The few-label head's feature group (all / learned / pixel), softness and ridge are chosen by leave-one-type-out
    SRCC on the training-image development pairs (:func:`select_few_label`); the label-free head always uses all
    features (no human score touches it; the softness only rescales its projection, which tau absorbs).
    """
    syn = synthetic_features(model, train_images, seed=seed)
    base_scale = fit_feature_scale(syn)
    groups = feature_groups(model)
    loto, group, softness, ridge = select_few_label(dev, base_scale, groups)
    scale = base_scale * softness
    lf = fit_label_free(syn, scale)
    fl = fit_few_label_on(dev.features, dev.mos, scale, groups[group], ridge)
    write_heads(model, scale=scale, label_free=lf, few_label=FewLabelHead(*fl, floor=1.0))
    with torch.no_grad():
        lf_scores = model.head_label_free(torch.from_numpy(dev.features).float().to(model.fl_bias.device)).cpu().numpy()
    summary = {
        "train_dev_pairs": len(dev.mos),
        "label_free_srcc_train_dev": round(srcc(lf_scores, dev.mos), 4),
        "few_label_loto_srcc_train_dev_by_group": loto,
        "few_label_group": group,
        "few_label_softness": softness,
        "few_label_ridge": ridge,
        "few_label_loto_srcc_train_dev": loto[group],
    }
    better = summary["few_label_loto_srcc_train_dev"] >= summary["label_free_srcc_train_dev"]
    summary["default_head"] = "few_label" if better else "label_free"
    return summary


def _head_setting(metadata: dict, key: str, default: float) -> float:
    return float((metadata.get("heads") or {}).get(key, default))


def head_ridge(metadata: dict) -> float:
    """The few-label ridge recorded in a weights file's metadata (:data:`RIDGE` for files that predate the grid)."""
    return _head_setting(metadata, "few_label_ridge", RIDGE)


def head_softness(metadata: dict) -> float:
    """The few-label softness recorded in a weights file's metadata (1 for files that predate the grid)."""
    return _head_setting(metadata, "few_label_softness", 1.0)


def is_shipped_folder(folder: Path) -> bool:
    """Whether ``folder`` is the folder of the shipped weights (:func:`iqa_cli.weights.weights_dir`)."""
    from iqa_cli.errors import WeightsError
    from iqa_cli.weights import weights_dir

    try:
        shipped = weights_dir()
    except WeightsError:  # no shipped folder: nothing to protect
        return False
    return folder.resolve() == shipped.resolve()


def check_out_dir(out_dir: Path, file_name: str, force: bool = False, in_place: bool = False) -> None:
    """Refuse, before any work, to replace weights that were not meant to be replaced.

    Without ``force``: ``out_dir`` must not be the shipped weights folder (writing there replaces the installed
    default model and its manifest), and ``out_dir/file_name`` must not exist. ``in_place`` words the message for
    ``--refit-heads``, whose input is that file.

    Raises:
        UsageError: one of the above, or ``out_dir`` is a file.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out {out_dir} is a file — pass a folder for the weights and manifest.json")
    if force:
        return
    if is_shipped_folder(out_dir):
        raise UsageError(
            f"--out {out_dir} is the shipped weights folder: writing there replaces the installed default model — "
            "pass --force to do that on purpose, or leave --out out to write to the run folder"
        )
    target = out_dir / file_name
    if target.exists():
        if in_place:
            raise UsageError(f"{target} already exists — pass --force to refit its heads in place, or another --out")
        raise UsageError(f"{target} already exists — pass --force to overwrite it, or choose another --out")


def run_training(
    out_dir: Path,
    workdir: Path,
    steps: int = 2000,
    seed: int = 0,
    threads: int = 1,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    widths: tuple[int, int, int] = (16, 32, 48),
    refit_from: Path | None = None,
    device: str = "cpu",
    force: bool = False,
) -> dict:
    """The whole recipe; writes ``out_dir/causal-iqa.safetensors`` and updates the manifest. Returns a summary.

    ``widths``: encoder channels per stage; the content and degradation codes get half of each.
    ``refit_from``: a causal-iqa weights file whose trained encoder is kept (steps 2-5 only: the heads are refitted);
    its training recipe is carried over, so the file still says how the encoder was made.
    ``device``: where the self-supervised stage trains and the heads' features are computed (``cpu``, ``cuda``, ...;
    recorded in the recipe).
    ``force``: allow writing into the shipped weights folder and over an existing file (:func:`check_out_dir`,
    checked before any work).
    """
    from iqa_cli.synth.devset import load_refs, pristine_paths
    from iqa_cli.train.data import load_images

    in_place = refit_from is not None and (out_dir / f"{MODEL_NAME}.safetensors").resolve() == refit_from.resolve()
    check_out_dir(out_dir, f"{MODEL_NAME}.safetensors", force, in_place=in_place)
    torch.set_num_threads(threads)
    paths = pristine_paths("train")
    if not paths:
        raise TrainingError("no training images found under ../shared/data/pristine — set IQA_SHARED_DATA")
    t0 = time.perf_counter()
    images = load_images(paths, max_side=512)
    workdir.mkdir(parents=True, exist_ok=True)
    if refit_from is not None:
        from iqa_cli.api import load_model

        source = load_model(MODEL_NAME, weights=refit_from, device="cpu")
        model = source.module
        recipe = dict(source.metadata.get("recipe") or {})
        recipe["heads_command"] = "iqa train --refit-heads"
        recipe["encoder_from_sha256"] = source.weights_sha256
    else:
        halves = tuple(w // 2 for w in widths)
        arch = CausalConfig(widths=tuple(widths), content=halves, degradation=halves)
        cfg = TrainConfig(steps=steps, seed=seed, model=arch.to_dict())
        ckpt = workdir / "checkpoint.safetensors"
        model = train(images, cfg, checkpoint=ckpt, checkpoint_every=200, on_step=on_step, device=device)
        command = f"iqa train --steps {steps} --seed {seed} --widths {','.join(str(w) for w in widths)}"
        recipe = cfg.to_dict() | {
            "command": command + (f" --device {device}" if device != "cpu" else ""),
            "device": device,
        }
    t_train = time.perf_counter() - t0
    dev_cache = workdir / "dev_train_features.npz"
    model.to(device)  # features for the heads on the training device; the fits themselves are numpy
    dev = dev_features(model, load_refs(dev_train_refs()), seed=seed)
    np.savez(dev_cache, features=dev.features, mos=dev.mos, type_ids=dev.type_ids, levels=dev.levels)
    summary = fit_heads(model, images, dev, seed=seed)
    model.cpu()
    final = model.with_config(head=summary["default_head"])
    recipe |= {
        "n_dev_train_images": N_DEV_TRAIN_IMAGES,
        "n_synthetic": N_SYNTHETIC,
        "ridge": summary["few_label_ridge"],
        "softness": summary["few_label_softness"],
    }
    data = {
        "train": "pristine/bsds500/{train,val,test} + pristine/urban100 (549 images, longer side <= 512)",
        "holdout": "pristine/kodak24 (never used in training or head fitting)",
        "few_label_labels": "labels/kadid_dev_conditions.csv (65 condition means) re-created on 40 BSDS500 images",
    }
    path, sha = ship_weights(out_dir, MODEL_NAME, final, recipe, data, summary)
    summary.update(
        {
            "weights": str(path),
            "sha256": sha,
            "train_seconds": round(t_train, 1),
            "total_seconds": round(time.perf_counter() - t0, 1),
        }
    )
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def ship_weights(out_dir: Path, name: str, model: CausalIQA, recipe: dict, data: dict, heads: dict) -> tuple[Path, str]:
    """Write ``out_dir/<name>.safetensors`` with its metadata and list it in the manifest; returns (path, sha256)."""
    from iqa_cli.weights import save_weights

    config = model.config.to_dict()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.safetensors"
    metadata = {"model": name, "config": config, "recipe": recipe, "data": data, "heads": heads}
    sha = save_weights(path, model.state_dict(), metadata)
    update_manifest(out_dir, path.name, sha, name, config, recipe, data)
    return path, sha


def update_manifest(
    folder: Path,
    file_name: str,
    sha: str,
    model: str,
    config: dict,
    recipe: dict,
    data: dict,
    arch: str = "CausalIQA",
) -> None:
    """Add or replace one file's entry in ``manifest.json``."""
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text()) if path.exists() else {"format": 1, "files": {}}
    manifest["files"][file_name] = {
        "sha256": sha,
        "model": model,
        "arch": arch,
        "config": config,
        "recipe": recipe,
        "data": data,
    }
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


ROBUST_NAME = "causal-iqa-robust"
ROBUST_VISIBILITY = 8.0


def run_robust(
    out_dir: Path,
    workdir: Path,
    steps: int = 300,
    seed: int = 0,
    threads: int = 1,
    rounds: int = 2,
    eps: float = 4.0 / 255.0,
    pgd_steps: int = 5,
    n_images: int = 16,
    max_side: int = 256,
    visibility: float = ROBUST_VISIBILITY,
    force: bool = False,
) -> dict:
    """CPRL variant of causal-iqa (``out_dir``'s, else the shipped one): soft-ranking activations and a PNS-guided
    minimax game.

    1. Encoder: the soft-ranking student fine-tuned against worst-case perturbations
       (:func:`iqa_cli.train.robust.robust_finetune`).
    2. Head (minimax, ``rounds`` times): inner max — PGD (``eps``, ``pgd_steps``, 8-bit rounding) pushes each
       training development pair's score toward the other end of the scale; outer min — the few-label head is refitted
       on clean and perturbed features with the clean condition score, so it keeps only channels that predict
       quality (sufficient) and that the perturbation cannot move (necessary). The feature group is chosen by
       leave-one-type-out SRCC on the same data.
    3. Before the head: the fixed branches' visibility constants are multiplied by ``visibility`` (a floor under
       which changes barely register: imperceptible perturbations move far less), so the feature scale and the
       label-free head are refitted on synthetic degradations (the teacher's softness kept).

    Writes ``out_dir/causal-iqa-robust.safetensors`` and updates the manifest (``force``: also into the shipped
    weights folder or over an existing file, see :func:`check_out_dir`). Returns a summary.
    """
    from iqa_cli.api import load_model
    from iqa_cli.synth.devset import load_conditions, load_refs, make_dev_pairs, pristine_paths
    from iqa_cli.train.data import load_images
    from iqa_cli.train.robust import RobustConfig, adversarial_features, robust_finetune

    check_out_dir(out_dir, f"{ROBUST_NAME}.safetensors", force)
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    teacher_file = out_dir / f"{MODEL_NAME}.safetensors"  # the causal-iqa beside it (weights/ by default)
    teacher_scorer = load_model(MODEL_NAME, weights=teacher_file if teacher_file.is_file() else None, device="cpu")
    teacher = teacher_scorer.module
    images = load_images(pristine_paths("train"), max_side=512)
    cfg = RobustConfig(steps=steps, seed=seed)
    student = robust_finetune(teacher, images, cfg)
    if visibility != student.config.visibility:
        student = student.with_config(visibility=visibility)
        syn = synthetic_features(student, images, seed=seed)
        scale = fit_feature_scale(syn) * head_softness(teacher_scorer.metadata)
        lf = fit_label_free(syn, scale)
        write_heads(student, scale=scale, label_free=lf, few_label=replace(read_few_label(student), floor=1.0))
    refs = load_refs(dev_train_refs()[:n_images])
    meta = list(make_dev_pairs(refs, load_conditions(), seed=seed, max_side=max_side))
    pairs = [(p.ref, p.dist) for p in meta]
    clean = collect_features(student, iter(pairs), batch=1)
    mos = np.array([p.condition.mean_score for p in meta])
    types = np.array([p.condition.type_id for p in meta])
    scale = read_scale(student)  # softness included
    ridge = head_ridge(teacher_scorer.metadata)
    groups = feature_groups(student)
    feats, labels, tids = [clean], [mos], [types]
    history = []
    for r in range(rounds):
        adv = adversarial_features(student, pairs, eps=eps, steps=pgd_steps, seed=seed + r)
        feats.append(adv)
        labels.append(mos)
        tids.append(types)
        data = DevFeatures(np.concatenate(feats), np.concatenate(labels), np.concatenate(tids), None, [])
        loto = {
            g: round(srcc(leave_one_type_out(data, scale, ridge=ridge, columns=c), data.mos), 4)
            for g, c in groups.items()
        }
        group = max(loto, key=lambda k: loto[k])
        w, b = fit_few_label_on(data.features, data.mos, scale, groups[group], ridge)
        write_heads(student, few_label=replace(read_few_label(student), weights=w, bias=b))
        history.append({"round": r + 1, "loto_srcc_by_group": loto, "group": group})
        log.info("minimax round %d: %s", r + 1, history[-1])
    summary = {
        "rounds": history,
        "few_label_group": history[-1]["group"],
        "few_label_ridge": ridge,
        "default_head": "few_label",
    }
    final = student.with_config(head="few_label")
    recipe = cfg.to_dict() | {
        "teacher": MODEL_NAME,
        "teacher_sha256": teacher_scorer.weights_sha256,
        "minimax_rounds": rounds,
        "minimax_eps": eps,
        "minimax_pgd_steps": pgd_steps,
        "minimax_images": n_images,
        "minimax_max_side": max_side,
        "visibility": visibility,
        "command": f"iqa train --robust --robust-steps {steps} --seed {seed} --visibility {visibility:g}",
    }
    data_desc = {
        "train": "pristine/bsds500 + pristine/urban100 (as causal-iqa)",
        "holdout": "pristine/kodak24",
        "minimax_labels": f"kadid_dev_conditions.csv re-created on {n_images} BSDS500 training images",
    }
    workdir.mkdir(parents=True, exist_ok=True)
    path, sha = ship_weights(out_dir, ROBUST_NAME, final, recipe, data_desc, summary)
    summary.update({"weights": str(path), "sha256": sha, "total_seconds": round(time.perf_counter() - t0, 1)})
    (workdir / "robust_summary.json").write_text(json.dumps(summary, indent=2))
    return summary
