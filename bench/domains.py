"""Domain benchmark: does ``iqa adapt`` give an in-domain gain over the base model and over HaarPSI / MS-SSIM?

Tested: adapting the shipped model (the masked Haar block) to the clean images of a new domain, without any label
— ``adapt`` re-chooses the block's parameters on the domain images (with the shipped base: all four, by agreement
with the base's condition anchors, see :mod:`iqa_cli.train.adapt_masked`) and keeps the calibrated few-label head
(the default head) — improves agreement with human judgements on that domain over the
base model and the training-free metrics. No human scores exist for these domains, so the 65 KADID development
conditions (``../shared/data/labels/kadid_dev_conditions.csv``) are re-created on *held-out* domain images
(:func:`iqa_cli.synth.devset.make_dev_pairs`, KADID's conventions) and every distorted image gets its condition's
mean human score. What is measured is therefore agreement across distortion types and levels on domain content,
anchored to KADID's human ratings of natural photos (not to ratings of the domain itself). Note that adapt's own
criterion uses the same conditions (type x level, never their human scores) on the adaptation images, and with
anchors it asks each condition to keep the severity the base gave it on natural images — the same structure this
benchmark's labels have (one score per condition, whatever the content). A gain here therefore says that adapt
made the model's severities more content-independent in the KADID order, not that people who work with the
domain would agree; no human rating of these domains exists to test that. The benchmark's held-out images are
never seen by adapt.

Domains (under ``../shared/data/domains``):

- ``underwater_euvp``: ``paired_gt/`` (23 "ground truth" 256x256) + ``unpaired_real/`` (23 real photos,
  256x256 .. 1920x1080) = 46 clean-ish colour images. ``paired_raw/`` (the degraded versions) is not used.
- ``manga109_subset``: 28 pages (827x1170 RGB, essentially grey line art and screen tone: screen-like content).
- ``underwater_euvp_grey``: the grey domain. The DICOM samples are too few and small (2 images, 128x128 and
  64x64; adapt needs >= 4 images, of which >= 2 are held out for its self-check, and MS-SSIM needs >= 176 px a
  side), so the grey domain is the underwater images converted to one channel (Rec.601 luma, the weights SSIM
  uses). Grey images stay 1-channel throughout: adapt sees a grey domain (grey-capable conditions only), the KADID
  conditions are applied to the grey plane, the models replicate grey to RGB internally, HaarPSI uses its
  luminance terms. The colour-only types that KADID's re-creation refuses on grey, colour shift (5) and
  saturation (7), are dropped (55 conditions left). Colour block (23) is kept: on grey it pastes blocks of random
  grey level, scored with the colour-block condition's mean (an approximation). The grey domain uses the same
  image split as the colour underwater domain, so no held-out image is adapted on. Manga was not used as the grey
  domain: its pages are already grey in RGB, which would duplicate that domain.

Pipeline, per domain:

1. Images are read (:func:`iqa_cli.io.read_image`), area-shrunk so the longer side is <= 512 (the adapt default)
   before anything else, converted to grey for the grey domain, and written as 8-bit PNG to a work folder.
2. Split, fixed: names sorted, permuted by ``numpy.random.default_rng(--split-seed)``; the first
   ``max(5, ceil(0.3 n))`` are held out for the benchmark, the rest (~70%) are the adaptation images. adapt itself
   holds out ``max(2, ceil(0.3 m))`` of those m for its self-check (its own seeded split), and fits on the rest.
3. ``adapt(<adaptation folder>, out, base=...)`` with the default settings, wall time measured; its self-check
   line and the re-estimated parameters are recorded.
4. Every held-out image x every condition (65; 55 for grey) is scored with: the base and the adapted model (the
   default few-label head, and the label-free head, all on ``pooled_features``), HaarPSI, MS-SSIM, SSIM, PSNR.
   SRCC and PLCC (4-parameter logistic) against the condition means.
5. A bootstrap over held-out *references* (1000 resamples) gives a 95% interval of the SRCC difference
   adapted-default minus each other metric: with 9-14 references per domain, differences below a few hundredths
   are not resolved.

``iqa fit`` curve (``--fit-domain``, default ``underwater_euvp``; ``--fit-seeds 0`` skips it): from that domain's
held-out pairs, N = 10, 30, 100 pairs are drawn at random (per seed), written as PNG files with a
``ref,dist,score`` CSV (score = condition mean) and passed to :func:`iqa_cli.train.fit.fit` with ``folds=5``
(folds split by reference). Reported: the cross-validated SRCC mean +- sd over seeds, and the SRCC of the fitted
head on the held-out pairs that were *not* drawn. Done on the adapted model and on the base model.

Time: adapt wall time per domain with its image count; ``--time-100`` also adapts on 100 images made of 384x384
crops of the full-resolution manga adaptation pages (adapt's cost grows with the number of images: every fit and
self-check image gets every condition).

Outputs: markdown tables to stdout and ``<out>/domains.md``, raw numbers (and every per-pair score) in
``<out>/domains.json``; the command line is at the top of both.

Usage:
    OMP_NUM_THREADS=1 python bench/domains.py [--base FILE] [--time-100] [--fit-seeds 3] [--fit-sizes 10,30,100]
        [--max-heldout N] [--threads 1] [--out bench/out]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iqa_cli.api import load_model  # noqa: E402
from iqa_cli.errors import UsageError  # noqa: E402
from iqa_cli.eval import correlations  # noqa: E402
from iqa_cli.io import downsize_to, read_image, to_rgb, write_image  # noqa: E402
from iqa_cli.models.baselines import MSSSIM, PSNR, SSIM, HaarPSI  # noqa: E402
from iqa_cli.models.causal import CausalIQA  # noqa: E402
from iqa_cli.synth.devset import CONDITIONS_FILE, DevPair, find_data_dir, load_conditions, make_dev_pairs  # noqa: E402
from iqa_cli.train import adapt as adaptation  # noqa: E402
from iqa_cli.train.adapt import adapt  # noqa: E402
from iqa_cli.train.adapt_masked import CHECK_FRACTION, MIN_CHECK  # noqa: E402
from iqa_cli.train.fit import fit  # noqa: E402

MAX_SIDE = adaptation.DEFAULT_MAX_SIDE
GREY_DROPPED_TYPES = (5, 7)
LUMA = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)
MSSSIM_MIN_SIDE = 176
CHUNK = 13


@dataclass(frozen=True)
class Domain:
    name: str
    folder: str
    subdirs: tuple[str, ...]
    grey: bool


DOMAINS = {
    d.name: d
    for d in (
        Domain("underwater_euvp", "underwater_euvp", ("paired_gt", "unpaired_real"), False),
        Domain("manga109_subset", "manga109_subset", (".",), False),
        Domain("underwater_euvp_grey", "underwater_euvp", ("paired_gt", "unpaired_real"), True),
    )
}

METRICS = ("base_fl", "adapted_fl", "base_lf", "adapted_lf", "haarpsi", "ms-ssim", "ssim", "psnr")
MAIN = "adapted_fl"
"""The adapted model's default head (the base's calibrated few-label head, kept by adapt): the bootstrap reference."""
LABELS = {
    "base_fl": "base, few-label head (default)",
    "adapted_fl": "**adapted, few-label head kept (default)**",
    "base_lf": "base, label-free head",
    "adapted_lf": "adapted, label-free head (tau refitted)",
    "haarpsi": "HaarPSI",
    "ms-ssim": "MS-SSIM",
    "ssim": "SSIM",
    "psnr": "PSNR",
}
VERDICT_AGAINST = ("base_fl", "haarpsi", "ms-ssim")


# ------------------------------------------------------------------------------------------------- images


def source_files(domain: Domain, root: Path) -> list[tuple[str, Path]]:
    """(relative name, path) of a domain's images, sorted by name."""
    out = []
    for sub in domain.subdirs:
        folder = (root / domain.folder / sub).resolve()
        for p in folder.iterdir():
            if p.is_file() and p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp"}:
                rel = p.name if sub == "." else f"{sub}/{p.name}"
                out.append((rel, p))
    return sorted(out)


def split(names: list[str], seed: int) -> tuple[list[str], list[str]]:
    """(adaptation, held-out) names: sorted, permuted by ``seed``, first max(5, ceil(0.3 n)) held out."""
    names = sorted(names)
    n_hold = max(5, math.ceil(0.3 * len(names)))
    order = np.random.default_rng(seed).permutation(len(names))
    held = sorted(names[i] for i in order[:n_hold])
    return sorted(set(names) - set(held)), held


def prepare(pixels: np.ndarray, grey: bool) -> np.ndarray:
    """Shrink (area) to <= MAX_SIDE, to grey (Rec.601 luma) if asked, rounded to 8 bits as written."""
    img = downsize_to(to_rgb(pixels), MAX_SIDE)
    if grey:
        img = (img @ LUMA)[..., None].astype(np.float32)
    return (np.rint(np.clip(img, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def safe(name: str) -> str:
    return name.replace("/", "__").rsplit(".", 1)[0] + ".png"


# ------------------------------------------------------------------------------------------------ scoring


def to_t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1)[None].float()


def score_pairs(
    pairs: list[DevPair], base: CausalIQA, adapted: CausalIQA
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per-pair scores of every metric, plus the pooled features of base and adapted (N, F)."""
    psnr, ssim, msssim, haarpsi = PSNR(), SSIM(), MSSSIM(), HaarPSI()
    cols: dict[str, list[float]] = {m: [] for m in METRICS}
    fb, fa = [], []
    i = 0
    with torch.inference_mode():
        while i < len(pairs):
            ref = pairs[i].ref
            j = i
            while j < len(pairs) and j - i < CHUNK and pairs[j].ref is ref:
                j += 1
            r = to_t(ref).expand(j - i, -1, -1, -1)
            d = torch.cat([to_t(p.dist) for p in pairs[i:j]])
            feats_b = base.pooled_features(r, d)
            feats_a = adapted.pooled_features(r, d)
            fb.append(feats_b.numpy())
            fa.append(feats_a.numpy())
            cols["base_lf"] += base.head_label_free(feats_b).tolist()
            cols["base_fl"] += base.head_few_label(feats_b).tolist()
            cols["adapted_lf"] += adapted.head_label_free(feats_a).tolist()
            cols["adapted_fl"] += adapted.head_few_label(feats_a).tolist()
            cols["haarpsi"] += haarpsi(r, d).tolist()
            cols["psnr"] += psnr(r, d).tolist()
            cols["ssim"] += ssim(r, d).tolist()
            if min(ref.shape[:2]) >= MSSSIM_MIN_SIDE:
                cols["ms-ssim"] += msssim(r, d).tolist()
            else:
                cols["ms-ssim"] += [float("nan")] * (j - i)
            i = j
    return {k: np.asarray(v) for k, v in cols.items()}, np.concatenate(fb), np.concatenate(fa)


def corr(pred: np.ndarray, mos: np.ndarray) -> dict[str, float | None]:
    ok = np.isfinite(pred)
    if ok.sum() < 3:
        return {"srcc": None, "plcc": None, "n": int(ok.sum())}
    try:
        c = correlations(pred[ok], mos[ok])
    except UsageError:  # constant predictions (e.g. an unfitted head)
        return {"srcc": None, "plcc": None, "n": int(ok.sum())}
    return {"srcc": round(c.srcc, 4), "plcc": round(c.plcc, 4), "n": c.n}


def _rank(a: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata  # type: ignore[import-untyped]

    return rankdata(a)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(_rank(a), _rank(b))[0, 1])


def bootstrap_delta(
    scores: dict[str, np.ndarray], mos: np.ndarray, refs: np.ndarray, seed: int = 0, n: int = 1000
) -> dict[str, dict[str, float]]:
    """95% interval of SRCC(MAIN) - SRCC(other) over bootstrap resamples of held-out references."""
    uniq = np.unique(refs)
    index = {r: np.flatnonzero(refs == r) for r in uniq}
    rng = np.random.default_rng(seed)
    others = [m for m in METRICS if m != MAIN and np.isfinite(scores[m]).all() and np.ptp(scores[m]) > 0]
    if np.ptp(scores[MAIN]) == 0:
        return {}
    deltas: dict[str, list[float]] = {m: [] for m in others}
    for _ in range(n):
        idx = np.concatenate([index[r] for r in rng.choice(uniq, size=len(uniq), replace=True)])
        a = _spearman(scores[MAIN][idx], mos[idx])
        for m in others:
            deltas[m].append(a - _spearman(scores[m][idx], mos[idx]))
    out = {}
    for m, v in deltas.items():
        arr = np.asarray(v)
        out[m] = {
            "mean": round(float(arr.mean()), 4),
            "lo": round(float(np.percentile(arr, 2.5)), 4),
            "hi": round(float(np.percentile(arr, 97.5)), 4),
            "p_le_0": round(float((arr <= 0).mean()), 3),
        }
    return out


# ---------------------------------------------------------------------------------------------------- fit


def fit_curve(
    pairs: list[DevPair],
    bases: dict[str, tuple[str | None, np.ndarray]],
    sizes: list[int],
    seeds: int,
    work: Path,
) -> dict[str, Any]:
    """`iqa fit` on N random held-out pairs, per base and seed: CV SRCC and SRCC on the pairs not drawn."""
    folder = work / "fit_pairs"
    folder.mkdir(parents=True, exist_ok=True)
    ref_ids: dict[int, int] = {}
    ref_names = np.array([p.ref_name for p in pairs])
    mos = np.array([p.condition.mean_score for p in pairs])
    written: set[int] = set()

    def files(k: int) -> tuple[str, str]:
        p = pairs[k]
        rid = ref_ids.setdefault(id(p.ref), len(ref_ids))
        ref_file, dist_file = f"ref{rid:02d}.png", f"d{k:05d}.png"
        if k not in written:
            if not (folder / ref_file).exists():
                write_image(folder / ref_file, p.ref)
            write_image(folder / dist_file, p.dist)
            written.add(k)
        return ref_file, dist_file

    results: dict[str, Any] = {}
    for base_name, (weights, feats) in bases.items():
        rows = []
        for seed in range(seeds):
            for n in sizes:
                n_eff = min(n, len(pairs))
                pick = np.sort(np.random.default_rng([seed, n]).choice(len(pairs), size=n_eff, replace=False))
                csv_path = folder / f"s{seed}_n{n}.csv"
                with csv_path.open("w", newline="") as fh:
                    w = csv.writer(fh)
                    w.writerow(["ref", "dist", "score"])
                    for k in pick:
                        r, d = files(int(k))
                        w.writerow([r, d, f"{mos[k]:.6f}"])
                out = work / f"fit_{base_name}_s{seed}_n{n}.safetensors"
                t0 = time.perf_counter()
                rep = fit(csv_path, out, base=weights, folds=5, seed=seed, device="cpu", force=True)
                elapsed = time.perf_counter() - t0
                fitted = load_model(weights=out, device="cpu").module
                if not isinstance(fitted, CausalIQA):
                    raise TypeError(f"{out} is not a causal-iqa model")
                rest = np.setdiff1d(np.arange(len(pairs)), pick)
                with torch.inference_mode():
                    pred = fitted.head_few_label(torch.from_numpy(feats[rest]).float()).numpy()
                rest_c = corr(pred, mos[rest])
                rows.append(
                    {
                        "seed": seed,
                        "n": n_eff,
                        "refs": int(len(set(ref_names[pick]))),
                        "folds": rep.folds,
                        "cv_srcc": rep.cv_srcc,
                        "cv_plcc": rep.cv_plcc,
                        "train_srcc": rep.train_srcc,
                        "rest_srcc": rest_c["srcc"],
                        "rest_plcc": rest_c["plcc"],
                        "rest_n": rest_c["n"],
                        "elapsed_s": round(elapsed, 2),
                    }
                )
                print(
                    f"  fit[{base_name}] seed {seed} N={n_eff}: cv SRCC {rep.cv_srcc}, rest {rest_c['srcc']}",
                    file=sys.stderr,
                )
        results[base_name] = rows
    return results


# ----------------------------------------------------------------------------------------------- markdown


def fmt(x: float | None, nd: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def mean_sd(vals: list[float | None]) -> str:
    v = [x for x in vals if x is not None]
    if not v:
        return "–"
    if len(v) == 1:
        return f"{v[0]:.3f}"
    return f"{np.mean(v):.3f} ± {np.std(v, ddof=1):.3f}"


def render(report: dict[str, Any]) -> str:
    L: list[str] = []
    L.append("## Domain adaptation benchmark (bench/domains.py)\n")
    L.append(f"Command: `{report['command']}`\n")
    env = report["env"]
    L.append(
        f"Base weights: `{report['base']['weights']}` (sha256 `{str(report['base']['sha256'])[:12]}…`). "
        f"Machine: {env['cpus']} CPU cores shared, torch threads {env['threads']}, load average at start "
        f"{env['load_start']}, total run {report['total_s']:.0f} s.\n"
    )
    doms = list(report["domains"])
    L.append("### Setup, adaptation and self-check (default `adapt` settings)\n")
    L.append(
        "| domain | adapt images (fit + self-check) | held-out refs | pairs (conditions) | criterion | "
        "loss_weight | chroma_visibility | masking_gain | content_energy (estimate) | adapt's self-check "
        "(label-free) | adapt wall time |"
    )
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")

    def change(m: dict[str, Any], name: str, form: str = "g") -> str:
        e = m.get(name)
        if e is None:
            return "–"
        return f"{e['base']:{form}} -> {e['chosen']:{form}}"

    for d in doms:
        r = report["domains"][d]
        m = r["adapt"]["masked"]
        sc = m["self_check"]
        verdict = "gain" if sc["gain"] else "no gain, base's block kept"
        L.append(
            f"| {d} | {r['n_adapt']} ({m['n_fit']} + {m['n_check']}) | {r['n_heldout']} | {r['n_pairs']} "
            f"({r['n_conditions']}) | {m.get('criterion', 'content invariance')} | {change(m, 'loss_weight')} | "
            f"{change(m, 'chroma_visibility')} | {change(m, 'masking_gain')} | {change(m, 'content_energy', '.1f')} "
            f"({m['content_energy']['estimated']:.1f}) | {sc['base']:.4f} -> {sc['adapted']:.4f} ({verdict}) | "
            f"{r['adapt']['wall_s']:.0f} s |"
        )
    if report.get("time_100"):
        t = report["time_100"]
        L.append(
            f"| 100 crops (384x384) of manga adaptation pages | {t['n_images']} | – | – | – | – | – | – | – | – | "
            f"{t['wall_s']:.0f} s |"
        )
    L.append("")
    L.append("### SRCC / PLCC against the KADID condition means, held-out domain images\n")
    L.append("| metric | " + " | ".join(f"{d} SRCC | PLCC" for d in doms) + " |")
    L.append("|---|" + "---|---|" * len(doms))
    for m in METRICS:
        cells = []
        for d in doms:
            c = report["domains"][d]["correlations"][m]
            cells += [fmt(c["srcc"]), fmt(c["plcc"])]
        L.append(f"| {LABELS[m]} | " + " | ".join(cells) + " |")
    L.append("")
    L.append(
        "Base and adapted share every weight but the masked Haar block's parameters in the table above "
        "(re-chosen by adapt without labels of the domain, or kept when its self-check finds no gain) and the "
        "label-free `tau` (a monotone rescaling: no rank changes). The few-label head (default) is the base's "
        "calibrated head, fitted with 65 KADID-style condition means on natural training images when the base was "
        "made: no label of these domains is used anywhere.\n"
    )
    L.append(
        f"### SRCC({LABELS[MAIN].strip('*')}) minus SRCC(other): bootstrap over held-out references, 95% interval\n"
    )
    L.append(
        "Resampling the held-out references (not pairs): a difference whose interval excludes 0 is resolved. "
        "Intervals against the base are narrow because base and adapted scores move together.\n"
    )
    others = [m for m in METRICS if m != MAIN]
    L.append("| domain | " + " | ".join(LABELS[m] for m in others) + " |")
    L.append("|---|" + "---|" * len(others))
    for d in doms:
        b = report["domains"][d]["bootstrap"]
        cells = [f"{b[m]['mean']:+.3f} [{b[m]['lo']:+.3f}, {b[m]['hi']:+.3f}]" if m in b else "–" for m in others]
        L.append(f"| {d} | " + " | ".join(cells) + " |")
    L.append("")
    L.append("### Verdict (adapted default beats the base default, HaarPSI and MS-SSIM in-domain)\n")
    for d in doms:
        r = report["domains"][d]
        b = r["bootstrap"]
        c = r["correlations"]
        pairs = r["pairs"]
        rho = _spearman(np.array([q["base_fl"] for q in pairs]), np.array([q[MAIN] for q in pairs]))
        beats = [m for m in VERDICT_AGAINST if m in b and b[m]["lo"] > 0]
        loses = [m for m in VERDICT_AGAINST if m in b and b[m]["hi"] < 0]
        verdict = "gain over all three" if len(beats) == len(VERDICT_AGAINST) else "no resolved gain over all three"
        same = (
            " (the self-check kept the base's block: adapted = base)"
            if r["adapt"]["masked"]["kept_base_masking"]
            else ""
        )
        L.append(
            f"- {d}: {verdict}{same}. Adapted SRCC {fmt(c[MAIN]['srcc'])} vs base {fmt(c['base_fl']['srcc'])}, "
            f"HaarPSI {fmt(c['haarpsi']['srcc'])}, MS-SSIM {fmt(c['ms-ssim']['srcc'])}; resolved better than: "
            f"{', '.join(LABELS[m] for m in beats) or 'none'}; resolved worse than: "
            f"{', '.join(LABELS[m] for m in loses) or 'none'}. Rank agreement of base and adapted scores: "
            f"SRCC {rho:.4f}."
        )
    runs = [(r["n_adapt"], r["adapt"]["wall_s"]) for r in report["domains"].values()]
    if report.get("time_100"):
        runs.append((report["time_100"]["n_images"], report["time_100"]["wall_s"]))
    L.append(
        "- Time (default adapt settings): "
        + ", ".join(f"{t:.0f} s on {n} images" for n, t in runs)
        + f"; {report['env']['threads']} torch thread(s), {report['env']['cpus']} cores shared with other jobs. "
        "No training: the cost is re-creating the conditions on the images and evaluating the block."
    )
    L.append("")
    if report.get("fit"):
        f = report["fit"]
        L.append(
            f"### `iqa fit` with N labelled pairs ({f['domain']} held-out pairs, label = condition mean, "
            f"5 folds split by reference, {f['seeds']} seed(s), mean ± sd)\n"
        )
        bases = list(f["results"])
        L.append("| N | " + " | ".join(f"{b}: CV SRCC | {b}: SRCC on undrawn pairs" for b in bases) + " |")
        L.append("|---|" + "---|---|" * len(bases))
        for n in f["sizes"]:
            cells = []
            for b in bases:
                rows = [r for r in f["results"][b] if r["n"] == min(n, f["pool"])]
                cells += [mean_sd([r["cv_srcc"] for r in rows]), mean_sd([r["rest_srcc"] for r in rows])]
            L.append(f"| {n} | " + " | ".join(cells) + " |")
        ref = report["domains"][f["domain"]]["correlations"]
        L.append("")
        L.append(
            f"For comparison on all {f['pool']} held-out pairs of {f['domain']}: adapted default SRCC "
            f"{fmt(ref[MAIN]['srcc'])}, base default {fmt(ref['base_fl']['srcc'])}, "
            f"HaarPSI {fmt(ref['haarpsi']['srcc'])}, MS-SSIM {fmt(ref['ms-ssim']['srcc'])}. "
            "'adapted' = fit on the domain-adapted weights (adapt, then fit); 'base' = fit on the base weights. "
            "CV SRCC is over the N pairs' out-of-fold predictions (noisy for N = 10); 'undrawn' pairs share "
            "references and conditions with the drawn ones, so neither is an unseen-distortion test.\n"
        )
    return "\n".join(L)


# --------------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", type=Path, default=None, help="base weights (default: shipped causal-iqa)")
    ap.add_argument("--domains", default=",".join(DOMAINS), help="comma-separated subset of domains")
    ap.add_argument("--split-seed", type=int, default=0)
    ap.add_argument("--max-heldout", type=int, default=None, help="score only the first N held-out images")
    ap.add_argument("--fit-domain", default="underwater_euvp")
    ap.add_argument("--fit-sizes", default="10,30,100")
    ap.add_argument("--fit-seeds", type=int, default=3, help="0 skips the fit curve")
    ap.add_argument("--time-100", action="store_true", help="also time adapt on 100 images (manga crops)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workdir", type=Path, default=None, help="keep intermediate files here (default: temp)")
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    ap.add_argument("--render", type=Path, default=None, help="only re-render the markdown of a domains.json")
    args = ap.parse_args()
    if args.render is not None:
        md = render(json.loads(args.render.read_text()))
        print(md)
        (args.out / "domains.md").write_text(md + "\n")
        return

    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    env_prefix = " ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS",) if k in os.environ)
    command = f"{env_prefix} python bench/domains.py {' '.join(sys.argv[1:])}".strip()
    data_dir = find_data_dir(Path(__file__).resolve().parents[1])
    if data_dir is None:
        sys.exit("shared data folder not found (../shared/data or $IQA_SHARED_DATA)")
    root = data_dir / "domains"
    work = args.workdir or Path(tempfile.mkdtemp(prefix="iqa_domains_"))
    work.mkdir(parents=True, exist_ok=True)
    base_scorer = (
        load_model("causal-iqa", device="cpu") if args.base is None else load_model(weights=args.base, device="cpu")
    )
    base = base_scorer.module
    if not isinstance(base, CausalIQA):
        sys.exit(f"base weights {args.base} are not a causal-iqa model")
    if base.masked_haar is None:
        sys.exit("this benchmark measures adapt on a base with the masked Haar block; the base has none")
    conditions = load_conditions(data_dir / CONDITIONS_FILE)
    report: dict[str, Any] = {
        "command": command,
        "env": {
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "load_start": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "torch": torch.__version__,
        },
        "base": {"weights": str(base_scorer.weights), "sha256": base_scorer.weights_sha256},
        "adapt_defaults": {
            "max_side": adaptation.DEFAULT_MAX_SIDE,
            "check_fraction": CHECK_FRACTION,
            "min_check": MIN_CHECK,
        },
        "domains": {},
    }
    fit_pairs: list[DevPair] = []
    fit_feats: dict[str, np.ndarray] = {}
    fit_weights: dict[str, str | None] = {}
    manga_adapt_sources: list[Path] = []

    for dname in [d.strip() for d in args.domains.split(",") if d.strip()]:
        domain = DOMAINS[dname]
        files = dict(source_files(domain, root))
        adapt_names, held_names = split(list(files), args.split_seed)
        if domain.folder == "manga109_subset":
            manga_adapt_sources = [files[n] for n in adapt_names]
        dwork = work / dname
        shutil.rmtree(dwork, ignore_errors=True)
        (dwork / "adapt").mkdir(parents=True)
        for n in adapt_names:
            write_image(dwork / "adapt" / safe(n), prepare(read_image(files[n]).pixels, domain.grey))
        held_refs = [(n, prepare(read_image(files[n]).pixels, domain.grey)) for n in held_names]
        held_refs = held_refs[: args.max_heldout]

        print(f"[{dname}] adapting on {len(adapt_names)} images ...", file=sys.stderr)
        out = dwork / "adapted.safetensors"
        t0 = time.perf_counter()
        rep = adapt(
            [dwork / "adapt"],
            out,
            base=args.base,
            seed=0,
            device="cpu",
            domain=dname,
            force=True,
            conditions=data_dir / CONDITIONS_FILE,
        )
        adapt_wall = time.perf_counter() - t0
        print(f"[{dname}] adapted in {adapt_wall:.0f} s (grey={rep.grey}); {rep.self_check}", file=sys.stderr)
        adapted = load_model(weights=out, device="cpu").module
        if not isinstance(adapted, CausalIQA):
            raise TypeError(f"{out} is not a causal-iqa model")

        conds = [c for c in conditions if not (domain.grey and c.type_id in GREY_DROPPED_TYPES)]
        pairs = list(make_dev_pairs(held_refs, conds, seed=0))
        t0 = time.perf_counter()
        scores, feats_b, feats_a = score_pairs(pairs, base, adapted)
        score_s = time.perf_counter() - t0
        mos = np.array([p.condition.mean_score for p in pairs])
        refs = np.array([p.ref_name for p in pairs])
        print(f"[{dname}] scored {len(pairs)} pairs in {score_s:.0f} s", file=sys.stderr)
        report["domains"][dname] = {
            "grey": domain.grey,
            "n_adapt": len(adapt_names),
            "n_heldout": len(held_refs),
            "adapt_names": adapt_names,
            "heldout_names": [n for n, _ in held_refs],
            "heldout_sizes": [list(a.shape) for _, a in held_refs],
            "n_conditions": len(conds),
            "n_pairs": len(pairs),
            "adapt": {
                "method": rep.method,
                "wall_s": round(adapt_wall, 1),
                "report_elapsed_s": rep.elapsed_s,
                "grey": rep.grey,
                "lf_tau": rep.lf_tau,
                "masked": rep.masked,
                "self_check": rep.self_check,
                "sha256": rep.sha256,
            },
            "score_s": round(score_s, 1),
            "correlations": {m: corr(scores[m], mos) for m in METRICS},
            "bootstrap": bootstrap_delta(scores, mos, refs),
            "pairs": [
                {
                    "ref": p.ref_name,
                    "type_id": p.condition.type_id,
                    "level": p.condition.level,
                    "mos": p.condition.mean_score,
                    **{m: round(float(scores[m][i]), 6) for m in METRICS},
                }
                for i, p in enumerate(pairs)
            ],
        }
        if dname == args.fit_domain:
            fit_pairs, fit_feats = pairs, {"adapted": feats_a, "base": feats_b}
            fit_weights = {"adapted": str(out), "base": str(args.base) if args.base else None}

    if args.time_100:
        if not manga_adapt_sources:
            mfiles = dict(source_files(DOMAINS["manga109_subset"], root))
            manga_adapt_sources = [mfiles[n] for n in split(list(mfiles), args.split_seed)[0]]
        tdir = work / "time100"
        shutil.rmtree(tdir, ignore_errors=True)
        tdir.mkdir(parents=True)
        rng = np.random.default_rng(100)
        pages = [read_image(p).pixels for p in manga_adapt_sources]
        for k in range(100):
            page = pages[k % len(pages)]
            h, w = page.shape[:2]
            y, x = int(rng.integers(h - 384 + 1)), int(rng.integers(w - 384 + 1))
            write_image(tdir / f"crop{k:03d}.png", page[y : y + 384, x : x + 384])
        print("[time-100] adapting on 100 images ...", file=sys.stderr)
        t0 = time.perf_counter()
        rep = adapt(
            [tdir],
            work / "time100.safetensors",
            base=args.base,
            seed=0,
            device="cpu",
            domain="manga-crops",
            force=True,
            conditions=data_dir / CONDITIONS_FILE,
        )
        wall = time.perf_counter() - t0
        print(f"[time-100] {wall:.0f} s", file=sys.stderr)
        report["time_100"] = {
            "n_images": rep.n_images,
            "wall_s": round(wall, 1),
            "report_elapsed_s": rep.elapsed_s,
            "load_end": [round(x, 2) for x in os.getloadavg()],
        }

    sizes = [int(s) for s in args.fit_sizes.split(",") if s.strip()]
    if args.fit_seeds > 0 and fit_pairs:
        print(f"[fit] {args.fit_domain}: N = {sizes}, {args.fit_seeds} seed(s)", file=sys.stderr)
        results = fit_curve(
            fit_pairs,
            {k: (fit_weights[k], fit_feats[k]) for k in ("adapted", "base")},
            sizes,
            args.fit_seeds,
            work / "fit",
        )
        report["fit"] = {
            "domain": args.fit_domain,
            "sizes": sizes,
            "seeds": args.fit_seeds,
            "pool": len(fit_pairs),
            "results": results,
        }

    report["env"]["load_end"] = [round(x, 2) for x in os.getloadavg()]
    report["total_s"] = round(time.perf_counter() - t_start, 1)
    md = render(report)
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "domains.md").write_text(md + "\n")
    (args.out / "domains.json").write_text(json.dumps(report, indent=1))
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
