"""The masked Haar block's protocol on the cached development pairs (cache.py train|kodak first).

Fits ``content_energy`` on the training references, chooses the masking gain by content invariance (no labels), then
scores, on Kodak, the few-label calibrated feature with the degradation weights chosen *inside* each
leave-one-type-out fold (nested: the held-out type's training pairs are not used to choose or fit), and the ablations:
masking only (weights 1), weights only (gain 0), neither (HaarPSI's special case, calibrated). Writes
runs/exp/masked.json; prints a table.

Usage: OMP_NUM_THREADS=1 python bench/experiments/masked.py
"""

import json
import time

import numpy as np
from common import CACHE, labels

from iqa_cli.eval import srcc
from iqa_cli.models.causal.masked_haar import MaskedHaar
from iqa_cli.train import masked

t0 = time.time()
block = MaskedHaar()


def pairs(which):
    z = np.load(CACHE / f"{which}.npz")
    for i, k in enumerate(z["ref_idx"]):
        yield z[f"ref_{k}"].astype(np.float32) / 255.0, z[f"dist_{i}"].astype(np.float32) / 255.0


z = np.load(CACHE / "train.npz")
train_refs = [z[k] for k in z.files if k.startswith("ref_") and k != "ref_idx"]
energy = masked.pristine_content_energy(block, train_refs)
print(f"content_energy {energy:.2f}", flush=True)
block.content_energy.fill_(energy)
block.reference_energy.fill_(energy)
mos_t, types_t, levels_t, _ = labels("train")
mos_k, types_k, levels_k, _ = labels("kodak")
cond_t = types_t * 10 + levels_t
gain_settings = [masked.Setting(masking_gain=g) for g in masked.GAIN_GRID]
lf_t = masked.grid_features(block, pairs("train"), gain_settings)[:, :, 0]
gain, table = masked.choose_gain(lf_t, cond_t)
print("content invariance by gain", table, "->", gain, flush=True)
lf_srcc = {g: round(srcc(-lf_t[:, i], mos_t), 4) for i, g in enumerate(masked.GAIN_GRID)}
print("label-free SRCC (train) by gain", lf_srcc)
settings = masked.weight_settings(gain) + masked.weight_settings(0.0)
n = len(settings) // 2
f_t = masked.grid_features(block, pairs("train"), settings)
f_k = masked.grid_features(block, pairs("kodak"), settings)
print(f"features done {time.time() - t0:.0f}s", flush=True)
np.savez(CACHE / "masked_feats.npz", f_t=f_t, f_k=f_k, energy=energy, gain=gain)


def nested(cols):
    """Kodak predictions: per held-out type, the setting chosen among ``cols`` and the calibration fitted on the
    other types' training pairs (iqa_cli.train.masked.nested_loto)."""
    pred, chosen = masked.nested_loto(f_t[:, :, 1], mos_t, types_t, f_k[:, :, 1], types_k, list(cols))
    return pred, {t: settings[i] for t, i in chosen.items()}


rows = {}
full, chosen = nested(list(range(n)))
rows["learned masking + degradation weights (nested LOTO)"] = full
rows["masking only (weights 1), calibrated LOTO"] = nested([0])[0]
rows["degradation weights only (gain 0, nested LOTO)"] = nested(list(range(n, 2 * n)))[0]
rows["neither = HaarPSI special case, calibrated LOTO"] = nested([n])[0]
rows["label-free feature (gain chosen without labels)"] = -f_k[:, 0, 0]
rows["HaarPSI special case, uncalibrated"] = -f_k[:, n, 0]
i_all = masked.choose_weights(f_t[:, :n, 1], mos_t)
rows[f"setting chosen on all 13 types {settings[i_all]} (in-sample choice)"] = -f_k[:, i_all, 1]
out = {}
for name, p in rows.items():
    per = {int(t): round(srcc(p[types_k == t], mos_k[types_k == t]), 3) for t in np.unique(types_k)}
    out[name] = {"srcc": round(srcc(p, mos_k), 4), "per_type": per}
    print(f"| {name} | {out[name]['srcc']:.4f} |", flush=True)
print("chosen per fold", {t: (s.loss_weight, s.chroma_visibility) for t, s in chosen.items()})
summary = {"gain": gain, "energy": energy, "invariance": table, "rows": out}
(CACHE / "masked.json").write_text(json.dumps(summary, indent=1))
print(f"{time.time() - t0:.0f}s")
