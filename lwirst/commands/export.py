"""`lwirst export`: checkpoint -> checked ONNX (BN folded, dynamic batch and size, exact rewrites)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lwirst.errors import LwirstError
from lwirst.validate import check_outputs, number

HELP = "Export a checkpoint to ONNX (BN folded, dynamic batch and size; Table IX's CPM: fixed size)"
MIN_OPSET = 17
MAX_OPSET = 20  # the newest opset torch.onnx's TorchScript exporter writes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="checkpoint (.safetensors or .pt)")
    parser.add_argument("--out", required=True, help="ONNX file to write (its name ends in .onnx)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    parser.add_argument("--opset", type=number(int, lo=MIN_OPSET, hi=MAX_OPSET), default=MIN_OPSET,
                        help=f"ONNX opset, {MIN_OPSET} to {MAX_OPSET} (default {MIN_OPSET})")
    parser.add_argument("--optimize", action=argparse.BooleanOptionalAction, default=True,
                        help="apply the exact graph rewrites (scalar PReLU -> LeakyRelu, constant folding; on by "
                             "default); the input stays normalised RGB, so any runtime can use the file")
    parser.add_argument("--size", type=number(int, lo=8, hi=8192, multiple=8), nargs=2, default=(256, 256),
                        metavar=("H", "W"),
                        help="nominal input size recorded in the file; the axes stay dynamic, except for "
                             "size-dependent networks (Table IX's CPM), exported for this size only")
    int8 = parser.add_argument_group("int8 (experimental: check its accuracy with `lwirst bench`; in s8 the shipped "
                                     "model lost 0.140 SIRST mIoU on a Zen 4 CPU (round 8's model 0.026), and "
                                     "round 8's 0.249 on an AVX2 one without VNNI, where int8 is not usable)")
    int8.add_argument("--int8", choices=("s8", "u8"), default=None,
                      help="write a QDQ int8 network (s8: symmetric activations; u8: asymmetric, which lost less "
                           "with the shipped weights, 0.025 SIRST mIoU; `lwirst bench` measures both). Its "
                           "input is raw BGR pixels 0..255 (normalisation folded in, marked in the file; other "
                           "architectures than LW-IRSTNet keep normalised RGB), which lwirst's Segmenter feeds "
                           "automatically. OpenVINO 2026 refuses u8 graphs ('Argument shapes are inconsistent'): "
                           "backend auto then runs them on onnxruntime, with a warning")
    int8.add_argument("--data-dir", type=Path, default=None,
                      help="dataset root holding sirst/ for calibration (default: $LWIRST_DATA_DIR)")
    int8.add_argument("--calibration-images", type=number(int, lo=1, hi=100_000), default=32,
                      help="training images (SIRST trainval, never test) used for calibration")


def run(args: argparse.Namespace) -> int:
    import onnx

    from lwirst.checkpoint import atomic_write, load_model
    from lwirst.export import check_segmentation_onnx, fold_batchnorm, to_onnx_bytes, trained_size, with_notes
    from lwirst.modelcard import shareable_training
    from lwirst.optimize import can_fold_input, fold_input, optimize_onnx

    args.out = _out_path(args.out)
    height, width = args.size
    if args.checkpoint.suffix.lower() == ".onnx":
        raise LwirstError(f"--checkpoint {args.checkpoint} is already an ONNX model; export reads a "
                          ".safetensors or .pt checkpoint (use the .onnx file directly)")
    check_outputs({"--out": args.out}, [args.checkpoint, args.data_dir], force=args.force)
    if args.out.suffix.lower() != ".onnx":
        raise LwirstError(f"--out {args.out}: an ONNX file's name must end in .onnx (e.g. model.onnx), "
                          "or runtimes will not load it")
    if args.int8 and args.calibration_images < 1:
        raise LwirstError("--calibration-images must be at least 1")
    if args.int8:
        _warn_without_vnni()
    module, meta = load_model(args.checkpoint)
    raw_input = bool(args.int8) and can_fold_input(module)  # other architectures keep normalised RGB input
    if raw_input:
        module = fold_input(fold_batchnorm(module), grey=False)
    try:
        data = to_onnx_bytes(module, size=(height, width), opset=args.opset,
                             in_channels=module.config.in_channels)
    except onnx.checker.ValidationError as exc:
        raise LwirstError(f"the exported graph fails onnx.checker: {exc}") from exc
    if args.optimize or args.int8:
        data = optimize_onnx(data)
    if args.int8:
        data = _quantize(data, args, (height, width), raw_input)
    data = with_notes(data, (height, width), raw_input=raw_input, in_channels=module.config.in_channels,
                      trained=trained_size(meta), record=shareable_training(args.checkpoint, meta),
                      config=module.config)
    proto = check_segmentation_onnx(data, str(args.out))
    try:
        atomic_write(args.out, lambda tmp: tmp.write_bytes(data))
    except OSError as exc:
        raise LwirstError(f"cannot write {args.out}: {exc.strerror}") from exc
    ops = sorted({node.op_type for node in proto.graph.node})
    kind = "raw BGR" if raw_input else "normalised RGB"
    extra = f", int8 {args.int8} QDQ, {kind} input" if args.int8 else ", rewrites applied" if args.optimize else ""
    print(f"wrote {args.out} ({len(data) / 1024:.0f} KiB, opset {args.opset}, dynamic batch/height/width, "
          f"BN folded{extra})")
    print(f"operators: {', '.join(ops)}")
    return 0


def _out_path(text: str) -> Path:
    """--out as a Path, refused when it names a folder (Path() drops a trailing separator, so check it here)."""
    if text.endswith(("/", os.sep)) or Path(text).is_dir():
        raise LwirstError(f"--out {text} is a directory; give a file name such as model.onnx")
    return Path(text)


def _warn_without_vnni() -> None:
    """int8 on a CPU without VNNI saturates (see lwirst.hostcpu): say so before writing one."""
    from lwirst.hostcpu import int8_hazard

    hazard = int8_hazard()
    if hazard:
        print(f"warning: int8 is not usable on this CPU: {hazard}. Without VNNI, ONNX Runtime and OpenVINO "
              "add pairs of int8 products in saturating 16-bit lanes, so large activations clip (round 8's "
              "model lost 0.249 SIRST mIoU in s8 on an AVX2 host). The file is written for VNNI hosts "
              "(AVX512_VNNI or AVX_VNNI); here, use the float export.", file=sys.stderr)


def _quantize(data: bytes, args: argparse.Namespace, size: tuple[int, int], raw_input: bool) -> bytes:
    """Calibrate on SIRST training images fed exactly as the Segmenter feeds them (raw BGR when the
    normalisation is folded in, else normalised RGB)."""
    import cv2
    import numpy as np
    import onnx

    from lwirst.datasets import open_dataset
    from lwirst.imageio import to_bgr
    from lwirst.optimize import RAW_BGR, RGB, quantize_onnx, set_input_kind
    from lwirst.preprocess import normalize

    train = open_dataset(args.data_dir, "sirst", "trainval")
    picks = np.linspace(0, len(train) - 1, min(args.calibration_images, len(train))).round().astype(int)
    frames = [cv2.resize(to_bgr(train[int(i)].image), (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
              for i in picks]
    batches = [(f.transpose(2, 0, 1).astype(np.float32) if raw_input else normalize(f))[None] for f in frames]
    proto = onnx.load_from_string(data)
    set_input_kind(proto, RAW_BGR if raw_input else RGB)
    return quantize_onnx(proto.SerializeToString(), batches, symmetric=args.int8 == "s8")
