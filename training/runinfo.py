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


def first_step(ckpt: dict) -> int:
    """The step at which the run that wrote ``ckpt`` began counting.

    A run records it (``first_step`` in the metadata). A checkpoint without optimiser state
    is no run's (an exported model, or one copied in as a run's start): it is its own
    first step, so a run that goes on from it counts only its own steps. An older run's
    checkpoint, which did not record it, counts from 0.
    """
    meta = ckpt.get("metadata") or {}
    if "first_step" in meta:
        return int(meta["first_step"])
    return 0 if ckpt.get("optimizer") else int(ckpt["step"])


def run_steps(ckpt: dict) -> int:
    """The steps the run that wrote ``ckpt`` trained itself (not those it started from)."""
    return int(ckpt["step"]) - first_step(ckpt)
