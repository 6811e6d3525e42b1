"""Where the Ray engine's fixed cost per run goes: a timeline of one run, Ray and Ray Data's helpers started first.

The run's actor is the engine's own :class:`~iqa_cli.ray_engine.PairScorer` with timestamps around its steps
(process start from /proc, ``import torch``, the model's load, each block); the driver stamps the run's start, its
first and last row. Times in seconds from the driver's call of ``score_pairs_ray``, wall clock.

Usage: OMP_NUM_THREADS=1 python bench/experiments/ray_timeline.py DIR/png-2000 [--pairs 256] [--runs 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from iqa_cli import ray_engine  # noqa: E402

STAMPS = Path("/tmp/iqa-ray-timeline.txt")


def _stamp(what: str) -> None:
    with STAMPS.open("a") as f:
        f.write(f"{time.time():.3f} {os.getpid()} {what}\n")


def _process_start() -> float:
    """Wall-clock start of this process (from /proc/self/stat and the boot time)."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    lines = Path("/proc/stat").read_text().splitlines()
    boot = next(float(line.split()[1]) for line in lines if line.startswith("btime"))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


class TimedScorer(ray_engine.PairScorer):
    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        with STAMPS.open("a") as f:
            f.write(f"{_process_start():.3f} {os.getpid()} process started\n")
        _stamp("actor __init__")
        t = time.time()
        import torch  # noqa: F401

        _stamp(f"torch imported ({time.time() - t:.2f} s)")
        super().__init__(*args, **kwargs)
        _stamp("model loaded")

    def __call__(self, batch):  # type: ignore[no-untyped-def]
        _stamp(f"block of {batch.num_rows} in")
        out = super().__call__(batch)
        _stamp("block out")
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--pairs", type=int, default=256)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--hook", default=None, help="a worker_process_setup_hook for Ray's workers (module.function)")
    args = ap.parse_args()
    from iqa_cli.runtime import keep_freed_memory

    keep_freed_memory()
    import ray

    from iqa_cli.pairs import pair_folders

    pairs = pair_folders(args.folder / "ref", args.folder / "dist").pairs[: args.pairs]
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    runtime_env: dict = {"env_vars": env}
    if args.hook:
        runtime_env["worker_process_setup_hook"] = args.hook
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
    list(ray_engine.score_pairs_ray(pairs[:4], model=None, weights=None, device="cpu"))  # helpers started
    ray_engine.PairScorer = TimedScorer  # type: ignore[misc]  # map_batches reads the module's name at each run
    for run in range(args.runs):
        STAMPS.write_text("")
        t0 = time.time()
        first = last = None
        for _ in ray_engine.score_pairs_ray(pairs, model=None, weights=None, device="cpu"):
            last = time.time()
            first = first or last
        end = time.time()
        lines = [line.split(" ", 2) for line in STAMPS.read_text().splitlines()]
        events = sorted([(float(t), f"actor {pid}: {what}") for t, pid, what in lines])
        events += [(t0, "driver: score_pairs_ray called"), (first, "driver: first row"), (last, "driver: last row")]
        events += [(end, "driver: iterator done")]
        print(f"-- run {run + 1}: {len(pairs)} pairs, {end - t0:.2f} s")
        for t, what in sorted(events):
            print(f"{t - t0:7.2f}  {what}")
    ray.shutdown()


if __name__ == "__main__":
    main()
