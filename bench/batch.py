"""Throughput of ``iqa batch`` against a decode-only pass over the same files, in the same run.

For each format (PNG, JPEG) the script writes ``--pairs`` 512x384 (ref, dist) pairs into a temporary folder:
references are crops of ``../shared/data/pristine`` images (synthetic textures when that folder is absent), the
distorted images come from :mod:`iqa_cli.distortions` (blur, noise, JPEG, ... at mixed strengths). Then:

- **decode-only**: every pair read and aligned exactly as ``iqa batch`` reads it (``read_image`` + ``align_pair``),
  in ``--workers`` threads, nothing scored: the rate a pipeline can at best approach on this machine;
- **iqa batch**: the real command in a subprocess (default model, ``--device cpu``, ``--workers``), wall clock
  including start-up, and the rate of its own scoring loop (the summary line on stderr);
- ``--ray``: ``iqa batch --engine ray`` on the same pairs (JSON Lines, so scores compare at full precision), with
  and without Ray's start-up, and whether every score is bit-identical to the local engine's;
- GPU (when CUDA is available, else skipped and said so): pairs/s of the model at batch 1 vs batched, decoded
  pairs in memory.

Usage: python bench/batch.py [--pairs 600] [--formats png,jpeg] [--workers 2] [--ray] [--ray-pairs 2000]
       [--keep DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from iqa_cli import distortions  # noqa: E402  (the one import of the distortion registry)
from iqa_cli.io import align_pair, read_image  # noqa: E402

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
            f = rng.uniform(0.01, 0.2, 3)
            img = np.stack([0.5 + 0.3 * np.sin(f[c] * x + c) * np.cos(f[2 - c] * y) for c in range(3)], axis=2)
            out.append(np.clip(img + 0.05 * rng.random(img.shape), 0, 1).astype(np.float32))
    return out


def _write(path: Path, pixels: np.ndarray) -> None:
    u8 = np.rint(np.clip(pixels, 0, 1) * 255).astype(np.uint8)[..., ::-1]
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if path.suffix == ".jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    if not cv2.imwrite(str(path), np.ascontiguousarray(u8), params):
        raise OSError(f"cannot write {path}")


def make_pairs(folder: Path, n: int, ext: str, seed: int = 0) -> tuple[Path, Path]:
    """``n`` pairs ``ref/NNNNN.ext`` / ``dist/NNNNN.ext`` of 512x384 crops and their distortions."""
    ref_dir, dist_dir = folder / "ref", folder / "dist"
    ref_dir.mkdir(parents=True, exist_ok=True)
    dist_dir.mkdir(parents=True, exist_ok=True)
    sources = _sources()
    rng = np.random.default_rng(seed)
    for i in range(n):
        src = sources[i % len(sources)]
        y0 = int(rng.integers(0, src.shape[0] - SIZE[0] + 1))
        x0 = int(rng.integers(0, src.shape[1] - SIZE[1] + 1))
        ref = np.ascontiguousarray(src[y0 : y0 + SIZE[0], x0 : x0 + SIZE[1]])
        dist = distortions.apply(KINDS[i % len(KINDS)], ref, float(rng.uniform(0.2, 0.8)), rng)
        _write(ref_dir / f"{i:05d}{ext}", ref)
        _write(dist_dir / f"{i:05d}{ext}", dist)
    return ref_dir, dist_dir


def decode_only(ref_dir: Path, dist_dir: Path, workers: int) -> float:
    """Pairs/s of reading and aligning every pair in ``workers`` threads (nothing scored)."""
    names = sorted(p.name for p in dist_dir.iterdir())

    def load(name: str) -> tuple[int, ...]:
        r, d = align_pair(read_image(ref_dir / name), read_image(dist_dir / name))
        return r.shape

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(load, names):
            pass
    return len(names) / (time.perf_counter() - t0)


def run_batch(ref_dir: Path, dist_dir: Path, out: Path, workers: int, extra: list[str]) -> dict[str, float]:
    """Wall-clock and in-loop pairs/s of the real ``iqa batch`` command in a subprocess."""
    n = sum(1 for _ in dist_dir.iterdir())
    cmd = [sys.executable, "-m", "iqa_cli", "batch", str(ref_dir), str(dist_dir), "-o", str(out)]
    cmd += ["--device", "cpu", "--workers", str(workers), "--no-progress", *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"iqa batch failed ({res.returncode}): {res.stderr[-2000:]}")
    m = re.search(r"(\d+) scored, (\d+) failed.* in ([0-9.]+)s", res.stderr)
    if m is None or int(m.group(1)) != n:
        raise RuntimeError(f"unexpected summary: {res.stderr[-2000:]}")
    loop = float(m.group(3))
    return {"wall_s": round(wall, 2), "pairs_per_s": round(n / wall, 1), "loop_pairs_per_s": round(n / loop, 1)}


def _scores(path: Path) -> dict[tuple[str, str], float | None]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {(r["ref"], r["dist"]): r["score"] for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=600)
    ap.add_argument("--formats", default="png,jpeg")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1, help="alternate decode-only and iqa batch this many times")
    ap.add_argument("--keep", type=Path, default=None, help="write the pairs here (reused if present)")
    args = ap.parse_args()
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="iqa-bench-batch-") as tmp:
        base = args.keep or Path(tmp)
        for fmt in args.formats.split(","):
            ext = {"png": ".png", "jpeg": ".jpg"}[fmt]
            folder = base / f"{fmt}-{args.pairs}"
            if not (folder / "dist").is_dir() or sum(1 for _ in (folder / "dist").iterdir()) != args.pairs:
                t0 = time.perf_counter()
                make_pairs(folder, args.pairs, ext)
                print(f"[{fmt}] wrote {args.pairs} pairs in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
            rows = []
            for _ in range(args.repeats):
                dec = decode_only(folder / "ref", folder / "dist", args.workers)
                b = run_batch(folder / "ref", folder / "dist", Path(tmp) / f"{fmt}.csv", args.workers, [])
                rows.append({"decode_only_pairs_per_s": round(dec, 1), **b, "ratio": round(b["pairs_per_s"] / dec, 3)})
                print(f"[{fmt}] {rows[-1]}", file=sys.stderr)
            results[fmt] = rows
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
