"""Saving and resuming a training run: one safetensors file (no pickle) holding the step, the networks and the
optimiser state, and, for runs that must refuse to resume on other inputs, a JSON recipe beside it."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from iqa_cli.errors import UsageError

log = logging.getLogger(__name__)


def save_checkpoint(path: Path, step: int, modules: dict[str, nn.Module], opt: torch.optim.Optimizer) -> None:
    """Write ``step``, every module's state (keys ``<name>.<key>``) and the optimiser's tensors (``opt.<id>.<key>``)."""
    from iqa_cli.weights import save_weights

    tensors = {f"{name}.{k}": v for name, module in modules.items() for k, v in module.state_dict().items()}
    state = opt.state_dict()
    for pid, st in state["state"].items():
        for key, value in st.items():
            if torch.is_tensor(value):
                tensors[f"opt.{pid}.{key}"] = value.reshape(value.shape or (1,))
    save_weights(path, tensors, {"model": "checkpoint", "step": step, "config": {}})


def load_checkpoint(
    path: Path,
    modules: dict[str, nn.Module],
    opt: torch.optim.Optimizer,
    keep: dict[str, tuple[str, ...]] | None = None,
) -> int:
    """Restore what :func:`save_checkpoint` wrote into ``modules`` and ``opt``; returns the step to continue from.

    ``keep[name]``: state keys of that module left as they are (not read from the checkpoint), e.g. buffers that
    are refitted after training. Every other key must match (strict loading)."""
    from iqa_cli.weights import load_state_strict, read_weights

    tensors, meta = read_weights(path)
    for name, module in modules.items():
        prefix = f"{name}."
        sub = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        kept = (keep or {}).get(name, ())
        if kept:
            own = module.state_dict()
            sub = {k: v for k, v in sub.items() if k not in kept} | {k: own[k] for k in kept}
        load_state_strict(module, sub, str(path))
    state = opt.state_dict()
    for key, value in tensors.items():
        if not key.startswith("opt."):
            continue
        _, pid, name = key.split(".", 2)
        st = state["state"].setdefault(int(pid), {})
        st[name] = value.reshape(()) if name == "step" else value
    opt.load_state_dict(state)
    return int(meta["step"])


def checkpoint_paths(out: Path) -> tuple[Path, Path]:
    """The checkpoint and its recipe file beside ``out``: ``<stem>.ckpt.safetensors`` and ``<stem>.ckpt.json``."""
    stem = out.name[: -len(".safetensors")] if out.name.endswith(".safetensors") else out.name
    return out.with_name(f"{stem}.ckpt.safetensors"), out.with_name(f"{stem}.ckpt.json")


def prepare_checkpoint(ckpt: Path, recipe_path: Path, recipe: dict[str, Any], resume: bool) -> int | None:
    """Write the recipe beside a new checkpoint, or check it on resume; returns the step resumed from.

    Raises:
        UsageError: on resume, the recipe is missing or corrupt, or any of its values differs from ``recipe``.
    """
    if not resume:
        tmp = recipe_path.with_name(f".{recipe_path.name}.tmp")
        tmp.write_text(json.dumps(recipe, indent=1))
        os.replace(tmp, recipe_path)
        return None
    from iqa_cli.weights import read_weights

    try:
        saved = json.loads(recipe_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(
            f"cannot resume: the recipe {recipe_path} of checkpoint {ckpt} is missing or corrupt — "
            "run without --resume and with --force to start over"
        ) from exc
    changed = sorted(k for k in recipe if saved.get(k) != recipe[k])
    if changed:
        raise UsageError(
            f"cannot resume: checkpoint {ckpt} was made with a different {', '.join(changed)} — "
            "run with the same inputs, or without --resume and with --force to start over"
        )
    _, meta = read_weights(ckpt)
    step = int(meta["step"])
    log.info("resuming from checkpoint %s at step %d", ckpt, step)
    return step
