"""Cache the development pairs (uint8) of the training dev images, or of Kodak at 512 px: cache.py train|kodak."""

import sys

import numpy as np
import torch
from common import save_pairs

from iqa_cli.synth.devset import load_conditions, load_refs, make_dev_pairs, pristine_paths
from iqa_cli.train import selection

which = sys.argv[1]
torch.set_num_threads(1)
if which == "train":
    refs, max_side = load_refs(selection.dev_train_refs()), None
else:
    refs, max_side = load_refs(pristine_paths("holdout")), 512
names: list[str] = []
ref_images: list[np.ndarray] = []
dists: list[np.ndarray] = []
meta = []
for p in make_dev_pairs(refs, load_conditions(), seed=0, max_side=max_side):
    if p.ref_name not in names:
        names.append(p.ref_name)
        ref_images.append((p.ref * 255).round().astype(np.uint8))
    dists.append((p.dist * 255).round().astype(np.uint8))
    meta.append((p.condition.mean_score, p.condition.type_id, p.condition.level, names.index(p.ref_name)))
save_pairs(which, ref_images, dists, np.array(meta))
print(which, len(dists), sorted({d.shape for d in dists})[:3])
