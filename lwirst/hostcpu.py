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
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

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
