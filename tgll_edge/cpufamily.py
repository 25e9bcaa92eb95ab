"""The CPU family that decides which integer kernels onnxruntime runs int8 ONNX models with.

U8S8 (uint8 activations x int8 weights) int8 ONNX gives different outputs on
different kernel families (README, "ONNX int8 and the CPU family"):

- ``x86_avx512_vnni`` / ``x86_avx_vnni``: ``vpdpbusd`` sums u8 x s8 products in
  int32, exactly.
- ``x86_avx512`` / ``x86_avx2``: ``vpmaddubsw`` adds pairs of u8 x s8 products in
  int16 with saturation, so large activations times large weights are clipped
  (onnxruntime's quantization docs: "might suffer from saturation issues";
  ``reduce_range`` avoids it).
- ``aarch64``: NEON / dot-product kernels, exact int32 sums.

Cheap (reads /proc/cpuinfo once), torch-free; the runtime uses it to pick the
artifact gated on this family, tools/int8_by_cpu.py to label its measurements.
"""
from __future__ import annotations

import functools
import platform
from pathlib import Path

#: every family name this module returns
FAMILIES = ("x86_avx512_vnni", "x86_avx_vnni", "x86_avx512", "x86_avx2", "x86", "aarch64", "other")


def family_from(machine: str, flags: set[str]) -> str:
    """The family of a CPU from its architecture (``platform.machine()``) and its
    /proc/cpuinfo flags (x86 ``flags``, ARM ``Features``)."""
    m = machine.lower()
    if m in ("x86_64", "amd64", "i386", "i686", "x86"):
        if "avx512_vnni" in flags or "avx512vnni" in flags:
            return "x86_avx512_vnni"
        if "avx_vnni" in flags:
            return "x86_avx_vnni"
        if "avx512bw" in flags:
            return "x86_avx512"
        if "avx2" in flags:
            return "x86_avx2"
        return "x86"
    if m in ("aarch64", "arm64", "armv8l"):
        return "aarch64"
    return "other"


def _cpuinfo() -> tuple[set[str], str]:
    flags: set[str] = set()
    model = ""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return flags, model
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("flags", "features") and not flags:
            flags = set(value.split())
        elif key in ("model name", "cpu model", "hardware") and not model:
            model = value.strip()
        elif key == "cpu part" and not model:
            model = f"ARM part {value.strip()}"
    return flags, model


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict:
    """{"family", "machine", "model"} of this machine (cached)."""
    machine = platform.machine()
    flags, model = _cpuinfo()
    return {"family": family_from(machine, flags), "machine": machine, "model": model or platform.processor()}


def cpu_family() -> str:
    """This machine's family, one of :data:`FAMILIES`."""
    return cpu_info()["family"]
