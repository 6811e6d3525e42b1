"""Ray engine vs local engine at two run lengths, in one process, Ray and Ray Data's helper actors started first.

The pairs of a folder are repeated ``k`` times (``--order local:3,ray:3,local:1,ray:1``: engine and repeat count,
run in that order), so runs of different lengths score the same images. Wall clock and pairs/s per run; the Ray
engine's fixed cost per run (its actor's start: worker process, ``import torch``, the model; Ray Data's
execution start and the last block's drain) and its per-pair rate follow from two lengths.

Usage: OMP_NUM_THREADS=1 python bench/experiments/ray_scale.py DIR/png-2000 [--order ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="a folder with ref/ and dist/ (bench/batch.py --keep)")
    ap.add_argument("--order", default="local:3,ray:3,local:1,ray:1,local:3,ray:3")
    args = ap.parse_args()
    from iqa_cli.runtime import keep_freed_memory

    keep_freed_memory()
    import ray

    from iqa_cli.api import load_model
    from iqa_cli.pairs import pair_folders
    from iqa_cli.pipeline import run_pipeline
    from iqa_cli.ray_engine import score_pairs_ray

    base = pair_folders(args.folder / "ref", args.folder / "dist").pairs
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    list(score_pairs_ray(base[:4], model=None, weights=None, device="cpu"))  # Ray Data's helper actors started
    scorer = load_model(device="cpu")
    for item in args.order.split(","):
        engine, repeats = item.split(":")
        pairs = base * int(repeats)
        start = time.perf_counter()
        if engine == "local":
            n = sum(1 for _ in run_pipeline(scorer, pairs, workers=2))
        elif engine == "ray":
            n = sum(1 for _ in score_pairs_ray(pairs, model=None, weights=None, device="cpu"))
        else:
            ap.error(f"unknown engine {engine!r}")
        wall = time.perf_counter() - start
        print(f"{engine:5s} {n:6d} pairs {wall:7.1f} s {n / wall:7.1f} pairs/s", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
