"""What a run records about where it ran (stored in checkpoint metadata, shown in RESULTS.md)."""

from __future__ import annotations

import os
import platform

import torch


def hardware() -> str:
    """One line naming the machine: CPU model, visible CPU threads, torch threads, GPU."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return (
        f"{cpu}, {os.cpu_count()} CPU threads visible, torch threads {torch.get_num_threads()}{gpu}"
    )
