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


def first_step(ckpt: dict, own: bool) -> int:
    """The step at which the run whose directory holds ``ckpt`` began counting.

    Args:
        ckpt: the checkpoint found in the run's directory.
        own: whether the run wrote it (its log.csv is there too). A checkpoint put there
            to start from (an exported model, or another run's checkpoint) is the new
            run's first step, so the run counts only its own steps; a run's own records
            it (``first_step``; a run from before it was recorded: 0).
    """
    if not own:
        return int(ckpt["step"])
    return int((ckpt.get("metadata") or {}).get("first_step", 0))


def run_steps(ckpt: dict) -> int:
    """The steps the run that wrote ``ckpt`` trained itself (not those it started from)."""
    return int(ckpt["step"]) - first_step(ckpt, own=True)
