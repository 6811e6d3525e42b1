"""Speed and memory benchmark.

- ms per 512x384 pair on the CPU with 2 torch threads, for each model, in the same run (median of repeats after
  warm-up, decoded tensors in memory: model time only), reported with the ratio to SSIM. Timed twice, each in a
  fresh process: with glibc malloc's default settings (what a Python user of the library gets) and with the
  setting the ``iqa`` command applies to its own process (``iqa_cli.runtime.keep_freed_memory``);
- with ``--device cuda``: the same on the GPU (synchronised), one process, and the peak CUDA memory of scoring a
  4000x3000 pair beyond the loaded model and images;
- peak resident memory of ``Scorer.score`` on a 4000x3000 pair (causal-iqa pools tile by tile above 2048x2048),
  measured in a fresh subprocess with ``ru_maxrss``, beside the same process's peak after loading the model only.

Usage: python bench/speed.py [--models causal-iqa,causal-iqa-robust,ssim,ms-ssim,haarpsi,psnr] [--repeats 20]
       [--device cpu|cuda]
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
from iqa_cli.runtime import keep_freed_memory
if {keep_freed}:
    assert keep_freed_memory()
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


def memory(model: str, keep_freed: bool) -> dict[str, float]:
    """Peak RSS (MB) of a fresh process: after loading model and images, and after scoring the 4000x3000 pair."""
    out = {}
    for score in (False, True):
        code = _MEMORY_CHILD.format(root=str(ROOT), model=model, score=score, keep_freed=keep_freed)
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        base, peak = (int(v) / 1024 for v in res.stdout.split())
        out["loaded_mb" if not score else "scored_mb"] = round(peak, 1)
    out["scoring_extra_mb"] = round(out["scored_mb"] - out["loaded_mb"], 1)
    return out


def gpu_memory(model: str, device: str) -> dict[str, float]:
    """Peak CUDA memory (MB, PyTorch's allocator) of scoring a 4000x3000 pair, beyond the loaded model and images."""
    import torch

    from iqa_cli.api import load_model

    scorer = load_model(model, device=device)
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(1, 3, 3000, 4000, generator=g).to(device)
    dist = (ref + 0.05 * torch.randn(ref.shape, generator=g).to(device)).clamp(0, 1)
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    scorer.infer(ref, dist)  # the model's own inference path (tiling), as score() takes it
    torch.cuda.synchronize()
    return {
        "loaded_mb": round(base / 2**20, 1),
        "scoring_extra_mb": round((torch.cuda.max_memory_allocated() - base) / 2**20, 1),
    }


def time_models(models: list[str], repeats: int, device: str, keep_freed: bool) -> dict[str, float]:
    """Median ms per 512x384 pair of each model, in this process."""
    import torch

    from iqa_cli.api import load_model
    from iqa_cli.runtime import keep_freed_memory

    if keep_freed and not keep_freed_memory():
        raise SystemExit("keep_freed_memory() did not take effect here (not Linux/glibc?)")
    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(1, 3, 384, 512, generator=g).to(device)
    dist = (ref + 0.05 * torch.randn(ref.shape, generator=g).to(device)).clamp(0, 1)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    timings = {}
    for name in models:
        scorer = load_model(name, device=device)
        with torch.inference_mode():
            for _ in range(3):
                scorer.score_tensors(ref, dist)
            sync()
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                scorer.score_tensors(ref, dist)
                sync()
                times.append((time.perf_counter() - t0) * 1000)
        timings[name] = round(statistics.median(times), 2)
    return timings


def time_in_child(models: list[str], repeats: int, keep_freed: bool) -> dict[str, float]:
    """:func:`time_models` on the CPU in a fresh process (the allocator setting is process-wide)."""
    cmd = [sys.executable, __file__, "--child", "--models", ",".join(models), "--repeats", str(repeats)]
    res = subprocess.run(cmd + (["--keep-freed"] if keep_freed else []), capture_output=True, text=True, check=True)
    return json.loads(res.stdout)


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="causal-iqa,causal-iqa-robust,ssim,ms-ssim,haarpsi,psnr")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--memory-models", default="causal-iqa")
    ap.add_argument("--out", type=Path, default=Path("bench/out/speed.json"))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--keep-freed", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    models = args.models.split(",")
    if args.child:
        print(json.dumps(time_models(models, args.repeats, "cpu", args.keep_freed)))
        return
    if args.device == "cpu":
        columns = {
            "glibc default": time_in_child(models, args.repeats, keep_freed=False),
            "iqa command (keep freed memory)": time_in_child(models, args.repeats, keep_freed=True),
        }
        mem = {
            f"{m}, {label}": memory(m, keep_freed)
            for m in args.memory_models.split(",")
            if m
            for label, keep_freed in (("glibc default", False), ("iqa command", True))
        }
    else:
        columns = {args.device: time_models(models, args.repeats, args.device, keep_freed=False)}
        mem = {f"{m}, {args.device}": gpu_memory(m, args.device) for m in args.memory_models.split(",") if m}
    result = {
        "ms_per_512x384_pair": columns,
        "threads": 2,
        "device": args.device if args.device == "cpu" else torch.cuda.get_device_name(),
        "memory_4000x3000": mem,
        "torch": torch.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"device: {result['device']}")
    print("| model | " + " | ".join(f"ms ({c}) | ratio to SSIM" for c in columns) + " |")
    print("|---|" + "---|---|" * len(columns))
    for name in models:
        cells = []
        for timings in columns.values():
            ms, ssim = timings[name], timings.get("ssim")
            cells.append(f"{ms:.1f} | {ms / ssim:.2f}" if ssim else f"{ms:.1f} | -")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for name, m in mem.items():
        if "scored_mb" not in m:  # CUDA: the allocator's figures
            print(
                f"\n{name}, 4000x3000 pair: {m['loaded_mb']:.0f} MB of CUDA memory with model and images loaded; "
                f"scoring adds at most {m['scoring_extra_mb']:.0f} MB"
            )
            continue
        print(
            f"\n{name}, 4000x3000 pair: peak RSS {m['scored_mb']:.0f} MB "
            f"({m['loaded_mb']:.0f} MB with model and images loaded; scoring adds {m['scoring_extra_mb']:.0f} MB)"
        )


if __name__ == "__main__":
    main()
