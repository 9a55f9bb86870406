"""Evaluations of large sets: an interrupted run goes on from the maps it kept, a result's maps are read from disk
when asked for (not held whole by every reader), and scoring again at another threshold reuses what no threshold
changes (the pixel curves, the Pd-Fa points of the same filter)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from lwirst.datasets import open_dataset
from lwirst.errors import LwirstError
from lwirst.evaluate import EvaluationInterrupted, cache_root, evaluate, rescore_result
from lwirst.inference import Segmenter
from lwirst.maps import HeldMaps, PartialMaps, StoredMaps
from lwirst.postprocess import TargetFilter


@pytest.fixture()
def setup(synth_dir: Path, random_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LWIRST_CACHE_DIR", str(tmp_path / "cache"))
    dataset = open_dataset(synth_dir, "folder", "train")
    segmenter = Segmenter(random_checkpoint, backend="torch", threads=1, size=(64, 64), confirm=None)
    return dataset, segmenter


class _Counting:
    """The segmenter's predict, counted (which images the network ran on)."""

    def __init__(self, segmenter: Segmenter, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        predict = segmenter.predict

        def counted(image: np.ndarray, *args: object, **kwargs: object):
            self.calls += 1
            return predict(image, *args, **kwargs)

        monkeypatch.setattr(segmenter, "predict", counted)


def _scores(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if k != "fps"}  # the speed is each run's own


def test_an_interrupted_evaluation_goes_on_from_the_maps_it_kept(setup, monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """Ctrl-C at image 5 of 12 lost the whole run (8 minutes of 600 frames, twice): the maps computed are kept,
    the next run (at another threshold too) runs the network on the others only and scores the same figures as
    a run never stopped; once the result is stored, the kept maps are removed."""
    dataset, segmenter = setup
    whole = evaluate(segmenter, dataset, threshold=0.5, use_cache=False)

    def stop_at_5(done: int, total: int) -> None:
        if done == 5:
            raise KeyboardInterrupt

    counting = _Counting(segmenter, monkeypatch)
    with pytest.raises(EvaluationInterrupted) as stopped:
        evaluate(segmenter, dataset, threshold=-1.0, progress=stop_at_5)
    assert (stopped.value.kept, stopped.value.total, counting.calls) == (5, len(dataset), 5)
    assert isinstance(stopped.value, KeyboardInterrupt)  # the command line's "interrupted", exit 130
    partials = list(cache_root().glob(".partial-*"))
    assert len(partials) == 1 and len(PartialMaps(partials[0])) == 5

    resumed = evaluate(segmenter, dataset, threshold=0.5)
    assert counting.calls == len(dataset)  # the network ran on the 7 others only
    assert "going on from the 5 map(s) an interrupted run kept" in caplog.text  # said, as the stop promised
    assert _scores(resumed.metrics) == pytest.approx(_scores(whole.metrics), nan_ok=True)
    assert resumed.per_image.drop(columns=[]).equals(whole.per_image)
    assert resumed.curves == pytest.approx(whole.curves, nan_ok=True)
    assert not list(cache_root().glob(".partial-*"))
    assert isinstance(resumed.saliency, StoredMaps) and set(resumed.saliency) == set(dataset.names)
    for name in dataset.names:  # the maps stored are the float16 of those scored
        expected = whole.saliency[name]
        assert np.array_equal(resumed.saliency[name], expected.astype(np.float16).astype(np.float32))
    assert evaluate(segmenter, dataset, threshold=0.5).cached and counting.calls == len(dataset)


def test_a_kept_map_that_does_not_read_back_is_computed_again(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill mid-write leaves a map cut short, or a note without its map: those images run again."""
    dataset, segmenter = setup

    def stop_at_4(done: int, total: int) -> None:
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(EvaluationInterrupted):
        evaluate(segmenter, dataset, progress=stop_at_4)
    (folder,) = cache_root().glob(".partial-*")
    maps = sorted(folder.glob("*.npz"))
    maps[0].write_bytes(maps[0].read_bytes()[:40])  # cut short
    maps[1].unlink()  # its note stays
    (folder / "stray.json").write_text("{not json")
    counting = _Counting(segmenter, monkeypatch)
    result = evaluate(segmenter, dataset)
    assert counting.calls == len(dataset) - 2
    assert _scores(result.metrics) == pytest.approx(_scores(evaluate(segmenter, dataset, use_cache=False).metrics),
                                                   nan_ok=True)


def test_maps_are_held_as_float16_and_read_from_disk_one_at_a_time(setup, tmp_path: Path) -> None:
    dataset, segmenter = setup
    fresh = evaluate(segmenter, dataset, use_cache=False)
    assert isinstance(fresh.saliency, HeldMaps)
    name = dataset.names[0]
    assert fresh.saliency[name].dtype == np.float32
    assert fresh.saliency._maps[name].dtype == np.float16  # half of float32's bytes in memory
    folder = fresh.save(tmp_path / "r")
    stored = StoredMaps(folder / "saliency.npz")
    assert list(stored) == list(fresh.saliency)
    assert np.array_equal(stored[name], fresh.saliency[name])
    with pytest.raises(KeyError):
        stored["nothing"]


def test_scoring_again_reuses_what_no_threshold_changes(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scored again at another threshold, a result equals a fresh evaluation there, while its pixel curves are
    not computed again and the Pd-Fa points of the same filter are taken from it; another filter scores its own."""
    from lwirst import evaluate as evaluate_module

    dataset, segmenter = setup
    first = evaluate(segmenter, dataset, threshold=0.0, use_cache=False)
    built: list[int] = []
    curve = evaluate_module.CurveMetric

    def counted_curve(*args: object, **kwargs: object):
        built.append(1)
        return curve(*args, **kwargs)

    monkeypatch.setattr(evaluate_module, "CurveMetric", counted_curve)
    again = rescore_result(first, dataset, 1.5)
    assert not built
    fresh = evaluate(segmenter, dataset, threshold=1.5, use_cache=False)
    assert _scores(again.metrics) == pytest.approx(_scores(fresh.metrics), nan_ok=True, abs=1e-3)
    assert again.curves["pdfa_threshold"] == fresh.curves["pdfa_threshold"]
    assert again.curves["pdfa_pd"] == pytest.approx(fresh.curves["pdfa_pd"], nan_ok=True)
    assert again.saliency is first.saliency  # shared, not copied
    small = TargetFilter(max_size=3)
    filtered = rescore_result(first, dataset, 0.0, target_filter=small)
    direct = evaluate(segmenter, dataset, threshold=0.0, use_cache=False, target_filter=small)
    assert filtered.curves["pdfa_false_alarms"] == direct.curves["pdfa_false_alarms"]
    assert math.isclose(filtered.metrics["pd_at_fa"], direct.metrics["pd_at_fa"], abs_tol=1e-9) or (
        math.isnan(filtered.metrics["pd_at_fa"]) and math.isnan(direct.metrics["pd_at_fa"]))


def test_another_threshold_or_filter_scores_the_cached_maps(setup, random_checkpoint: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The README said a cached result's maps score another threshold or filter without the network; the
    command line ran the network again (160 runs for 40 large frames). Now it scores the stored maps, as the
    dashboard does, stores that result too, and names the run the maps came from."""
    from lwirst.evalcache import SHARED_MAPS

    dataset, segmenter = setup
    first = evaluate(segmenter, dataset, threshold=0.5)
    counting = _Counting(segmenter, monkeypatch)
    small = TargetFilter(max_size=3)
    again = evaluate(segmenter, dataset, threshold=1.5, grow_to=None, target_filter=small)
    assert counting.calls == 0 and not again.cached
    expected = rescore_result(first, dataset, 1.5, grow_to=None, target_filter=small)
    assert _scores(again.metrics) == pytest.approx(_scores(expected.metrics), nan_ok=True)
    assert again.per_image.equals(expected.per_image)
    assert again.protocol.rescored_from == 0.5 and again.protocol.threshold == 1.5
    fresh = evaluate(segmenter, dataset, threshold=1.5, grow_to=None, target_filter=small, use_cache=False)
    assert counting.calls == len(dataset)  # --no-cache runs the network
    assert _scores(again.metrics) == pytest.approx(_scores(fresh.metrics), nan_ok=True, abs=1e-3)
    # stored, its maps shared with the first run's (one file), and found again as it is
    assert evaluate(segmenter, dataset, threshold=1.5, grow_to=None, target_filter=small).cached
    assert len(list((cache_root() / SHARED_MAPS).iterdir())) == 1
    # a third threshold, scored from either stored result, names the run that computed the maps
    third = evaluate(segmenter, dataset, threshold=-1.0)
    assert third.protocol.rescored_from == 0.5 and counting.calls == len(dataset)
    # another protocol's maps (the network at another size) are never taken for these
    other = Segmenter(random_checkpoint, backend="torch", threads=1, size=(32, 32), confirm=None)
    other_calls = _Counting(other, monkeypatch)
    assert evaluate(other, dataset, threshold=1.5).protocol.rescored_from is None
    assert other_calls.calls == len(dataset)


def test_maps_kept_by_a_run_interrupted_long_ago_are_removed(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run of other code never goes on from another key's maps: kept over a week, they are removed, as is what a
    process killed while saving a result left; a bad cache bound is refused before the network runs."""
    import os
    import time

    from lwirst.evalcache import SHARED_MAPS, STALE_DAYS

    dataset, segmenter = setup
    cache_root().mkdir(parents=True)
    old, recent = cache_root() / ".partial-old", cache_root() / ".partial-recent"
    killed, shared = cache_root() / ".0123456789abcdef0123.4242.17", cache_root() / SHARED_MAPS
    for folder in (old, recent, killed, shared):
        folder.mkdir()
        (folder / "x.json").write_text("{}")
    stale = time.time() - (STALE_DAYS + 1) * 86400
    for folder in (old, killed, shared):
        os.utime(folder, (stale, stale))
    monkeypatch.setenv("LWIRST_CACHE_MAX_MB", "-1")
    counted = _Counting(segmenter, monkeypatch)
    with pytest.raises(LwirstError, match="LWIRST_CACHE_MAX_MB='-1' must be a positive integer"):
        evaluate(segmenter, dataset)
    assert counted.calls == 0 and old.exists()
    monkeypatch.delenv("LWIRST_CACHE_MAX_MB")
    evaluate(segmenter, dataset)
    assert counted.calls == len(dataset)
    assert not old.exists() and not killed.exists() and recent.exists() and shared.exists()


def test_an_evaluation_records_its_networks_params_and_flops(setup, random_checkpoint: Path, tmp_path: Path) -> None:
    """Compare could not place a cached run of a model the server does not offer ("cost unknown"): a result records
    its network's params and FLOPs per 256x256 pass, the model card's for a checkpoint (whatever size it runs at) and
    for its export (the file's `lwirst.cost` note: the graph, batch norm folded, counts fewer, and Compare placed
    one model at two costs), the graph's count for an ONNX file without the note, through the cache as well."""
    import onnx

    from lwirst.checkpoint import load_model
    from lwirst.complexity import onnx_complexity
    from lwirst.export import COST_NOTE, export_onnx
    from lwirst.modelcard import model_card

    dataset, segmenter = setup
    card = model_card(random_checkpoint)
    run = evaluate(segmenter, dataset).protocol.run
    assert (run.params, run.flops) == (card.params, card.flops) and card.params and card.flops
    again = evaluate(segmenter, dataset)
    assert again.cached and (again.protocol.run.params, again.protocol.run.flops) == (card.params, card.flops)
    graph = tmp_path / "m.onnx"
    export_onnx(load_model(random_checkpoint)[0], graph)
    onnx_run = evaluate(Segmenter(graph, backend="onnxruntime", threads=1, size=(64, 64), confirm=None),
                        dataset).protocol.run
    assert (onnx_run.params, onnx_run.flops) == (card.params, card.flops)
    proto = onnx.load(str(graph))
    for prop in [p for p in proto.metadata_props if p.key == COST_NOTE]:
        proto.metadata_props.remove(prop)
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    bare_run = evaluate(Segmenter(bare, backend="onnxruntime", threads=1, size=(64, 64), confirm=None),
                        dataset).protocol.run
    counted = onnx_complexity(bare.read_bytes())
    assert (bare_run.params, bare_run.flops) == (counted.params, counted.flops) != (card.params, card.flops)
