"""Capturing the environment a run executes in, fast (target: under 300 ms).

Everything that can change a model's numbers: OS and kernel, CPU model, flags and cores,
memory; GPUs with driver, CUDA runtime, cuDNN and NCCL versions (through NVML and through the
frameworks, only where installed — absent cleanly otherwise); Python and every installed
package; the conda environment; the container image; the host; the environment variables that
change numerics. Git state is captured by :mod:`modelkeep.capture.git`.

Each probe is independent and fails soft: a probe that cannot answer records nothing rather
than failing the run.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

NUMERIC_ENV = re.compile(
    r"^(PYTHONHASHSEED|CUBLAS_WORKSPACE_CONFIG|OMP_NUM_THREADS|OPENBLAS_\w+|MKL_\w+|CUDA_\w+|CUDNN_\w+|"
    r"NVIDIA_TF32_OVERRIDE|TF_\w*(DETERMINISTIC|TF32)\w*|TORCH_\w*(DETERMINISTIC|TF32|CUDNN)\w*|"
    r"XLA_FLAGS|NCCL_\w+|TF_CUDNN_\w+)$"
)


def _cpu() -> dict[str, Any]:
    info: dict[str, Any] = {"machine": platform.machine(), "logical_cores": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info | {"model": platform.processor() or None}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and "model" not in info:
            info["model"] = value.strip()
        elif key == "flags" and "flags" not in info:
            info["flags"] = sorted(value.split())
    return info


def _memory() -> dict[str, Any]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return {"total_bytes": int(line.split()[1]) * 1024}
    except OSError:
        pass
    return {}


def _packages() -> dict[str, str]:
    out: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out[name.lower()] = dist.version
    return dict(sorted(out.items()))


def _gpus_nvml() -> dict[str, Any] | None:
    """GPUs through NVML (pynvml / nvidia-ml-py), or None when NVML is not there."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver / no GPU: NVML raises its own error types
        return None
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        cuda = pynvml.nvmlSystemGetCudaDriverVersion()
        devices = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            devices.append({
                "index": index,
                "name": _text(pynvml.nvmlDeviceGetName(handle)),
                "memory_bytes": int(memory.total),
                "uuid": _text(pynvml.nvmlDeviceGetUUID(handle)),
            })
        return {
            "driver": _text(driver),
            "cuda_driver": f"{cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else None,
            "devices": devices,
        }
    finally:
        pynvml.nvmlShutdown()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _frameworks() -> dict[str, Any]:
    """CUDA runtime / cuDNN / NCCL as the frameworks see them, only for frameworks already imported
    (importing torch just to ask would cost seconds)."""
    out: dict[str, Any] = {}
    torch = sys.modules.get("torch")
    if torch is not None:
        info: dict[str, Any] = {"version": getattr(torch, "__version__", None)}
        cuda = getattr(getattr(torch, "version", None), "cuda", None)
        info["cuda_runtime"] = cuda
        try:
            info["cudnn"] = torch.backends.cudnn.version()
            info["deterministic_algorithms"] = torch.are_deterministic_algorithms_enabled()
            info["cudnn_deterministic"] = bool(torch.backends.cudnn.deterministic)
            info["cudnn_benchmark"] = bool(torch.backends.cudnn.benchmark)
            info["tf32_matmul"] = bool(torch.backends.cuda.matmul.allow_tf32)
            if torch.cuda.is_available():
                info["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
        except Exception:  # noqa: S110 - partial builds (CPU-only) lack some of these
            pass
        out["torch"] = info
    return out


def _container() -> dict[str, Any] | None:
    digest = os.environ.get("MODELKEEP_IMAGE_DIGEST") or os.environ.get("IMAGE_DIGEST")
    in_container = Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()
    if not in_container:
        try:
            in_container = any(k in Path("/proc/1/cgroup").read_text() for k in ("docker", "kubepods", "containerd"))
        except OSError:
            pass
    if not in_container and not digest:
        return None
    return {"image_digest": digest, "image": os.environ.get("MODELKEEP_IMAGE") or os.environ.get("IMAGE")}


def _conda() -> dict[str, Any] | None:
    prefix = os.environ.get("CONDA_PREFIX")
    if not prefix:
        return None
    return {"name": os.environ.get("CONDA_DEFAULT_ENV"), "prefix": prefix}


PROBES: dict[str, Callable[[], Any]] = {
    "cpu": _cpu,
    "memory": _memory,
    "packages": _packages,
    "gpu": _gpus_nvml,
    "frameworks": _frameworks,
    "container": _container,
    "conda": _conda,
}


def capture() -> dict[str, Any]:
    """The environment document stored with a run and its model versions."""
    uname = platform.uname()
    env: dict[str, Any] = {
        "os": {"system": uname.system, "release": uname.release, "version": uname.version,
               "platform": platform.platform()},
        "hostname": socket.gethostname(),
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                   "executable": sys.executable},
        "env_vars": {k: v for k, v in sorted(os.environ.items()) if NUMERIC_ENV.match(k)},
    }
    for name, probe in PROBES.items():
        try:
            value = probe()
        except Exception as exc:  # a broken probe must not break the run
            value = {"error": f"{type(exc).__name__}: {exc}"}
        if value is not None:
            env[name] = value
    return env


# Which differences matter most when two environments disagree (env diff sorts by this).
RELEVANCE = [
    "gpu", "frameworks", "env_vars", "packages", "python", "cpu", "container", "conda", "os", "memory", "hostname",
]


def flatten(env: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in env.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, item in enumerate(value):
                out.update(flatten(item, f"{name}[{i}]."))
        else:
            out[name] = value
    return out


def diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Differences between two environments, most relevant first."""
    flat_a, flat_b = flatten(a), flatten(b)
    for noise in ("capture_ms",):  # how long capturing took is not part of the environment
        flat_a.pop(noise, None)
        flat_b.pop(noise, None)
    rows = []
    for key in set(flat_a) | set(flat_b):
        if flat_a.get(key) != flat_b.get(key):
            top = key.split(".")[0].split("[")[0]
            rank = RELEVANCE.index(top) if top in RELEVANCE else len(RELEVANCE)
            rows.append({"key": key, "a": flat_a.get(key), "b": flat_b.get(key), "rank": rank})
    rows.sort(key=lambda r: (r["rank"], r["key"]))
    for row in rows:
        del row["rank"]
    return rows
