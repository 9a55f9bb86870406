"""`lwirst export`: checkpoint -> checked ONNX (BN folded, dynamic batch and size, exact rewrites)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lwirst.errors import LwirstError

HELP = "Export a checkpoint to ONNX (BN folded, dynamic batch and size)"
MIN_OPSET = 17


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint (.safetensors or .pt)")
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--opset", type=int, default=MIN_OPSET, help=f"ONNX opset, at least {MIN_OPSET}")
    parser.add_argument("--optimize", action=argparse.BooleanOptionalAction, default=True,
                        help="apply the exact graph rewrites (scalar PReLU -> LeakyRelu, constant folding); "
                             "the input stays normalised RGB, so any runtime can use the file")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"),
                        help="nominal input size recorded in the file; the axes stay dynamic")


def run(args: argparse.Namespace) -> int:
    import onnx

    from lwirst.checkpoint import atomic_write, load_model
    from lwirst.export import check_segmentation_onnx, to_onnx_bytes
    from lwirst.optimize import optimize_onnx

    if args.opset < MIN_OPSET:
        raise LwirstError(f"--opset {args.opset} is too old; use {MIN_OPSET} or newer")
    height, width = args.size
    if height <= 0 or width <= 0 or height % 8 or width % 8:
        raise LwirstError(f"--size {height} {width} must be positive multiples of 8")
    if args.out.is_dir():
        raise LwirstError(f"--out {args.out} is a directory; give a file name such as model.onnx")
    module, _ = load_model(args.checkpoint)
    try:
        data = to_onnx_bytes(module, size=(height, width), opset=args.opset,
                             in_channels=module.config.in_channels)
    except onnx.checker.ValidationError as exc:
        raise LwirstError(f"the exported graph fails onnx.checker: {exc}") from exc
    if args.optimize:
        data = optimize_onnx(data)
    proto = check_segmentation_onnx(data, str(args.out))
    proto.metadata_props.append(onnx.StringStringEntryProto(key="lwirst.size", value=f"{height}x{width}"))
    data = proto.SerializeToString()
    try:
        atomic_write(args.out, lambda tmp: tmp.write_bytes(data))
    except OSError as exc:
        raise LwirstError(f"cannot write {args.out}: {exc.strerror}") from exc
    ops = sorted({node.op_type for node in proto.graph.node})
    print(f"wrote {args.out} ({len(data) / 1024:.0f} KiB, opset {args.opset}, dynamic batch/height/width, "
          f"BN folded{', rewrites applied' if args.optimize else ''})")
    print(f"operators: {', '.join(ops)}")
    return 0
