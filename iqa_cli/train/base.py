"""The base model that ``iqa adapt`` and ``iqa fit`` start from: a causal-iqa weights file, the shipped one by
default, and how the output's metadata names it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from iqa_cli.errors import UsageError, WeightsError

if TYPE_CHECKING:
    from iqa_cli.api import Scorer
    from iqa_cli.models.causal import CausalIQA


def load_base(base: str | Path | None, device: str, command: str) -> tuple[Scorer, CausalIQA, dict[str, Any]]:
    """Load ``base`` (the shipped ``causal-iqa`` weights if None) on ``device`` for ``command`` (``adapt``/``fit``).

    Returns:
        (scorer, its causal model, the base's description for the output's metadata: model, weights file name —
        never a machine path —, sha256 and domain).

    Raises:
        WeightsError: the weights are missing or corrupt.
        UsageError: the weights belong to another model.
    """
    from iqa_cli.api import load_model
    from iqa_cli.models.causal import CausalIQA

    try:
        scorer = load_model("causal-iqa", device=device) if base is None else load_model(weights=base, device=device)
    except WeightsError as exc:
        if base is None:
            raise WeightsError(f"{exc} (or pass --base-weights FILE)") from exc
        raise
    if not isinstance(scorer.module, CausalIQA):
        raise UsageError(f"base weights {base} belong to model {scorer.name!r}; {command} needs a causal-iqa model")
    info = {
        "model": scorer.name,
        "weights": scorer.weights.name if scorer.weights else None,
        "sha256": scorer.weights_sha256,
        "domain": scorer.metadata.get("domain"),
    }
    return scorer, scorer.module, info


def save_derived(
    out: Path, model: CausalIQA, kind: str, base: dict[str, Any], domain: str | None, **details: Any
) -> str:
    """Write ``model`` (derived from ``base`` by ``kind``: ``adapted`` or ``fitted``) to ``out`` with the metadata
    every derived weights file has — model, config, kind, default head (the config's), base, domain — and
    ``details``; returns the file's sha256. The same inputs give the same bytes."""
    from iqa_cli.weights import save_weights

    metadata = {
        "model": "causal-iqa",
        "config": model.config.to_dict(),
        "kind": kind,
        "default_head": model.config.head,
        "base": base,
        "domain": domain,
        **details,
    }
    return save_weights(out, model.state_dict(), metadata)
