"""Experiment (not in the product): robust_rank.py's figures for one setting with the masked Haar block's pooling
weight changed, to see whether the attack wins through the weights. The block pools ``sum w D / sum w`` with ``w`` the
larger size-8 Haar magnitude of the two images, which a perturbation of the distorted image can raise.

MODE ``wjnd``: the jnd also on the weight (the distorted image's size-8 magnitude soft-thresholded toward the
reference's by jnd x 8, that kernel's L1 norm on 8-bit pixels); ``wref``: the reference's size-8 magnitude alone.

Usage (repository root): OMP_NUM_THREADS=1 python bench/experiments/robust_weights.py MODE K:keep:tau:jnd
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import robust_rank as rr  # noqa: E402

from iqa_cli.models.causal import masked_haar as mh  # noqa: E402
from iqa_cli.models.causal.fixed import fixed_colour  # noqa: E402
from iqa_cli.models.functional import haar_magnitudes  # noqa: E402

MODE = "wjnd"
orig = mh.MaskedHaar.prepare


def prepare(self, ref, dist, half=None):
    p = orig(self, ref, dist, half)
    b = ref.shape[0]
    h = half if half is not None else fixed_colour(ref, dist)
    m8 = haar_magnitudes(255.0 * h[:, :1], 3)[2]
    a8, d8 = m8[:b], m8[b:]
    if MODE == "wref":
        w = a8
    else:
        w = torch.maximum(a8, self._visible(a8, d8, 8.0))
    return mh.Prepared(bands=p.bands, chroma=p.chroma, weight=w, energy=p.energy)


if __name__ == "__main__":
    MODE, setting = sys.argv[1], sys.argv[2]
    assert MODE in ("wjnd", "wref"), MODE
    mh.MaskedHaar.prepare = prepare
    sys.argv = [sys.argv[0], "--attack-images", "1", "--grid", setting]
    print("#", MODE, flush=True)
    rr.main()
