"""Model registry: architectures registered by name with typed metadata (direction, scale, input limits)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from iqa_cli.errors import ModelNotFoundError, UsageError

if TYPE_CHECKING:
    from torch import nn


@dataclass(frozen=True)
class ModelSpec:
    """Everything the tool needs to know about a model before building it.

    Attributes:
        name: registry name (``--model``).
        description: one line for ``iqa models``.
        higher_is_better: direction of the score.
        scale: (low, high) bounds of the score, or None when unbounded (e.g. PSNR in dB).
        unit: what a score means, e.g. "quality 0-100" or "dB".
        factory: builds the ``nn.Module``; learned models take ``config`` (from their weights metadata).
        weights: file name inside ``weights/`` holding the trained parameters, or None for training-free models.
        min_size: smallest accepted height/width in pixels.
        differentiable: gradients flow from the score to the distorted image (needed by ``iqa attack``).
        default: the model used when ``--model`` is not given.
        tags: free-form labels (``learned``, ``baseline``, ``robust``).
    """

    name: str
    description: str
    higher_is_better: bool
    scale: tuple[float, float] | None
    unit: str
    factory: Callable[..., nn.Module]
    weights: str | None = None
    min_size: int = 1
    differentiable: bool = True
    default: bool = False
    tags: tuple[str, ...] = field(default_factory=tuple)


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry.

    Raises:
        UsageError: a model of that name is already registered.
    """
    if spec.name in _REGISTRY:
        raise UsageError(f"model {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def _ensure_loaded() -> None:
    # Importing the architecture modules registers their models.
    from iqa_cli.models import (
        baselines,  # noqa: F401
        causal,  # noqa: F401
    )


def get_spec(name: str) -> ModelSpec:
    """Look a model up by name.

    Raises:
        ModelNotFoundError: no such model; the message lists the known ones.
    """
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ModelNotFoundError(f"unknown model {name!r}: choose one of {known} (see `iqa models`)") from None


def list_specs() -> list[ModelSpec]:
    """All registered models, the default first, then by name."""
    _ensure_loaded()
    return sorted(_REGISTRY.values(), key=lambda s: (not s.default, s.name))


def default_model_name() -> str:
    """Name of the default model."""
    for spec in list_specs():
        if spec.default:
            return spec.name
    raise ModelNotFoundError("no default model is registered")
