"""``iqa score``: one pair -> a bare score on stdout (or one JSON object), optionally a quality-map PNG."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

from iqa_cli.cli.options import (
    DeviceOpt,
    JsonOpt,
    MaxPixelsOpt,
    ModelOpt,
    ResizeOpt,
    ResizePolicy,
    WeightsOpt,
    path_argument,
    path_option,
)
from iqa_cli.cli.terminal import check_readable, stderr_console, weights_note


def score(
    ref: Annotated[Path, path_argument("Reference (pristine) image.")],
    dist: Annotated[Path, path_argument("Distorted image.")],
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    resize: ResizeOpt = ResizePolicy.none,
    max_pixels: MaxPixelsOpt = 100_000_000,
    as_json: JsonOpt = False,
    map_out: Annotated[
        Path | None,
        path_option("--map", help="Write a heatmap PNG of where quality was lost, over the distorted image."),
    ] = None,
) -> None:
    """Score one pair: prints the score (bare number, or --json)."""
    from iqa_cli.api import load_model
    from iqa_cli.errors import ImageError, UsageError, WeightsError
    from iqa_cli.results import check_output_path

    console = stderr_console()
    if map_out is not None:
        if map_out.suffix.lower() != ".png":
            raise UsageError(f"--map {map_out}: the quality map is written as PNG — give a .png file name")
        check_output_path(map_out, "--map")
    check_readable(ref, "image", ImageError)
    check_readable(dist, "image", ImageError)
    check_readable(weights, "weights file", WeightsError)
    t0 = time.perf_counter()
    scorer = load_model(model, weights=weights, device=device)
    if map_out is not None and not scorer.has_quality_map:
        raise UsageError(f"model {scorer.name!r} gives no quality map — use the default model for --map")
    value = scorer.score(ref, dist, resize=resize.value, max_pixels=max_pixels)
    elapsed = time.perf_counter() - t0
    if map_out is not None:
        from iqa_cli.viz import save_heatmap

        save_heatmap(map_out, scorer.quality_map(ref, dist, resize=resize.value), dist)
        console.print(f"quality map written to {map_out}")
    if not scorer.shipped:
        console.print(f"iqa: scored by {scorer.name} with {weights_note(scorer.describe())}")
    if as_json:
        info = scorer.describe()
        out = {
            "ref": str(ref),
            "dist": str(dist),
            "model": info["model"],
            "score": value,
            "scale": info["scale"],
            "higher_is_better": info["higher_is_better"],
            "device": info["device"],
            "weights_sha256": info["weights_sha256"],
            "weights_shipped": info["weights_shipped"],
            "elapsed": round(elapsed, 4),
        }
        print(json.dumps(out))
    else:
        print(f"{value:.6g}")
