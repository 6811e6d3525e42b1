"""CPU per pair of the Ray engine (every process it uses) against the local engine, in one process, Ray started once.

On a shared machine the pairs/s of two engines measured one after the other move with the other jobs, and under
heavy load an engine with more runnable threads gets a larger share of the cores. CPU time per pair moves much
less: it is what an engine costs, and on an idle machine whose cores it keeps busy its rate is about
cores / CPU per pair. This script runs the given variants on the same pairs, in the given order (alternate them),
and reports for each: pairs/s, CPU ms per pair (local: this process; Ray: this process plus every process below it,
i.e. Ray's GCS, raylet, agents, Ray Data's helper actors and the scoring actors, sampled from /proc every 0.25 s),
the load average, and whether every score is bit-identical to the first local run's. This process takes the
``iqa`` command's allocator setting (as the Ray engine's actors do). Linux only (/proc).

Variants: ``local`` (``run_pipeline``, 2 workers), ``ray`` (the Ray engine as shipped), ``ray-1cpu`` (one-CPU
actors: one per CPU, one thread each), ``ray-nokeep`` (actors without the allocator setting), ``ray-block:N``
(blocks of N rows per actor thread), and ``old`` (the ``score_pairs_ray`` of a ``old_ray_engine.py`` found on
``--old-dir``, e.g. an earlier commit's
``git show REV:iqa_cli/ray_engine.py > DIR/old_ray_engine.py``).

Usage: python bench/ray_cpu.py PAIRS_DIR [--n 2000] [--order local,ray,ray,local] [--old-dir DIR] [--by-process]
       (PAIRS_DIR holds ref/ and dist/, e.g. bench/batch.py --keep DIR's png-2000)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TICK = os.sysconf("SC_CLK_TCK")


def _cpu_by_pid() -> dict[int, tuple[int, float]]:
    """{pid: (ppid, user+system CPU seconds)} of every process readable in /proc."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        out[int(d)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    return out


class TreeCPU:
    """CPU seconds used by this process and its descendants while the block runs (sampled every 0.25 s, so a
    process that ends between samples loses at most its last 0.25 s)."""

    def __init__(self) -> None:
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _snap(self) -> None:
        table = _cpu_by_pid()
        kids: dict[int, list[int]] = {}
        for pid, (ppid, _) in table.items():
            kids.setdefault(ppid, []).append(pid)
        stack, seen = [os.getpid()], set()
        while stack:
            pid = stack.pop()
            if pid in seen or pid not in table:
                continue
            seen.add(pid)
            stack.extend(kids.get(pid, []))
            self.first.setdefault(pid, table[pid][1])
            self.last[pid] = table[pid][1]

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            self._snap()

    def __enter__(self) -> TreeCPU:
        self._snap()
        self.t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._snap()
        self.wall = time.perf_counter() - self.t0

    def total(self) -> float:
        return sum(cpu - self.first[pid] for pid, cpu in self.last.items())

    def own(self) -> float:
        return self.last[os.getpid()] - self.first[os.getpid()]

    def by_name(self) -> dict[str, float]:
        """CPU seconds per process name (``/proc/PID/comm``: e.g. raylet, gcs_server, ray::PairScorer)."""
        out: dict[str, float] = {}
        for pid, cpu in self.last.items():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    name = f.read().strip()
            except OSError:
                name = "(ended)"
            out[name] = out.get(name, 0.0) + cpu - self.first[pid]
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pairs_dir", type=Path)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--order", default="local,ray,ray,local")
    ap.add_argument("--old-dir", type=Path, default=None)
    ap.add_argument("--by-process", action="store_true", help="Ray variants: CPU per process name too")
    args = ap.parse_args()
    variants = args.order.split(",")
    if "old" in variants:
        if args.old_dir is None:
            ap.error("variant old needs --old-dir")
        sys.path.insert(0, str(args.old_dir.resolve()))
    from iqa_cli.runtime import keep_freed_memory

    keep_freed_memory()
    import ray

    from iqa_cli.api import load_model
    from iqa_cli.pairs import pair_folders
    from iqa_cli.pipeline import run_pipeline
    from iqa_cli.ray_engine import score_pairs_ray

    pairs = pair_folders(args.pairs_dir / "ref", args.pairs_dir / "dist").pairs[: args.n]
    path = os.pathsep.join(str(p) for p in (ROOT, args.old_dir) if p is not None)
    env = {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    list(score_pairs_ray(pairs[:4], model=None, weights=None, device="cpu"))  # Ray Data's helper actors started
    scorer = load_model(device="cpu")
    reference: dict[tuple[str, str], float | None] | None = None
    for which in variants:
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.split("load average:")[-1].strip()
        with TreeCPU() as cpu:
            if which == "local":
                rows = list(run_pipeline(scorer, pairs, workers=2))
            elif which == "old":
                from old_ray_engine import score_pairs_ray as old  # type: ignore[import-not-found]

                rows = list(old(pairs, model=None, weights=None, device="cpu"))
            elif which.startswith("ray-block:"):  # blocks of N rows per actor thread (shipped: ROWS_PER_THREAD)
                from iqa_cli import ray_engine

                shipped, ray_engine.ROWS_PER_THREAD = ray_engine.ROWS_PER_THREAD, int(which.split(":")[1])
                try:
                    rows = list(score_pairs_ray(pairs, model=None, weights=None, device="cpu"))
                finally:
                    ray_engine.ROWS_PER_THREAD = shipped
            elif which in ("ray", "ray-1cpu", "ray-nokeep"):
                os.environ.pop("IQA_KEEP_FREED_MEMORY", None)
                if which == "ray-nokeep":
                    os.environ["IQA_KEEP_FREED_MEMORY"] = "0"  # read on this side, passed to the actors
                one = 1 if which == "ray-1cpu" else None
                rows = list(score_pairs_ray(pairs, model=None, weights=None, device="cpu", actor_cpus=one))
                os.environ.pop("IQA_KEEP_FREED_MEMORY", None)
            else:
                ap.error(f"unknown variant {which!r}")
        scores = {(r.ref, r.dist): r.score for r in rows}
        if reference is None and which == "local":
            reference = scores
        same = "?" if reference is None else sum(1 for k, v in reference.items() if v is not None and scores[k] == v)
        used = cpu.own() if which == "local" else cpu.total()
        print(
            f"{which:10s} {len(pairs) / cpu.wall:6.1f} pairs/s  CPU {1000 * used / len(pairs):6.2f} ms/pair "
            f"(this process {1000 * cpu.own() / len(pairs):6.2f})  bit-identical {same}/{len(pairs)}  load {load}",
            flush=True,
        )
        if which != "local" and args.by_process:
            for name, sec in sorted(cpu.by_name().items(), key=lambda kv: -kv[1]):
                if sec > 0:
                    print(f"    {name:24s} {1000 * sec / len(pairs):6.2f} ms/pair", flush=True)
    ray.shutdown()


if __name__ == "__main__":
    main()
