"""Speed and memory benchmark.

- ms per 512x384 pair on the CPU with 2 torch threads, for each model, in the same run (median of repeats after
  warm-up, decoded tensors in memory: model time only), reported with the ratio to SSIM;
- peak resident memory of ``Scorer.score`` on a 4000x3000 pair (causal-iqa pools tile by tile above 2048x2048),
  measured in a fresh subprocess with ``ru_maxrss``, beside the same process's peak after loading the model only.

Usage: python bench/speed.py [--models causal-iqa,causal-iqa-robust,ssim,ms-ssim,haarpsi,psnr] [--repeats 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_MEMORY_CHILD = """
import resource, sys, numpy as np, torch
sys.path.insert(0, {root!r})
torch.set_num_threads(2)
from iqa_cli.api import load_model
scorer = load_model({model!r}, device="cpu")
rng = np.random.default_rng(0)
ref = rng.random((3000, 4000, 3), dtype=np.float32)
dist = np.clip(ref + rng.normal(0, 0.05, ref.shape).astype(np.float32), 0, 1)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if {score}:
    scorer.score(ref, dist)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(base, peak)
"""


def memory(model: str) -> dict[str, float]:
    """Peak RSS (MB) of a fresh process: after loading model and images, and after scoring the 4000x3000 pair."""
    out = {}
    for score in (False, True):
        code = _MEMORY_CHILD.format(root=str(ROOT), model=model, score=score)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        base, peak = (int(v) / 1024 for v in res.stdout.split())
        out["loaded_mb" if not score else "scored_mb"] = round(peak, 1)
    out["scoring_extra_mb"] = round(out["scored_mb"] - out["loaded_mb"], 1)
    return out


def main() -> None:
    import torch

    from iqa_cli.api import load_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="causal-iqa,causal-iqa-robust,ssim,ms-ssim,haarpsi,psnr")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--memory-models", default="causal-iqa")
    ap.add_argument("--out", type=Path, default=Path("bench/out/speed.json"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(1, 3, 384, 512, generator=g)
    dist = (ref + 0.05 * torch.randn(ref.shape, generator=g)).clamp(0, 1)
    timings = {}
    for name in args.models.split(","):
        scorer = load_model(name, device="cpu")
        with torch.inference_mode():
            for _ in range(3):
                scorer.score_tensors(ref, dist)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                scorer.score_tensors(ref, dist)
                times.append((time.perf_counter() - t0) * 1000)
        timings[name] = round(statistics.median(times), 2)
    mem = {m: memory(m) for m in args.memory_models.split(",") if m}
    result = {"ms_per_512x384_pair_2_threads": timings, "memory_4000x3000": mem, "torch": torch.__version__}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    ssim = timings.get("ssim")
    print("| model | ms / 512x384 pair (2 threads, median) | ratio to SSIM |\n|---|---|---|")
    for name, ms in timings.items():
        print(f"| {name} | {ms:.1f} | {ms / ssim:.2f} |" if ssim else f"| {name} | {ms:.1f} | - |")
    for name, m in mem.items():
        print(
            f"\n{name}, 4000x3000 pair: peak RSS {m['scored_mb']:.0f} MB "
            f"({m['loaded_mb']:.0f} MB with model and images loaded; scoring adds {m['scoring_extra_mb']:.0f} MB)"
        )


if __name__ == "__main__":
    main()
