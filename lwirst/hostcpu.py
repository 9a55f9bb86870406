"""What this host's CPU can do fast, from the flags in /proc/cpuinfo.

Host kinds (what `lwirst bench` reports and per-host defaults key on):

* "AVX-512+bf16": AVX-512 with native bfloat16 dot products (AVX512_BF16 or AMX-BF16);
* "AVX-512": AVX-512 without them;
* "AVX2": AVX2 (with or without FMA), no AVX-512;
* "other": anything older.

int8 is only accurate where the CPU has VNNI (AVX512_VNNI, AVX_VNNI or AMX-INT8): a
VNNI instruction multiplies u8 x s8 and accumulates straight into 32 bits. Without
it, x86 int8 kernels (ONNX Runtime's and oneDNN's, hence OpenVINO's) go through
vpmaddubsw, which adds two u8 x s8 products into a *saturating 16-bit* lane: 255 x 127
x 2 = 64770 does not fit in 32767, so large activations against large weights clip
silently. That is why the same s8 network lost 0.249 mIoU on a Zen 3 (AVX2) host and
0.026 on a Zen 5 (VNNI) one.

Kernel caps (`ISA_CAPS`): a host with a wider ISA can run the CPU runtimes on the kernels
a narrower host would get, to study that host kind without one. The cap is a set of
environment variables the runtimes read when they load (oneDNN's, hence OpenVINO's CPU
plugin and PyTorch's convolutions; PyTorch's own kernels; MKL; OpenCV's dispatcher), so
it must be in place before they are imported. ONNX Runtime's MLAS has no such cap. Only the
instructions change: the cores, caches and clock stay this host's, so it is an emulation,
not a measurement of the narrower host.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lwirst.errors import LwirstError
from lwirst.registry import unknown

HOST_KINDS = ("AVX-512+bf16", "AVX-512", "AVX2", "other")
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")
# ARM's SDOT/UDOT (asimddp) also sum four 8-bit products straight into a 32-bit lane.
DOT32_FLAGS = (*VNNI_FLAGS, "asimddp")
NO_VNNI = "no VNNI (16-bit saturating int8 dot products)"


def read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The feature flags of the first processor listed (all cores of a host share them)."""
    text = read_cpuinfo() if cpuinfo is None else cpuinfo
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def host_kind(flags: Iterable[str]) -> str:
    """One of HOST_KINDS."""
    flags = set(flags)
    if "avx512f" in flags:
        return "AVX-512+bf16" if flags & {"avx512_bf16", "amx_bf16"} else "AVX-512"
    return "AVX2" if "avx2" in flags else "other"


def has_vnni(flags: Iterable[str]) -> bool:
    """int8 dot products accumulate in 32 bits (x86 VNNI, or ARM's dot-product extension)."""
    return bool(set(flags) & set(DOT32_FLAGS))


def int8_hazard(flags: Iterable[str] | None = None) -> str | None:
    """Why int8 inference is unsafe on this CPU, or None when it has VNNI.

    Without flags (a non-x86 host, or no /proc/cpuinfo) nothing is known, so the
    hazard is reported rather than assumed away.
    """
    flags = cpu_flags() if flags is None else set(flags)
    if has_vnni(flags):
        return None
    return NO_VNNI if flags else "CPU features unknown (no /proc/cpuinfo flags); " + NO_VNNI + " assumed"


@dataclass(frozen=True)
class IsaCap:
    """Kernels held to one instruction set (see the module docstring)."""

    name: str  # the value `lwirst bench --emulate-isa` takes
    label: str  # as reports print it
    kind: str  # the host kind it stands for (HOST_KINDS)
    needs: frozenset[str]  # /proc/cpuinfo flags a host needs to run these kernels
    lanes: int  # fp32 lanes per FMA instruction
    env: tuple[tuple[str, str], ...]  # the variables that cap the runtimes
    above: tuple[str, ...]  # primitive-name fragments of kernels beyond the cap ("avx512", ...)


ISA_CAPS: dict[str, IsaCap] = {
    "avx2": IsaCap(
        "avx2", "AVX2", "AVX2", frozenset({"avx2", "fma"}), 8,
        (("ONEDNN_MAX_CPU_ISA", "AVX2"),  # oneDNN: OpenVINO's CPU plugin, PyTorch's convolutions; no AVX2-VNNI
         ("DNNL_MAX_CPU_ISA", "AVX2"),  # its older spelling
         ("ATEN_CPU_CAPABILITY", "avx2"),  # PyTorch's own vectorised kernels
         ("MKL_ENABLE_INSTRUCTIONS", "AVX2"),
         ("OPENCV_CPU_DISABLE", "AVX512F,AVX512-SKX")),  # OpenCV's dispatched AVX-512 code paths
        ("avx512", "amx")),
}
# Set in a capped child process: it must run capped, never start another child.
CHILD = "LWIRST_EMULATION_CHILD"
# Runtimes that read a cap when they load; a cap set after one of them is imported does not reach it.
CAPPED_RUNTIMES = ("openvino", "torch", "cv2")


def isa_cap(name: str) -> IsaCap:
    """The cap called `name` (case-insensitive); an unknown name lists the known ones."""
    cap = ISA_CAPS.get(name.strip().lower())
    if cap is None:
        raise unknown("ISA", name, tuple(ISA_CAPS), f"choose {', '.join(ISA_CAPS)}")
    return cap


def emulation_refusal(cap: IsaCap, flags: Iterable[str] | None = None) -> str | None:
    """Why this host cannot emulate `cap`: it lacks the instructions, or it already is that host kind."""
    flags = cpu_flags() if flags is None else set(flags)
    missing = sorted(cap.needs - set(flags))
    if missing:
        return f"this CPU lacks {', '.join(missing)}, so it cannot run {cap.label} kernels"
    if host_kind(flags) == cap.kind:
        return f"this host is an {cap.label} host: measure it without --emulate-isa"
    return None


def capped_environ(cap: IsaCap, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a capped child process: `environ` (this process's by default) with the
    cap's variables set, `CHILD` naming the cap, and this package first on PYTHONPATH (so the child
    runs this code, not another installed copy)."""
    environ = os.environ if environ is None else environ
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, environ.get("PYTHONPATH")) if p)
    return {**environ, **dict(cap.env), CHILD: cap.name, "PYTHONPATH": path}


def cap_in_environ(cap: IsaCap, environ: Mapping[str, str] | None = None) -> bool:
    """Whether every variable of the cap is set (in this process's environment by default)."""
    environ = os.environ if environ is None else environ
    return all(environ.get(key) == value for key, value in cap.env)


def cap_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """"NAME=value" for every cap variable set (a run with any of them is partly capped)."""
    environ = os.environ if environ is None else environ
    names = dict.fromkeys(key for cap in ISA_CAPS.values() for key, _ in cap.env)
    return [f"{key}={environ[key]}" for key in names if key in environ]


def loaded_runtimes() -> list[str]:
    """The capped runtimes already imported here: a cap set now would not reach them."""
    return [name for name in CAPPED_RUNTIMES if name in sys.modules]


def check_emulation(cap: IsaCap) -> None:
    """Refuse an emulation this host cannot run."""
    refusal = emulation_refusal(cap)
    if refusal:
        raise LwirstError(f"cannot emulate {cap.label}: {refusal}")
