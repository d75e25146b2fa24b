"""Exports a training run's checkpoint as a small fp16 inference model, with provenance.

    .venv/bin/python scripts/ship_model.py runs/default --after runs/cartpoles \
        --out skeleton_perception/weights/default.pt

records in the checkpoint's metadata the training time summed over the run and the runs it
was initialised from (``--after``, read from their log.csv), the machine, and the sources.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from skeleton_perception.training.runinfo import hardware

from skeleton_perception.checkpoint import export_weights, load_checkpoint, save_checkpoint


def run_seconds(run: Path) -> float:
    """Wall-clock seconds of a run, from the last row of its log.csv."""
    with open(run / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["time_s"]) if rows else 0.0


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run", type=Path, help="run directory with checkpoint.pt and log.csv")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--after", type=Path, nargs="*", default=[], help="runs it started from")
    args = parser.parse_args()
    export_weights(args.run / "checkpoint.pt", args.out, half=True)
    ckpt = load_checkpoint(args.out)
    runs = [*args.after, args.run]
    meta = dict(ckpt["metadata"])
    meta.setdefault("hardware", hardware() + " (the machine that exported it)")
    meta["train_seconds"] = sum(run_seconds(r) for r in runs)
    meta["training_runs"] = [str(r) for r in runs]
    meta["total_steps"] = sum(int(load_checkpoint(r / "checkpoint.pt")["step"]) for r in runs)
    save_checkpoint(args.out, ckpt["model"], ckpt["config"], ckpt["step"], None, meta)
    size = args.out.stat().st_size / 2**20
    print(f"wrote {args.out} ({size:.1f} MiB): {meta['total_steps']} steps, "
          f"{meta['train_seconds'] / 60:.0f} min of training")  # fmt: skip


if __name__ == "__main__":
    main()
