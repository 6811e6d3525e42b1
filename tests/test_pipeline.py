"""The local batch engine: exact scores by default, batches that agree, errors as rows, input order, threads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import degrade, random_causal_model, textured, write_png

from iqa_cli.api import PairResult, Scorer, load_model, score_pairs
from iqa_cli.errors import UsageError
from iqa_cli.pairs import Pair
from iqa_cli.pipeline import DEFAULT_BATCH_SIZE, run_pipeline, score_chunk


def _mixed_pairs(root: Path, side: int) -> list[Pair]:
    """Same-size RGB pairs, a grey pair, a pair of another size, a missing file and a size mismatch, interleaved."""
    pairs = []

    def add(name: str, h: int, w: int, channels: int = 3, seed: int = 0, dist_size: tuple[int, int] | None = None):
        ref = textured(h, w, channels, seed)
        dh, dw = dist_size or (h, w)
        dist = degrade(textured(dh, dw, channels, seed), 0.03 + 0.01 * (seed % 5), seed=seed + 100)
        pairs.append(Pair(write_png(root / "ref" / name, ref), write_png(root / "dist" / name, dist)))

    for i in range(5):
        add(f"a{i}.png", side, side + 8, seed=i)
    add("grey.png", side, side + 8, channels=1, seed=7)
    add("a5.png", side, side + 8, seed=5)
    add("tall.png", side + 16, side, seed=8)
    pairs.append(Pair(root / "ref" / "a0.png", root / "dist" / "missing.png"))
    add("a6.png", side, side + 8, seed=6)
    add("mismatch.png", side, side + 8, seed=9, dist_size=(side, side))
    add("a7.png", side, side + 8, seed=10)
    return pairs


def _single(scorer: Scorer, pair: Pair) -> PairResult:
    """What scoring the pair alone gives (the reference the batched engine must reproduce bit for bit)."""
    try:
        score = scorer.score(pair.ref, pair.dist)
        return PairResult(str(pair.ref), str(pair.dist), scorer.name, score, None, scorer.weights_id)
    except Exception as exc:  # noqa: BLE001 - the error row's text is what we compare
        return PairResult(str(pair.ref), str(pair.dist), scorer.name, None, str(exc), scorer.weights_id)


def _scorers() -> list[tuple[str, Scorer]]:
    out = [(name, load_model(name, device="cpu")) for name in ("causal-iqa", "causal-iqa-robust", "ssim", "haarpsi")]
    out += [(n, load_model(n, device="cpu")) for n in ("psnr", "ms-ssim")]
    full = random_causal_model(3)  # learned encoder in use: the convolutions run batched too
    out.append(("random-causal", Scorer(out[0][1].spec, full, torch.device("cpu"))))
    return out


def test_default_pipeline_is_bit_identical_to_scoring_alone_for_every_model(tmp_path: Path) -> None:
    small = _mixed_pairs(tmp_path / "small", 40)
    large = _mixed_pairs(tmp_path / "large", 176)  # ms-ssim needs 176 px per side
    for name, scorer in _scorers():
        pairs = large if name == "ms-ssim" else small
        threads = torch.get_num_threads()
        torch.set_num_threads(2)  # as `iqa score` runs on a 2-core machine
        try:
            expected = [_single(scorer, p) for p in pairs]
        finally:
            torch.set_num_threads(threads)
        got = list(run_pipeline(scorer, pairs, workers=2))  # 2 threads, torch at 1 intra-op thread in them
        assert got == expected, name  # dataclass equality: float scores compared exactly, error texts too
        assert sum(r.error is None for r in got) == len(pairs) - 2


@pytest.mark.parametrize("batch_size", [4, 16])
def test_batched_scores_match_single_ones_and_errors_exactly(tmp_path: Path, batch_size: int) -> None:
    pairs = _mixed_pairs(tmp_path, 40)
    for name, scorer in _scorers():
        if name == "ms-ssim":
            continue
        expected = [_single(scorer, p) for p in pairs]
        got = list(run_pipeline(scorer, pairs, workers=2, batch_size=batch_size))
        assert [(r.ref, r.dist, r.model, r.error) for r in got] == [
            (r.ref, r.dist, r.model, r.error) for r in expected
        ], name
        for g, e in zip(got, expected):  # oneDNN may pick another convolution algorithm for a batch of tiny images
            assert (g.score is None) == (e.score is None), name
            if e.score is not None:
                assert g.score == pytest.approx(e.score, rel=1e-5), name


def test_score_chunk_batches_runs_of_equal_shape(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scorer = load_model("psnr", device="cpu")
    pairs = _mixed_pairs(tmp_path, 24)
    calls: list[int] = []
    real = scorer.module.forward

    def spy(ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        calls.append(ref.shape[0])
        return real(ref, dist)

    monkeypatch.setattr(scorer.module, "forward", spy)
    score_chunk(scorer, pairs)
    # a0..a4 (5), grey breaks the run, a5, tall, missing (no forward), a6, mismatch (no forward), a7
    assert calls == [5, 1, 1, 1, 1, 1]


def test_a_failing_batch_is_retried_pair_by_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scorer = load_model("psnr", device="cpu")
    pairs = _mixed_pairs(tmp_path, 24)[:5]
    expected = [_single(scorer, p) for p in pairs]
    real = scorer.module.forward

    def fails_batched(ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        if ref.shape[0] > 1:
            raise RuntimeError("out of memory")
        return real(ref, dist)

    monkeypatch.setattr(scorer.module, "forward", fails_batched)
    assert score_chunk(scorer, pairs) == expected


def test_too_small_pairs_get_the_single_pair_error(tmp_path: Path) -> None:
    scorer = load_model("causal-iqa", device="cpu")
    pairs = [
        Pair(write_png(tmp_path / f"r{i}.png", textured(8, 8)), write_png(tmp_path / f"d{i}.png", textured(8, 8)))
        for i in range(3)
    ]
    got = list(run_pipeline(scorer, pairs, batch_size=3))
    assert [r.error for r in got] == [_single(scorer, p).error for p in pairs]
    assert all(r.score is None and "smaller than model" in (r.error or "") for r in got)


def test_results_come_in_input_order_and_score_pairs_delegates(tmp_path: Path) -> None:
    scorer = load_model("psnr", device="cpu")
    pairs = _mixed_pairs(tmp_path, 24) * 3
    got = list(score_pairs(scorer, pairs, workers=3, batch_size=2))
    assert [(r.ref, r.dist) for r in got] == [(str(p.ref), str(p.dist)) for p in pairs]


def test_torch_threads_restored_and_early_stop_returns(tmp_path: Path) -> None:
    scorer = load_model("psnr", device="cpu")
    before = torch.get_num_threads()
    gen = run_pipeline(scorer, _mixed_pairs(tmp_path, 24) * 4, workers=2, batch_size=1)
    first = next(gen)
    assert first.error is None and torch.get_num_threads() == 1
    gen.close()
    assert torch.get_num_threads() == before


def test_bad_arguments_are_usage_errors() -> None:
    scorer = load_model("psnr", device="cpu")
    with pytest.raises(UsageError, match="workers must be at least 1"):
        list(run_pipeline(scorer, [], workers=0))
    with pytest.raises(UsageError, match="batch size must be at least 1"):
        list(run_pipeline(scorer, [], batch_size=0))
    assert DEFAULT_BATCH_SIZE == 1


def test_float_scores_survive_as_python_floats(tmp_path: Path) -> None:
    scorer = load_model("causal-iqa", device="cpu")
    pairs = _mixed_pairs(tmp_path, 32)[:3]
    got = score_chunk(scorer, pairs)
    assert all(type(r.score) is float and np.isfinite(r.score) for r in got)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_workers_that_only_decode_give_the_same_rows_and_score_in_the_consuming_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    """The GPU way (workers decode; the consuming thread alone drives the device), run on the CPU."""
    import threading

    pairs = _mixed_pairs(tmp_path, 40)
    scorer = load_model("causal-iqa", device="cpu")
    expected = list(run_pipeline(scorer, pairs, workers=3, batch_size=batch_size))
    threads: set[str] = set()
    infer = scorer.infer

    def recording(ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        threads.add(threading.current_thread().name)
        return infer(ref, dist)

    monkeypatch.setattr(scorer, "infer", recording)
    got = list(run_pipeline(scorer, pairs, workers=3, batch_size=batch_size, score_in_workers=False))
    assert got == expected  # same rows, same order, same errors, scores bit for bit
    assert threads == {threading.current_thread().name}
    threads.clear()
    assert list(run_pipeline(scorer, pairs, workers=3, batch_size=batch_size)) == expected
    assert threads and all(name.startswith("iqa-pipe") for name in threads)  # the CPU default: workers score


def test_on_a_gpu_the_consuming_thread_scores_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scorer that says it is on CUDA (its scoring routed to a CPU twin, so no GPU is needed): workers decode only."""
    import threading

    pairs = _mixed_pairs(tmp_path, 40)
    cpu = load_model("psnr", device="cpu")
    expected = list(run_pipeline(cpu, pairs, workers=3))
    gpu = load_model("psnr", device="cpu")
    gpu.device = torch.device("cuda")
    threads: set[str] = set()

    def on_twin(ref: np.ndarray, dist: np.ndarray) -> float:
        threads.add(threading.current_thread().name)
        return cpu._score_arrays(ref, dist)

    monkeypatch.setattr(gpu, "_score_arrays", on_twin)
    got = list(run_pipeline(gpu, pairs, workers=3))  # batch size 1: pair by pair through _score_arrays
    assert got == expected
    assert threads == {threading.current_thread().name}


def test_workers_that_only_decode_hold_a_bounded_number_of_pairs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GPU way decodes pair by pair: at most 2 * workers + batch_size pairs ahead of the consumer plus the chunk
    being scored, where whole chunks in flight would hold 2 * workers * batch_size."""
    import threading
    import time

    from iqa_cli import pipeline

    pairs = [p for p in _mixed_pairs(tmp_path, 40) for _ in range(3)]  # 60 pairs
    scorer = load_model("psnr", device="cpu")
    lock, decoded, yielded, worst = threading.Lock(), [0], [0], [0]
    decode = pipeline._decode

    def counting(*args):  # type: ignore[no-untyped-def]
        out = decode(*args)
        with lock:
            decoded[0] += 1
            worst[0] = max(worst[0], decoded[0] - yielded[0])
        return out

    monkeypatch.setattr(pipeline, "_decode", counting)
    workers, size = 3, 8
    for _ in run_pipeline(scorer, pairs, workers=workers, batch_size=size, score_in_workers=False):
        time.sleep(0.003)  # a slow consumer: the decoders run as far ahead as they may
        with lock:
            yielded[0] += 1
    assert decoded[0] == len(pairs)
    assert worst[0] <= 2 * workers + 2 * size < 2 * workers * size, worst[0]
