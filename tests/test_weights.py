"""Weights files: round trip, strict loading, tamper and hash checks, model mismatch."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
import torch
from conftest import random_causal_model
from typer.testing import CliRunner

from iqa_cli.api import load_model
from iqa_cli.cli import app
from iqa_cli.errors import WeightsError
from iqa_cli.models.causal import CausalIQA
from iqa_cli.weights import file_sha256, load_state_strict, read_weights, save_weights


def _meta(model: CausalIQA) -> dict:
    return {"model": "causal-iqa", "config": model.config.to_dict()}


def _save(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    save_weights(path, tensors, _meta(CausalIQA()))
    return path


def test_round_trip(tmp_path: Path) -> None:
    model = random_causal_model(0)
    path = tmp_path / "w.safetensors"
    sha = save_weights(path, model.state_dict(), {**_meta(model), "note": {"steps": 3}})
    assert sha == file_sha256(path)
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed away
    tensors, meta = read_weights(path, expected_sha256=sha)
    assert meta["model"] == "causal-iqa" and meta["note"] == {"steps": 3}
    assert CausalIQA(meta["config"]).config == model.config
    state = model.state_dict()
    assert set(tensors) == set(state)
    assert all(torch.equal(tensors[k], state[k]) for k in state)
    fresh = CausalIQA(meta["config"])
    load_state_strict(fresh, tensors, str(path))
    assert all(torch.equal(fresh.state_dict()[k], state[k]) for k in state)


def test_same_tensors_and_metadata_give_the_same_bytes(tmp_path: Path) -> None:
    """safetensors writes its metadata table in hash order; the writer makes the file canonical."""
    model = random_causal_model(0)
    meta = {**_meta(model), "recipe": {"seed": 0, "lr": 1e-3, "names": ["a", "b"]}, "domain": "ünder", "x": None}
    shas = set()
    for i in range(6):  # different key orders at both levels; a fresh hash seed is not needed to see the effect
        keys = list(meta)[i % len(meta) :] + list(meta)[: i % len(meta)]
        shuffled = {k: (dict(reversed(meta[k].items())) if isinstance(meta[k], dict) else meta[k]) for k in keys}
        shas.add(save_weights(tmp_path / f"w{i}.safetensors", model.state_dict(), shuffled))
    assert len(shas) == 1
    assert {file_sha256(p) for p in tmp_path.glob("w*.safetensors")} == shas
    raw = (tmp_path / "w0.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0  # tensor data stays 8-byte aligned
    header = raw[8 : 8 + n].decode().rstrip(" ")
    assert header == json.dumps(json.loads(header), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    tensors, read = read_weights(tmp_path / "w0.safetensors")
    assert read["recipe"] == meta["recipe"] and read["domain"] == "ünder" and read["x"] is None
    assert all(torch.equal(tensors[k], v) for k, v in model.state_dict().items())


def test_load_model_with_weights_file(random_weights: Path) -> None:
    scorer = load_model(weights=random_weights, device="cpu")
    assert scorer.name == "causal-iqa"
    assert scorer.weights == random_weights and scorer.weights_sha256 == file_sha256(random_weights)
    assert not scorer.module.training
    reference = random_causal_model(0).state_dict()
    assert all(torch.equal(v, reference[k]) for k, v in scorer.module.state_dict().items())


def test_save_needs_the_model_name(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="must name the model"):
        save_weights(tmp_path / "w.safetensors", {"a": torch.zeros(1)}, {"config": {}})


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda t: t.pop("fl_bias"), r"missing \['fl_bias'\]"),
        (lambda t: t.__setitem__("extra.weight", torch.zeros(2)), r"unexpected \['extra.weight'\]"),
        (lambda t: t.__setitem__("fl_weights", torch.zeros(3)), r"wrong shape \['fl_weights'\]"),
    ],
    ids=["missing", "unexpected", "wrong-shape"],
)
def test_strict_loading_names_the_key(tmp_path: Path, edit, match: str) -> None:
    tensors = CausalIQA().state_dict()
    edit(tensors)
    with pytest.raises(WeightsError, match=match):
        load_state_strict(CausalIQA(), tensors, "test")
    path = _save(tmp_path / "w.safetensors", tensors)
    with pytest.raises(WeightsError, match=f"do not fit the model's architecture: {match}"):
        load_model(weights=path, device="cpu")


def test_tampered_tensor_fails_the_digest(tmp_path: Path) -> None:
    path = _save(tmp_path / "w.safetensors", random_causal_model(0).state_dict())
    data = bytearray(path.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    assert 8 + header_len < len(data) - 1
    data[-2] ^= 0x01  # a bit inside the last tensor's bytes
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="fails its tensor digest check"):
        read_weights(path)
    with pytest.raises(WeightsError, match="digest"):
        load_model(weights=path, device="cpu")


def test_sha256_mismatch(random_weights: Path) -> None:
    with pytest.raises(WeightsError, match=r"fails its sha256 check \(expected 000000000000…"):
        read_weights(random_weights, expected_sha256="0" * 64)


def _shipped(folder: Path, weights: Path, sha: str) -> None:
    folder.mkdir()
    (folder / "causal-iqa.safetensors").write_bytes(weights.read_bytes())
    manifest = {"files": {"causal-iqa.safetensors": {"sha256": sha}}}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_shipped_weights_are_hash_checked(tmp_path: Path, random_weights: Path, monkeypatch) -> None:
    import iqa_cli.weights

    good, bad = tmp_path / "good", tmp_path / "bad"
    _shipped(good, random_weights, file_sha256(random_weights))
    _shipped(bad, random_weights, "f" * 64)
    monkeypatch.setattr(iqa_cli.weights, "weights_dir", lambda: good)
    scorer = load_model(device="cpu")
    assert scorer.name == "causal-iqa" and scorer.weights == good / "causal-iqa.safetensors"
    assert scorer.weights_sha256 == file_sha256(random_weights)
    monkeypatch.setattr(iqa_cli.weights, "weights_dir", lambda: bad)
    with pytest.raises(WeightsError, match="fails its sha256 check"):
        load_model(device="cpu")


def test_file_not_listed_in_the_manifest(tmp_path: Path, monkeypatch) -> None:
    import iqa_cli.weights

    (tmp_path / "manifest.json").write_text('{"files": {}}')
    monkeypatch.setattr(iqa_cli.weights, "weights_dir", lambda: tmp_path)
    with pytest.raises(WeightsError, match="is not listed in"):
        load_model(device="cpu")


@pytest.mark.parametrize("content", [b"", b"hello, not tensors", b"\xff" * 64], ids=["empty", "text", "junk"])
def test_not_a_safetensors_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "w.safetensors"
    path.write_bytes(content)
    with pytest.raises(WeightsError, match="not a valid safetensors file"):
        read_weights(path)


def test_safetensors_without_iqa_metadata(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"a": torch.zeros(2)}, str(path))
    with pytest.raises(WeightsError, match="not an iqa weights file"):
        read_weights(path)


def test_missing_weights_file(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="does not exist"):
        load_model(weights=tmp_path / "nope.safetensors", device="cpu")


def test_weights_of_one_model_given_to_another(random_weights: Path) -> None:
    with pytest.raises(WeightsError, match="belong to model 'causal-iqa', not 'psnr'"):
        load_model("psnr", weights=random_weights, device="cpu")


def test_weights_for_a_training_free_model_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "psnr.safetensors"
    save_weights(path, {"x": torch.zeros(1)}, {"model": "psnr"})
    with pytest.raises(WeightsError, match="training-free and takes no weights"):
        load_model(weights=path, device="cpu")


def test_cli_reports_weights_errors(image_pair: tuple[Path, Path], random_weights: Path) -> None:
    result = CliRunner().invoke(
        app, ["score", *map(str, image_pair), "--model", "ssim", "--weights", str(random_weights), "-d", "cpu"]
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("iqa: error: weights ") and "belong to model 'causal-iqa'" in result.stderr


def test_saved_weights_get_the_umask_mode_not_mkstemps(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        save_weights(tmp_path / "w.safetensors", {"x": torch.zeros(2)}, {"model": "causal-iqa"})
    finally:
        os.umask(old)
    assert (tmp_path / "w.safetensors").stat().st_mode & 0o777 == 0o640
