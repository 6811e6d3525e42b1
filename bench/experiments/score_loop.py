"""CPU ms per pair of ``to_tensor`` + ``CausalIQA.score`` (the default model) over decoded pairs, one torch thread.

The pairs are decoded once (``read_image``) before the clock starts; then every pair is converted and scored
``--passes`` times, so caches see a new pair each time (between bench/score_pieces.py's one warm pair and
bench/batch_profile.py's full pipeline). The ``iqa`` command's allocator setting is taken. No ``sys.path`` change:
``PYTHONPATH=TREE`` times another checkout (e.g. a ``git archive`` of an earlier commit), for before/after rounds run
back to back.

Usage: OMP_NUM_THREADS=1 PYTHONPATH=. python bench/experiments/score_loop.py DIR/jpeg-600 [--pairs 60] [--passes 4]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="a folder with ref/ and dist/ (bench/batch.py --keep)")
    ap.add_argument("--pairs", type=int, default=60)
    ap.add_argument("--passes", type=int, default=4)
    args = ap.parse_args()

    import torch

    import iqa_cli
    from iqa_cli.api import load_model
    from iqa_cli.io import read_image
    from iqa_cli.pairs import pair_folders
    from iqa_cli.runtime import keep_freed_memory

    keep_freed_memory()
    torch.set_num_threads(1)
    scorer = load_model(device="cpu")
    found = pair_folders(args.folder / "ref", args.folder / "dist").pairs[: args.pairs]
    pairs = [(read_image(p.ref).pixels, read_image(p.dist).pixels) for p in found]
    for ref, dist in pairs[:5]:  # warm-up
        scorer._score_arrays(ref, dist)
    start = time.process_time()
    for _ in range(args.passes):
        for ref, dist in pairs:
            scorer._score_arrays(ref, dist)
    ms = 1000 * (time.process_time() - start) / (args.passes * len(pairs))
    print(f"{Path(iqa_cli.__file__).parents[1]}: {ms:.2f} CPU ms per pair (to_tensor + score), one thread")


if __name__ == "__main__":
    main()
