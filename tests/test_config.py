"""NetConfig: JSON round-trips, validation, and every preset as a runnable network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lwirst.config import PRESETS, NetConfig, get_preset, presets_for_table
from lwirst.context import adaptive_max_pool
from lwirst.errors import LwirstError
from lwirst.model import LWIRSTNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_json_round_trip(name: str) -> None:
    config = get_preset(name)
    again = NetConfig.from_json(config.to_json())
    assert again == config
    assert again.to_json() == config.to_json()


def test_presets_cover_tables_iii_to_ix() -> None:
    counts = {table: len(presets_for_table(table)) for table in ("III", "IV", "V", "VI", "VII", "VIII", "IX")}
    assert counts == {"III": 6, "IV": 3, "V": 6, "VI": 9, "VII": 3, "VIII": 3, "IX": 10}
    assert presets_for_table("ix") == presets_for_table("IX")


@pytest.mark.parametrize("changes", [
    {"daaa_conv": "separable"},
    {"upsampling": "nearest"},
    {"fusion": "product"},
    {"context": "transformer"},
    {"channels": (8, 32)},
    {"channels": (2, 32, 64)},
    {"channels": (8, 32, -64)},
    {"channels": (8, 30, 64)},
    {"dilations": (2, 4, 8)},
    {"asym_kernels": (7, 7, 7)},
    {"asym_kernels": (6, 7, 7, 7)},
    {"num_daaa": 0},
    {"num_daaa": 5},
    {"dw_expansion": 0},
])
def test_invalid_config_raises(changes: dict) -> None:
    with pytest.raises(LwirstError, match="invalid network config"):
        NetConfig(**changes)


@pytest.mark.parametrize("changes", [
    {"compression": 0},
    {"down_compression": 0},
    {"channels": ()},
    {"in_channels": 0},
    {"num_classes": 0},
    {"dilations": (0, 4, 8, 16)},
    {"dropout_rest": 1.5},
    {"stage2_blocks": -1},
])
def test_invalid_config_values_raise(changes: dict) -> None:
    with pytest.raises(LwirstError):
        NetConfig(**changes)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be an object"),
    ('{"channels": [8, 32, 64], "width": 3}', "unknown network config field"),
    ('{"fusion": "product"}', "invalid network config"),
])
def test_from_json_errors(text: str, message: str) -> None:
    with pytest.raises(LwirstError, match=message):
        NetConfig.from_json(text)


def test_unknown_preset_suggests_names() -> None:
    with pytest.raises(LwirstError, match="table9_acm"):
        get_preset("table9_acn")


# Every preset at the square and a non-square size; the decoder and context variants also at a
# size whose 1/8 map is odd (5 x 9), where patch splits and deconvolution padding are tested hardest.
_FORWARD_CASES = [(name, size) for name in PRESETS for size in ((64, 64), (64, 96))] + [
    (p.name, (40, 72)) for p in [PRESETS["lw_irstnet"], *presets_for_table("VIII"), *presets_for_table("IX")]
]


@pytest.mark.parametrize("name, size", _FORWARD_CASES)
def test_preset_forward_gives_logits_at_input_size(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = LWIRSTNet(get_preset(name)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, *size))
    assert out.shape == (1, 1, *size)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["table9_aspp", "table9_cpm", "table9_acm", "table9_bilocal",
                                  "table9_biglobal", "table9_cpm_afm"])
def test_context_modules_train(name: str) -> None:
    """Every context module sits on the gradient path (a batch of two: BN after global pooling)."""
    model = LWIRSTNet(get_preset(name)).train()
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None and "gamma" not in n]
    assert not missing


def test_every_context_name_builds_what_its_registry_entry_says() -> None:
    """One registry (`lwirst.context.CONTEXT_MODULES`) decides what each config name builds; model.py listed the
    fusion and multiscale names by hand beside it."""
    from lwirst.config import CONTEXTS
    from lwirst.context import CONTEXT_MODULES

    assert set(CONTEXT_MODULES) == set(CONTEXTS)
    for name, spec in CONTEXT_MODULES.items():
        model = LWIRSTNet(NetConfig(context=name))
        fused = [m for m in model.modules() if getattr(m, "mode", None) == "module"]
        assert bool(fused) == (spec.fusion is not None), name
        assert (type(model.stage3[-1]).__name__ in ("ASPP", "CPM")) == (spec.multiscale is not None), name


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), rows=st.integers(1, 12), cols=st.integers(1, 12),
       seed=st.integers(0, 2**16))
def test_exportable_adaptive_max_pool_equals_torchs(h: int, w: int, rows: int, cols: int, seed: int) -> None:
    """CPM's pooling, rewritten as per-axis slices so ONNX can express it, loses nothing."""
    rows, cols = min(rows, h), min(cols, w)
    x = torch.randn(2, 3, h, w, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(adaptive_max_pool(x, rows, cols), F.adaptive_max_pool2d(x, (rows, cols)))


@pytest.mark.parametrize("fields, message", [
    ({"chanels": [8, 32, 64]}, "did you mean channels for chanels?"),
    ({"channels": "wide"}, "field channels takes a list like [8, 32, 64], not 'wide'"),
    ({"channels": [8, 32, True]}, "field channels takes a list like [8, 32, 64]"),
    ({"num_daaa": 2.5}, "field num_daaa takes an integer, not 2.5"),
    ({"daaa_conv": 3}, "field daaa_conv takes a string, not 3"),
    ({"dropout_rest": "0.1"}, "field dropout_rest takes a number"),
])
def test_a_wrong_config_field_is_one_clear_error(fields: dict, message: str) -> None:
    """Checked from the defaults' types for every architecture's config, before any torch code runs."""
    from lwirst.models import config_from_dict

    with pytest.raises(LwirstError) as caught:
        config_from_dict(fields)
    assert message in str(caught.value)


def register_net(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, name: str, label: str,
                 body: str) -> None:
    """An architecture module written where Python finds it and registered as the README says (one line in
    `_MODULES`): a frozen Config of `in_channels` and `width`, and a torch module `Net` whose class body is
    `body`."""
    register_source(tmp_path, monkeypatch, module, name,
                    "from dataclasses import dataclass\n"
                    "import torch\n"
                    "from lwirst.models.base import Architecture, ConfigFields\n"
                    "@dataclass(frozen=True)\n"
                    "class Config(ConfigFields):\n"
                    "    in_channels: int = 3\n"
                    "    width: int = 4\n"
                    "class Net(torch.nn.Module):\n"
                    f"{body}"
                    f"ARCHITECTURE = Architecture({name!r}, {label!r}, Net, Config)\n")


def register_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, name: str, source: str) -> None:
    """The module `source` written where Python finds it and registered under `name` by one line in `_MODULES`."""
    from lwirst import models

    (tmp_path / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(models._MODULES, name, module)
    monkeypatch.setattr(models, "_LOADED", {})
    monkeypatch.setattr(models, "_CHECKED", set())


def test_a_network_that_fails_to_build_or_keeps_no_config_is_named(tmp_path, monkeypatch) -> None:
    from lwirst import models

    register_net(tmp_path, monkeypatch, "plain_net", "plain", "Plain net",
                 "    def __init__(self, config):\n"
                 "        super().__init__()\n"
                 "        self.conv = torch.nn.Conv2d(config.in_channels, config.width, 3)\n")
    with pytest.raises(LwirstError, match=r"Net keeps no \.config"):
        models.build_model("plain")
    config = models.get_architecture("plain").config(width=-1)
    with pytest.raises(LwirstError, match=r"Plain net cannot be built from its config \(RuntimeError"):
        models.build_model("plain", config)


@pytest.mark.parametrize(("module", "forward", "message"), [
    ("halver_a", "return self.conv(x)[:, :, ::2, ::2]",
     r"Halver maps a 2x3x72x56 input to 2x1x36x28; a network must map N x C x H x W, H and W any multiple of 8"),
    ("halver_b", "return torch.cat([self.conv(x)] * 2, 1)", r"Halver maps a 2x3x72x56 input to 2x2x72x56"),
    ("halver_c", "return x.view(-1, 5)", r"Halver cannot run a 2x3x72x56 input \(RuntimeError"),
], ids=["half-size", "two-maps", "raises"])
def test_a_network_with_the_wrong_output_is_named_when_built(module: str, forward: str, message: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A half-size map used to stop training inside the loss with a torch shape error, and to be resized up
    without a word by inference and export."""
    from lwirst import models

    register_net(tmp_path, monkeypatch, module, "halver", "Halver",
                 "    def __init__(self, config):\n"
                 "        super().__init__()\n"
                 "        self.config = config\n"
                 "        self.conv = torch.nn.Conv2d(config.in_channels, 1, 3, padding=1)\n"
                 "    def forward(self, x):\n"
                 f"        {forward}\n")
    with pytest.raises(LwirstError, match=message):
        models.build_model("halver")


def test_a_checkpoint_of_a_network_with_the_wrong_output_is_refused_when_loaded(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkpoint's shapes are read on a meta-device skeleton, which is not run (a meta forward pass costs every
    command 1.5-2 s of imports); the network built from it is, so its wrong output is still named on loading."""
    from lwirst import models
    from lwirst.checkpoint import load_model, save_checkpoint

    register_net(tmp_path, monkeypatch, "halver_ckpt", "halver", "Halver",
                 "    def __init__(self, config):\n"
                 "        super().__init__()\n"
                 "        self.config = config\n"
                 "        self.conv = torch.nn.Conv2d(config.in_channels, 1, 3, padding=1)\n"
                 "    def forward(self, x):\n"
                 "        return self.conv(x)[:, :, ::2, ::2]\n")
    spec = models.get_architecture("halver")
    config = spec.config()
    save_checkpoint(tmp_path / "halver.safetensors", spec.module(config), config)  # the module, never checked
    with pytest.raises(LwirstError, match=r"Halver maps a 2x3x72x56 input to 2x1x36x28"):
        load_model(tmp_path / "halver.safetensors")


UNET_16 = (  # a plain 4-level U-Net: four 2x poolings, each undone and joined to its skip; sides must divide by 16
    "    def __init__(self, config):\n"
    "        super().__init__()\n"
    "        self.config = config\n"
    "        self.down = torch.nn.ModuleList(torch.nn.Conv2d(config.in_channels if i == 0 else 4, 4, 3, padding=1)\n"
    "                                        for i in range(4))\n"
    "        self.up = torch.nn.ModuleList(torch.nn.Conv2d({joined}, 4, 3, padding=1) for _ in range(4))\n"
    "        self.head = torch.nn.Conv2d(4, 1, 1)\n"
    "    def forward(self, x):\n"
    "        skips = []\n"
    "        for conv in self.down:\n"
    "            x = conv(x)\n"
    "            skips.append(x)\n"
    "            x = torch.nn.functional.max_pool2d(x, 2)\n"
    "        for conv, skip in zip(self.up, reversed(skips)):\n"
    "            x = torch.nn.functional.interpolate(x, scale_factor=2.0)\n"
    "            x = conv({join})\n"
    "        return self.head(x)\n")


@pytest.mark.parametrize(("module", "join", "joined", "message"), [
    ("unet16_a", "torch.cat([x, skip], 1)", 8, r"U-Net 16 cannot run a 2x3x72x56 input \(RuntimeError: [^\n]*\); a "
     r"network must map N x C x H x W, H and W any multiple of 8, to N x 1 x H x W logits$"),
    ("unet16_b", "x", 4, r"U-Net 16 maps a 2x3x72x56 input to 2x1x64x48; a network must map N x C x H x W, H and W "
     r"any multiple of 8"),
], ids=["skips", "no-skips"])
def test_a_network_running_only_on_multiples_of_16_is_refused_when_built(module: str, join: str, joined: int,
                                                                        message: str, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The check ran at 64 x 64, a multiple of 16, 32 and 64: a 4-level U-Net passed it, then failed (or returned
    a smaller map) on real frames whose sides are multiples of 8 only, as the contract allows."""
    import torch

    from lwirst import models

    register_net(tmp_path, monkeypatch, module, "unet16", "U-Net 16", UNET_16.format(join=join, joined=joined))
    net = models.get_architecture("unet16").module(models.get_architecture("unet16").config())
    assert net(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)  # it does run where every side divides by 16
    with pytest.raises(LwirstError, match=message):
        models.build_model("unet16")


CONFIGS = {  # a config class as an architecture module might write it, lacking something the registry uses
    "no-in-channels": ("@dataclass(frozen=True)\nclass Config(ConfigFields):\n    width: int = 4\n",
                       r"bare_a \(registered as 'bare'\): its config Config has no in_channels field"),
    "no-ConfigFields": ("@dataclass(frozen=True)\nclass Config:\n    in_channels: int = 3\n",
                        r"bare_b \(registered as 'bare'\): its config Config has no from_dict, from_json, to_dict, "
                        r"to_json; inherit lwirst\.models\.base\.ConfigFields"),
    "no-default": ("@dataclass(frozen=True)\nclass Config(ConfigFields):\n    in_channels: int\n",
                   r"bare_c \(registered as 'bare'\): its config Config has no default for in_channels"),
}


@pytest.mark.parametrize(("module", "kind"), [("bare_a", "no-in-channels"), ("bare_b", "no-ConfigFields"),
                                              ("bare_c", "no-default")])
def test_a_config_lacking_what_the_registry_uses_is_named_when_its_architecture_loads(
        module: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`lwirst complexity --arch X` and `lwirst train --arch X` ended in a raw AttributeError traceback."""
    from lwirst import models
    from lwirst.cli import main

    config, message = CONFIGS[kind]
    register_source(tmp_path, monkeypatch, module, "bare",
                    "from dataclasses import dataclass\nimport torch\n"
                    "from lwirst.models.base import Architecture, ConfigFields\n" + config
                    + "class Net(torch.nn.Conv2d):\n"
                      "    def __init__(self, config):\n"
                      "        super().__init__(3, 1, 3, padding=1)\n"
                      "        self.config = config\n"
                      "ARCHITECTURE = Architecture('bare', 'Bare', Net, Config)\n")
    with pytest.raises(LwirstError, match=message):
        models.get_architecture("bare")
    for command in (["complexity", "--arch", "bare"], ["train", "--arch", "bare", "--run-dir", str(tmp_path / "run"),
                                                       "--data-dir", str(tmp_path)]):
        assert main(command) == 1
        said = capsys.readouterr().err.strip().splitlines()
        assert len(said) == 1 and said[0].startswith("error: bare_") and "Traceback" not in said[0], said
    assert models.architecture_of(NetConfig()) == "lwirstnet"  # the others are unaffected


BROKEN = {  # a model module that cannot be used: an import its machine lacks, or a name its line does not give
    "missing-import": ("import timm_not_installed\n",
                       r"broken_a \(registered as 'broken'\) failed to import \(ModuleNotFoundError: No module named "
                       r"'timm_not_installed'\); fix the module or install what it imports"),
    "wrong-name": ("from lwirst.models.lwirstnet import ARCHITECTURE as A\nimport dataclasses\n"
                   "ARCHITECTURE = dataclasses.replace(A, name='broke')\n",
                   r"broken_b registers 'broke', not 'broken'"),
}


@pytest.mark.parametrize(("module", "kind"), [("broken_a", "missing-import"), ("broken_b", "wrong-name")])
def test_a_broken_model_module_is_left_out_and_fails_only_where_it_is_asked_for(
        module: str, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        capsys: pytest.CaptureFixture[str]) -> None:
    """architecture_of loads every registered architecture to identify a config: one broken model module stopped
    every command, the shipped LW-IRSTNet's included (`lwirst demo`, `complexity --arch lwirstnet`, Home)."""
    from lwirst import models
    from lwirst.checkpoint import ARCH_KEY, CONFIG_KEY, META_KEY, load_checkpoint, load_model, save_checkpoint
    from lwirst.cli import main
    from lwirst.paths import DEFAULT_MODEL

    source, message = BROKEN[kind]
    register_source(tmp_path, monkeypatch, module, "broken", source)
    caplog.set_level("WARNING")
    assert models.architecture_of(NetConfig()) == "lwirstnet"
    net = models.build_model()
    save_checkpoint(tmp_path / "ok.safetensors", net, net.config)  # names its architecture: architecture_of
    assert isinstance(load_model(tmp_path / "ok.safetensors")[0], LWIRSTNet)
    assert isinstance(load_model(DEFAULT_MODEL)[0], LWIRSTNet)
    assert main(["complexity", "--arch", "lwirstnet"]) == 0
    assert any(r.levelname == "WARNING" and "architecture 'broken' is left out" in r.message and module in r.message
               for r in caplog.records)
    with pytest.raises(LwirstError, match=message):  # asked for by name
        models.build_model("broken")
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(tmp_path / "b.safetensors"),
              metadata={ARCH_KEY: "broken", CONFIG_KEY: "{}", META_KEY: "{}"})
    with pytest.raises(LwirstError, match=message):  # or by a checkpoint that records it
        load_checkpoint(tmp_path / "b.safetensors")
    capsys.readouterr()
    assert main(["complexity", "--arch", "broken"]) == 1
    said = capsys.readouterr().err.strip().splitlines()
    assert len(said) == 1 and module in said[0], said


def test_every_registered_architecture_and_preset_passes_the_build_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """LW-IRSTNet, ACM, ENet and every ablation preset take sides that are multiples of 8 but not of 16."""
    from lwirst import models
    from lwirst.config import PRESETS

    monkeypatch.setattr(models, "_CHECKED", set())
    for name in models.architecture_names():
        models.build_model(name)
    for preset in PRESETS.values():
        models.build_model(None, preset.config)
    assert models._PROBE[1] % 16 and models._PROBE[2] % 16 and not models._PROBE[1] % 8 + models._PROBE[2] % 8
    assert len(models._CHECKED) >= len(models.architecture_names())
