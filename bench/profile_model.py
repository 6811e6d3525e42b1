"""Where causal-iqa spends its time: timings of architecture variants and a per-operator profile.

- ms per 512x384 pair (median of repeats, random weights: timing does not depend on the values) for the shipped
  architecture, without its fixed branches (pixel maps, Haar block), and with a half-width encoder;
- the operators with the largest self CPU time in one forward pass of the shipped architecture (torch.profiler).

This is the full computation (every branch): the models here have unfitted heads (all weights 0), for which
inference computes everything. A fitted sparse head computes less (see ``CausalIQA.needed_branches``); its speed is
what bench/speed.py measures.

Usage: python bench/profile_model.py [--threads 2] [--repeats 20] [--top 12]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from iqa_cli.models.causal import CausalConfig, CausalIQA  # noqa: E402

VARIANTS = {
    "shipped architecture": CausalConfig(),
    "learned part only (no pixel maps, no Haar block)": CausalConfig(pixel_branch=False, haar=False),
    "half-width encoder (8/16/24), fixed branches kept": CausalConfig(
        widths=(8, 16, 24), content=(4, 8, 12), degradation=(4, 8, 12)
    ),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    ref = torch.rand(1, 3, 384, 512, generator=gen)
    dist = (ref + 0.05 * torch.randn(ref.shape, generator=gen)).clamp(0, 1)
    print(f"| variant ({args.threads} threads) | ms per 512x384 pair |\n|---|---|")
    for name, cfg in VARIANTS.items():
        model = CausalIQA(cfg).eval()
        with torch.inference_mode():
            for _ in range(3):
                model(ref, dist)
            times = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                model(ref, dist)
                times.append(time.perf_counter() - t0)
        print(f"| {name} | {1000 * statistics.median(times):.1f} |")
    model = CausalIQA().eval()
    from torch.profiler import profile

    with torch.inference_mode():
        model(ref, dist)
        with profile(record_shapes=True) as prof:
            for _ in range(5):
                model(ref, dist)
    events = sorted(prof.key_averages(group_by_input_shape=True), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events) / 5 / 1000
    print(f"\nper-operator self CPU time, shipped architecture (total {total:.1f} ms per pair under the profiler):")
    print("| ms | calls | operator | input shapes |\n|---|---|---|---|")
    for e in events[: args.top]:
        shapes = str(e.input_shapes)[:70]
        print(f"| {e.self_cpu_time_total / 5 / 1000:.2f} | {e.count // 5} | {e.key} | {shapes} |")


if __name__ == "__main__":
    main()
