"""Weights files: safetensors with self-describing metadata, a manifest with sha256, strict loading. No pickle.

A weights file carries, in its safetensors metadata, the model name it belongs to, the architecture config and a
digest of its tensors (``tensors_sha256``), so a file passed with ``--weights`` is checked even without a
manifest. Shipped files are also listed in ``weights/manifest.json`` with the sha256 of the whole file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iqa_cli.atomic import new_file_mode
from iqa_cli.errors import WeightsError

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMAT_VERSION = "1"
MANIFEST = "manifest.json"


def weights_dir() -> Path:
    """Folder of the shipped weights: ``iqa_cli/shipped`` in an installed wheel, ``weights/`` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "shipped", here.parent / "weights"):
        if (candidate / MANIFEST).is_file():
            return candidate
    raise WeightsError(
        "the shipped weights folder (weights/manifest.json) is missing — reinstall iqa-cli or pass --weights FILE"
    )


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tensors_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """Digest of named tensors, independent of file layout (names, dtypes, shapes and bytes, sorted by name)."""
    import torch

    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_manifest(folder: Path | None = None) -> dict[str, Any]:
    """Read ``manifest.json`` of the shipped weights."""
    folder = folder or weights_dir()
    try:
        return json.loads((folder / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"cannot read {folder / MANIFEST}: {exc}") from exc


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no optional whitespace: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """A safetensors file as bytes with a canonical header, so equal tensors and metadata give equal bytes.

    safetensors writes its ``__metadata__`` table in hash order (a different order, hence a different sha256,
    on every run); the header is re-written here as canonical JSON (sorted keys, compact), space-padded to a
    multiple of 8 bytes as the format asks. The tensor data is left as written.
    """
    from safetensors.torch import save

    raw = save(tensors, metadata=metadata)
    n = int.from_bytes(raw[:8], "little")
    header = canonical_json(json.loads(raw[8 : 8 + n])).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + raw[8 + n :]


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def save_weights(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any]) -> str:
    """Write tensors and metadata atomically (temporary file in the same folder, then rename).

    The bytes are a function of the tensors and metadata only (canonical header, metadata values as canonical
    JSON), so writing the same model twice gives files with the same sha256.

    Args:
        path: destination ``.safetensors`` file.
        tensors: named tensors (made contiguous, moved to CPU).
        metadata: JSON-serialisable values; must include ``model`` (registry name) and ``config``.

    Returns:
        The sha256 of the written file.
    """
    path = Path(path)
    if "model" not in metadata:
        raise WeightsError("weights metadata must name the model it belongs to ('model')")
    clean = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    meta = {k: canonical_json(v) for k, v in metadata.items()}
    meta["iqa_format"] = FORMAT_VERSION
    meta["tensors_sha256"] = tensors_sha256(clean)
    data = safetensors_bytes(clean, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        _write_bytes(tmp, data)
        os.chmod(tmp, new_file_mode())  # mkstemp's 0o600 otherwise
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return hashlib.sha256(data).hexdigest()


def read_weights(
    path: str | Path, expected_sha256: str | None = None
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a weights file and check it.

    Args:
        path: ``.safetensors`` file written by :func:`save_weights`.
        expected_sha256: if given, the file's sha256 must equal it (shipped weights).

    Returns:
        (tensors, metadata) with metadata values decoded from JSON.

    Raises:
        WeightsError: missing, unreadable, not a safetensors file, hash or digest mismatch, or no iqa metadata.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {path} does not exist — check the path or run `iqa models`")
    if expected_sha256 is not None:
        actual = file_sha256(path)
        if actual != expected_sha256:
            raise WeightsError(
                f"weights file {path} fails its sha256 check (expected {expected_sha256[:12]}…, "
                f"found {actual[:12]}…): the file is corrupt or was replaced — reinstall iqa-cli"
            )
    try:
        with safe_open(str(path), framework="pt") as fh:
            raw_meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises several private types
        raise WeightsError(f"cannot read weights file {path}: not a valid safetensors file ({exc})") from exc
    if raw_meta.get("iqa_format") != FORMAT_VERSION:
        raise WeightsError(f"{path} is not an iqa weights file (no iqa_format={FORMAT_VERSION} metadata)")
    digest = raw_meta.get("tensors_sha256")
    if digest != tensors_sha256(tensors):
        raise WeightsError(f"weights file {path} fails its tensor digest check: the file is corrupt")
    meta: dict[str, Any] = {}
    for key, value in raw_meta.items():
        if key in ("iqa_format", "tensors_sha256"):
            meta[key] = value
            continue
        try:
            meta[key] = json.loads(value)
        except json.JSONDecodeError as exc:
            raise WeightsError(f"weights file {path} has corrupt metadata {key!r}") from exc
    return tensors, meta


def load_state_strict(module: nn.Module, tensors: dict[str, torch.Tensor], source: str) -> None:
    """Load tensors into a module; every parameter/buffer must be present with its shape, nothing extra.

    Raises:
        WeightsError: naming the missing, unexpected or mis-shaped entries.
    """
    own = module.state_dict()
    missing = sorted(set(own) - set(tensors))
    unexpected = sorted(set(tensors) - set(own))
    shape = sorted(k for k in set(own) & set(tensors) if tuple(own[k].shape) != tuple(tensors[k].shape))
    if missing or unexpected or shape:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{'…' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{'…' if len(unexpected) > 5 else ''}")
        if shape:
            parts.append(f"wrong shape {shape[:5]}")
        raise WeightsError(f"weights {source} do not fit the model's architecture: " + "; ".join(parts))
    module.load_state_dict(tensors, strict=True)


def shipped_path(file_name: str) -> tuple[Path, str]:
    """Path and expected sha256 of a shipped weights file listed in the manifest."""
    folder = weights_dir()
    manifest = load_manifest(folder)
    entry = manifest.get("files", {}).get(file_name)
    if entry is None:
        raise WeightsError(f"{file_name} is not listed in {folder / MANIFEST} — reinstall iqa-cli")
    return folder / file_name, entry["sha256"]
