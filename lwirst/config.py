"""One dataclass that describes LW-IRSTNet and every ablation variant of the paper.

A preset is a named `NetConfig`; Tables III-IX of the paper map onto presets
(``table3_regular``, ``table7_ch_8_16_32`` ...), so the CLI, the tests, the sweep
and the dashboard all speak the same names.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lwirst.errors import LwirstError

DAAA_CONVS = ("daaa", "regular", "atrous", "depthwise", "asymmetric")
UPSAMPLINGS = ("deconv", "bilinear", "bilinear_deconv")
FUSIONS = ("sum", "concat", "none")
CONTEXTS = ("none", "aspp", "cpm", "afm", "acm", "bilocal", "biglobal", "cpm_afm")


def json_object(text: str) -> dict[str, Any]:
    """A network config's JSON text as a dict, or one clear error."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LwirstError(f"network config is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise LwirstError("network config JSON must be an object")
    return data


def _kind_of(default: Any) -> str:
    """What a field whose default is `default` takes, in words; "" when not checked (no default, None)."""
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return "an integer"
    if isinstance(default, float):
        return "a number"
    if isinstance(default, str):
        return "a string"
    if isinstance(default, tuple):
        return f"a list like {list(default)}"
    return ""


def _is_kind(value: Any, default: Any) -> bool:
    """Whether `value` (from JSON) has the type of a field's default: the generic check every config gets
    before its own __post_init__ checks ranges and choices."""
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    if isinstance(default, tuple):
        return isinstance(value, (list, tuple)) and all(
            _is_kind(v, default[min(i, len(default) - 1)]) for i, v in enumerate(value)) if default \
            else isinstance(value, (list, tuple))
    return True


class ConfigFields:
    """JSON round trip for a frozen config dataclass; unknown fields are refused so a typo in a
    config file or a checkpoint from another architecture fails loudly instead of being ignored."""

    TUPLES: ClassVar[tuple[str, ...]] = ()  # fields JSON turns into lists

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(fields))
        if unknown:
            close = [difflib.get_close_matches(name, list(fields), n=1) for name in unknown]
            hints = "".join(f"; did you mean {c[0]} for {name}?" for name, c in zip(unknown, close, strict=True) if c)
            raise LwirstError(f"unknown network config field(s): {', '.join(unknown)}{hints} (fields: "
                              f"{', '.join(fields)})")
        for name, value in data.items():
            expected = _kind_of(fields[name].default)
            if expected and not _is_kind(value, fields[name].default):
                raise LwirstError(f"network config field {name} takes {expected}, not {value!r}")
        values = {k: tuple(v) if isinstance(v, list) and (k in cls.TUPLES or isinstance(fields[k].default, tuple))
                  else v for k, v in data.items()}
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:  # a wrong-typed field fails inside the checks of __post_init__
            raise LwirstError(f"invalid network config: a field has the wrong type ({exc})") from exc

    @classmethod
    def from_json(cls, text: str) -> Any:
        return cls.from_dict(json_object(text))

    def replace(self, **changes: Any) -> Any:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


@dataclass(frozen=True)
class NetConfig(ConfigFields):
    """Architecture of LW-IRSTNet (paper Sec. III, Table I).

    channels: output channels of stages 1, 2 and 3 (Table VII).
    daaa_conv: "daaa" for the paper's Dw -> At -> As -> At order inside each DAAA
        module, or one convolution type used for all four bottlenecks (Table III).
    num_daaa: DAAA modules in stage 3 (Table III's "remove DAAA 3 and 4" is 2).
    dw_expansion: channel expansion of the depthwise bottlenecks (Table IV).
    compression: channel reduction inside every regular, atrous and asymmetric
        bottleneck, encoder and decoder alike (Table IV; ENet's internal ratio).
        Reading it as "stage 3 only" gives 431.65 M for the (2, 2) row instead of the
        printed 491.09 M; the global reading reproduces every printed figure.
    down_compression: channel reduction inside the two downsampling bottlenecks.
    dilations: atrous rates (DAAA1 first, DAAA1 second, DAAA2 first, DAAA2 second);
        DAAA 3-4 repeat DAAA 1-2 (Table V).
    asym_kernels: asymmetric kernel size per DAAA module (Table VI).
    upsampling: stage 4-6 upsampling (Table VIII).
    fusion: how decoder maps meet the same-scale encoder maps (Table IX).
    context: optional context module on the encoder-decoder joints (Table IX).
    """

    in_channels: int = 3
    num_classes: int = 1
    channels: tuple[int, int, int] = (8, 32, 64)
    stage2_blocks: int = 4
    daaa_conv: str = "daaa"
    num_daaa: int = 4
    dw_expansion: int = 2
    compression: int = 4
    down_compression: int = 4
    dilations: tuple[int, int, int, int] = (2, 4, 8, 16)
    asym_kernels: tuple[int, int, int, int] = (7, 7, 7, 7)
    upsampling: str = "deconv"
    fusion: str = "sum"
    context: str = "none"
    stage4_blocks: int = 2
    stage5_blocks: int = 1
    dropout_stage2: float = 0.01
    dropout_rest: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "dilations", tuple(int(d) for d in self.dilations))
        object.__setattr__(self, "asym_kernels", tuple(int(k) for k in self.asym_kernels))
        self.validate()

    def validate(self) -> None:
        """Raise `LwirstError` naming the first field that cannot build a network."""
        counts = (self.in_channels, self.num_classes, self.compression, self.down_compression,
                  self.dw_expansion)
        checks = [
            (self.daaa_conv in DAAA_CONVS, f"daaa_conv must be one of {DAAA_CONVS}"),
            (self.upsampling in UPSAMPLINGS, f"upsampling must be one of {UPSAMPLINGS}"),
            (self.fusion in FUSIONS, f"fusion must be one of {FUSIONS}"),
            (self.context in CONTEXTS, f"context must be one of {CONTEXTS}"),
            (all(v >= 1 for v in counts), "in_channels, num_classes and the channel ratios must be >= 1"),
            (len(self.channels) == 3, "channels needs three values (stages 1, 2, 3)"),
            (len(self.dilations) == 4 and min(self.dilations, default=0) >= 1,
             "dilations needs four atrous rates >= 1"),
            (len(self.asym_kernels) == 4, "asym_kernels needs one kernel per DAAA module"),
            (all(k % 2 == 1 and k > 0 for k in self.asym_kernels), "asymmetric kernels must be odd and positive"),
            (1 <= self.num_daaa <= 4, "num_daaa must be between 1 and 4"),
            (min(self.stage2_blocks, self.stage4_blocks, self.stage5_blocks) >= 0, "block counts must be >= 0"),
            (0.0 <= self.dropout_stage2 < 1.0 and 0.0 <= self.dropout_rest < 1.0, "dropout must be in [0, 1)"),
        ]
        for ok, message in checks:
            if not ok:
                raise LwirstError(f"invalid network config: {message}")
        c1, c2, _ = self.channels
        checks = [
            (min(self.channels) > 0, "channels must be positive"),
            (c1 > self.in_channels, "stage-1 channels must exceed input channels"),
            (c2 % self.compression == 0, "stage-2/3 channels must divide by compression"),
        ]
        for ok, message in checks:
            if not ok:
                raise LwirstError(f"invalid network config: {message}")


@dataclass(frozen=True)
class Preset:
    """A named config tied to the paper table row it reproduces."""

    name: str
    table: str
    row: str
    config: NetConfig = field(default_factory=NetConfig)


def _build_presets() -> dict[str, Preset]:
    base = NetConfig()
    rows: list[tuple[str, str, str, NetConfig]] = [
        ("lw_irstnet", "II", "Ours (LW-IRSTNet)", base),
        ("table3_regular", "III", "Regular Conv.", base.replace(daaa_conv="regular")),
        ("table3_atrous", "III", "At-Conv.", base.replace(daaa_conv="atrous")),
        ("table3_depthwise", "III", "Dw- Conv.", base.replace(daaa_conv="depthwise")),
        ("table3_asymmetric", "III", "As-Conv.", base.replace(daaa_conv="asymmetric")),
        ("table3_remove_daaa34", "III", "Remove DAAA 3 and 4", base.replace(num_daaa=2)),
        ("table3_daaa", "III", "Ours (DAAA 1-4)", base),
        ("table4_e2_c2", "IV", "2/2", base.replace(dw_expansion=2, compression=2)),
        ("table4_e4_c4", "IV", "4/4", base.replace(dw_expansion=4, compression=4)),
        ("table4_e2_c4", "IV", "2/4", base),
    ]
    for d1, d2 in [((2, 2), (2, 2)), ((2, 2), (2, 4)), ((2, 2), (4, 8)), ((2, 4), (8, 16)),
                   ((4, 8), (16, 16)), ((8, 16), (16, 16))]:
        rates = (*d1, *d2)
        name = "table5_rates_" + "_".join(str(r) for r in rates)
        rows.append((name, "V", f"{d1} {d2}", base.replace(dilations=rates)))
    for kernels in [(3, 3, 3, 3), (3, 5, 3, 5), (5, 5, 5, 5), (5, 7, 5, 7), (5, 9, 5, 9),
                    (7, 7, 7, 7), (7, 9, 7, 9), (9, 9, 9, 9), (3, 5, 7, 9)]:
        name = "table6_kernels_" + "_".join(str(k) for k in kernels)
        rows.append((name, "VI", " ".join(str(k) for k in kernels), base.replace(asym_kernels=kernels)))
    for ch in [(8, 16, 32), (16, 64, 128), (8, 32, 64)]:
        name = "table7_ch_" + "_".join(str(c) for c in ch)
        rows.append((name, "VII", " ".join(str(c) for c in ch), base.replace(channels=ch)))
    rows += [
        ("table8_bilinear", "VIII", "Bilinear", base.replace(upsampling="bilinear")),
        ("table8_bilinear_deconv", "VIII", "Bilinear (Stage4、5) Deconvolution (Stage6)",
         base.replace(upsampling="bilinear_deconv")),
        ("table8_deconv", "VIII", "Deconvolution", base),
        ("table9_aspp", "IX", "LW-IRSTNet + ASPP [63]", base.replace(context="aspp")),
        ("table9_cpm", "IX", "LW-IRSTNet + CPM [23]", base.replace(context="cpm")),
        ("table9_afm", "IX", "LW-IRSTNet + AFM [23]", base.replace(context="afm")),
        ("table9_acm", "IX", "LW-IRSTNet + ACM [20]", base.replace(context="acm")),
        ("table9_bilocal", "IX", "LW-IRSTNet + BiLocal [20]", base.replace(context="bilocal")),
        ("table9_biglobal", "IX", "LW-IRSTNet + BiGlobal [20]", base.replace(context="biglobal")),
        ("table9_cpm_afm", "IX", "LW-IRSTNet + CPM + AFM", base.replace(context="cpm_afm")),
        ("table9_concat", "IX", "Concat", base.replace(fusion="concat")),
        ("table9_no_fusion", "IX", "No fusion", base.replace(fusion="none")),
        ("table9_sum", "IX", "Sum", base),
    ]
    return {name: Preset(name, table, row, cfg) for name, table, row, cfg in rows}


PRESETS: dict[str, Preset] = _build_presets()


def get_preset(name: str) -> NetConfig:
    """Config of a named preset; unknown names list the closest valid ones."""
    try:
        return PRESETS[name].config
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, PRESETS, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else " See `lwirst complexity --list`."
        raise LwirstError(f"unknown preset {name!r}.{hint}") from None


def presets_for_table(table: str) -> list[Preset]:
    """Presets reproducing the rows of one paper table ("III" ... "IX")."""
    return [p for p in PRESETS.values() if p.table == table.upper()]
