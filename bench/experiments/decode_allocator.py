"""Decode-only rate of bench/batch.py with glibc's default allocator or the ``iqa`` command's setting.

Runs ``bench.batch.decode_only`` (``read_image`` + ``align_pair`` of every pair in 2 threads) ``--passes`` times in
this process, after :func:`iqa_cli.runtime.keep_freed_memory` when ``--keep`` is given. Run it as fresh processes,
alternating the two settings: the allocator setting is process-wide.

Usage: python bench/experiments/decode_allocator.py DIR/jpeg-600 [--keep] [--passes 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="a folder with ref/ and dist/ (bench/batch.py --keep)")
    ap.add_argument("--keep", action="store_true", help="the iqa command's allocator setting")
    ap.add_argument("--passes", type=int, default=3)
    args = ap.parse_args()
    if args.keep:
        from iqa_cli.runtime import keep_freed_memory

        keep_freed_memory()
    import batch  # bench/batch.py

    setting = "iqa setting" if args.keep else "glibc default"
    for _ in range(args.passes):
        rate, cpu = batch.decode_only(args.folder / "ref", args.folder / "dist", 2)
        print(f"{setting}: {rate:.0f} pairs/s, {cpu:.2f} CPU ms per pair", flush=True)


if __name__ == "__main__":
    main()
