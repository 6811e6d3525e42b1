"""``iqa adapt``: label-free domain adaptation (thin shell over :func:`iqa_cli.train.adapt.adapt`)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from iqa_cli.cli.options import MatchMode, ProgressOpt, path_argument, path_option
from iqa_cli.cli.terminal import Progress, check_readable, report_unmatched, stderr_console


class HeadChoice(str, Enum):
    few_label = "few_label"
    label_free = "label_free"


def adapt(
    output: Annotated[
        Path,
        path_option("--output", "-o", help="Adapted weights file to write (.safetensors).", dir_okay=False),
    ],
    images: Annotated[
        list[Path] | None,
        path_argument("Clean domain images: files, or folders searched recursively."),
    ] = None,
    pairs_csv: Annotated[
        Path | None,
        path_option(
            "--pairs",
            help="Unlabelled domain pairs, CSV ref,dist: refs join the clean images, dists the head statistics.",
            dir_okay=False,
        ),
    ] = None,
    ref_dir: Annotated[Path | None, path_option("--ref-dir", help="Folder of domain references (pairs).")] = None,
    dist_dir: Annotated[Path | None, path_option("--dist-dir", help="Folder of distorted domain images.")] = None,
    match: Annotated[MatchMode, typer.Option("--match", help="Folder pairing, as in `iqa batch`.")] = MatchMode.auto,
    degradations: Annotated[
        str | None,
        typer.Option(
            "--degradations",
            help="Families or distortion names with optional weights, e.g. noise:2,blur:1 "
            "(families: blur, noise, compression, colour, luminance, geometry, sharpness). "
            "Default: all (grey domains: grey-capable ones).",
        ),
    ] = None,
    domain: Annotated[str | None, typer.Option("--domain", help="Name of the domain (stored in metadata).")] = None,
    base_weights: Annotated[
        Path | None,
        path_option("--base-weights", help="Start from these causal-iqa weights (default: shipped).", dir_okay=False),
    ] = None,
    conditions: Annotated[
        Path | None,
        path_option(
            "--conditions",
            help="KADID development conditions CSV, columns type_id,type_name,level,parameter (a base with the "
            "masked Haar block; default: the definitions shipped with iqa). Human scores in it are not used.",
            dir_okay=False,
        ),
    ] = None,
    head: Annotated[
        HeadChoice | None,
        typer.Option(
            "--head",
            help="Default head of the output. Default: the base's calibrated head (few_label) for the shipped "
            "model; label_free after fine-tuning an older base.",
        ),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Fine-tuning steps (older bases only).", min=0)] = 300,
    seed: Annotated[int, typer.Option("--seed", help="Seed of crops and degradations.")] = 0,
    device: Annotated[str, typer.Option("--device", "-d", help="auto or cpu (training runs on the CPU).")] = "auto",
    crop: Annotated[int, typer.Option("--crop", help="Training crop side (reduced for small images).", min=32)] = 96,
    batch: Annotated[int, typer.Option("--batch", help="Training batch size.", min=1)] = 8,
    fit_samples: Annotated[
        int, typer.Option("--fit-samples", help="Synthetic degradations used to refit the label-free head.", min=1)
    ] = 384,
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", help="Steps between checkpoints (<out>.ckpt.safetensors).", min=1)
    ] = 50,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run from its checkpoint.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the output / discard a stale checkpoint.")] = False,
    progress: ProgressOpt = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
) -> None:
    """Adapt the model to a new domain without labels.

    With the shipped model (masked Haar block): re-choose the block's degradation weights, masking gain and content
    statistic on the domain images so that each degradation stays as severe as the base judged it on natural
    images, keep the calibrated head, and self-check on held-out domain images (the base's block is kept if the
    adapted one does not agree better). Older bases: fine-tune and refit the label-free head (then the
    default head is label-free). Writes a weights file usable with `iqa score/batch --weights FILE`.
    """
    from iqa_cli.batch import discover
    from iqa_cli.errors import DatasetError, PairingError, WeightsError
    from iqa_cli.train.adapt import adapt as run
    from iqa_cli.train.checkpoint import checkpoint_paths

    if (ref_dir is None) != (dist_dir is None):
        raise typer.BadParameter("give both --ref-dir and --dist-dir")
    if pairs_csv is not None and ref_dir is not None:
        raise typer.BadParameter("give either --pairs or --ref-dir/--dist-dir, not both")
    if not images and pairs_csv is None and ref_dir is None:
        raise typer.BadParameter("give domain IMAGES (files or folders), --pairs, or --ref-dir/--dist-dir")
    check_readable(pairs_csv, "pairs file", PairingError)
    check_readable(base_weights, "weights file", WeightsError)
    check_readable(conditions, "conditions file", DatasetError)
    console = stderr_console()
    pairs = []
    if pairs_csv is not None or ref_dir is not None:
        pairing = discover(ref_dir, dist_dir, pairs_csv, match.value)
        report_unmatched(pairing, console)
        pairs = pairing.pairs
    if resume:
        console.print(f"iqa: resuming the adaptation checkpoint beside {output}")
    try:
        with Progress(console, progress) as bar:
            report = run(
                images or [],
                output,
                base=base_weights,
                pairs=pairs,
                steps=steps,
                seed=seed,
                device=device,
                degradations=degradations,
                domain=domain,
                crop=crop,
                batch=batch,
                fit_samples=fit_samples,
                checkpoint_every=checkpoint_every,
                resume=resume,
                force=force,
                progress=bar.phases(
                    {
                        "train": "adapting",
                        "heads": "fitting head",
                        "masking": "choosing masking",
                        "check": "self-check",
                    }
                ),
                conditions=conditions,
                head=head.value if head is not None else None,
            )
    except KeyboardInterrupt:
        ckpt = checkpoint_paths(output)[0]
        hint = f"run the same command with --resume to continue from {ckpt}" if ckpt.exists() else "no checkpoint yet"
        console.print(f"iqa: interrupted — {hint}")
        raise typer.Exit(130) from None
    resumed = f", resumed from step {report.resumed_from}" if report.resumed_from is not None else ""
    how = {
        "masked-statistics": "masking re-estimated, calibrated head kept",
        "masked-anchored": "block re-chosen by the base's condition anchors, calibrated head kept",
    }.get(report.method, f"{report.steps} steps{resumed}")
    console.print(
        f"iqa: adapted on {report.n_images} image(s) and {report.n_pairs} pair(s), {how}, "
        f"in {report.elapsed_s:.1f}s -> {report.output} (sha256 {report.sha256[:12]}…, "
        f"default head {report.default_head})",
    )
    if report.self_check is not None:
        console.print(f"iqa: {report.self_check}")
    if as_json:
        print(json.dumps(report.as_dict()))
