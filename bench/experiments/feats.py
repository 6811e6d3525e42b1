"""The shipped causal-iqa's pooled features of the cached pairs: feats.py train|kodak."""

import sys

import torch
from common import save_features

from iqa_cli.api import load_model

torch.set_num_threads(1)
model = load_model("causal-iqa", device="cpu").module.eval()
save_features(sys.argv[1], "feat", lambda r, d: model.pooled_features(r, d).numpy()[0])
