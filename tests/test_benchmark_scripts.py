"""The scripts under benchmarks/ still run: a smoke test with tiny budgets, never a timing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lwirst.hostcpu import emulation_refusal, isa_cap

REPO = Path(__file__).resolve().parents[1]
BENCHMARKS = REPO / "benchmarks"


def run_script(name: str, *args: str) -> str:
    """Run a script on this checkout's lwirst (not another installed copy)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": path})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def table_fps(out: str, variant: str) -> float:
    match = re.search(rf"^{re.escape(variant)}\s+([0-9.]+)", out, re.MULTILINE)
    assert match, f"no row for {variant!r} in:\n{out}"
    return float(match.group(1))


@pytest.mark.parametrize("emulate", [(), ("--emulate-isa", "avx2")], ids=["native", "avx2"])
def test_openvino_settings_script_prints_every_variant(emulate: tuple[str, ...]) -> None:
    pytest.importorskip("openvino")
    refusal = emulate and emulation_refusal(isa_cap("avx2"))
    if refusal:
        pytest.skip(refusal)
    out = run_script("bench_openvino_settings.py", "--rounds", "1", "--seconds", "0.05", "--batch", "2", *emulate)
    for variant in ("default", "default (again)", "cpu pinning", "denormals flushed", "snippets disabled",
                    "throughput, 1 stream", "dynamic shapes", "sub-pixel decoder", "streams (default)",
                    "one request"):
        assert table_fps(out, variant) > 0
    assert re.search(r"^blocked jit_avx(2|512) convs\s+[0-9.]+", out, re.MULTILINE)
    assert ("AVX2 kernels emulated on this host" in out) == bool(emulate)


def test_postprocess_script_prints_its_figures() -> None:
    out = run_script("bench_postprocess.py", "--runs", "20", "--frames", "4", "--threads", "1")
    # 50 synthetic targets, of which the size/ratio filter keeps some; both timings and the fps printed
    kept = re.search(r"50 targets \((\d+) kept\)", out)
    assert kept and 0 < int(kept.group(1)) <= 50
    assert float(re.search(r"([0-9.]+) ms median", out).group(1)) > 0
    assert float(re.search(r"without mask growth .*?([0-9.]+) ms", out).group(1)) > 0  # the paper's masks too
    assert float(re.search(r"([0-9.]+) fps over 4 frames", out).group(1)) > 0
    assert "scale consensus at 1.5x" in out  # the pipeline as the commands run it


def test_isolation_script_times_each_variant_alone_and_together() -> None:
    pytest.importorskip("openvino")
    out = run_script("bench_isolation.py", "--threads", "1", "--rounds", "1", "--seconds", "0.02", "--repeats", "1")
    for variant in ("baseline", "torch", "openvino-fast"):
        row = re.search(rf"^{re.escape(variant)}\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)$", out, re.MULTILINE)
        assert row, out
        assert all(float(value) > 0 for value in row.groups())  # alone, together, their ratio
