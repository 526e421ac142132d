"""What a run's numbers depend on besides its arguments: software versions and the CPU
kernels torch picked.  Printed at the top of every run's out.txt and recorded beside the
shipped reports, so a difference between two machines' results can be traced to it.

On the CPU a run is reproducible bit for bit with the same torch and the same kernel
family (``torch.backends.cpu.get_cpu_capability()``: DEFAULT, AVX2, AVX512...).  Another
family rounds differently in the last bits; over a few hundred steps that can move an
accuracy by an example or two (measured in tests/test_shipped_reports.py).
"""
from __future__ import annotations

import os
import platform
import sys


def environment(device: str = "cpu") -> dict[str, str]:
    """Versions and kernels, in the order out.txt prints them (DomainBed's, then ours)."""
    import numpy as np
    import PIL
    import torch
    import torchvision

    return {
        "Python": sys.version.split(" ")[0],
        "PyTorch": torch.__version__,
        "Torchvision": torchvision.__version__,
        "CUDA": str(torch.version.cuda),
        "NumPy": np.__version__,
        "PIL": PIL.__version__,
        "Device": str(device),
        "CPU kernels": torch.backends.cpu.get_cpu_capability(),
        "CPU": cpu_model(),
        "CPU cores": str(os.cpu_count()),
        "System": f"{platform.system()} {platform.machine()}",
    }


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":  # python -m rgd_bench._machine > reports/provenance.json
    import json

    print(json.dumps(environment(), indent=1))
