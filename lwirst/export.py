"""ONNX export: BatchNorm folded, dynamic batch and spatial axes, checked with onnx.checker.

Folding is exact in eval mode: every conv -> BN pair becomes one biased conv, and
the stage-1 BN (which follows a concat of a conv and a max-pool) is folded into
the conv for its conv channels and kept as a per-channel scale and shift on the
pool channels.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import onnx
import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from lwirst.checkpoint import atomic_write
from lwirst.complexity import config_complexity
from lwirst.errors import LwirstError
from lwirst.model import InitialBlock
from lwirst.models import NetworkConfig, architecture_of
from lwirst.onnxguard import check_graph_bounds
from lwirst.preprocess import MEAN, STD

log = logging.getLogger(__name__)

INPUT_NAME, OUTPUT_NAME = "input", "logits"
OPSET = 17
TRAINED_SIZE_KEY = "lwirst.trained_size"
TRAINING_NOTE = "lwirst.training"  # the checkpoint's training record, JSON
ARCHITECTURE_NOTE = "lwirst.architecture"  # its registered architecture's name
# params and FLOPs of the network exported, counted as its checkpoint's card counts them (THOP's rules, batch norm
# included): the graph, batch norm folded in, counts fewer, and the same weights stood at two costs on Compare
COST_NOTE = "lwirst.cost"


class FoldedInitialBlock(nn.Module):
    """Stage 1 with its BN folded: biased conv beside an affine max-pool branch."""

    def __init__(self, block: InitialBlock) -> None:
        super().__init__()
        bn = block.bn
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        n = block.conv.out_channels
        conv = nn.Conv2d(block.conv.in_channels, n, 3, stride=2, padding=1, bias=True)
        conv.weight.data = block.conv.weight.data * scale[:n, None, None, None]
        conv.bias.data = shift[:n].clone()
        self.conv, self.pool, self.act = conv, block.pool, block.act
        self.register_buffer("pool_scale", scale[n:].detach().clone().view(1, -1, 1, 1))
        self.register_buffer("pool_shift", shift[n:].detach().clone().view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.pool(x) * self.pool_scale + self.pool_shift
        return self.act(torch.cat((self.conv(x), pooled), 1))


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Eval-mode copy of `model` with every BatchNorm2d folded away."""
    model = copy.deepcopy(model).eval()

    def visit(parent: nn.Module) -> None:
        for name, child in list(parent.named_children()):
            if isinstance(child, InitialBlock):
                setattr(parent, name, FoldedInitialBlock(child))
                continue
            if isinstance(child, nn.Sequential):
                layers = list(child)
                i = 0
                while i < len(layers) - 1:
                    if isinstance(layers[i], nn.Conv2d) and isinstance(layers[i + 1], nn.BatchNorm2d):
                        layers[i] = fuse_conv_bn_eval(layers[i], layers[i + 1])
                        layers[i + 1] = nn.Identity()
                    i += 1
                for index, layer in enumerate(layers):
                    child[index] = layer
            visit(child)

    visit(model)
    return model


def size_dependent(model: nn.Module) -> bool:
    """Whether the network's graph changes with the input size (see `to_onnx_bytes`)."""
    return any(getattr(m, "size_dependent", False) for m in model.modules())


def to_onnx_bytes(model: nn.Module, *, size: tuple[int, int] = (256, 256), in_channels: int = 3,
                  dynamic: bool = True, fold: bool = True, opset: int = OPSET) -> bytes:
    """Serialise a network to ONNX in memory (legacy TorchScript exporter: stable, no onnxscript).

    `dynamic` leaves batch, height and width symbolic; a network whose graph depends on
    the map size (Table IX's CPM splits its map into a size-dependent patch grid) keeps
    only the batch symbolic and is traced at `size`, the one size its graph is right for.
    """
    net = fold_batchnorm(model) if fold else copy.deepcopy(model).eval()
    spatial = dynamic and not size_dependent(net)
    # Tracing runs the network once; with symbolic axes a small dummy gives the same graph, faster.
    dummy = torch.zeros(1, in_channels, *((32, 32) if spatial else size))
    axes = {0: "batch", 2: "height", 3: "width"} if spatial else {0: "batch"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                net, (dummy,), buffer, input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                opset_version=opset, dynamo=False,
                dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes} if dynamic else None,
            )
        except torch.onnx.errors.OnnxExporterError as exc:  # an operation with no ONNX counterpart
            reason = str(exc).splitlines()[0][:200]
            raise LwirstError(f"this network has an operation ONNX cannot express, so it runs on the torch "
                              f"backend only ({reason})") from exc
    data = buffer.getvalue()
    onnx.checker.check_model(onnx.load_from_string(data))
    return data


def deployment_notes(raw_bgr: bool = False, channels: int = 3) -> dict[str, str]:
    """What a runtime outside lwirst must do around the graph, stored in an exported file's metadata (README,
    "Deploying the ONNX without lwirst"): the input's convention (a one-channel network's too), and how to read
    the output."""
    mean, std = (", ".join(f"{v:g}" for v in values) for values in (MEAN, STD))
    if raw_bgr:
        pre = "input: float32 N x 3 x H x W BGR pixel values 0..255 (a grey frame as 3 equal channels)"
    elif channels == 1:
        pre = (f"input: float32 N x 1 x H x W, the mean over R, G, B of (value / 255 - mean) / std, mean {mean}, "
               f"std {std} (a grey frame: its value in all three)")
    else:
        pre = (f"input: float32 N x 3 x H x W RGB (a grey frame as 3 equal channels), (value / 255 - mean) / std "
               f"per channel, mean {mean}, std {std}")
    return {"lwirst.preprocess": pre + "; 16-bit frames stretched to 8 bits first; pseudo-colour (palette) frames "
                                       "decoded to the grey intensity they encode first (the network learnt grey "
                                       "frames); H, W multiples of 8 (pad bottom/right by reflection)",
            "lwirst.output": "logits: N x 1 x H x W; target where logit > 0 (probability 0.5); 8-connected blobs",
            "lwirst.protocol": protocol_note()}


def protocol_note() -> str:
    """How lwirst runs the graph by default, in a file's metadata: a deployment that runs it once per frame finds
    other targets on large frames (the README's "Deploying the ONNX without lwirst" says it step by step)."""
    from lwirst.consensus import DEFAULT_SCALE, RADIUS
    from lwirst.postprocess import GROW_TO_PROBABILITY
    from lwirst.prominence import DEFAULT_PER_DOUBLING
    from lwirst.saliency import AUTO_AREA_FACTOR, SMALL_AREA_FACTOR

    side = 2 * RADIUS + 1
    scale = f"{DEFAULT_SCALE:g}"
    return (f"lwirst's default run (README, 'Deploying the ONNX without lwirst'): a frame of at most "
            f"{AUTO_AREA_FACTOR}x the model size's area is resized to it (bilinear) and its map resized back, but "
            f"one of at most {SMALL_AREA_FACTOR:g}x that area runs natively (padded); a larger one runs natively "
            "and at half size (INTER_AREA, round(H/2) x round(W/2), halves to even; run as a frame of that size "
            "would be), the maps united by maximum. Scale consensus: each run's input "
            f"repeated {scale}x larger (bilinear, round({scale} H) x round({scale} W), padded like any input), its "
            f"map resized back; agreed = min(map, {side}x{side} maximum of that map), united alike. A target is an "
            "8-connected blob of the united map above the threshold whose agreed map exceeds threshold + c "
            f"somewhere in it: c = {DEFAULT_PER_DOUBLING:g} x log2(H x W / ({AUTO_AREA_FACTOR} x model area)) "
            f"logits on frames over {AUTO_AREA_FACTOR}x the model area (the peak margin), else 0. Its mask: the "
            f"whole blob, grown by up to 1 px into pixels above probability {GROW_TO_PROBABILITY:g} that no other "
            "target reaches.")


def with_notes(data: bytes, size: tuple[int, int] = (256, 256), *, raw_input: bool = False, in_channels: int = 3,
               trained: int | None = None, record: Mapping[str, Any] | None = None,
               config: NetworkConfig | None = None) -> bytes:
    """ONNX bytes with what a deployment reads in the file's metadata: the nominal input size H x W
    (`lwirst.size`), the size the network was trained at where known (`lwirst.trained_size`: `Segmenter` warns
    when the file runs at another, as it does for the checkpoint), how frames are prepared and the output read
    (`deployment_notes`) and, where given, the checkpoint's training record and registered architecture
    (`lwirst.training`, `lwirst.architecture` of its `config`: the file's card then says what it was trained on,
    so evaluating it on its own training frames is flagged as for the checkpoint), and the network's (params,
    FLOPs) as its checkpoint's card counts them (`lwirst.cost`). Notes already there are replaced."""
    proto = onnx.load_from_string(data)
    architecture = architecture_of(config) if config is not None else ""
    cost = config_complexity(config) if config is not None else None
    notes = {"lwirst.size": f"{size[0]}x{size[1]}",
             **({TRAINED_SIZE_KEY: f"{trained}x{trained}"} if trained else {}),
             **({TRAINING_NOTE: json.dumps(dict(record), sort_keys=True, default=str)} if record else {}),
             **({ARCHITECTURE_NOTE: architecture} if architecture else {}),
             **({COST_NOTE: json.dumps({"params": cost.params, "flops": cost.flops})} if cost else {}),
             **deployment_notes(raw_input, in_channels)}
    for prop in [p for p in proto.metadata_props if p.key in notes]:
        proto.metadata_props.remove(prop)
    proto.metadata_props.extend(onnx.StringStringEntryProto(key=key, value=value) for key, value in notes.items())
    return proto.SerializeToString()


def trained_size(meta: Mapping[str, Any]) -> int | None:
    """The square size a checkpoint's recipe trained at (its metadata's "recipe"), or None when it does not say."""
    recipe = meta.get("recipe")
    size = recipe.get("size") if isinstance(recipe, Mapping) else None
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def onnx_note(proto: onnx.ModelProto, key: str) -> str:
    """The metadata note `key` of an ONNX file ("" when it has none)."""
    return next((p.value for p in proto.metadata_props if p.key == key), "")


def onnx_record(proto: onnx.ModelProto) -> dict[str, Any]:
    """The training record an exported file carries (`with_notes`), or {} when it has none or it is not a JSON
    object (logged: a note edited by hand should not stop the file from running)."""
    try:
        record = json.loads(onnx_note(proto, TRAINING_NOTE) or "{}")
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        log.warning("the ONNX file's %s note is not JSON; read as no training record", TRAINING_NOTE)
        return {}
    return record if isinstance(record, dict) else {}


def onnx_cost(proto: onnx.ModelProto) -> tuple[int, float] | None:
    """The (params, FLOPs) an exported file's `lwirst.cost` note says its network has, or None (no note, or not
    two positive numbers)."""
    try:
        cost = json.loads(onnx_note(proto, COST_NOTE) or "null")
        params, flops = (cost["params"], cost["flops"]) if isinstance(cost, dict) else (None, None)
    except (ValueError, KeyError, RecursionError):
        return None
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in (params, flops))
    return (int(params), float(flops)) if numbers else None


def onnx_trained_size(proto: onnx.ModelProto) -> int | None:
    """The size an ONNX file says its network trained at (`with_notes`), or None."""
    note = onnx_note(proto, TRAINED_SIZE_KEY)
    side = note.split("x")[0]
    return int(side) if side.isdigit() and int(side) > 0 else None


def export_onnx(model: nn.Module, path: str | Path, *, size: tuple[int, int] = (256, 256),
                trained: int | None = None, record: Mapping[str, Any] | None = None, **kwargs: Any) -> Path:
    """Write `model` as a checked ONNX file (atomically), with the notes `lwirst export` writes (`with_notes`;
    `trained`: the size it trained at, `trained_size` of its checkpoint's metadata; `record`: its training
    record as a file may carry it, `lwirst.modelcard.shareable_training` of the checkpoint), and return its path.
    `kwargs` go to `to_onnx_bytes` (in_channels, dynamic, fold, opset)."""
    path = Path(path)
    config = getattr(model, "config", None)
    channels = kwargs.pop("in_channels", getattr(config, "in_channels", 3))
    data = with_notes(to_onnx_bytes(model, size=size, in_channels=channels, **kwargs), size,
                      in_channels=channels, trained=trained, record=record, config=config)
    try:
        atomic_write(path, lambda tmp: tmp.write_bytes(data))
    except OSError as exc:
        raise LwirstError(f"cannot write {path}: {exc.strerror}") from exc
    log.info("wrote %s (%d bytes)", path, len(data))
    return path


def check_segmentation_onnx(data: bytes, name: str = "model") -> onnx.ModelProto:
    """Validate that an ONNX file is a one-input / one-output N x C x H x W -> N x 1 x H x W model."""
    try:
        proto = onnx.load_from_string(data)
        onnx.checker.check_model(proto)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, ...
        raise LwirstError(f"{name}: not a valid ONNX model ({type(exc).__name__})") from exc
    initializers = {i.name for i in proto.graph.initializer}
    inputs = [i for i in proto.graph.input if i.name not in initializers]
    outputs = list(proto.graph.output)
    if len(inputs) != 1 or len(outputs) != 1:
        raise LwirstError(
            f"{name}: expected one input and one output, found {len(inputs)} input(s) and "
            f"{len(outputs)} output(s); export a single-image segmentation model"
        )

    def dims(value: onnx.ValueInfoProto) -> list[int | str]:
        shape = value.type.tensor_type.shape
        return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in shape.dim]

    for role, value in (("input", inputs[0]), ("output", outputs[0])):
        elem = value.type.tensor_type.elem_type
        if elem != onnx.TensorProto.FLOAT:
            kind = onnx.TensorProto.DataType.Name(elem) if elem in onnx.TensorProto.DataType.values() else elem
            raise LwirstError(f"{name}: the {role} is {kind}; expected FLOAT (float32) for a segmentation "
                              "model's image input and logit output")
    check_graph_bounds(proto, name)
    din, dout = dims(inputs[0]), dims(outputs[0])
    if len(din) != 4 or len(dout) != 4:
        raise LwirstError(f"{name}: input {din} and output {dout} must both be N x C x H x W")
    if din[1] not in (1, 3):
        raise LwirstError(f"{name}: input has {din[1]} channels; expected 3 (RGB) or 1 (grey)")
    if dout[1] != 1:
        raise LwirstError(f"{name}: output has {dout[1]} channels; expected a 1-channel saliency map")
    return proto


def pin_input_shape(proto: onnx.ModelProto, size: tuple[int, int], batch: int = 1) -> bytes:
    """Copy of an ONNX model with fixed input/output shapes.

    OpenCV's DNN importer aborts the whole process on symbolic dimensions, so the
    OpenCV backend always receives a pinned copy (it still re-infers shapes for
    other input sizes at run time).
    """
    proto = copy.deepcopy(proto)
    initializers = {i.name for i in proto.graph.initializer}
    graph_input = next(i for i in proto.graph.input if i.name not in initializers)
    channels = onnx_input_channels(proto)
    shapes = ((graph_input, (batch, channels, *size)), (proto.graph.output[0], (batch, 1, *size)))
    for value, values in shapes:
        for dim, v in zip(value.type.tensor_type.shape.dim, values, strict=True):
            dim.ClearField("dim_param")
            dim.dim_value = int(v)
    del proto.graph.value_info[:]
    return proto.SerializeToString()


def onnx_fixed_size(proto: onnx.ModelProto) -> tuple[int, int] | None:
    """The (height, width) an ONNX model is fixed to, or None when they are symbolic."""
    initializers = {i.name for i in proto.graph.initializer}
    graph_input = next(i for i in proto.graph.input if i.name not in initializers)
    dims = graph_input.type.tensor_type.shape.dim[2:]
    if all(d.HasField("dim_value") for d in dims):
        return int(dims[0].dim_value), int(dims[1].dim_value)
    return None


def onnx_input_channels(proto: onnx.ModelProto) -> int:
    initializers = {i.name for i in proto.graph.initializer}
    graph_input = next(i for i in proto.graph.input if i.name not in initializers)
    return int(graph_input.type.tensor_type.shape.dim[1].dim_value or 3)

