"""`Options`: how the network is built and run, apart from which backend runs it.

Kept in a light module so backends, the CLI and benchmarks name optimisations without
loading torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from lwirst.errors import LwirstError

INT8_MODES = ("s8", "u8")


@dataclass(frozen=True)
class Options:
    """How the network is built and run; each flag is one optimisation `lwirst bench` measures.

    fold_bn: BatchNorm folded into the convolutions (exact in eval mode).
    rewrite: exact ONNX rewrites (`lwirst.optimize.optimize_onnx`: scalar PReLU -> LeakyRelu, ...).
    fold_input: normalisation folded into stage 1; grey frames run a one-channel network
        (`lwirst.optimize.fold_input`), colour frames a raw-BGR one. Needs a checkpoint.
    static_shapes: OpenVINO compiles the model-size input shapes statically (faster than dynamic).
    spin: ONNX Runtime's worker threads busy-wait between operators (its default). Off, a
        loaded machine no longer loses whole time slices to spinning threads.
    channels_last: PyTorch eager runs in channels-last memory format.
    int8: "s8" or "u8" for a QDQ int8 network (ONNX backends), calibrated on the
        `calibration` images given to the Segmenter; None for float.
    streams: OpenVINO runs a batch as parallel single-frame requests, one per thread
        (video throughput); off, the whole batch is one request.
    bf16: OpenVINO computes in bfloat16 (8-bit mantissa, fp32 range). Only on CPUs with
        native bfloat16 arithmetic (AVX512_BF16 or AMX), where it doubles the FMA peak;
        elsewhere OpenVINO would emulate it, slower than fp32, so it is refused.
    subpixel: with `rewrite`, each strided transposed convolution becomes stride-1
        convolutions per output phase and a DepthToSpace, skipping the kernel's zero taps
        (`lwirst.optimize.subpixel_deconvolutions`; exact). Off by default until measured
        faster on a host kind (`lwirst bench` variants ort-subpixel, openvino-subpixel).
    """

    fold_bn: bool = True
    rewrite: bool = True
    fold_input: bool = True
    static_shapes: bool = True
    spin: bool = False
    channels_last: bool = False
    int8: str | None = None
    streams: bool = True
    bf16: bool = False
    subpixel: bool = False

    def __post_init__(self) -> None:
        if self.int8 is not None and self.int8 not in INT8_MODES:
            raise LwirstError(f"int8 mode {self.int8!r} must be one of {', '.join(INT8_MODES)}")
        if self.int8 and self.bf16:
            raise LwirstError("choose int8 or bf16, not both")

    def replace(self, **changes: object) -> Options:
        return dataclasses.replace(self, **changes)

    @property
    def precision(self) -> str:
        """The arithmetic the network runs in: "fp32", "bf16" or "int8-s8" / "int8-u8"."""
        if self.int8:
            return f"int8-{self.int8}"
        return "bf16" if self.bf16 else "fp32"


FAST = Options()
# The network as trained, run as exported: the reference every optimisation is checked against.
PLAIN = Options(fold_bn=False, rewrite=False, fold_input=False, static_shapes=False, spin=True, streams=False)
