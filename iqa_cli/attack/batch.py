"""The attack on pairs of image files: one :class:`AttackRow` a pair and budget, adversarial images saved on demand."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from iqa_cli.attack.objective import Method, reflection_center
from iqa_cli.attack.pair import attack_budgets, check_args
from iqa_cli.errors import IQAError
from iqa_cli.io import DEFAULT_MAX_PIXELS, align_pair, read_image

if TYPE_CHECKING:
    from iqa_cli.api import Scorer
    from iqa_cli.pairs import Pair

log = logging.getLogger(__name__)

COLUMNS = (
    "ref", "dist", "model", "method", "center", "clean_score", "attacked_score", "shift", "linf", "psnr_db",
    "nan_grad_fallbacks", "eps", "no_progress", "error",
)  # fmt: skip


@dataclass(frozen=True)
class AttackRow:
    """One row of ``iqa attack`` output (columns :data:`COLUMNS`); failed pairs carry ``error``."""

    ref: str
    dist: str
    model: str
    method: str
    center: float | None = None
    clean_score: float | None = None
    attacked_score: float | None = None
    shift: float | None = None
    linf: float | None = None
    psnr_db: float | None = None
    nan_grad_fallbacks: int | None = None
    eps: float | None = None
    no_progress: bool | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def adversarial_path(save_dir: Path, dist: Path, dist_root: Path) -> Path:
    """Where the adversarial version of ``dist`` is written: its path relative to ``dist_root``, as PNG."""
    try:
        rel = Path(dist).absolute().relative_to(Path(dist_root).absolute())
    except ValueError:
        rel = Path(Path(dist).name)
    return Path(save_dir) / rel.with_suffix(".png")


def attack_pairs(
    scorer: Scorer,
    pairs: Iterable[Pair],
    *,
    eps: float | Sequence[float],
    steps: int = 10,
    method: Method = "reflect",
    center: float | None = None,
    round8: bool = True,
    restarts: int = 1,
    resize: Literal["none", "dist"] = "none",
    max_pixels: int = DEFAULT_MAX_PIXELS,
    save_dir: Path | None = None,
    dist_root: Path | None = None,
    seed: int = 0,
) -> Iterator[AttackRow]:
    """Attack pairs in order, one :class:`AttackRow` per pair and budget (``eps``: one or several, rows of a pair in
    ascending budget; a bad pair yields one row per budget with its error). Each pair is attacked by one
    :func:`~iqa_cli.attack.pair.attack_budgets` call with its own generator seeded ``seed``, so a row does not
    depend on the other pairs.

    For ``reflect`` on an unbounded scale without ``center``, all pairs are scored clean first and the median
    is the reflection point. ``save_dir`` receives each adversarial image as PNG (8-bit, or 16-bit when not
    ``round8``) under its path relative to ``dist_root`` (default: the common folder of the distorted images); with
    several budgets the file name gets an ``_eps<levels>`` suffix (levels of 1/255).

    Raises:
        UsageError: as :func:`~iqa_cli.attack.pair.attack_budgets`; raised by this call (before any row), not by the
            iteration.
    """
    budgets = sorted({float(eps)} if isinstance(eps, (int, float)) else {float(e) for e in eps})
    check_args(scorer, budgets, steps, method, restarts)
    items = list(pairs)
    if method == "reflect" and center is None and scorer.spec.scale is None:
        from iqa_cli.api import score_pairs

        scores = [r.score for r in score_pairs(scorer, items, resize=resize, max_pixels=max_pixels)]
        center = reflection_center(scorer.spec, [s for s in scores if s is not None and math.isfinite(s)])
    if save_dir is not None and dist_root is None and items:
        dist_root = Path(os.path.commonpath([str(Path(p.dist).absolute().parent) for p in items]))
    opts = {"budgets": budgets, "steps": steps, "method": method, "center": center, "round8": round8,
            "restarts": restarts}  # fmt: skip
    return _rows(scorer, items, opts, resize, max_pixels, save_dir, dist_root, seed)


def _rows(
    scorer: Scorer, items: list[Pair], opts: dict[str, Any], resize: Literal["none", "dist"], max_pixels: int,
    save_dir: Path | None, dist_root: Path | None, seed: int,
) -> Iterator[AttackRow]:  # fmt: skip
    import torch

    from iqa_cli.io import to_tensor, write_image

    budgets: list[float] = opts["budgets"]
    for pair in items:
        base = {"ref": str(pair.ref), "dist": str(pair.dist), "model": scorer.name, "method": opts["method"]}
        try:
            ref, dist = align_pair(
                read_image(pair.ref, max_pixels=max_pixels), read_image(pair.dist, max_pixels=max_pixels),
                resize=resize,
            )  # fmt: skip
            gen = torch.Generator().manual_seed(seed)
            results = attack_budgets(scorer, to_tensor(ref), to_tensor(dist), generator=gen, **opts)
        except IQAError as exc:
            for e in budgets:
                yield AttackRow(**base, eps=e, error=str(exc))
            continue
        except (RuntimeError, ValueError, MemoryError, OSError) as exc:
            log.debug("attack on %s failed", pair, exc_info=True)
            for e in budgets:
                yield AttackRow(**base, eps=e, error=f"{type(exc).__name__}: {exc}")
            continue
        for res in results:
            row = AttackRow(
                **base, center=res.center, clean_score=res.clean_score, attacked_score=res.attacked_score,
                shift=res.attacked_score - res.clean_score, linf=res.linf, psnr_db=res.psnr_db,
                nan_grad_fallbacks=res.nan_grad_fallbacks, eps=res.eps, no_progress=res.no_progress,
            )  # fmt: skip
            if save_dir is not None and dist_root is not None:
                try:
                    out = adversarial_path(save_dir, Path(pair.dist), dist_root)
                    if len(budgets) > 1:
                        out = out.with_name(f"{out.stem}_eps{res.eps * 255:g}{out.suffix}")
                    out.parent.mkdir(parents=True, exist_ok=True)
                    bits = 8 if opts["round8"] else 16
                    write_image(out, res.adversarial[0].permute(1, 2, 0).numpy(), bit_depth=bits)
                except (IQAError, OSError, ValueError) as exc:
                    row = AttackRow(**base, eps=res.eps, error=f"cannot save the adversarial image: {exc}")
            yield row
