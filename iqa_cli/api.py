"""The one path the CLI and Python users share: load a model, score pairs.

Example::

    from iqa_cli import load_model
    scorer = load_model()                        # default model on device "auto"
    scorer.score("ref.png", "dist.png")          # -> float on the model's scale
    for r in score_pairs(scorer, pairs): ...     # PairResult per pair, errors as rows
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from iqa_cli.device import full_float32
from iqa_cli.errors import ImageError, UsageError, WeightsError
from iqa_cli.io import DEFAULT_MAX_PIXELS, Image, align_pair, read_image
from iqa_cli.models.registry import ModelSpec, default_model_name, get_spec, list_specs
from iqa_cli.results import PairResult

if TYPE_CHECKING:
    import torch
    from torch import nn

    from iqa_cli.pairs import Pair

log = logging.getLogger(__name__)

Resize = Literal["none", "dist"]
WEIGHTS_ID_LEN = 12  # hex digits of the weights' sha256 in output rows and summaries
ImageLike = str | Path | Image | np.ndarray


class Scorer:
    """A loaded model on a device, ready to score (ref, dist) pairs.

    Attributes:
        spec: registry entry (direction, scale, limits).
        module: the ``nn.Module`` in eval mode.
        device: where it runs.
        weights: path of the loaded weights file, or None for training-free models.
        weights_sha256: sha256 of that file.
        shipped: True unless the weights differ from the shipped file of the model (``--weights`` from
            ``iqa adapt`` / ``iqa fit``); training-free models count as shipped.
    """

    def __init__(
        self,
        spec: ModelSpec,
        module: nn.Module,
        device: torch.device,
        weights: Path | None = None,
        weights_sha256: str | None = None,
        metadata: dict[str, Any] | None = None,
        shipped: bool = True,
    ) -> None:
        self.spec = spec
        self.module = module
        self.device = device
        self.weights = weights
        self.weights_sha256 = weights_sha256
        self.metadata = metadata or {}
        self.shipped = shipped

    @property
    def weights_id(self) -> str:
        """Short name of the loaded weights for output rows: a sha256 prefix, or "none" for training-free models."""
        return self.weights_sha256[:WEIGHTS_ID_LEN] if self.weights_sha256 else "none"

    @property
    def has_quality_map(self) -> bool:
        """Whether :meth:`quality_map` is available for this model."""
        return getattr(self.module, "quality_map", None) is not None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def higher_is_better(self) -> bool:
        return self.spec.higher_is_better

    # -- tensors --------------------------------------------------------------------------------------------------
    def score_tensors(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        """Scores (B,) of batched tensors (B, C, H, W) in [0, 1] on the scorer's device; differentiable (the forward
        pass in full float32 on CUDA, :func:`~iqa_cli.device.full_float32`)."""
        self._check_size(ref.shape[-2], ref.shape[-1])
        with full_float32(self.device):
            return self.module(ref.to(self.device), dist.to(self.device))

    def infer(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        """Scores (B,) of batched tensors through the model's own inference path (e.g. tiling of huge pairs): no
        gradients, full float32 on CUDA. Sizes are the caller's to check (:meth:`score` checks them)."""
        import torch

        score = getattr(self.module, "score", self.module)
        with torch.inference_mode(), full_float32(self.device):
            return score(ref.to(self.device), dist.to(self.device)).reshape(-1)

    def _check_size(self, h: int, w: int) -> None:
        if min(h, w) < self.spec.min_size:
            raise ImageError(
                f"image of {w}x{h} is smaller than model {self.name!r} accepts "
                f"(at least {self.spec.min_size} px per side) — use larger images or another --model"
            )

    def _score_arrays(self, ref: np.ndarray, dist: np.ndarray) -> float:
        from iqa_cli.io import to_tensor

        self._check_size(ref.shape[0], ref.shape[1])
        return float(self.infer(to_tensor(ref), to_tensor(dist))[0].cpu())

    # -- files / arrays -------------------------------------------------------------------------------------------
    def score(
        self,
        ref: ImageLike,
        dist: ImageLike,
        *,
        resize: Resize = "none",
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> float:
        """Score one pair given as paths, :class:`Image` objects or HxWxC float arrays in [0, 1].

        Raises:
            ImageError: unreadable input, or sizes differ and ``resize`` is "none".
        """
        r_img, d_img = _as_image(ref, max_pixels), _as_image(dist, max_pixels)
        r, d = align_pair(r_img, d_img, resize=resize)
        return self._score_arrays(r, d)

    def quality_map(self, ref: ImageLike, dist: ImageLike, *, resize: Resize = "none") -> np.ndarray:
        """HxW map of where quality was lost (>= 0, larger = worse); only for models that provide one.

        Raises:
            UsageError: the model has no quality map.
        """
        import torch

        from iqa_cli.io import to_tensor

        fn = getattr(self.module, "quality_map", None)
        if fn is None:  # the CLI checks has_quality_map before scoring
            raise UsageError(f"model {self.name!r} gives no quality map — use the default model for --map")
        r, d = align_pair(_as_image(ref, DEFAULT_MAX_PIXELS), _as_image(dist, DEFAULT_MAX_PIXELS), resize=resize)
        with torch.inference_mode(), full_float32(self.device):
            m = fn(to_tensor(r).to(self.device), to_tensor(d).to(self.device))
        return m[0, 0].cpu().numpy()

    def describe(self) -> dict[str, Any]:
        """Metadata of the scorer for JSON output."""
        return {
            "model": self.name,
            "scale": list(self.spec.scale) if self.spec.scale else None,
            "unit": self.spec.unit,
            "higher_is_better": self.spec.higher_is_better,
            "device": str(self.device),
            "weights": str(self.weights) if self.weights else None,
            "weights_sha256": self.weights_sha256,
            "weights_shipped": self.shipped,
            "weights_kind": self.metadata.get("kind"),
            "weights_domain": self.metadata.get("domain"),
        }


def _as_image(x: ImageLike, max_pixels: int) -> Image:
    if isinstance(x, Image):
        return x
    if isinstance(x, np.ndarray):
        arr = x.astype(np.float32, copy=False)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        return Image(path=None, pixels=arr, bit_depth=32)
    return read_image(x, max_pixels=max_pixels)


def load_model(name: str | None = None, *, weights: str | Path | None = None, device: str = "auto") -> Scorer:
    """Build a registered model, load its weights strictly, move it to a device.

    Args:
        name: registry name; the default model if None (or the model named in ``weights``' metadata).
        weights: a weights file (e.g. from ``iqa adapt`` / ``iqa fit``) instead of the shipped one.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Raises:
        ModelNotFoundError, WeightsError, DeviceError.
    """
    from iqa_cli.device import resolve_device
    from iqa_cli.weights import file_sha256, load_state_strict, read_weights, shipped_path

    dev = resolve_device(device)
    meta: dict[str, Any] = {}
    tensors = None
    path: Path | None = None
    sha: str | None = None
    if weights is not None:
        path = Path(weights)
        tensors, meta = read_weights(path)
        sha = file_sha256(path)
        base = meta.get("model")
        if name is not None and base != name:
            raise WeightsError(f"weights {path} belong to model {base!r}, not {name!r} — drop --model or fix it")
        name = base
    name = name or default_model_name()
    spec = get_spec(name)
    if tensors is None and spec.weights is not None:
        path, expected = shipped_path(spec.weights)
        tensors, meta = read_weights(path, expected_sha256=expected)
        sha = expected
    shipped = True
    if weights is not None and spec.weights is not None:
        try:
            shipped = sha == shipped_path(spec.weights)[1]
        except WeightsError:  # no manifest entry: whatever was loaded is not the shipped file
            shipped = False
    if tensors is not None and spec.weights is None:
        raise WeightsError(f"model {name!r} is training-free and takes no weights")
    module = spec.factory(meta["config"]) if "config" in meta else spec.factory()
    if tensors is not None:
        load_state_strict(module, tensors, str(path))
    module.eval()
    module.to(dev)
    return Scorer(spec, module, dev, path, sha, meta, shipped)


def list_models() -> list[dict[str, Any]]:
    """Registered models with direction, scale, input constraints and the sha256 of their shipped weights."""
    from iqa_cli.weights import load_manifest, weights_dir

    try:
        files = load_manifest(weights_dir()).get("files", {})
    except WeightsError:
        files = {}
    out = []
    for spec in list_specs():
        entry = files.get(spec.weights or "", {})
        out.append(
            {
                "name": spec.name,
                "default": spec.default,
                "description": spec.description,
                "higher_is_better": spec.higher_is_better,
                "scale": list(spec.scale) if spec.scale else None,
                "unit": spec.unit,
                "min_size": spec.min_size,
                "differentiable": spec.differentiable,
                "tags": list(spec.tags),
                "weights": spec.weights,
                "weights_sha256": entry.get("sha256") if spec.weights else None,
            }
        )
    return out


def score_pairs(
    scorer: Scorer,
    pairs: Iterable[Pair],
    *,
    resize: Resize = "none",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    workers: int = 2,
    batch_size: int | None = None,
) -> Iterator[PairResult]:
    """Score pairs in input order, decoding and scoring in worker threads; a bad pair yields a row with its error.

    Args:
        scorer: a loaded model.
        pairs: (ref, dist) paths.
        resize: size-mismatch policy.
        max_pixels: decompression-bomb guard per image.
        workers: threads that decode (OpenCV releases the GIL) and score, overlapped.
        batch_size: at most this many same-size pairs per forward pass (default 1: bit-identical to
            :meth:`Scorer.score`; larger batches are for GPUs, see :mod:`iqa_cli.pipeline`).
    """
    from iqa_cli.pipeline import run_pipeline

    yield from run_pipeline(scorer, pairs, resize=resize, max_pixels=max_pixels, workers=workers, batch_size=batch_size)
