"""The evaluation cache's disk use (`lwirst.evalcache`): two results of the same maps (one model on one data at two
thresholds) store them once, and the cache is kept within LWIRST_CACHE_MAX_MB, least recently used first; a served
dashboard stored every visitor's evaluation, without bound."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lwirst.datasets import open_dataset
from lwirst.errors import LwirstError
from lwirst.evalcache import SHARED_MAPS, Usage
from lwirst.evaluate import EvalResult, cache_key, cache_root, evaluate, read_cached, rescore_result, store
from lwirst.inference import Segmenter

MB = 2**20


@pytest.fixture()
def setup(synth_dir: Path, random_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LWIRST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LWIRST_CACHE_MAX_MB", "1")
    segmenter = Segmenter(random_checkpoint, backend="torch", threads=1, size=(64, 64), confirm=None)
    return open_dataset(synth_dir, "folder", "train"), segmenter


def _folder(segmenter: Segmenter, dataset, threshold: float) -> Path:
    return cache_root() / cache_key(segmenter, dataset, threshold)


def _maps(folder: Path) -> os.stat_result:
    return os.stat(folder / "saliency.npz")


def _used() -> int:
    """The cache's bytes, each file once (as its bound counts them)."""
    return Usage.of(cache_root()).total


def _results() -> set[str]:
    return {p.name for p in cache_root().iterdir() if not p.name.startswith(".")}


def _pad(size: int) -> None:
    """Fill `size` bytes of the cache with the maps of an interrupted run: they count, and are never removed."""
    pad = cache_root() / ".partial-pad" / "pad.npz"
    pad.parent.mkdir(parents=True, exist_ok=True)
    pad.write_bytes(b"\0" * max(size, 0))


def test_two_thresholds_store_their_maps_once(setup) -> None:
    """One model on one data at two thresholds produced two byte-identical saliency.npz files (521 MB each on
    600 large frames): both results now link one file, and each reads back its own figures."""
    dataset, segmenter = setup
    low, high = (evaluate(segmenter, dataset, threshold=t) for t in (0.0, 1.0))
    a, b = _folder(segmenter, dataset, 0.0), _folder(segmenter, dataset, 1.0)
    assert _maps(a).st_ino == _maps(b).st_ino and _maps(a).st_nlink == 3  # the two results and .maps
    (shared,) = (cache_root() / SHARED_MAPS).iterdir()
    assert os.stat(shared).st_ino == _maps(a).st_ino
    assert _used() < 2 * _maps(a).st_size
    for folder, result in ((a, low), (b, high)):
        again = read_cached(folder)
        assert again is not None and again.protocol.threshold == result.protocol.threshold
        assert again.metrics["precision"] == pytest.approx(result.metrics["precision"], nan_ok=True)
        assert all(np.array_equal(again.saliency[n], low.saliency[n]) for n in dataset.names)


def test_over_the_bound_the_least_recently_used_goes_and_shared_maps_stay(setup) -> None:
    """Over LWIRST_CACHE_MAX_MB the least recently used result goes, never the one just stored; the result it
    shared maps with keeps them whole; a read counts as a use."""
    dataset, segmenter = setup
    first = evaluate(segmenter, dataset, threshold=0.0)
    evaluate(segmenter, dataset, threshold=1.0)
    one = _used() - _maps(_folder(segmenter, dataset, 0.0)).st_size  # two results' own files
    _pad(MB - _used() - one // 4)  # room for half of one more
    assert evaluate(segmenter, dataset, threshold=0.0).cached  # read: now the most recently used
    evaluate(segmenter, dataset, threshold=2.0)
    kept = {_folder(segmenter, dataset, t).name for t in (0.0, 2.0)}
    assert _results() == kept and _used() <= MB  # 1.0, the least recently used, went
    survivor = read_cached(_folder(segmenter, dataset, 0.0))
    assert survivor is not None and all(np.array_equal(survivor.saliency[n], first.saliency[n]) for n in dataset.names)
    assert _maps(_folder(segmenter, dataset, 0.0)).st_nlink == 3


def test_a_result_over_the_bound_by_itself_is_kept_alone(setup) -> None:
    """With no room at all, each store keeps the result just stored and removes the others."""
    dataset, segmenter = setup
    _pad(2 * MB)
    for threshold in (0.0, 1.0, 2.0):
        evaluate(segmenter, dataset, threshold=threshold)
        assert _results() == {_folder(segmenter, dataset, threshold).name}
        assert read_cached(_folder(segmenter, dataset, threshold)) is not None


def test_shared_maps_no_result_links_are_removed(setup, synth_dir: Path) -> None:
    """A result removed (by the bound, or by hand) leaves its shared maps only when another result links them."""
    dataset, segmenter = setup
    evaluate(segmenter, dataset, threshold=0.0)
    shutil.rmtree(_folder(segmenter, dataset, 0.0))  # by hand: its maps are now linked by none
    other = open_dataset(synth_dir, "folder", "test")  # other images, other maps
    evaluate(segmenter, other, threshold=0.0)
    (shared,) = (cache_root() / SHARED_MAPS).iterdir()
    assert os.stat(shared).st_ino == _maps(_folder(segmenter, other, 0.0)).st_ino


def test_without_hard_links_each_result_keeps_a_copy(setup, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A cache across devices (or on a file system without hard links) stores plain copies, says so in the log,
    and fails nothing."""
    dataset, segmenter = setup

    def cross_device(source: object, target: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    with caplog.at_level(logging.INFO, logger="lwirst.evalcache"):
        results = [evaluate(segmenter, dataset, threshold=t) for t in (0.0, 1.0)]
    a, b = _folder(segmenter, dataset, 0.0), _folder(segmenter, dataset, 1.0)
    assert _maps(a).st_ino != _maps(b).st_ino and _maps(a).st_nlink == _maps(b).st_nlink == 1
    assert any("kept as a copy of its own" in r.message and "cross-device" in r.message for r in caplog.records)
    for folder, result in zip((a, b), results, strict=True):
        again = read_cached(folder)
        assert again is not None and again.metrics["false_alarms"] == result.metrics["false_alarms"]


def test_a_result_removed_after_it_was_read_says_so_when_its_maps_are_asked_for(setup) -> None:
    """A page holds a result read before the bound removed it: its maps say why they are gone, in one line."""
    dataset, segmenter = setup
    evaluate(segmenter, dataset, threshold=0.0)
    held = read_cached(_folder(segmenter, dataset, 0.0))
    assert held is not None
    _pad(2 * MB)
    evaluate(segmenter, dataset, threshold=1.0)
    assert not _folder(segmenter, dataset, 0.0).exists()
    with pytest.raises(LwirstError, match="removed to keep the evaluation cache within its bound"):
        held.saliency[dataset.names[0]]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=8),
       room=st.integers(0, 160_000))
def test_after_any_stores_the_cache_is_within_its_bound_or_holds_the_newest_only(
        stored_results: list[EvalResult], monkeypatch: pytest.MonkeyPatch, steps: list[tuple[int, bool]],
        room: int) -> None:
    """Whatever is stored, in any order, with reads between: after each store the cache is within its bound
    or holds only the result just stored; every result left reads back whole, and no shared maps are left
    that no result links."""
    with tempfile.TemporaryDirectory() as cache:
        monkeypatch.setenv("LWIRST_CACHE_DIR", cache)
        _pad(MB - room)
        for index, read_first in steps:
            if read_first:
                read_cached(cache_root() / "r0")
            store(stored_results[index], cache_root() / f"r{index}")
            assert _used() <= MB or _results() == {f"r{index}"}
            assert f"r{index}" in _results()
            assert all(read_cached(cache_root() / name) is not None for name in _results())
            assert all(os.stat(p).st_nlink > 1 for p in (cache_root() / SHARED_MAPS).iterdir())


@pytest.fixture()
def stored_results(setup, synth_dir: Path) -> list[EvalResult]:
    """Four results to store: one run at three thresholds (the same maps) and one on other images."""
    dataset, segmenter = setup
    run = evaluate(segmenter, dataset, threshold=0.0, use_cache=False)
    other = open_dataset(synth_dir, "folder", "test")
    return [run, rescore_result(run, dataset, 1.0), rescore_result(run, dataset, 2.0),
            evaluate(segmenter, other, threshold=0.0, use_cache=False)]
