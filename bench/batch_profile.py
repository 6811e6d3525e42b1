"""Where ``iqa batch``'s CPU per pair goes: start-up, decode, conversion, model forward, row output.

In-process and on ONE thread (``torch.set_num_threads(1)``, as each pipeline worker runs), the stages of
:func:`iqa_cli.pipeline.score_chunk` timed apart with ``time.process_time`` over the pairs of a folder
(``bench/batch.py --keep DIR`` writes them: ``DIR/png-600``, ``DIR/jpeg-600``):

- *read*: the file's bytes, header and size checks and ``cv2.imdecode`` (``decode_file``, the first half of
  ``read_image``);
- *to float*: BGR -> RGB and uint8 -> float32 in [0, 1] (``normalise_channels`` + ``to_unit_float``);
- *align*: ``align_pair``;
- *to tensor*: HWC float32 -> (1, 3, H, W) (``to_tensor``, twice);
- *model*: the default model's inference path (``Scorer._score_arrays`` minus ``to_tensor``);
- *row*: ``make_result`` and the CSV sink's write;

and start-up in fresh interpreters: importing the CLI (``iqa_cli.cli.app`` with the ``batch`` command's imports)
and loading the model. The process runs with the ``iqa`` command's allocator setting
(:func:`iqa_cli.runtime.keep_freed_memory`).

Usage: python bench/batch_profile.py DIR/jpeg-600 [--pairs 300] [--cprofile 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STARTUP = {
    "import CLI": "import iqa_cli.cli.app, iqa_cli.api, iqa_cli.batch, iqa_cli.results, iqa_cli.pipeline",
    "load model": "import iqa_cli.api as a; a.load_model(device='cpu')",
}


def startup(repeats: int = 3) -> dict[str, float]:
    """CPU ms of each start-up step (median of ``repeats`` fresh interpreters; 'load model' minus its imports)."""
    out = {}
    for name, code in STARTUP.items():
        prog = f"import time; c=time.process_time(); {code}; print(1000*(time.process_time()-c))"
        prog = f"import iqa_cli.runtime as r; r.keep_freed_memory(); {prog}"
        runs = sorted(
            float(subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, check=True).stdout)
            for _ in range(repeats)
        )
        out[name] = runs[len(runs) // 2]
    base = subprocess.run(
        [sys.executable, "-c", "import time; print(1000*time.process_time())"],
        capture_output=True,
        text=True,
        check=True,
    )
    out["interpreter"] = float(base.stdout)
    return out


def stages(folder: Path, n: int) -> dict[str, float]:
    """CPU ms per pair of each stage, one thread."""
    import cv2
    import torch

    from iqa_cli.api import load_model
    from iqa_cli.imagefile import normalise_channels, to_unit_float
    from iqa_cli.io import Image, align_pair, decode_file, to_tensor
    from iqa_cli.pairs import pair_folders
    from iqa_cli.pipeline import make_result
    from iqa_cli.results import ResultSink

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    scorer = load_model(device="cpu")
    pairs = pair_folders(folder / "ref", folder / "dist").pairs[:n]
    t = dict.fromkeys(("read", "to float", "align", "to tensor", "model", "row"), 0.0)
    score = getattr(scorer.module, "score", scorer.module)

    def read(path: Path) -> Image:
        c = time.process_time()
        arr, grey_or_palette = decode_file(path)
        c1 = time.process_time()
        px, depth = to_unit_float(path, normalise_channels(arr, grey_or_palette))
        c2 = time.process_time()
        t["read"] += c1 - c
        t["to float"] += c2 - c1
        return Image(path, px, depth)

    with tempfile.TemporaryDirectory() as tmp, ResultSink(Path(tmp) / "out.csv", "csv") as sink:
        for i, p in enumerate(pairs):
            if i == 3:  # warm-up excluded
                t = dict.fromkeys(t, 0.0)
            r_img, d_img = read(p.ref), read(p.dist)
            c = time.process_time()
            r, d = align_pair(r_img, d_img)
            c1 = time.process_time()
            rt, dt = to_tensor(r), to_tensor(d)
            c2 = time.process_time()
            with torch.inference_mode():
                value = float(score(rt, dt).reshape(-1)[0])
            c3 = time.process_time()
            sink.write(make_result(scorer, p, value, None))
            c4 = time.process_time()
            t["align"] += c1 - c
            t["to tensor"] += c2 - c1
            t["model"] += c3 - c2
            t["row"] += c4 - c3
    m = len(pairs) - 3
    return {k: round(1000 * v / m, 3) for k, v in t.items()}


def cprofile_model(folder: Path, n: int) -> None:
    """cProfile of the model's inference path on ``n`` pairs (decoded first), one thread."""
    import cProfile
    import pstats

    import torch

    from iqa_cli.api import load_model
    from iqa_cli.io import align_pair, read_image, to_tensor
    from iqa_cli.pairs import pair_folders

    torch.set_num_threads(1)
    scorer = load_model(device="cpu")
    score = getattr(scorer.module, "score", scorer.module)
    tensors = []
    for p in pair_folders(folder / "ref", folder / "dist").pairs[:n]:
        r, d = align_pair(read_image(p.ref), read_image(p.dist))
        tensors.append((to_tensor(r), to_tensor(d)))
    with torch.inference_mode():
        score(*tensors[0])
        prof = cProfile.Profile()
        prof.enable()
        for rt, dt in tensors:
            score(rt, dt)
        prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="a folder with ref/ and dist/ (bench/batch.py --keep)")
    ap.add_argument("--pairs", type=int, default=300)
    ap.add_argument("--cprofile", type=int, default=0, help="also cProfile the model on this many pairs")
    args = ap.parse_args()
    from iqa_cli.runtime import keep_freed_memory

    keep_freed_memory()
    s = stages(args.folder, args.pairs)
    print(f"{args.folder.name}: CPU ms per pair, one thread, {args.pairs} pairs (3 warm-up excluded)")
    for k, v in s.items():
        print(f"  {k:10s} {v:7.3f}")
    print(f"  {'total':10s} {sum(s.values()):7.3f}")
    st = startup()
    print("start-up, CPU ms (median of 3 fresh interpreters):")
    for k, v in st.items():
        print(f"  {k:12s} {v:8.1f}")
    if args.cprofile:
        cprofile_model(args.folder, args.cprofile)


if __name__ == "__main__":
    main()
