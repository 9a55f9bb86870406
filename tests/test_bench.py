"""`lwirst bench`: the arithmetic ceiling and a quick run that writes the JSON the issue asks for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lwirst.bench import BenchReport, Result, detect_cpu
from lwirst.cli import main

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
    assert main(["bench", "--quick", "--variants", "ort-fast", "--data-dir", str(sirst_root.parent),
                 "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "variant" in table and "arithmetic ceiling" in table and "fastest fp32 path" in table
    data = json.loads(out.read_text())
    rows = data["results"]
    assert {r["name"] for r in rows} == {"baseline", "torch", "ort-fast"}
    for row in rows:
        assert set(row) >= REQUIRED
        assert row["fps"] > 0 and row["p95_ms"] >= row["p50_ms"] > 0
        assert row["mIoU"] is not None and row["max_abs_diff"] <= 1e-3
    assert all(r["ratio"] == pytest.approx(1.0) for r in rows if r["name"] == "baseline")
    assert {r["batch"] for r in rows} == {1, 2} and data["ceiling_fps"]["1"] > 0
    assert 0 < data["dense_macs"] < data["conv_macs"] and "without their zero taps" in table
    assert "fastest_float" in data["bars"]


def _row(name: str, fps: float, miou: float, precision: str = "fp32", batch: int = 1) -> Result:
    return Result(name, "openvino", batch, 2, fps, 1.0, 1.0, fps * 0.95, 1.0, 1.0, miou, 0.0, 1.0, precision, "",
                  ratio=fps / 100.0)


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
