"""`lwirst bench`: the arithmetic ceiling and a quick run that writes the JSON the issue asks for."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import time
from pathlib import Path

import pytest

from lwirst import hostcpu
from lwirst.bench import (
    QUICK_PAIRS,
    VARIANTS,
    BenchConfig,
    BenchReport,
    Result,
    Timing,
    detect_cpu,
    int8_refusal,
    paired_share,
    time_pairs,
)
from lwirst.cli import main
from lwirst.commands import bench as bench_command
from lwirst.consensus import DEFAULT_MIRROR, DEFAULT_SCALE
from lwirst.hostcpu import NO_VNNI, cpu_flags, emulation_refusal, has_vnni, host_kind, int8_hazard, isa_cap
from lwirst.paths import DEFAULT_MODEL

REQUIRED = {"name", "backend", "batch", "threads", "fps", "p50_ms", "p95_ms", "mIoU", "ratio"}


def _cpuinfo(vendor: str, family: int, flags: str, mhz: float = 2600.0) -> str:
    cpu = (f"vendor_id\t: {vendor}\ncpu family\t: {family}\nmodel name\t: Test CPU\n"
           f"cpu MHz\t\t: {mhz:.3f}\nflags\t\t: fpu sse sse2 {flags}\n")
    return cpu + "\n" + cpu


@pytest.mark.parametrize("vendor, family, flags, per_cycle", [
    ("GenuineIntel", 6, "avx avx2 fma", 32),                  # 2 FMA x 8 lanes x 2 flops
    ("AuthenticAMD", 25, "avx avx2 fma avx512f avx512bw", 32),  # Zen 4: 512-bit on 256-bit units
    ("GenuineIntel", 6, "avx avx2 fma avx512f", 64),
    ("GenuineIntel", 6, "avx", 16),
])
def test_fma_peak_from_cpuinfo_flags(vendor: str, family: int, flags: str, per_cycle: int) -> None:
    peak = detect_cpu(_cpuinfo(vendor, family, flags), cores=2)
    assert peak.flops_per_cycle == per_cycle
    assert peak.ghz == pytest.approx(2.6)
    assert peak.gflops(2) == pytest.approx(2 * 2.6 * per_cycle)
    assert peak.gflops(8) == peak.gflops(2)  # threads beyond the cores add no arithmetic


def test_ceiling_of_the_issue_machine() -> None:
    """281 M conv MACs on two AVX2 cores at 2.6 GHz: about 295 fps."""
    report = BenchReport(config={"threads": [2], "batches": [1]}, cpu=detect_cpu(_cpuinfo("X", 6, "avx2 fma"), 2),
                         conv_macs=281.4e6, model="m", random_weights=True, results=[], skipped={},
                         load=([], []), frames="")
    assert report.ceiling_fps(2) == pytest.approx(295.7, abs=0.5)


def test_quick_bench_writes_table_and_json(tmp_path: Path, sirst_root: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    out.write_text("an earlier run")
    assert main(["bench", "--quick", "--variants", "ort-fast", "--data-dir", str(sirst_root.parent),
                 "--size", "512", "640", "--json", str(out), "--force"]) == 0
    table = capsys.readouterr().out
    assert "variant" in table and "arithmetic ceiling" in table and "fastest fp32 path" in table
    assert table.startswith("QUICK SMOKE RUN (--quick)")  # its ratios and bars looked like measurements
    # the int8 and bf16 verdicts read this mIoU: val, never test, which chooses nothing; calibration disjoint from it
    assert "mIoU on 4 SIRST val images and int8 calibration on 4 train images" in table
    data = json.loads(out.read_text())
    assert data["frames"].startswith("4 SIRST val images")
    rows = data["results"]
    assert {r["name"] for r in rows} == {"baseline", "torch", "ort-fast"}
    for row in rows:
        assert set(row) >= REQUIRED
        assert 0 < row["pipeline_share"] <= 1.0  # end-to-end contains the network call
        assert row["fps"] > 0 and row["p95_ms"] >= row["p50_ms"] > 0
        assert row["mIoU"] is not None and row["max_abs_diff"] <= 1e-3
    assert all(r["ratio"] == pytest.approx(1.0) for r in rows if r["name"] == "baseline")
    assert {r["batch"] for r in rows} == {1, 2} and data["ceiling_fps"]["1"] > 0
    assert 0 < data["dense_macs"] < data["conv_macs"] and "without their zero taps" in table
    assert "fastest_float" in data["bars"]
    assert data["host_kind"] == detect_cpu().kind and "host kind: " + data["host_kind"] in table
    frames = data["frame_results"]
    assert {(r["name"], tuple(r["frame"])) for r in frames} == {("baseline", (512, 640)), ("ort-fast", (512, 640))}
    for row in frames:
        assert row["fps"] > 0 and row["e2e_fps"] > 0 and row["net_size"] == [512, 640]  # native, unpadded
        assert row["protocol"] == "auto"
        # a pyramid: model-only fps and the ceiling count its half-size run too (320x256, resized to 256x256)
        assert row["net_pixels"] == 512 * 640 + 256 * 256
    bar = data["bars"]["frame_512x640"]
    assert bar["variant"] == "ort-fast" and {"e2e_met", "ceiling_met"} <= set(bar)
    assert bar["ceiling_fps"] == pytest.approx(data["ceiling_fps"]["1"] * 256 * 256 / (512 * 640 + 256 * 256))
    assert "640x512 frames, batch 1" in table and ">= 25 fps end-to-end" in table
    consensus = data["consensus"]  # the commands' default path costs a second, enlarged run: timed beside one run
    assert [(r["variant"], r["frame"]) for r in consensus] == [("ort-fast", None), ("ort-fast", [512, 640])]
    for row in consensus:
        assert row["scale"] == DEFAULT_SCALE and row["threads"] == 1 and row["kept"] > 0
        assert row["once_fps"] > 0 and row["consensus_fps"] > 0
        # the default's mirrored run (if the project runs one) confirms the 640x512 frames, not the SIRST-sized ones
        assert row["mirrored"] == (DEFAULT_MIRROR and row["frame"] is not None)
        assert row["flops_share"] == pytest.approx(1 / (1 + DEFAULT_SCALE**2 + row["mirrored"]))
    assert f"scale consensus at {DEFAULT_SCALE:g}x" in table and "the default of evaluate" in table
    assert "as given" in table


def test_an_onnx_file_is_timed_on_every_registered_backend_that_runs_onnx(
        tmp_path: Path, sirst_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The registered backends' own rows take the options `Segmenter` gives a backend, input folding among them,
    which an ONNX file cannot take: the backend that runs uploaded ONNX files skipped them as "needs a
    checkpoint". Such a row runs what `Segmenter` runs for a file, unfolded; torch, which needs the network, is
    skipped, and the accuracy bar says why it is untested."""
    model = tmp_path / "mine.onnx"
    assert main(["export", "--checkpoint", str(DEFAULT_MODEL), "--out", str(model)]) == 0
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--model", str(model), "--variants", "onnxruntime-worker", "--data-dir",
                 str(sirst_root.parent), "--json", str(out)]) == 0
    table = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert {r["name"] for r in data["results"]} == {"baseline", "onnxruntime-worker"}
    assert data["skipped"] == {"torch": "needs a checkpoint, not an ONNX file"}
    assert "no PyTorch reference ran: it needs a checkpoint" in table and "no SIRST val data" not in table


def _row(name: str, fps: float, miou: float, precision: str = "fp32", batch: int = 1) -> Result:
    return Result(name, "openvino", batch, 2, fps, 1.0, 1.0, fps * 0.95, 1.0, 1.0, miou, 0.0, 1.0, precision, "",
                  ratio=fps / 100.0)


def test_bench_refuses_an_existing_json_unless_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's rule: an existing output is refused unless --force (bench once overwrote it)."""
    out = tmp_path / "bench.json"
    out.write_text("an earlier run")
    assert main(["bench", "--quick", "--json", str(out)]) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "an earlier run"


def test_time_pairs_keeps_the_cell_switch_off_the_timed_calls() -> None:
    """A call that follows another cell pays a switch cost (cold caches, sleeping thread pools). Model-only
    was always that call, so a quick run of two pairs once reported end-to-end at 180 % of model-only."""
    last: list[str] = [""]

    def step(cell: str, seconds: float):
        def call() -> None:
            time.sleep(seconds + (0.03 if last[0] != cell else 0.0))
            last[0] = cell
        return call

    cells = {(name, 1, 1): (step(name, 0.002), step(name, 0.004)) for name in ("a", "b", "c")}
    timings = time_pairs(cells, BenchConfig(seconds=0.01, quick=True), lambda message: None)
    for name in ("a", "b", "c"):
        model, e2e = timings[name, 1, 1, "model"], timings[name, 1, 1, "e2e"]
        assert len(model.latencies) == len(e2e.latencies) >= QUICK_PAIRS
        assert max(model.latencies) < 0.02  # the switch fell on the untimed pair
        assert paired_share(model, e2e) == pytest.approx(0.5, abs=0.2)


def test_pipeline_share_is_a_paired_median_and_never_above_one() -> None:
    model, e2e = Timing(1, [0.05, 0.01, 0.01, 0.01, 0.01]), Timing(1, [0.015] * 5)
    assert e2e.fps / model.fps > 1  # the ratio of means: one slow model call makes the pipeline look faster
    assert paired_share(model, e2e) == pytest.approx(0.01 / 0.015)
    row = _row("fast", 100, 0.6)
    row.measured_share = 1.8  # end-to-end timed faster than model-only: noise
    report = _report("avx2 fma", [_row("baseline", 100, 0.60), row])
    bar = report.bars()["fastest_float"]
    assert bar["pipeline_share"] == 1.0 and bar["pipeline_capped"] and bar["pipeline_measured"] == 1.8
    assert "keeps 100.0% of model-only fps (capped: measured 180.0%" in report.table()


def test_bars_keep_fp32_bf16_and_int8_apart() -> None:
    """The fp32 bar is never won by a reduced-precision row; bf16 is judged against its own peak."""
    rows = [_row("baseline", 100, 0.60), _row("torch", 50, 0.60), _row("fast", 250, 0.60),
            _row("bf16", 320, 0.601, "bf16"), _row("int8", 300, 0.595, "int8-s8")]
    report = BenchReport(config={"threads": [2], "batches": [1]}, cpu=detect_cpu(_cpuinfo("X", 6, "avx2 fma"), 2),
                         conv_macs=281.4e6, model="m", random_weights=False, results=rows, skipped={},
                         load=([], []), frames="")
    bars = report.bars()
    assert bars["fastest_float"]["variant"] == "fast" and not bars["fastest_float"]["ratio_met"]
    bf16 = bars["fastest_bf16"]
    assert bf16["variant"] == "bf16" and bf16["ratio_met"] and bf16["mIoU_met"]
    assert bf16["ceiling_fps"] == pytest.approx(2 * report.ceiling_fps(2))
    assert bf16["fp32_ceiling_share"] == pytest.approx(320 / report.ceiling_fps(2))
    int8 = bars["int8_batch_1"]  # slower than the bf16 path, so not worth shipping
    assert int8["float_variant"] == "bf16" and not int8["ship"]


@pytest.mark.parametrize("flags, kind, vnni", [
    ("avx avx2 fma", "AVX2", False),                                               # Zen 3 (the issue's host)
    ("avx avx2 fma avx_vnni", "AVX2", True),                                       # Alder Lake
    ("avx avx2 fma avx512f avx512bw", "AVX-512", False),                           # Skylake-SP
    ("avx avx2 fma avx512f avx512bw avx512_vnni", "AVX-512", True),                # Cascade Lake
    ("avx avx2 fma avx512f avx512_vnni avx512_bf16 avx_vnni", "AVX-512+bf16", True),  # Zen 4 / Zen 5
    ("avx avx2 fma avx512f amx_bf16 amx_int8 amx_tile", "AVX-512+bf16", True),     # AMX, flags as listed
    ("avx512_vnnix avx2", "AVX2", False),                                          # whole flags only
    ("", "other", False),
])
def test_host_kind_and_int8_safety_from_cpuinfo_flags(flags: str, kind: str, vnni: bool) -> None:
    cpuinfo = _cpuinfo("AuthenticAMD", 25, flags)
    parsed = cpu_flags(cpuinfo)
    assert host_kind(parsed) == kind
    assert has_vnni(parsed) is vnni
    hazard = int8_hazard(parsed)
    assert (hazard is None) is vnni
    if not vnni:
        assert NO_VNNI in hazard and "saturating" in hazard
    peak = detect_cpu(cpuinfo, cores=2)
    assert (peak.kind, peak.int8_hazard) == (kind, hazard)
    int8 = next(v for v in VARIANTS if v.options.int8)
    refusal = int8_refusal(int8, peak, requested=())
    assert (refusal is None) is vnni
    assert int8_refusal(int8, peak, requested=(int8.name,)) is None  # asked for by name: timed, marked
    assert int8_refusal(next(v for v in VARIANTS if v.name == "ort-fast"), peak, requested=()) is None


def test_no_cpu_flags_means_int8_hazard_assumed() -> None:
    assert cpu_flags("processor\t: 0\n") == frozenset()
    assert "unknown" in int8_hazard(frozenset())


def _report(cpu_flags_line: str, rows: list[Result]) -> BenchReport:
    return BenchReport(config={"threads": [2], "batches": [1], "size": [256, 256]},
                       cpu=detect_cpu(_cpuinfo("AuthenticAMD", 26, cpu_flags_line), 2), conv_macs=281.4e6,
                       model="m", random_weights=False, results=rows, skipped={}, load=([], []), frames="")


@pytest.mark.parametrize("flags, int8_fps, int8_miou, usable, reason", [
    ("avx2 fma", 400, 0.600, False, "no VNNI"),                 # accurate and fast, but no VNNI
    ("avx2 fma avx_vnni", 400, 0.575, False, "loses 0.025"),    # VNNI, too inaccurate
    ("avx2 fma avx_vnni", 200, 0.600, False, "not faster"),     # VNNI, accurate, slower
    ("avx2 fma avx_vnni", 400, 0.595, True, ""),
])
def test_int8_is_usable_only_with_vnni_accurate_and_faster(flags: str, int8_fps: float, int8_miou: float,
                                                           usable: bool, reason: str) -> None:
    rows = [_row("baseline", 100, 0.60), _row("torch", 50, 0.60), _row("fast", 250, 0.60),
            _row("ort-int8-s8", int8_fps, int8_miou, "int8-s8")]
    report = _report(flags, rows)
    verdict = report.int8_usability()["ort-int8-s8"]
    assert verdict["usable"] is usable
    assert reason in "; ".join(verdict["reasons"])
    assert report.bars()["int8_batch_1"]["ship"] is usable
    assert ("int8 ort-int8-s8: usable" in report.table()) is usable


def test_accuracy_bars_are_untested_when_the_reference_finds_nothing() -> None:
    """A model that finds no target pixel (mIoU 0 on every path) agrees with itself: no accuracy bar reads met."""
    rows = [_row("baseline", 100, 0.0), _row("torch", 50, 0.0), _row("fast", 400, 0.0),
            _row("ort-int8-s8", 500, 0.0, "int8-s8")]
    report = _report("avx2 fma avx_vnni", rows)
    assert report.bars()["fastest_float"]["mIoU_met"] is None
    verdict = report.int8_usability()["ort-int8-s8"]
    assert not verdict["usable"] and "reference finds no target pixel" in "; ".join(verdict["reasons"])
    assert not report.bars()["int8_batch_1"]["ship"]
    assert "(bar within 0.002: untested: the PyTorch reference finds no target pixel)" in report.table()


@pytest.mark.parametrize("fps, e2e, met", [(60.0, 40.0, (True, True)), (30.0, 24.0, (False, False)),
                                           (50.0, 24.0, (True, False))])
def test_sensor_size_bar(fps: float, e2e: float, met: tuple[bool, bool]) -> None:
    """640x512 at native size: >= 25 fps end-to-end and >= 60 % of the area-scaled ceiling."""
    rows = [_row("baseline", 100, 0.60), _row("fast", 250, 0.60)]
    report = _report("avx2 fma", rows)
    report.frame_results = [
        Result("fast", "openvino", 1, 2, fps, 1.0, 1.0, e2e, 1.0, 1.0, None, None, None, "fp32", "",
               frame=(512, 640), protocol="native", net_size=(512, 640), net_pixels=512 * 640),
        Result("big", "openvino", 1, 2, 10.0, 1.0, 1.0, 9.0, 1.0, 1.0, None, None, None, "fp32", "",
               frame=(1024, 1280), protocol="native", net_size=(1024, 1280), net_pixels=1024 * 1280)]
    ceiling = report.ceiling_fps(2) / 5  # 640x512 is 5x the 256x256 area
    assert ceiling == pytest.approx(59.1, abs=0.1)  # 2 AVX2 cores at 2.6 GHz
    bar = report.bars()["frame_512x640"]
    assert bar["ceiling_fps"] == pytest.approx(ceiling)
    assert (bar["ceiling_met"], bar["e2e_met"]) == met
    assert "e2e_met" not in report.bars()["frame_1024x1280"]  # the issue sets the bar at 640x512 only
    assert "640x512 frames, batch 1, 2 threads" in report.table()


ZEN5 = "avx avx2 fma avx512f avx512bw avx512_vnni avx512_bf16 avx_vnni"


def test_emulated_ceiling_counts_the_capped_isa_at_this_clock() -> None:
    """AVX2 + FMA on a 2.6 GHz AVX-512 host: 8 lanes x 2 FMA units x 2 flops, so half the native ceiling."""
    cpuinfo = _cpuinfo("AuthenticAMD", 26, ZEN5)
    native = detect_cpu(cpuinfo, cores=2)
    emulated = detect_cpu(cpuinfo, cores=2, emulate=isa_cap("avx2"))
    assert (native.flops_per_cycle, emulated.flops_per_cycle) == (64, 32)
    assert emulated.gflops(2) == pytest.approx(2 * 2.6 * 32)
    rows = [_row("baseline", 100, 0.6), _row("torch", 50, 0.6), _row("fast", 200, 0.6), _row("ort", 250, 0.6)]
    report = BenchReport(config={"threads": [2], "batches": [1], "size": [256, 256]}, cpu=emulated,
                         conv_macs=281.4e6, model="m", random_weights=False, results=rows, skipped={},
                         load=([], []), frames="")
    assert report.ceiling_fps(2) == pytest.approx(295.7, abs=0.5)  # the issue's AVX2 ceiling at this clock
    assert emulated.kind == "AVX-512+bf16" and emulated.emulated == "avx2"  # the host stays what it is
    assert emulated.int8_hazard == NO_VNNI  # capped oneDNN has no VNNI
    assert "not a measurement of an AVX2 host" in emulated.emulation and "not capped" in emulated.emulation
    report.emulation = {name: {"kernels": "capped"} for name in ("baseline", "torch", "fast")}
    report.emulation["ort"] = {"kernels": "not capped"}
    assert report.bars()["fastest_float"]["variant"] == "fast"  # the faster uncapped row emulates nothing
    text = report.table()
    assert text.startswith("EMULATED: AVX2 kernels emulated on Test CPU")
    verdicts = re.findall(r"(?:NOT )?met[^:;,)]*", text.split("bars judged on")[1])
    assert verdicts and all(v.endswith("under emulation") for v in verdicts)
    assert all(bar["emulated"] == emulated.emulation for bar in report.bars().values())


@pytest.mark.parametrize("flags, refusal", [
    (ZEN5, None),
    ("avx avx2 fma", "this host is an AVX2 host"),
    ("avx avx2", "lacks fma"),
    ("sse2", "lacks avx2, fma"),
])
def test_emulation_needs_a_wider_host(flags: str, refusal: str | None) -> None:
    found = emulation_refusal(isa_cap("avx2"), set(flags.split()))
    assert found is None if refusal is None else refusal in found


def test_emulate_isa_option_is_validated(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert isa_cap(" AVX2 ").name == "avx2"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--emulate-isa", "avx3"])
    assert exit_info.value.code == 2
    assert "unknown ISA 'avx3' (did you mean avx2?)" in capsys.readouterr().err
    monkeypatch.setattr(hostcpu, "cpu_flags", lambda cpuinfo=None: frozenset({"sse2", "avx"}))
    assert main(["bench", "--quick", "--emulate-isa", "avx2"]) == 1  # refused before any work
    assert "cannot emulate AVX2: this CPU lacks avx2, fma" in capsys.readouterr().err


def test_child_gets_every_bench_option() -> None:
    """The capped child re-parses the forwarded command line into the same options."""
    parser = argparse.ArgumentParser()
    bench_command.add_arguments(parser)
    argv = ["--model", "m.safetensors", "--data-dir", "d", "--threads", "1", "2", "--batch", "1", "4",
            "--seconds", "0.3", "--rounds", "3", "--size", "512", "640", "--size", "64", "80",
            "--variants", "openvino-fast", "ort-fast", "--quick", "--json", "out.json", "--force",
            "--emulate-isa", "AVX2"]
    args = parser.parse_args(argv)
    defaults = parser.parse_args([])
    assert all(getattr(args, key) != value for key, value in vars(defaults).items())  # every option exercised
    assert parser.parse_args(bench_command.forwarded_argv(args)) == args


def test_emulated_bench_runs_openvino_on_avx2_kernels(tmp_path: Path, sirst_root: Path,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    """The child's compiled OpenVINO graph is read back: AVX2 primitives, none wider; every result labelled."""
    refusal = emulation_refusal(isa_cap("avx2"))
    if refusal:
        pytest.skip(refusal)
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--threads", "1", "--variants", "openvino-fast", "--emulate-isa", "avx2",
                 "--data-dir", str(sirst_root.parent), "--json", str(out)]) == 0
    table = capfd.readouterr().out
    data = json.loads(out.read_text())
    seen = data["emulation"]["variants"]
    primitives = seen["openvino-fast"]["primitives"]
    convolutions = [k for k in primitives if k.startswith("Convolution:")]
    assert convolutions and all("avx2" in k for k in convolutions)
    assert not any("avx512" in k or "amx" in k for k in primitives)
    assert seen["openvino-fast"]["kernels"] == "capped" and seen["torch"]["aten"] == "AVX2"
    assert seen["baseline"]["kernels"] == "not capped"  # ONNX Runtime has no cap
    assert all(r["emulated"] == "avx2" for r in data["results"])
    assert data["cpu"]["lanes"] == 8 and data["cpu"]["kind"] == detect_cpu().kind
    assert data["ceiling_fps"]["1"] == pytest.approx(data["cpu"]["ghz"] * 32e9 / (2 * data["conv_macs"]))
    assert all("emulated" in bar for bar in data["bars"].values())
    assert table.startswith("EMULATED: AVX2 kernels emulated on") and "under emulation" in table
    assert " met" not in table.replace("met under emulation", "")


def test_bench_scores_only_on_data_it_was_given(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without --data-dir or $LWIRST_DATA_DIR, bench read a developer's hard-coded path: the same command scored
    other data on another machine, and said nothing."""
    from lwirst.bench import _find_data

    monkeypatch.delenv("LWIRST_DATA_DIR", raising=False)
    assert _find_data(None) is None  # timings only
    (tmp_path / "sirst" / "images").mkdir(parents=True)
    assert _find_data(tmp_path) == tmp_path
    monkeypatch.setenv("LWIRST_DATA_DIR", str(tmp_path))
    assert _find_data(None) == tmp_path


def test_a_busy_host_boosted_clock_and_missing_data_are_said_in_the_verdicts() -> None:
    """Two back-to-back runs under load printed "3.35x: met" and "2.41x: NOT met" with no word that other work
    held the cores; a share above the nominal-clock ceiling read "met" as if measured; and with no data the mIoU
    bar blamed the model ("the PyTorch reference finds no target pixel")."""
    rows = [_row("baseline", 100, 0.60), _row("fast", 400, 0.60)]
    quiet = _report("avx2 fma", rows)
    quiet.load = ([1.2, 1.0, 1.0], [1.9, 1.2, 1.0])
    assert quiet.busy() == "" and "WARNING" not in quiet.table() and "busy host" not in quiet.table()
    busy = _report("avx2 fma", rows)
    busy.load = ([1.0, 1.0, 1.0], [6.6, 3.0, 1.0])
    table = busy.table()
    assert "WARNING: the load average (6.6) exceeded this host's 2 cores" in table
    assert "(bar 3x: met; busy host, not a measurement)" in table
    assert busy.to_json()["busy"] == busy.busy() and not quiet.to_json()["busy"]  # the JSON says it too
    fast = dataclasses.replace(_row("fast", 1.05 * quiet.ceiling_fps(2), 0.60), ceiling_share=1.05)
    boosted = _report("avx2 fma", [_row("baseline", 100, 0.60), fast])
    assert (f"105.0% of the {quiet.ceiling_fps(2):.0f} fps fp32 ceiling (above the ceiling: this CPU ran faster "
            "than the clock it assumes) (bar 70%: met)") in boosted.table()
    no_data = _report("avx2 fma", [_row("baseline", 100, None), _row("fast", 400, None)])
    assert "(bar within 0.002: untested: no SIRST val data to score)" in no_data.table()


def test_a_mistyped_data_setting_is_said_and_a_folder_is_no_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from lwirst.bench import _find_data

    monkeypatch.setenv("LWIRST_DATA_DIR", str(tmp_path / "dat"))
    assert _find_data(None) is None
    assert "holds no sirst/images folder: timing synthetic frames" in caplog.text
    assert main(["bench", "--quick", "--model", str(tmp_path)]) == 1
    assert f"model {tmp_path} is a folder, not a model file" in capsys.readouterr().err


def test_columns_widen_for_a_backend_or_variant_named_longer_than_the_built_in_ones() -> None:
    """A backend registered as "onnxruntime-seq" (15 characters; "onnxruntime" is 11) ran into the next column and
    pushed every figure of its row out of line with the header."""
    long = dataclasses.replace(_row("onnxruntime-seq-variant-x", 250, 0.60), backend="onnxruntime-seq")
    lines = _report("avx2 fma", [_row("baseline", 100, 0.60), long]).table().splitlines()
    head = next(line for line in lines if line.startswith("variant"))
    end = head.index(" fps ") + len(" fps")  # right-aligned: a row's fps ends where its header does
    rows = [line for line in lines if line.startswith(("baseline ", "onnxruntime-seq-variant-x "))]
    assert len(rows) == 2
    for line, fps in zip(rows, ("100.0", "250.0"), strict=True):
        assert line[end - len(fps):end] == fps, (head, line)
