"""Writing trained weights: the guard against replacing weights by accident, the weights file with its metadata,
and its entry in the folder's ``manifest.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iqa_cli.errors import UsageError, WeightsError

if TYPE_CHECKING:
    from iqa_cli.models.causal import CausalIQA


def is_shipped_folder(folder: Path) -> bool:
    """Whether ``folder`` is the folder of the shipped weights (:func:`iqa_cli.weights.weights_dir`)."""
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
    manifest: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"format": 1, "files": {}}
    manifest["files"][file_name] = {
        "sha256": sha,
        "model": model,
        "arch": arch,
        "config": config,
        "recipe": recipe,
        "data": data,
    }
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
