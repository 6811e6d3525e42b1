"""``iqa attack``: parse -> :mod:`iqa_cli.attack` -> render. No torch at import.

Rows (CSV / JSON Lines, columns :data:`iqa_cli.attack.COLUMNS`) go to stdout or ``-o``; the summary goes to stderr,
or to stdout as one JSON object with ``--json`` (holding the rows too when no ``-o`` is given).
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
        str, typer.Option("--eps", help="L-inf budget: 2/255, a fraction < 1 (0.008) or 8-bit levels >= 1 (2).")
    ] = "2/255",
    steps: Annotated[int, typer.Option("--steps", help="PGD iterations (FGSM: one step).", min=1)] = 10,
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
        eps_value = lib.parse_eps(eps)
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
            scorer, pairs, eps=eps_value, steps=steps, method=method.value, center=center, round8=round8,  # type: ignore[arg-type]
            resize=resize.value, max_pixels=max_pixels, save_dir=save_adversarial, dist_root=dist_root, seed=seed,
        )  # fmt: skip
        rows: list[Any] = []
        sink = open(output, "w", encoding="utf-8", newline="") if output else nullcontext(sys.stdout)
        stream_rows = output is not None or not as_json
        bar = progress_bar(console, progress and len(pairs) > 1)
        t0 = time.perf_counter()
        with sink as stream, bar if bar is not None else nullcontext():
            writer = _Writer(stream, fmt.value, lib.COLUMNS) if stream_rows else None
            task = bar.add_task("attacking", total=len(pairs), rate="") if bar is not None else None
            for row in rows_iter:
                rows.append(row)
                if writer is not None:
                    writer.write(row.as_dict())
                if bar is not None:
                    bar.update(task, advance=1, rate=f"{len(rows) / max(time.perf_counter() - t0, 1e-9):.2f} pairs/s")
    except IQAError as exc:
        fail(exc)
    summary = lib.summarise(rows, label_map)
    summary.update(
        model=scorer.name, device=str(scorer.device), method=method.value, eps=eps_value, eps_8bit=eps_value * 255,
        steps=1 if method.value.startswith("fgsm") else steps, rounded_8bit=round8,
        center_rule=lib.center_rule(scorer.spec, center) if method is AttackMethod.reflect else None,
        elapsed=round(time.perf_counter() - t0, 3),
    )  # fmt: skip
    if as_json:
        if not stream_rows:
            summary["pairs"] = [r.as_dict() for r in rows]
        print(json.dumps(summary))
    _print_summary(console, summary, rows)
    raise typer.Exit(EXIT_FAILURE if summary["failed"] else EXIT_OK)


def _print_summary(console: Any, s: dict[str, Any], rows: list[Any]) -> None:
    head = (
        f"iqa: {s['method']} attack with {s['model']} on {s['device']}: eps {s['eps_8bit']:.3g}/255, "
        f"{s['steps']} step(s), {'8-bit rounded' if s['rounded_8bit'] else 'not rounded'}"
    )
    if s["center_rule"]:
        head += f"; reflected about {_fmt(s['center'])} ({s['center_rule']})"
    console.print(head)
    if len(rows) == 1 and rows[0].error is None:
        r = rows[0]
        console.print(
            f"iqa: clean {r.clean_score:.4g} -> attacked {r.attacked_score:.4g} (shift {r.shift:+.4g}), "
            f"linf {r.linf * 255:.3g}/255, PSNR {r.psnr_db:.1f} dB, {r.nan_grad_fallbacks} gradient fallback(s)"
        )
        return
    console.print(
        f"iqa: {s['attacked']} attacked, {s['failed']} failed in {s['elapsed']:.1f}s; mean |shift| "
        f"{_fmt(s['mean_abs_shift'])} = {_fmt(s['shift_over_spread'], '.3g')} of the clean scores' spread "
        f"(std {_fmt(s['clean_std'])}); SRCC attacked vs clean {_fmt(s['srcc_attacked_vs_clean'], '.4f')}; "
        f"{s['nan_grad_fallbacks']} gradient fallback(s)"
    )
    if "n_labelled" in s:
        console.print(
            f"iqa: against {s['n_labelled']} label(s): SRCC clean {_fmt(s['srcc_clean_vs_labels'], '.4f')}, "
            f"attacked {_fmt(s['srcc_attacked_vs_labels'], '.4f')}"
        )
