"""CPU ms of ``CausalIQA.score`` on one decoded pair and of its pieces, one torch thread, warm caches.

The default model's inference path is the masked Haar block alone: ``fixed_colour`` (2x2 means and colour rows of
both images), then the block — ``prepare`` (Haar magnitudes, chroma, content energy; ``haar_magnitudes`` and the 5x5
``box_mean`` inside) and ``maps`` (the degradation code, masking and deficits), which is what its differentiable path
runs — or, where no gradient is recorded, the block's ``forward`` as inference runs it (``block (inference)``). Each
piece: the minimum over ``--rounds`` of the mean CPU time (``time.process_time``) of ``--calls`` calls, under
``torch.inference_mode`` and the ``iqa`` command's allocator setting.

No ``sys.path`` change: the ``iqa_cli`` found first is timed, so ``PYTHONPATH=TREE`` times another checkout (before /
after comparisons; run them back to back on a shared machine).

Usage: OMP_NUM_THREADS=1 PYTHONPATH=. python bench/score_pieces.py DIR/jpeg-600 [--pair 1] [--calls 20] [--rounds 15]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="a folder with ref/ and dist/ (bench/batch.py --keep)")
    ap.add_argument("--pair", type=int, default=1, help="index of the pair in sorted order")
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()

    import torch

    import iqa_cli
    from iqa_cli.api import load_model
    from iqa_cli.io import align_pair, read_image, to_tensor
    from iqa_cli.models.causal.fixed import fixed_colour
    from iqa_cli.models.functional import box_mean, haar_magnitudes
    from iqa_cli.runtime import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(1)
    model = load_model(device="cpu").module
    block = model.masked_haar
    name = sorted(p.name for p in (args.folder / "dist").iterdir())[args.pair]
    r, d = align_pair(read_image(args.folder / "ref" / name), read_image(args.folder / "dist" / name))
    ref, dist = to_tensor(r), to_tensor(d)

    def timed(fn: Callable[[], object]) -> float:
        for _ in range(5):
            fn()
        best = float("inf")
        for _ in range(args.rounds):
            c = time.process_time()
            for _ in range(args.calls):
                fn()
            best = min(best, (time.process_time() - c) / args.calls * 1000)
        return best

    with torch.inference_mode():
        half = fixed_colour(ref, dist)
        lum = 255.0 * half[:, :1]
        prepared = block.prepare(ref, dist, half)
        params = (block.loss_weight, block.chroma_visibility, block.masking_gain, block.content_energy)
        branches = model.needed_branches()
        pieces = {
            "score": lambda: model.score(ref, dist),
            "fixed_colour": lambda: fixed_colour(ref, dist),
            "block (inference)": lambda: block(ref, dist, half, label_free=branches.masked_haar_label_free),
            "prepare": lambda: block.prepare(ref, dist, half),
            "haar_magnitudes": lambda: haar_magnitudes(lum, block.SCALES),
            "box_mean 5x5": lambda: box_mean(lum[:1], 5),
            "maps": lambda: block.maps(prepared, *params, branches.masked_haar_label_free),
            "to_tensor (both)": lambda: (to_tensor(r), to_tensor(d)),
        }
        times = {k: timed(fn) for k, fn in pieces.items()}
    print(f"{Path(iqa_cli.__file__).parents[1]}: {args.folder.name}/{name}, CPU ms, one thread")
    for k, v in times.items():
        print(f"  {k:18s} {v:7.3f}")


if __name__ == "__main__":
    main()
