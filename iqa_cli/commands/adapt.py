"""``iqa adapt``: label-free domain adaptation (thin shell over :func:`iqa_cli.train.adapt.adapt`)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer


class _Match(str, Enum):
    auto = "auto"
    path = "path"
    prefix = "prefix"


def adapt(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Adapted weights file to write (.safetensors).", dir_okay=False)
    ],
    images: Annotated[
        list[Path] | None, typer.Argument(help="Clean domain images: files, or folders searched recursively.")
    ] = None,
    pairs_csv: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            help="Unlabelled domain pairs, CSV ref,dist: refs join the clean images, dists the head statistics.",
            dir_okay=False,
        ),
    ] = None,
    ref_dir: Annotated[Path | None, typer.Option("--ref-dir", help="Folder of domain references (pairs).")] = None,
    dist_dir: Annotated[Path | None, typer.Option("--dist-dir", help="Folder of distorted domain images.")] = None,
    match: Annotated[_Match, typer.Option("--match", help="Folder pairing, as in `iqa batch`.")] = _Match.auto,
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
        typer.Option("--base-weights", help="Start from these causal-iqa weights (default: shipped).", dir_okay=False),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Fine-tuning steps.", min=0)] = 300,
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
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr (terminal only).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
) -> None:
    """Adapt the model to a new domain without labels: fine-tune on clean domain images, refit the label-free head.

    Writes a weights file usable with `iqa score/batch --weights FILE`; its default head is label-free.
    """
    from iqa_cli.cli import _stderr, fail
    from iqa_cli.errors import IQAError

    if (ref_dir is None) != (dist_dir is None):
        raise typer.BadParameter("give both --ref-dir and --dist-dir")
    if pairs_csv is not None and ref_dir is not None:
        raise typer.BadParameter("give either --pairs or --ref-dir/--dist-dir, not both")
    if not images and pairs_csv is None and ref_dir is None:
        raise typer.BadParameter("give domain IMAGES (files or folders), --pairs, or --ref-dir/--dist-dir")
    console = _stderr()
    try:
        from iqa_cli.batch import discover, progress_bar, report_unmatched
        from iqa_cli.train.adapt import adapt as run

        pairs = []
        if pairs_csv is not None or ref_dir is not None:
            pairing = discover(ref_dir, dist_dir, pairs_csv, match.value)
            report_unmatched(pairing, console)
            pairs = pairing.pairs
        bar = progress_bar(console, progress)
        tasks: dict[str, Any] = {}

        def on_progress(phase: str, done: int, total: int) -> None:
            if bar is None:
                return
            if phase not in tasks:
                label = "adapting" if phase == "train" else "fitting head"
                tasks[phase] = bar.add_task(label, total=total, completed=done, rate="")
            bar.update(tasks[phase], completed=done, total=total)

        if resume:
            console.print(f"iqa: resuming the adaptation checkpoint beside {output}", markup=False)
        with bar if bar is not None else _null():
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
                progress=on_progress,
            )
    except IQAError as exc:
        fail(exc)
    except KeyboardInterrupt:
        from iqa_cli.train.checkpoint import checkpoint_paths

        ckpt = checkpoint_paths(output)[0]
        hint = f"run the same command with --resume to continue from {ckpt}" if ckpt.exists() else "no checkpoint yet"
        console.print(f"iqa: interrupted — {hint}", markup=False)
        raise typer.Exit(130) from None
    resumed = f", resumed from step {report.resumed_from}" if report.resumed_from is not None else ""
    console.print(
        f"iqa: adapted on {report.n_images} image(s) and {report.n_pairs} pair(s), {report.steps} steps{resumed}, "
        f"in {report.elapsed_s:.1f}s -> {report.output} (sha256 {report.sha256[:12]}…, default head label_free)",
        markup=False,
    )
    if as_json:
        print(json.dumps(report.as_dict()))


def _null() -> Any:
    from contextlib import nullcontext

    return nullcontext()
