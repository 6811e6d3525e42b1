"""CPU per pair of ``PairScorer`` (the Ray engine's actor class) inside a plain Ray actor vs in this process.

The first ``--pairs`` pairs of a folder, in 64-row Arrow blocks, go through one ``PairScorer`` held by a plain Ray
actor (2 CPUs; no Ray Data), twice, then through one in this process, twice. Each run reports pairs/s and the CPU
of the process that scored (the actor's own ``time.process_time``). The actor also prints the CPU it used before
its first block (worker start, ``import torch``, the model).

Usage: OMP_NUM_THREADS=1 python bench/experiments/ray_actor_cost.py DIR/png-2000 [--pairs 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _scorer() -> Any:
    from iqa_cli.ray_engine import PairScorer

    return PairScorer(None, None, "cpu", "none", 100_000_000, 1, workers=2, keep_freed_memory=True)


def _run(scorer: Any, blocks: list[Any]) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    n = sum(scorer(b).num_rows for b in blocks)
    return n / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="a folder with ref/ and dist/ (bench/batch.py --keep)")
    ap.add_argument("--pairs", type=int, default=1000)
    args = ap.parse_args()
    import pyarrow as pa  # type: ignore[import-untyped]
    import ray

    from iqa_cli.pairs import pair_folders

    pairs = pair_folders(args.folder / "ref", args.folder / "dist").pairs[: args.pairs]
    rows = [{"ref": str(p.ref), "dist": str(p.dist)} for p in pairs]
    blocks = [pa.Table.from_pylist(rows[i : i + 64]) for i in range(0, len(rows), 64)]
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env})

    @ray.remote(num_cpus=2)
    class Holder:
        def __init__(self) -> None:
            self.scorer = _scorer()
            self.ready = time.process_time()  # the process's CPU so far: worker start, imports, the model

        def startup_cpu(self) -> float:
            return self.ready

        def run(self, blocks: list[Any]) -> tuple[float, float]:
            return _run(self.scorer, blocks)

    holder = Holder.remote()  # type: ignore[attr-defined]
    print(f"actor: {ray.get(holder.startup_cpu.remote()):.2f} s of CPU before its first block", flush=True)
    for _ in range(2):
        rate, cpu = ray.get(holder.run.remote(blocks))
        print(f"in a Ray actor: {rate:.1f} pairs/s, {cpu:.2f} CPU ms per pair", flush=True)
    ray.kill(holder)
    from iqa_cli.runtime import keep_freed_memory

    keep_freed_memory()
    scorer = _scorer()
    for _ in range(2):
        rate, cpu = _run(scorer, blocks)
        print(f"in this process: {rate:.1f} pairs/s, {cpu:.2f} CPU ms per pair", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
