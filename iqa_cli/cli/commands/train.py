"""``iqa train``: the reproducible recipe behind the shipped causal-iqa weights (see iqa_cli.train.recipe)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from iqa_cli.cli.options import path_option
from iqa_cli.cli.terminal import stderr_console


def train(
    out: Annotated[
        Path | None,
        path_option(
            "--out",
            help="Folder for the weights and manifest.json (default: WORKDIR/weights). "
            "The shipped weights/ folder, or an existing weights file, needs --force.",
        ),
    ] = None,
    workdir: Annotated[
        Path,
        path_option("--workdir", help="Checkpoints, logs and cached features (resumes from here)."),
    ] = Path("runs/train"),
    force: Annotated[
        bool,
        typer.Option("--force", help="Allow writing into the shipped weights folder and over existing weights."),
    ] = False,
    steps: Annotated[int, typer.Option("--steps", min=1, help="Self-supervised training steps.")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of crops, degradations and initialisation.")] = 0,
    threads: Annotated[int, typer.Option("--threads", min=1, help="CPU threads for torch.")] = 1,
    robust: Annotated[
        bool,
        typer.Option(
            "--robust",
            help="Instead: make causal-iqa-robust from --out's causal-iqa.safetensors (else the shipped one; it needs "
            "the masked Haar block): the block with the soft-ranking gate and the just-noticeable difference below, "
            "heads refitted (minutes).",
        ),
    ] = False,
    jnd: Annotated[
        float | None,
        typer.Option(
            "--jnd",
            min=0.0,
            help="For --robust: just-noticeable difference in 8-bit levels (default: the shipped model's).",
        ),
    ] = None,
    rank_keep: Annotated[
        float | None,
        typer.Option(
            "--rank-keep",
            min=0.0,
            max=1.0,
            help="For --robust: fraction of the 5 degradation channels the soft-ranking gate keeps open, 1 = no gate "
            "(default: the shipped model's).",
        ),
    ] = None,
    rank_tau: Annotated[
        float | None,
        typer.Option(
            "--rank-tau",
            min=0.0,
            help="For --robust: temperature of the soft-ranking gate (default: the shipped model's).",
        ),
    ] = None,
    pool_weight: Annotated[
        str | None,
        typer.Option(
            "--pool-weight",
            help="For --robust: pooling weights of the masked Haar block, ref (the reference's, which a perturbation "
            "of the distorted image cannot move) or max (HaarPSI's) (default: the shipped model's).",
        ),
    ] = None,
    visibility: Annotated[
        float | None,
        typer.Option(
            "--visibility",
            min=1.0,
            help="For --robust: factor on the masked Haar block's visibility constant (default: the shipped model's).",
        ),
    ] = None,
    widths: Annotated[
        str,
        typer.Option(
            "--widths", help="Encoder channels of the 3 stages, e.g. 8,16,24; content and degradation codes get half."
        ),
    ] = "16,32,48",
    device: Annotated[
        str,
        typer.Option(
            "--device",
            help="Where the network trains and the heads' features are computed: cpu, cuda, cuda:N, mps or auto.",
        ),
    ] = "cpu",
    masked: Annotated[
        bool,
        typer.Option(
            "--masked",
            help="Instead: add and fit the masked Haar block on --out's causal-iqa.safetensors (else the shipped one): "
            "the recipe of the shipped default (minutes).",
        ),
    ] = False,
    refit_heads: Annotated[
        bool,
        typer.Option(
            "--refit-heads",
            help="Keep the encoder of --out's causal-iqa.safetensors (else the shipped one) and refit only its heads "
            "(minutes, not hours).",
        ),
    ] = False,
) -> None:
    """Train causal-iqa from pristine images (no human scores), fit its heads, write them to a run folder.

    The shipped weights are never replaced unless asked for: `--out weights --force` (after checking the result).
    """
    from iqa_cli.device import resolve_device
    from iqa_cli.models.causal.masked_haar import MaskedHaar
    from iqa_cli.train.publish import is_shipped_folder
    from iqa_cli.train.recipe import MODEL_NAME, run_training

    try:
        stage_widths = tuple(int(w) for w in widths.split(","))
    except ValueError:
        stage_widths = ()
    if len(stage_widths) != 3 or any(w < 2 or w % 2 for w in stage_widths):
        raise typer.BadParameter(
            f"expected three even numbers >= 2 like 16,32,48, got {widths!r}", param_hint="--widths"
        )
    out_dir = workdir / "weights" if out is None else out
    refit_from: Path | None = None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    target = str(resolve_device(device))
    if target != "cpu" and (robust or refit_heads or masked):
        raise typer.BadParameter(
            "--robust, --masked and --refit-heads run on the CPU only; leave --device out", param_hint="--device"
        )
    robust_only = {
        "--jnd": jnd,
        "--rank-keep": rank_keep,
        "--rank-tau": rank_tau,
        "--pool-weight": pool_weight,
        "--visibility": visibility,
    }
    given = [k for k, v in robust_only.items() if v is not None]
    if given and not robust:
        raise typer.BadParameter(f"{given[0]} sets the robust variant: add --robust", param_hint=given[0])
    if rank_keep is not None and rank_keep <= 0.0:
        raise typer.BadParameter(f"expected a fraction in (0, 1], got {rank_keep:g}", param_hint="--rank-keep")
    if pool_weight is not None and pool_weight not in MaskedHaar.POOL_WEIGHTS:
        raise typer.BadParameter(f"expected ref or max, got {pool_weight!r}", param_hint="--pool-weight")
    if rank_tau is not None and rank_tau <= 0.0:
        raise typer.BadParameter(f"expected a temperature > 0, got {rank_tau:g}", param_hint="--rank-tau")
    if masked:
        from iqa_cli.train.masked_recipe import run_masked
        from iqa_cli.weights import shipped_path

        beside = out_dir / f"{MODEL_NAME}.safetensors"
        base = beside if beside.is_file() else shipped_path(beside.name)[0]
        summary = run_masked(out_dir, workdir, base, seed=seed, threads=threads, force=force)
    elif robust:
        from dataclasses import replace

        from iqa_cli.train.robust_recipe import RobustSettings, run_robust
        from iqa_cli.weights import shipped_path

        asked: dict[str, Any] = {k.lstrip("-").replace("-", "_"): v for k, v in robust_only.items() if v is not None}
        settings = replace(RobustSettings(), **asked)  # the shipped settings where not asked otherwise
        beside = out_dir / f"{MODEL_NAME}.safetensors"
        base = beside if beside.is_file() else shipped_path(beside.name)[0]
        summary = run_robust(out_dir, workdir, base, settings, seed=seed, threads=threads, force=force)
    else:
        if refit_heads:
            from iqa_cli.weights import shipped_path

            beside = out_dir / f"{MODEL_NAME}.safetensors"
            refit_from = beside if beside.is_file() else shipped_path(beside.name)[0]
        summary = run_training(
            out_dir,
            workdir,
            steps=steps,
            seed=seed,
            threads=threads,
            widths=stage_widths,
            refit_from=refit_from,
            device=target,
            force=force,
        )
    where = "replaced the shipped weights (--force)" if is_shipped_folder(out_dir) else "shipped weights untouched"
    source = f"; heads refitted on the encoder of {refit_from}" if refit_from is not None else ""
    stderr_console().print(f"iqa: wrote {summary['weights']} (sha256 {summary['sha256'][:12]}…; {where}{source})")
    print(json.dumps(summary, indent=2))
