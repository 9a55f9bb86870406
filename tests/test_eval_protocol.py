"""The typed record of how a result was produced: what a result stores reads back field for field, and results
stored by earlier versions (flat dicts without the fields added since) read with the defaults they imply."""

from __future__ import annotations

import json

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from lwirst.eval_protocol import CONVENTIONS, SAVED_SIZE, EvalProtocol, FramesRan, RunSpec
from lwirst.evaluate import EvalResult
from lwirst.postprocess import GROW_TO, describe_growth
from lwirst.run_settings import RunSettings

finite = st.floats(-8, 8, allow_nan=False).map(lambda v: round(v, 3))
names = st.text("abcdefgh._-", min_size=1, max_size=12)
counts = st.dictionaries(st.sampled_from(["resize", "native", "pyramid"]), st.integers(1, 500), min_size=1)


@st.composite
def runs(draw: st.DrawFn) -> RunSpec:
    saved = draw(st.booleans())
    return RunSpec(draw(names), "" if saved else draw(st.text("0123456789abcdef", min_size=16, max_size=16)),
                   "saved predictions" if saved else draw(st.sampled_from(["torch", "onnxruntime", "openvino"])),
                   draw(st.sampled_from(["fp32", "bf16", "int8"])),
                   "as saved" if saved else draw(st.sampled_from(["auto", "resize", "native", "pyramid"])),
                   None if saved else (8 * draw(st.integers(1, 64)), 8 * draw(st.integers(1, 64))),
                   None if saved else draw(st.integers(1, 16)), draw(names),
                   None if saved else draw(st.booleans()), {} if saved else {"fold_input": draw(st.booleans())},
                   RunSettings(draw(st.none() | st.sampled_from([1.25, 1.5, 2.0])), draw(st.booleans()),
                               draw(st.sampled_from([0.0, 0.5, 1.0])),
                               draw(st.sampled_from(["white-hot", "black-hot"])),
                               draw(st.sampled_from(["", "0,0,100%,24", "0,0,10,10;5%,5%,20,20"]))),
                   *((None, None) if saved or not draw(st.booleans()) else
                     (draw(st.integers(1, 10**8)), draw(st.floats(1e3, 1e12)))))


@st.composite
def protocols(draw: st.DrawFn) -> EvalProtocol:
    run = draw(runs())
    recorded = draw(st.booleans())
    frames = FramesRan(draw(counts) if recorded else None, draw(st.integers(0, 50)) if recorded else 0,
                       draw(st.integers(0, 9)) if run.settings.margin else 0,
                       draw(st.dictionaries(st.sampled_from(["jet", "iron", "inferno"]), st.integers(1, 9))),
                       draw(st.integers(0, 9)))
    return EvalProtocol(run, draw(finite), draw(st.none() | finite), draw(names), draw(names), draw(names),
                        draw(st.text("0123456789abcdef", max_size=16)), frames,
                        draw(st.none() | st.integers(0, 90)), draw(st.none() | finite))


@given(protocols())
def test_a_protocol_reads_back_as_it_was_recorded(protocol: EvalProtocol) -> None:
    """Through JSON text, as metrics.json holds it: every field, the run's and the frames' included."""
    assert EvalProtocol.from_json(json.loads(json.dumps(protocol.to_json()))) == protocol


@given(runs())
def test_a_run_reads_back_and_records_only_the_checks_that_ran(run: RunSpec) -> None:
    """The scale consensus, mirror check and margin are recorded only where they ran, as before they existed, so
    the records of plain runs keep the layout older results have."""
    record = run.to_json()
    back = RunSpec.from_json(json.loads(json.dumps(record)))
    assert back == run and (back.params, back.flops) == (run.params, run.flops)  # the cost takes no part in ==
    assert ("confirm" in record) == bool(run.settings.confirm) and ("mirror" in record) == run.settings.mirror
    assert ("margin" in record) == bool(run.settings.margin)
    assert record["size"] == (SAVED_SIZE if run.size is None else list(run.size))


def test_a_result_stored_by_an_earlier_version_reads_with_what_it_implies(tmp_path) -> None:
    """A metrics.json from before the applied protocol, mask growth, consensus and margins were recorded (the flat
    dict results have always stored): nothing ran that it does not say; its growth is read from its masks text."""
    old = {"model": "m.safetensors", "hash": "abc", "backend": "torch", "protocol": "auto", "size": [256, 256],
           "threshold": 0.0, "dataset": "sirst", "split": "test", "masks": describe_growth(None) + ", Eq. 2",
           "scored_at": "each image's own resolution", "unknown_field": 3}
    protocol = EvalProtocol.from_json(old)
    assert protocol.run.settings == RunSettings()
    assert protocol.applied is None and protocol.text() == "auto [256, 256]"
    assert protocol.grow_to is None
    assert EvalProtocol.from_json({**old, "masks": describe_growth(GROW_TO)}).grow_to == GROW_TO
    assert protocol.run.precision == "fp32" and protocol.run.palettes is None
    assert EvalProtocol.from_json({**old, "threads": 4.0}).run.threads == 4  # a table's float reads as a count
    assert hash(protocol) == hash(EvalProtocol.from_json(old))  # frozen records can key a cache
    # saved, and loaded again: the fields it had, the conventions every result states, nothing else
    EvalResult({"images": 1}, pd.DataFrame({"name": ["a"]}), {}, protocol).save(tmp_path / "r")
    stored = json.loads((tmp_path / "r" / "metrics.json").read_text())["protocol"]
    assert "unknown_field" not in stored and all(stored[key] == text for key, text in CONVENTIONS.items())
    again = EvalResult.load(tmp_path / "r").protocol
    assert again.grow_to is None and again == protocol  # saved again: the same record, its growth now stored


def test_margin_frames_say_the_margin_only_where_it_held_a_frame() -> None:
    """A run with a margin that held no frame (every frame SIRST-sized) says no margin in its applied protocol."""
    run = RunSpec("m", "h", "torch", protocol="auto", settings=RunSettings(margin=1.0))
    held = EvalProtocol(run, 0.0, GROW_TO, "", "d", "s", frames=FramesRan({"pyramid": 2}, margin_frames=2))
    none = EvalProtocol(run, 0.0, GROW_TO, "", "d", "s", frames=FramesRan({"resize": 2}))
    assert held.applied is not None and held.applied.settings.margin == 1.0
    assert none.applied is not None and none.applied.settings.margin == 0.0


def test_a_renamed_result_keeps_everything_but_the_name() -> None:
    run = RunSpec("a.safetensors", "h", "torch", settings=RunSettings(confirm=1.5))
    protocol = EvalProtocol(run, 0.0, GROW_TO, "x", "d", "s")
    renamed = protocol.renamed("b.safetensors", "mine", "trainval")
    assert renamed.run.model == "b.safetensors" and renamed.run.settings.confirm == 1.5
    assert (renamed.dataset, renamed.split) == ("mine", "trainval")
    assert renamed.to_json() | {"model": "a.safetensors", "dataset": "d", "split": "s"} == protocol.to_json()
