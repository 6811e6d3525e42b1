"""iqa: full-reference image quality assessment that separates content from degradation.

Public API (imported lazily, so ``import iqa_cli`` and ``iqa --help`` stay fast)::

    from iqa_cli import load_model, list_models
    scorer = load_model()                      # default model, device "auto"
    scorer.score("ref.png", "dist.png")        # -> float, 0-100, higher is better

Errors raised on purpose derive from :class:`iqa_cli.errors.IQAError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iqa_cli.errors import (
    DatasetError,
    DeviceError,
    ImageError,
    IQAError,
    ModelNotFoundError,
    PairingError,
    SizeMismatchError,
    TrainingError,
    UsageError,
    WeightsError,
)

__version__ = "0.1.0"

_LAZY = {
    "load_model": "iqa_cli.api",
    "Scorer": "iqa_cli.api",
    "PairResult": "iqa_cli.api",
    "score_pairs": "iqa_cli.api",
    "list_models": "iqa_cli.api",
    "adapt": "iqa_cli.train.adapt",
    "fit": "iqa_cli.train.fit",
    "attack": "iqa_cli.attack",
    "read_image": "iqa_cli.io",
    "keep_freed_memory": "iqa_cli.runtime",
}

__all__ = [
    "DatasetError",
    "DeviceError",
    "IQAError",
    "ImageError",
    "ModelNotFoundError",
    "PairingError",
    "SizeMismatchError",
    "TrainingError",
    "UsageError",
    "WeightsError",
    "__version__",
    *_LAZY,
]

if TYPE_CHECKING:
    from iqa_cli.api import PairResult, Scorer, list_models, load_model, score_pairs  # noqa: F401
    from iqa_cli.io import read_image  # noqa: F401
    from iqa_cli.runtime import keep_freed_memory  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'iqa_cli' has no attribute {name!r}")
    import importlib

    imported = importlib.import_module(module)
    return imported if module == f"iqa_cli.{name}" else getattr(imported, name)  # a subpackage, or a name in it
