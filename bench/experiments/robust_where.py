"""Where the reflection attack wins on training pairs: for the shipped causal-iqa-robust, per development pair of one
training image (288 px, as robust_rank.py) the clean score, the attacked scores at 2/255 and 4/255 about the median,
and the block's pooled calibrated deficit split into its gain, loss and chroma parts, clean and attacked at 4/255.
One JSON line per pair. Usage: OMP_NUM_THREADS=1 python bench/experiments/robust_where.py [IMAGE_INDEX]
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from common import attack_set, reflection_attack

from iqa_cli.api import load_model
from iqa_cli.models.causal.fixed import haarpsi_deficit

torch.set_num_threads(1)
img = int(sys.argv[1]) if len(sys.argv) > 1 else 0
scorer = load_model("causal-iqa-robust", device="cpu")
block = scorer.module.masked_haar
pairs, ts = attack_set(img, img + 1)


@torch.inference_mode()
def chans(r, d):
    p = block.prepare(r, d)
    c = block.c
    out = {}
    gl = []
    a_all, d_all = p.bands
    for i, reach in enumerate(block.BAND_REACH):
        a, dd = a_all[:, 2 * i : 2 * i + 2], d_all[:, 2 * i : 2 * i + 2]
        dd = block._visible(a, dd, reach)
        ch = (a - dd).pow(2)
        en = a * a + dd * dd
        lost = dd < a
        gl.append(
            (
                torch.where(lost, ch / (en + c), 0.0),
                torch.where(lost, 0.0, ch / (en + c + block.masking_gain * p.energy)),
            )
        )
    w = p.weight
    gain = (gl[0][1] + gl[1][1]) / 2
    loss = (gl[0][0] + gl[1][0]) / 2
    i_r, i_d = p.chroma
    i_d = block._visible(i_r, i_d, block.CHROMA_REACH)
    iq = ((i_r - i_d) ** 2 / (i_r**2 + i_d**2 + c * block.chroma_visibility)).mean(1, keepdim=True)
    wsum = float((w.sum(1) + w.mean(1)).mean())
    out["gain"] = float((w * haarpsi_deficit(gain)).sum(1).mean()) / wsum
    out["loss"] = float((w * haarpsi_deficit(block.loss_weight * loss)).sum(1).mean()) / wsum
    out["chroma"] = float((w.mean(1, keepdim=True) * haarpsi_deficit(iq)).mean()) / wsum
    return out


with torch.inference_mode():
    clean = np.array([float(scorer.score_tensors(r, d)[0]) for r, d in ts])
center = float(np.median(clean))
rows = []
t0 = time.time()
for p, (r, d), c in zip(pairs, ts, clean):
    res = reflection_attack(scorer, r, d, center)
    a4 = res[1].adversarial
    rows.append(
        {
            "type": p.condition.type_id,
            "level": p.condition.level,
            "mos": p.condition.mean_score,
            "clean": round(float(c), 2),
            "att2": round(res[0].attacked_score, 2),
            "att4": round(res[1].attacked_score, 2),
            "ch_clean": chans(r, d),
            "ch_att4": chans(r, a4),
        }
    )
    print(json.dumps(rows[-1]), flush=True)
print("# center", center, "seconds", round(time.time() - t0), flush=True)
