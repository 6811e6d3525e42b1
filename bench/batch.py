"""Throughput of ``iqa batch`` against a decode-only pass over the same files, in the same run.

For each format (PNG, JPEG) the script writes ``--pairs`` 512x384 (ref, dist) pairs into a temporary folder:
references are crops of ``../shared/data/pristine`` images (synthetic textures when that folder is absent), the
distorted images come from :mod:`iqa_cli.synth.distortions` (blur, noise, JPEG, ... at mixed strengths). Then:

- **decode-only**: every pair read and aligned exactly as ``iqa batch`` reads it (``read_image`` + ``align_pair``),
  in ``--workers`` threads, nothing scored, in this process with the ``iqa`` command's allocator setting
  (:func:`iqa_cli.runtime.keep_freed_memory`; without it glibc maps and faults in fresh pages for every decoded
  image, which about halved the JPEG rate here, see bench/RESULTS.md): the rate a pipeline can at best approach on
  this machine;
- **iqa batch**: the real command in a subprocess (default model, ``--device cpu``, ``--workers``), wall clock
  including start-up, and the rate of its own scoring loop (the summary line on stderr); ``ratio`` = wall-clock
  pairs/s over decode-only pairs/s, ``loop_ratio`` the same without start-up. CPU ms per pair of both (less
  sensitive than rates to other jobs on a shared machine) are reported beside them;
- ``--ray``: ``iqa batch --engine ray`` on the same pairs (JSON Lines, so scores compare at full precision): the
  CLI with its own Ray instance, the CLI joining a running instance (``--address``), and in-process rates with Ray
  started, cold and warm (see :func:`ray_vs_local`); whether every score is bit-identical to the local engine's;
- GPU (when CUDA is available, else skipped and said so): pairs/s of the model at batch 1 vs batched, decoded
  pairs in memory (:func:`gpu_batching`); then the real ``iqa batch --device cuda`` at batch 1 and 32 against
  decode-only and ``--device cpu`` with the same ``--gpu-workers`` threads (:func:`gpu_pipeline`), and in this
  process the pipeline's two ways of using the threads, alternated (:func:`pipeline_designs`).

Usage: python bench/batch.py [--pairs 600] [--formats png,jpeg] [--workers 2] [--ray] [--ray-pairs 2000]
       [--gpu-workers 4,16] [--keep DIR]   (the last lines printed are the whole report as JSON)
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iqa_cli.io import align_pair, read_image  # noqa: E402
from iqa_cli.synth import distortions  # noqa: E402  (the one import of the distortion registry)

PRISTINE = ROOT.parent / "shared" / "data" / "pristine"
SIZE = (384, 512)  # (H, W)
KINDS = ("gaussian_blur", "white_noise", "jpeg", "motion_blur", "colour_noise", "contrast_decrease")


def _sources() -> list[np.ndarray]:
    files = sorted((PRISTINE / "kodak24").glob("*.png")) + sorted((PRISTINE / "urban100").glob("*.png"))[:16]
    out = []
    for f in files:
        img = read_image(f).pixels
        if img.shape[0] >= SIZE[0] and img.shape[1] >= SIZE[1] and img.shape[2] == 3:
            out.append(img)
    if not out:  # no shared data: synthetic textures
        rng = np.random.default_rng(0)
        y, x = np.mgrid[0 : SIZE[0] * 2, 0 : SIZE[1] * 2].astype(np.float32)
        for _ in range(8):
            freq = rng.uniform(0.01, 0.2, 3)
            img = np.stack([0.5 + 0.3 * np.sin(freq[c] * x + c) * np.cos(freq[2 - c] * y) for c in range(3)], axis=2)
            out.append(np.clip(img + 0.05 * rng.random(img.shape), 0, 1).astype(np.float32))
    return out


def _write(path: Path, pixels: np.ndarray) -> None:
    u8 = np.rint(np.clip(pixels, 0, 1) * 255).astype(np.uint8)[..., ::-1]
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if path.suffix == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    if not cv2.imwrite(str(path), np.ascontiguousarray(u8), params):
        raise OSError(f"cannot write {path}")


_SOURCES: list[np.ndarray] = []  # set before the pool forks: each worker process inherits the decoded sources


def _make_pair(args: tuple[int, int, Path, Path, str]) -> None:
    i, seed, ref_dir, dist_dir, ext = args
    src = _SOURCES[i % len(_SOURCES)]
    rng = np.random.default_rng([seed, i])  # per pair: the same pairs whatever the number of processes
    y0 = int(rng.integers(0, src.shape[0] - SIZE[0] + 1))
    x0 = int(rng.integers(0, src.shape[1] - SIZE[1] + 1))
    ref = np.ascontiguousarray(src[y0 : y0 + SIZE[0], x0 : x0 + SIZE[1]])
    dist = distortions.apply(KINDS[i % len(KINDS)], ref, float(rng.uniform(0.2, 0.8)), rng)
    _write(ref_dir / f"{i:05d}{ext}", ref)
    _write(dist_dir / f"{i:05d}{ext}", dist)


def make_pairs(folder: Path, n: int, ext: str, seed: int = 0) -> tuple[Path, Path]:
    """``n`` pairs ``ref/NNNNN.ext`` / ``dist/NNNNN.ext`` of 512x384 crops and their distortions (in a pool of
    processes: ~60 ms a pair here)."""
    ref_dir, dist_dir = folder / "ref", folder / "dist"
    ref_dir.mkdir(parents=True, exist_ok=True)
    dist_dir.mkdir(parents=True, exist_ok=True)
    _SOURCES[:] = _sources()
    jobs = [(i, seed, ref_dir, dist_dir, ext) for i in range(n)]
    with ProcessPoolExecutor(max_workers=os.cpu_count(), mp_context=multiprocessing.get_context("fork")) as pool:
        for _ in pool.map(_make_pair, jobs, chunksize=8):
            pass
    return ref_dir, dist_dir


def decode_only(ref_dir: Path, dist_dir: Path, workers: int) -> tuple[float, float]:
    """Pairs/s of reading and aligning every pair in ``workers`` threads (nothing scored), and CPU ms per pair."""
    names = sorted(p.name for p in dist_dir.iterdir())

    def load(name: str) -> tuple[int, ...]:
        r, d = align_pair(read_image(ref_dir / name), read_image(dist_dir / name))
        return r.shape

    t0, c0 = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(load, names):
            pass
    return len(names) / (time.perf_counter() - t0), 1000 * (time.process_time() - c0) / len(names)


def run_batch(
    ref_dir: Path, dist_dir: Path, out: Path, workers: int, extra: list[str], device: str = "cpu"
) -> dict[str, float]:
    """Wall-clock and in-loop pairs/s of the real ``iqa batch`` command in a subprocess."""
    n = sum(1 for _ in dist_dir.iterdir())
    cmd = [sys.executable, "-m", "iqa_cli", "batch", str(ref_dir), str(dist_dir), "-o", str(out)]
    cmd += ["--device", device, "--workers", str(workers), "--no-progress", *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if res.returncode != 0:
        raise RuntimeError(f"iqa batch failed ({res.returncode}): {res.stderr[-2000:]}")
    m = re.search(r"(\d+) scored, (\d+) failed.* in ([0-9.]+)s", res.stderr)
    if m is None or int(m.group(1)) != n:
        raise RuntimeError(f"unexpected summary: {res.stderr[-2000:]}")
    loop = float(m.group(3))
    return {
        "wall_s": round(wall, 2),
        "pairs_per_s": round(n / wall, 1),
        "loop_pairs_per_s": round(n / loop, 1),
        "cpu_ms_per_pair": round(1000 * cpu / n, 2),  # whole process, start-up included (Ray: driver only)
    }


def _scores(path: Path) -> dict[tuple[str, str], float | None]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["ref"], r["dist"]): r["score"] for r in rows}


def gpu_batching(folder: Path, n: int = 256, sizes: tuple[int, ...] = (1, 8, 32, 128)) -> dict:
    """Pairs/s of the model on CUDA at each batch size (decoded pairs in memory) and agreement with batch 1."""
    import torch

    from iqa_cli.api import load_model
    from iqa_cli.io import to_tensor

    scorer = load_model(device="cuda")
    names = sorted(p.name for p in (folder / "dist").iterdir())[:n]
    pairs = [align_pair(read_image(folder / "ref" / m), read_image(folder / "dist" / m)) for m in names]
    ref = torch.cat([to_tensor(r) for r, _ in pairs]).cuda()
    dist = torch.cat([to_tensor(d) for _, d in pairs]).cuda()
    out: dict = {"pairs": len(pairs), "gpu": torch.cuda.get_device_name()}
    base = None
    with torch.inference_mode():
        for bs in sizes:
            for _ in range(2):  # warm-up, then timed
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                scores = torch.cat([scorer.module(ref[i : i + bs], dist[i : i + bs]) for i in range(0, len(pairs), bs)])
                torch.cuda.synchronize()
                dt = time.perf_counter() - t0
            base = scores if base is None else base
            out[f"batch_{bs}"] = {
                "pairs_per_s": round(len(pairs) / dt, 1),
                "identical_to_batch_1": int((scores == base).sum()),
                "max_abs_diff": float((scores - base).abs().max()),
            }
    return out


def gpu_pipeline(folder: Path, tmp: Path, workers: tuple[int, ...], sizes: tuple[int, ...] = (1, 32)) -> dict:
    """The real ``iqa batch --device cuda`` at each ``--batch-size``, against decode-only and ``--device cpu`` with
    the same number of worker threads, in the same run; scores compared with the CPU's and with batch 1's."""
    out: dict = {"pairs": sum(1 for _ in (folder / "dist").iterdir()), "cpu_cores": os.cpu_count()}
    for w in workers:
        dec, dec_cpu = decode_only(folder / "ref", folder / "dist", w)
        row: dict = {"decode_only_pairs_per_s": round(dec, 1), "decode_cpu_ms_per_pair": round(dec_cpu, 2)}
        cpu_out = tmp / f"cpu-{w}.jsonl"
        row["cpu"] = run_batch(folder / "ref", folder / "dist", cpu_out, w, ["-f", "jsonl"], device="cpu")
        cpu_scores = _scores(cpu_out)
        first = None
        for bs in sizes:
            path = tmp / f"cuda-{w}-{bs}.jsonl"
            r = run_batch(folder / "ref", folder / "dist", path, w, ["-f", "jsonl", "--batch-size", str(bs)], "cuda")
            got = _scores(path)
            first = got if first is None else first
            diffs = [abs(got[k] - v) for k, v in cpu_scores.items() if v is not None and got.get(k) is not None]
            r |= {
                "ratio": round(r["pairs_per_s"] / dec, 3),
                "loop_ratio": round(r["loop_pairs_per_s"] / dec, 3),
                "max_abs_diff_to_cpu": max(diffs),
                "identical_to_batch_1": sum(1 for k, v in got.items() if first.get(k) == v),
            }
            row[f"cuda_batch_{bs}"] = r
        row["cpu"]["ratio"] = round(row["cpu"]["pairs_per_s"] / dec, 3)
        row["cpu"]["loop_ratio"] = round(row["cpu"]["loop_pairs_per_s"] / dec, 3)
        out[f"workers_{w}"] = row
        print(f"[gpu pipeline] workers {w}: {row}", file=sys.stderr)
    return out


def pipeline_designs(
    folder: Path, workers: tuple[int, ...], sizes: tuple[int, ...] = (1, 32), device: str = "cuda"
) -> dict:
    """In this process, the local engine's two ways on ``device``, alternated: workers that decode and score
    (``score_in_workers=True``, the CPU's way and the GPU's before 2026-12-04) against workers that only decode
    while this thread scores (``False``, the GPU's way since); pairs/s and CPU ms per pair of each."""
    from iqa_cli.api import load_model
    from iqa_cli.pairs import pair_folders
    from iqa_cli.pipeline import run_pipeline

    scorer = load_model(device=device)
    pairs = pair_folders(folder / "ref", folder / "dist").pairs
    list(run_pipeline(scorer, pairs[:64], workers=4, batch_size=32))  # warm-up: kernels, allocator
    out: dict = {"pairs": len(pairs), "device": device}
    for w in workers:
        for bs in sizes:
            for in_workers in (True, False, True, False):
                t0, c0 = time.perf_counter(), time.process_time()
                n = sum(1 for _ in run_pipeline(scorer, pairs, workers=w, batch_size=bs, score_in_workers=in_workers))
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                key = f"workers_{w}_batch_{bs}_{'workers_score' if in_workers else 'one_thread_scores'}"
                out.setdefault(key, []).append(
                    {"pairs_per_s": round(n / wall, 1), "cpu_ms_per_pair": round(1000 * cpu / n, 2)}
                )
            done = {k: v for k, v in out.items() if k.startswith(f"workers_{w}_batch_{bs}_")}
            print(f"[pipeline designs] {done}", file=sys.stderr)
    return out


def ray_vs_local(folder: Path, tmp: Path) -> dict:
    """Ray engine vs local engine on the same pairs, and whether every score is bit-identical. In run order:

    1. the CLI of each engine, wall clock: ``--engine ray`` starts its own local Ray instance;
    2. in this process (it takes the iqa command's allocator setting, as the Ray engine's actors do): Ray started
       (timed apart), then the Ray engine *cold* (the instance's first dataset: Ray Data's helper actors start),
       the local engine, the Ray engine *warm* (helper actors running; the pool's actor still starts per run);
    3. the CLI joining that running instance (``--address``: a user on an existing cluster), then the local CLI
       again; the ratio takes the mean of the two local CLI runs."""
    n = sum(1 for _ in (folder / "dist").iterdir())
    local_out, ray_out = tmp / "local.jsonl", tmp / "ray.jsonl"
    local = run_batch(folder / "ref", folder / "dist", local_out, 2, ["-f", "jsonl"])
    ray_cli = run_batch(folder / "ref", folder / "dist", ray_out, 2, ["-f", "jsonl", "--engine", "ray"])
    a, b = _scores(local_out), _scores(ray_out)
    identical = sum(1 for k, v in a.items() if k in b and b[k] == v and v is not None)
    import ray

    from iqa_cli.api import load_model
    from iqa_cli.pairs import pair_folders
    from iqa_cli.pipeline import run_pipeline
    from iqa_cli.ray_engine import score_pairs_ray
    from iqa_cli.runtime import keep_freed_memory

    keep_freed_memory()

    pairs = pair_folders(folder / "ref", folder / "dist").pairs

    def timed(run: Callable[[], int]) -> float:
        t0 = time.perf_counter()
        assert run() == n
        return time.perf_counter() - t0

    def on_ray() -> int:
        return sum(1 for _ in score_pairs_ray(pairs, model=None, weights=None, device="cpu"))

    # the instance's processes (and CLI drivers joining it) import this tree
    os.environ["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - t0
    ray_cold = timed(on_ray)
    scorer = load_model(device="cpu")
    local_loop = timed(lambda: sum(1 for _ in run_pipeline(scorer, pairs, workers=2)))
    ray_warm = timed(on_ray)
    address = ray.get_runtime_context().gcs_address
    join_out = tmp / "ray-join.jsonl"
    joined = run_batch(
        folder / "ref", folder / "dist", join_out, 2, ["-f", "jsonl", "--engine", "ray", "--address", address]
    )
    ray.shutdown()
    local2 = run_batch(folder / "ref", folder / "dist", local_out, 2, ["-f", "jsonl"])
    c = _scores(join_out)
    identical_join = sum(1 for k, v in a.items() if k in c and c[k] == v and v is not None)
    local_mean = (local["pairs_per_s"] + local2["pairs_per_s"]) / 2
    return {
        "pairs": n,
        "local_cli": local,
        "ray_cli": ray_cli,
        "ray_vs_local_cli_wall": round(ray_cli["pairs_per_s"] / local["pairs_per_s"], 3),
        "ray_startup_s": round(startup, 2),
        "local_in_process_pairs_per_s": round(n / local_loop, 1),
        "ray_in_process_cold_pairs_per_s": round(n / ray_cold, 1),
        "ray_in_process_warm_pairs_per_s": round(n / ray_warm, 1),
        "ray_vs_local_in_process_cold": round(local_loop / ray_cold, 3),
        "ray_vs_local_in_process_warm": round(local_loop / ray_warm, 3),
        "ray_cli_joining_running_instance": joined,
        "local_cli_again": local2,
        "ray_joining_vs_local_cli_wall": round(joined["pairs_per_s"] / local_mean, 3),
        "scores_bit_identical": f"{identical}/{n}",
        "scores_bit_identical_joining": f"{identical_join}/{n}",
    }


def _folder(base: Path, fmt: str, n: int) -> Path:
    folder = base / f"{fmt}-{n}"
    if not (folder / "dist").is_dir() or sum(1 for _ in (folder / "dist").iterdir()) != n:
        t0 = time.perf_counter()
        make_pairs(folder, n, {"png": ".png", "jpeg": ".jpg"}[fmt])
        print(f"[{fmt}] wrote {n} pairs in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=600)
    ap.add_argument("--formats", default="png,jpeg")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="alternate decode-only and iqa batch this many times")
    ap.add_argument("--ray", action="store_true", help="also the Ray engine vs the local one (PNG, --ray-pairs)")
    ap.add_argument("--ray-pairs", type=int, default=2000)
    ap.add_argument("--skip-local", action="store_true", help="only the --ray and GPU parts")
    ap.add_argument("--gpu-workers", default="2", help="worker threads of the GPU pipeline runs, e.g. 4,16")
    ap.add_argument("--keep", type=Path, default=None, help="write the pairs here (reused if present)")
    args = ap.parse_args()
    from iqa_cli.runtime import keep_freed_memory

    keep_freed_memory()  # decode-only runs here with the allocator setting the iqa command gives its own process
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="iqa-bench-batch-") as tmp:
        base = args.keep or Path(tmp)
        for fmt in [] if args.skip_local else args.formats.split(","):
            folder = _folder(base, fmt, args.pairs)
            rows = []
            for _ in range(args.repeats):
                dec, dec_cpu = decode_only(folder / "ref", folder / "dist", args.workers)
                b = run_batch(folder / "ref", folder / "dist", Path(tmp) / f"{fmt}.csv", args.workers, [])
                rows.append({"decode_only_pairs_per_s": round(dec, 1), "decode_cpu_ms_per_pair": round(dec_cpu, 2)})
                rows[-1] |= {**b, "ratio": round(b["pairs_per_s"] / dec, 3)}
                rows[-1]["loop_ratio"] = round(b["loop_pairs_per_s"] / dec, 3)
                print(f"[{fmt}] {rows[-1]}", file=sys.stderr)
            results[fmt] = rows
        import torch

        if torch.cuda.is_available():
            folder = _folder(base, "png", args.pairs)
            results["gpu"] = gpu_batching(folder)
            workers = tuple(int(w) for w in args.gpu_workers.split(","))
            print(f"[gpu] {results['gpu']}", file=sys.stderr)
            results["gpu_pipeline"] = gpu_pipeline(folder, Path(tmp), workers)
            results["gpu_pipeline_designs"] = pipeline_designs(folder, workers)
        else:
            results["gpu"] = "skipped: CUDA is not available on this machine"
            print(f"[gpu] {results['gpu']}", file=sys.stderr)
        if args.ray:
            results["ray"] = ray_vs_local(_folder(base, "png", args.ray_pairs), Path(tmp))
            print(f"[ray] {results['ray']}", file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
