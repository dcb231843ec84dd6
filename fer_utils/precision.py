"""The CPU training precision: float32, or Keras's ``mixed_bfloat16`` policy where the processor computes bfloat16
natively (float32 weights, logits, softmax and loss; bfloat16 convolutions and dense layers).

What is checked: on x86 the ``avx512_bf16`` or ``amx_bf16`` flag of ``/proc/cpuinfo`` (AVX512-BF16, AMX); on Arm
the ``bf16`` feature (Armv8.6 BF16). Elsewhere (macOS, Windows, no ``/proc/cpuinfo``) nothing is detected and
``auto`` means float32: without native bfloat16 arithmetic the conversions make training slower, not faster.
"""

import re
from pathlib import Path

#: CPU flags (x86) and features (Arm) that mean native bfloat16 arithmetic.
NATIVE_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo=None):
    """The flags (x86 ``flags``) and features (Arm ``Features``) the CPU reports, as a set of words.

    Args:
        cpuinfo: the text of ``/proc/cpuinfo`` (read when None; empty where there is none).
    """
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    return {word for line in cpuinfo.splitlines() if re.match(r"(flags|Features)\s*:", line)
            for word in line.split(":", 1)[1].split()}


def native_bfloat16(cpuinfo=None):
    """Whether the CPU computes bfloat16 natively (``NATIVE_FLAGS``)."""
    return bool(cpu_flags(cpuinfo) & set(NATIVE_FLAGS))


def resolve(setting, cpuinfo=None):
    """The precision a run trains in: "float32" or "bfloat16", from a ``Config.precision`` setting.

    Args:
        setting: "float32", "bfloat16" (forced, native or not) or "auto" (``native_bfloat16``).
        cpuinfo: as for ``cpu_flags``.
    """
    if setting == "auto":
        return "bfloat16" if native_bfloat16(cpuinfo) else "float32"
    return setting


def policy(resolved, gpu=False, mixed_float16=True):
    """The Keras global policy for training: "mixed_float16" on a GPU (``Config.mixed_precision``), else
    "mixed_bfloat16" for a bfloat16 run and "float32" otherwise."""
    if gpu and mixed_float16:
        return "mixed_float16"
    return "mixed_bfloat16" if resolved == "bfloat16" else "float32"
