"""Every FLOPs/Params figure of Tables II-IX against the network, and `lwirst complexity`.

The expected values come from ``data/paper/*.csv`` (the print) and the checks are
recomputed here at the printed precision, so a wrong CSV, a wrong model or a wrong
comparison in `lwirst.paper` each fail.
"""

from __future__ import annotations

import json

import pytest
import torch

from lwirst import paper
from lwirst.cli import main
from lwirst.complexity import CONVENTION, config_complexity, count_complexity
from lwirst.config import PRESETS, NetConfig
from lwirst.errors import LwirstError

# Table IX FLOPs the texts cannot reproduce (lwirst/context.py, table9.csv). For these five the
# print equals the count for a batch of two images; the CPM rows miss even then.
BATCH_OF_TWO = {"table9_aspp", "table9_afm", "table9_acm", "table9_bilocal", "table9_biglobal"}
UNREPRODUCED_FLOPS = BATCH_OF_TWO | {"table9_cpm", "table9_cpm_afm"}
# Table VI prints 0.15 M for 155,040 parameters (0.16 M); see table6.csv.
UNREPRODUCED_PARAMS = {"table6_kernels_3_3_3_3"}
# Table III's merged cell is the Regular row's; these rows cost differently.
MERGED_NOT_THEIRS = {"table3_depthwise", "table3_asymmetric"}

ALL_ROWS = paper.load_all()
PRESET_ROWS = [str(p) for p in ALL_ROWS["preset"].dropna()]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _printed(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def test_default_network_matches_paper_and_breakdown() -> None:
    c = config_complexity(NetConfig())
    assert c.params == 163_232
    assert _printed(c.params_m, 4) == "0.1632"
    assert _printed(c.flops_m, 2) == "303.53"
    breakdown = {kind: round(value / 1e6, 2) for kind, value in c.by_type.items()}
    assert breakdown == {"conv": 163.45, "deconv": 117.96, "bn": 17.17, "prelu": 4.95}
    assert c.conv_macs == c.by_type["conv"] + c.by_type["deconv"]


def test_dense_macs_count_a_strided_deconvolution_per_input_pixel() -> None:
    # THOP counts a 3x3/2 transposed conv per output pixel, 4x what its non-zero taps cost.
    deconv = torch.nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, bias=False)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 6, 3, padding=1, bias=False), deconv)
    c = count_complexity(net, (8, 8), in_channels=1)
    conv = 8 * 8 * 6 * 1 * 9
    assert c.conv_macs == conv + 16 * 16 * 4 * 6 * 9
    assert c.dense_macs == conv + 8 * 8 * 6 * 4 * 9


def test_csv_rows_are_the_presets() -> None:
    assert sorted(PRESET_ROWS) == sorted(PRESETS)
    for preset in PRESET_ROWS:
        row = paper.paper_figures(preset)
        assert row["row"] == PRESETS[preset].row
        assert row["table"] == PRESETS[preset].table
        assert row["dataset"] == "fusion"


def test_table2_has_the_fifteen_algorithms() -> None:
    table = paper.load_table("II")
    assert len(table) == 15
    assert table["year"].between(2015, 2023).all()
    assert set(table["group"]) == {"generic", "irst"}
    assert table[["flops_m", "params_m", "fps", "precision", "recall", "miou", "f1"]].notna().all().all()
    assert table.loc[table["preset"] == "lw_irstnet", "algorithm"].item() == "LW-IRSTNet"


def test_merged_cells_are_stored_empty_with_a_note() -> None:
    table = paper.load_table("iii")
    merged = table[table["merged_from"].notna()]
    assert list(merged["preset"]) == ["table3_atrous", "table3_depthwise", "table3_asymmetric"]
    assert merged[["flops_m", "params_m"]].isna().all().all()
    assert merged["note"].str.contains("merged cell").all()


def test_unknown_table_is_a_user_error() -> None:
    with pytest.raises(LwirstError, match="unknown table"):
        paper.load_table("X")


@pytest.mark.parametrize("preset", PRESET_ROWS)
def test_preset_against_printed_figures(preset: str) -> None:
    row = paper.paper_figures(preset)
    decimals = 4 if row["table"] == "II" else 2
    owner = paper.paper_figures(row["merged_from"]) if row["merged_from"] else row
    comparison = paper.compare_preset(preset)
    measured = comparison.complexity
    flops_ok = _printed(measured.flops_m, decimals) == _printed(owner["flops_m"], decimals)
    params_ok = _printed(measured.params_m, decimals) == _printed(owner["params_m"], decimals)

    assert flops_ok is (preset not in UNREPRODUCED_FLOPS | MERGED_NOT_THEIRS)
    assert params_ok is (preset not in UNREPRODUCED_PARAMS | MERGED_NOT_THEIRS)
    if preset in BATCH_OF_TWO:
        assert _printed(2 * measured.flops_m, 2) == _printed(row["flops_m"], 2)
    elif preset in UNREPRODUCED_FLOPS:
        assert _printed(2 * measured.flops_m, 2) != _printed(row["flops_m"], 2)
    if preset in UNREPRODUCED_FLOPS | UNREPRODUCED_PARAMS:
        assert "not reproducible" in row["note"]

    assert comparison.flops.matches is flops_ok
    assert comparison.params.matches is params_ok
    assert (comparison.flops.status in (paper.MERGED_MATCH, paper.MERGED_DIFFERS)) is bool(row["merged_from"])


def test_merged_cell_explanations() -> None:
    atrous = paper.compare_preset("table3_atrous")
    depthwise = paper.compare_preset("table3_depthwise")
    assert atrous.flops.status == paper.MERGED_MATCH
    assert depthwise.flops.status == paper.MERGED_DIFFERS
    for c in (atrous, depthwise):
        assert c.summary.startswith("merged cell, not printed for this row")
        assert "'Regular Conv.'" in c.summary
    assert "same cost, so it matches" in atrous.summary
    assert "cannot be its figure" in depthwise.summary


def test_other_sizes_are_measured_not_compared() -> None:
    c = paper.compare_preset("lw_irstnet", (128, 64))
    assert c.flops.status == c.params.status == paper.NOT_COMPARED
    assert c.complexity.params == 163_232
    assert c.complexity.flops < 303.53e6 / 4 + 1e6


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["complexity", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_single_preset(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys)
    assert code == 0
    assert CONVENTION in out
    assert "163,232" in out and "303.53 M" in out
    for line in ("conv", "163.45 M"), ("deconv", "117.96 M"), ("bn", "17.17 M"), ("prelu", "4.95 M"):
        assert any(all(part in text for part in line) for text in out.splitlines())
    assert "paper 303.5300, measured 303.5300: match" in out
    assert "paper 0.1632, measured 0.1632: match" in out


def test_cli_reports_unreproduced_figures(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--preset", "table9_acm")
    assert code == 0
    assert "paper 724.50, measured 362.25: MISMATCH" in out
    assert "batch of two images" in out
    assert "paper 0.18, measured 0.18: match" in out


def test_cli_all_presets_prints_paper_beside_measured(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--all-presets")
    assert code == 0
    assert CONVENTION in out
    lines = {line.split()[1]: line for line in out.splitlines() if line.split()[1:2] and line.split()[1] in PRESETS}
    assert set(lines) == set(PRESETS)
    for preset, line in lines.items():
        c = paper.compare_preset(preset)
        d = c.flops.decimals
        assert _printed(c.flops.measured, d) in line and _printed(c.params.measured, d) in line
        assert _printed(c.flops.paper, d) in line and _printed(c.params.paper, d) in line
        if preset in MERGED_NOT_THEIRS:
            assert "merged!=" in line
        elif paper.paper_figures(preset)["merged_from"]:
            assert "merged=" in line
        elif preset in UNREPRODUCED_FLOPS:
            assert "MISMATCH" in line
        elif preset not in UNREPRODUCED_PARAMS:
            assert line.count("match") == 2 and "MISMATCH" not in line
    assert "table3_depthwise: merged cell, not printed for this row" in out


def test_cli_table_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--table", "IX", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["convention"] == CONVENTION
    by_name = {p["preset"]: p for p in data["presets"]}
    assert set(by_name) == {p for p in PRESETS if PRESETS[p].table == "IX"}
    assert by_name["table9_concat"]["flops_check"]["status"] == "match"
    assert by_name["table9_sum"]["flops_check"]["status"] == "merged_match"
    assert by_name["table9_aspp"]["flops_check"]["paper_m"] == 677.45
    assert by_name["table9_aspp"]["params_check"]["matches"] is True


def test_cli_list(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == list(PRESETS)


@pytest.mark.parametrize("argv, message", [
    (["--preset", "table9_acn"], "unknown preset 'table9_acn'"),
    (["--table", "X"], "unknown table"),
    (["--preset", "lw_irstnet", "--table", "III"], "give one"),
])
def test_cli_user_errors_exit_1(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 1
    assert out == ""
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("size, message", [(("65", "64"), "must be a multiple of 8, got 65"),
                                           (("0", "64"), "must be in [8, 8192], got 0"),
                                           (("-8", "64"), "must be in [8, 8192], got -8")])
def test_cli_size_is_a_usage_error(capsys: pytest.CaptureFixture[str], size: tuple[str, str], message: str) -> None:
    """A side that is no multiple of 8 is an option's value: a usage error (exit 2), as for every command."""
    with pytest.raises(SystemExit) as usage:
        main(["complexity", "--size", *size])
    err = capsys.readouterr().err
    assert usage.value.code == 2 and message in err and err.count("\n") == 1


@pytest.mark.parametrize("preset", ["lw_irstnet", "table9_afm"])  # AFM: adaptive pooling, not counted
def test_onnx_graph_count_matches_the_module_count(preset: str) -> None:
    """An ONNX-only model gets the same conv, deconv and PReLU FLOPs; folded BN costs nothing."""
    import onnx
    import torch

    from lwirst.complexity import count_complexity, onnx_complexity
    from lwirst.export import to_onnx_bytes
    from lwirst.model import LWIRSTNet
    from lwirst.optimize import optimize_onnx

    torch.manual_seed(0)
    model = LWIRSTNet(PRESETS[preset].config).eval()
    module = count_complexity(model, (128, 160))
    exported = to_onnx_bytes(model, size=(128, 160), dynamic=False)
    graph = onnx_complexity(exported, (128, 160))
    for kind in ("conv", "deconv", "prelu", "softmax", "linear"):
        assert graph.by_type.get(kind, 0.0) == module.by_type.get(kind, 0.0), kind
    # `lwirst export` optimises by default, writing each scalar PReLU as a LeakyRelu: it read 5 M FLOPs lighter
    optimised = optimize_onnx(exported)
    ops = {node.op_type for node in onnx.load_from_string(optimised).graph.node}
    assert "LeakyRelu" in ops and "PRelu" not in ops
    assert onnx_complexity(optimised, (128, 160)).by_type == graph.by_type
    assert "bn" not in graph.by_type and graph.conv_macs == module.conv_macs
    assert graph.dense_macs == module.dense_macs < module.conv_macs
    assert graph.flops == pytest.approx(module.flops - module.by_type["bn"] - module.by_type.get("adaptive_pool", 0))
    assert 0.9 * module.params < graph.params < module.params  # BN's scale and shift are folded away


def test_onnx_count_refuses_a_graph_that_cannot_run() -> None:
    from onnx import TensorProto, helper

    from lwirst.complexity import onnx_complexity

    # a Reshape to 7 elements cannot hold a 1x3xHxW image: ONNX Runtime fails at run time
    shape = helper.make_tensor("shape", TensorProto.INT64, [1], [7])
    graph = helper.make_graph([helper.make_node("Reshape", ["x", "shape"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1, "h", "w"])], [shape])
    with pytest.raises(LwirstError, match="cannot run the ONNX graph"):
        onnx_complexity(helper.make_model(graph).SerializeToString(), (32, 32))


def test_cli_measures_any_architecture_or_model_file(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    """--arch and --model reach networks the presets do not: ENet's Table II figures, a trained file."""
    from lwirst.checkpoint import save_checkpoint
    from lwirst.models import build_model

    assert main(["complexity", "--arch", "enet"]) == 0
    out = capsys.readouterr().out
    assert "ENet (enet, default config)" in out and "(0.3491 M)" in out and "535.15 M" in out
    net = build_model("acm")
    save_checkpoint(tmp_path / "acm.safetensors", net, net.config)
    assert main(["complexity", "--model", str(tmp_path / "acm.safetensors"), "--json"]) == 0
    measured = json.loads(capsys.readouterr().out)
    expected = config_complexity(net.config)
    assert measured["params"] == expected.params and measured["flops"] == pytest.approx(expected.flops)
    assert "ACM" in measured["network"]
    assert main(["complexity", "--model", str(tmp_path / "absent.onnx")]) == 1
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # an unknown name is a usage error, as for `lwirst train --arch`
        main(["complexity", "--arch", "nope"])
    assert usage.value.code == 2 and "invalid choice: 'nope'" in capsys.readouterr().err
