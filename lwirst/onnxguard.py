"""Static checks of an ONNX graph's memory before any runtime sees it.

A few hundred bytes of ONNX can declare or create a tensor of billions of elements
(a huge initializer, ConstantOfShape / Expand / Tile / Resize with large constant
operands, a random generator with a huge shape); ONNX Runtime or OpenVINO allocate
it while building the session. `check_graph_bounds` refuses such a graph from its
declarations and its inferred shapes at a probe input size, before a session exists.
The bound is the ``LWIRST_MAX_ONNX_ELEMENTS`` setting (`lwirst.limits`).
"""

from __future__ import annotations

import copy
import math

import onnx
from onnx import numpy_helper

from lwirst.errors import LwirstError
from lwirst.limits import limit

PROBE_SIZE = 512  # height and width pinned for shape inference: a large frame at the model's scale
# Operators with a shape-like operand (the second input) whose values size their output.
_SHAPED = {"ConstantOfShape": 0, "Expand": 1, "Reshape": 1, "Tile": 1}
_CONTROL_FLOW = {"Loop", "If", "Scan", "SequenceMap"}


def _numel(dims: list[int] | tuple[int, ...]) -> int:
    return math.prod(max(int(d), 0) for d in dims) if dims else 1


def _small_int_constants(graph: onnx.GraphProto) -> dict[str, list[int]]:
    """Values of the small integer constants (initializers and Constant nodes): candidate shapes."""
    found: dict[str, list[int]] = {}
    tensors = [(t.name, t) for t in graph.initializer]
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.HasField("t"):
                    tensors.append((node.output[0], attr.t))
    for name, tensor in tensors:
        if tensor.data_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32) and _numel(tensor.dims) <= 16:
            try:
                found[name] = [int(v) for v in numpy_helper.to_array(tensor).reshape(-1)]
            except (ValueError, TypeError):
                continue
    return found


def check_graph_bounds(proto: onnx.ModelProto, name: str = "model", max_elements: int | None = None) -> None:
    """Raise `LwirstError` when the graph declares or would create a tensor over `max_elements`."""
    bound = limit("LWIRST_MAX_ONNX_ELEMENTS") if max_elements is None else max_elements

    def refuse(what: str, count: int) -> None:
        raise LwirstError(f"{name}: {what} has {count:,} elements, over the limit of {bound:,} "
                          "(LWIRST_MAX_ONNX_ELEMENTS); refused before running it")

    graph = proto.graph
    for tensor in list(graph.initializer) + [s.values for s in graph.sparse_initializer]:
        if _numel(tensor.dims) > bound:
            refuse(f"initializer {tensor.name!r}", _numel(tensor.dims))
    constants = _small_int_constants(graph)
    for node in graph.node:
        if node.op_type in _CONTROL_FLOW or any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS)
                                                for a in node.attribute):
            raise LwirstError(f"{name}: operator {node.op_type} with a subgraph is not accepted in a "
                              "segmentation model")
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR and _numel(attr.t.dims) > bound:
                refuse(f"{node.op_type} constant {node.name or node.output[0]!r}", _numel(attr.t.dims))
            if attr.name == "shape" and attr.type == onnx.AttributeProto.INTS and _numel(attr.ints) > bound:
                refuse(f"{node.op_type} {node.name or node.output[0]!r}", _numel(attr.ints))
        index = _SHAPED.get(node.op_type)
        if index is not None and len(node.input) > index and node.input[index] in constants:
            values = constants[node.input[index]]
            if _numel([v for v in values if v > 0]) > bound:
                refuse(f"{node.op_type} {node.name or node.output[0]!r}", _numel([v for v in values if v > 0]))
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim if d.HasField("dim_value")]
        if _numel(dims) > bound:
            refuse(f"declared tensor {value.name!r}", _numel(dims))
    _check_inferred(proto, name, bound, refuse)


def _check_inferred(proto: onnx.ModelProto, name: str, bound: int, refuse) -> None:
    """Infer every shape with the input pinned to 1 x C x PROBE_SIZE x PROBE_SIZE and bound each."""
    probe = copy.deepcopy(proto)
    initializers = {t.name for t in probe.graph.initializer}
    for value in probe.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        for i, dim in enumerate(dims):
            if not dim.HasField("dim_value") or dim.dim_value <= 0:
                dim.Clear()
                dim.dim_value = 1 if i < 2 else PROBE_SIZE
    del probe.graph.value_info[:]
    try:
        inferred = onnx.shape_inference.infer_shapes(probe, strict_mode=False, data_prop=True)
    except Exception:  # inference is advisory; the declared bounds above still hold
        return
    for value in list(inferred.graph.value_info) + list(inferred.graph.output):
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim if d.HasField("dim_value")]
        if _numel(dims) > bound:
            refuse(f"tensor {value.name!r} (at a {PROBE_SIZE}x{PROBE_SIZE} input)", _numel(dims))
