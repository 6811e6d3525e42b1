"""``iqa attack``: parse -> :mod:`iqa_cli.attack` -> render. No torch at import.

Rows (CSV / JSON Lines, columns :data:`iqa_cli.attack.COLUMNS`, one per pair and budget) go to stdout or ``-o``; the
summary goes to stderr, or to stdout as one JSON object with ``--json`` (holding the rows too when no ``-o`` is given):
its top-level figures are those of the largest budget, ``by_eps`` holds every budget's.
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from iqa_cli.cli.options import (
    DeviceOpt,
    JsonOpt,
    MatchMode,
    MaxPixelsOpt,
    ModelOpt,
    OutFormat,
    ResizeOpt,
    ResizePolicy,
    WeightsOpt,
    path_argument,
    path_option,
)
from iqa_cli.cli.terminal import fail, stderr_console
from iqa_cli.errors import EXIT_FAILURE, EXIT_OK, ImageError, IQAError
from iqa_cli.output import RowWriter as _Writer


class AttackMethod(str, Enum):
    reflect = "reflect"
    pgd_up = "pgd-up"
    pgd_down = "pgd-down"
    fgsm_up = "fgsm-up"
    fgsm_down = "fgsm-down"


def _fmt(value: float | None, spec: str = ".4g") -> str:
    return "n/a" if value is None else format(value, spec)


def attack(
    ref: Annotated[Path | None, path_argument("Reference image, or folder of references.")] = None,
    dist: Annotated[Path | None, path_argument("Distorted image, or folder of distorted images.")] = None,
    pairs_csv: Annotated[
        Path | None,
        path_option("--pairs", help="CSV with columns ref,dist (instead of REF DIST).", dir_okay=False),
    ] = None,
    match: Annotated[MatchMode, typer.Option("--match", help="Folder pairing, as in `iqa batch`.")] = MatchMode.auto,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    eps: Annotated[
        str,
        typer.Option(
            "--eps",
            help="L-inf budget: 2/255, a fraction < 1 (0.008) or 8-bit levels >= 1 (2); several: 1/255,2/255,4/255.",
        ),
    ] = "2/255",
    steps: Annotated[
        int, typer.Option("--steps", help="PGD iterations per rung of the eps ladder (FGSM: one step).", min=1)
    ] = 10,
    restarts: Annotated[
        int, typer.Option("--restarts", help="PGD runs per rung: the first warm-started, the others random.", min=1)
    ] = 1,
    method: Annotated[
        AttackMethod,
        typer.Option("--method", help="reflect = score toward its mirror image about the centre; up/down = raw score."),
    ] = AttackMethod.reflect,
    center: Annotated[
        float | None,
        typer.Option("--center", help="Reflection point (default: scale midpoint, or median of the clean scores)."),
    ] = None,
    round8: Annotated[
        bool, typer.Option("--round/--no-round", help="Round the adversarial image to 8 bits before re-scoring.")
    ] = True,
    labels: Annotated[
        Path | None,
        path_option("--labels", help="CSV ref,dist,score: SRCC of clean/attacked scores.", dir_okay=False),
    ] = None,
    save_adversarial: Annotated[
        Path | None,
        path_option("--save-adversarial", help="Write adversarial PNGs here (dist's relative name).", file_okay=False),
    ] = None,
    output: Annotated[Path | None, path_option("--output", "-o", help="Write rows here instead of stdout.")] = None,
    fmt: Annotated[OutFormat, typer.Option("--format", "-f", help="csv or jsonl.")] = OutFormat.csv,
    as_json: JsonOpt = False,
    resize: ResizeOpt = ResizePolicy.none,
    max_pixels: MaxPixelsOpt = 100_000_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the NaN/zero-gradient fallback jitter.")] = 0,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
) -> None:
    """Adversarial robustness: perturb each distorted image within --eps and report how far its score moves."""
    import time

    from iqa_cli import attack as lib
    from iqa_cli.batch import discover
    from iqa_cli.cli.terminal import progress_bar, report_unmatched
    from iqa_cli.pairs import Pair

    console = stderr_console()
    if pairs_csv is not None and (ref is not None or dist is not None):
        raise typer.BadParameter("give either REF DIST or --pairs, not both")
    if pairs_csv is None and (ref is None or dist is None):
        raise typer.BadParameter("give REF DIST (two images or two folders), or --pairs FILE")
    try:
        budgets = lib.parse_eps_list(eps)
        missing = [p for p in (ref, dist) if p is not None and not p.exists()]
        if missing:
            raise ImageError(f"'{missing[0]}' not found — give two images or two folders (or --pairs FILE)")
        dist_root: Path | None = None
        if pairs_csv is None and ref is not None and dist is not None and ref.is_file() and dist.is_file():
            pairs, dist_root = [Pair(ref, dist)], dist.parent
        elif pairs_csv is None and ref is not None and dist is not None and (ref.is_file() or dist.is_file()):
            raise typer.BadParameter("REF and DIST must be two images or two folders, not one of each")
        else:
            pairing = discover(ref, dist, pairs_csv, match.value)
            report_unmatched(pairing, console)
            pairs = pairing.pairs
            dist_root = dist if pairs_csv is None else None
        label_map = lib.read_labels(labels) if labels is not None else None
        from iqa_cli.api import load_model

        scorer = load_model(model, weights=weights, device=device)
        rows_iter = lib.attack_pairs(
            scorer, pairs, eps=budgets, steps=steps, method=method.value, center=center, round8=round8,  # type: ignore[arg-type]
            restarts=restarts, resize=resize.value, max_pixels=max_pixels, save_dir=save_adversarial,
            dist_root=dist_root, seed=seed,
        )  # fmt: skip
        rows: list[Any] = []
        sink = open(output, "w", encoding="utf-8", newline="") if output else nullcontext(sys.stdout)
        stream_rows = output is not None or not as_json
        bar = progress_bar(console, progress and len(pairs) > 1)
        t0 = time.perf_counter()
        with sink as stream, bar if bar is not None else nullcontext():
            writer = _Writer(stream, fmt.value, lib.COLUMNS) if stream_rows else None
            task = bar.add_task("attacking", total=len(pairs) * len(budgets), rate="") if bar is not None else None
            for row in rows_iter:
                rows.append(row)
                if writer is not None:
                    writer.write(row.as_dict())
                if bar is not None:
                    rate = len(rows) / len(budgets) / max(time.perf_counter() - t0, 1e-9)
                    bar.update(task, advance=1, rate=f"{rate:.2f} pairs/s")
    except IQAError as exc:
        fail(exc)
    by_eps = []
    for e in budgets:
        part = lib.summarise([r for r in rows if r.eps == e], label_map)
        by_eps.append({"eps": e, "eps_8bit": e * 255, **part})
    summary: dict[str, Any] = {
        **by_eps[-1],
        "n": len(rows),
        "failed": sum(1 for r in rows if r.error is not None),
        "budgets": budgets,
        "model": scorer.name,
        "device": str(scorer.device),
        "method": method.value,
        "steps": 1 if method.value.startswith("fgsm") else steps,
        "restarts": 1 if method.value.startswith("fgsm") else restarts,
        "rounded_8bit": round8,
        "center_rule": lib.center_rule(scorer.spec, center) if method is AttackMethod.reflect else None,
        "elapsed": round(time.perf_counter() - t0, 3),
        "by_eps": by_eps,
    }
    if as_json:
        if not stream_rows:
            summary["pairs"] = [r.as_dict() for r in rows]
        print(json.dumps(summary))
    _print_summary(console, summary, rows)
    raise typer.Exit(EXIT_FAILURE if summary["failed"] else EXIT_OK)


def _print_summary(console: Any, s: dict[str, Any], rows: list[Any]) -> None:
    budgets = ", ".join(f"{e * 255:.3g}/255" for e in s["budgets"])
    head = (
        f"iqa: {s['method']} attack with {s['model']} on {s['device']}: eps {budgets}, "
        f"{s['steps']} step(s){' per rung' if s['steps'] > 1 else ''}, {s['restarts']} run(s) per rung, "
        f"{'8-bit rounded' if s['rounded_8bit'] else 'not rounded'}, {s['elapsed']:.1f}s"
    )
    if s["center_rule"]:
        head += f"; reflected about {_fmt(s['center'])} ({s['center_rule']})"
    console.print(head)
    single = len({(r.ref, r.dist) for r in rows}) == 1
    for part in s["by_eps"]:
        at = f"eps {part['eps_8bit']:.3g}/255: " if len(s["by_eps"]) > 1 else ""
        mine = [r for r in rows if r.eps == part["eps"]]
        if single and len(mine) == 1 and mine[0].error is None:
            r = mine[0]
            line = (
                f"iqa: {at}clean {r.clean_score:.4g} -> attacked {r.attacked_score:.4g} (shift {r.shift:+.4g}), "
                f"linf {r.linf * 255:.3g}/255, PSNR {r.psnr_db:.1f} dB, {r.nan_grad_fallbacks} gradient fallback(s)"
            )
            if r.no_progress:
                line += "; no progress: the attack found no image that beats the clean one (not a robustness result)"
            console.print(line)
            continue
        console.print(
            f"iqa: {at}{part['attacked']} attacked, {part['failed']} failed, {part['no_progress']} without progress"
            f"{' (the attack found nothing there: their zero shift is not robustness)' if part['no_progress'] else ''}"
            f"; mean |shift| "
            f"{_fmt(part['mean_abs_shift'])} = {_fmt(part['shift_over_spread'], '.3g')} of the clean scores' spread "
            f"(std {_fmt(part['clean_std'])}); SRCC attacked vs clean {_fmt(part['srcc_attacked_vs_clean'], '.4f')}; "
            f"{part['nan_grad_fallbacks']} gradient fallback(s)"
        )
        if "n_labelled" in part:
            console.print(
                f"iqa: {at}against {part['n_labelled']} label(s): SRCC clean "
                f"{_fmt(part['srcc_clean_vs_labels'], '.4f')}, attacked {_fmt(part['srcc_attacked_vs_labels'], '.4f')}"
            )
    if s["failed"]:
        console.print(f"iqa: {s['failed']} row(s) failed (see the error column)")
