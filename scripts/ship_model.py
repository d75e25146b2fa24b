"""Exports a training run's checkpoint as a small fp16 inference model, with provenance.

    .venv/bin/python scripts/ship_model.py runs/default --after runs/cartpoles \
        --out skeleton_perception/weights/default.pt

records in the checkpoint's metadata the training time summed over the run and the runs it
was initialised from (``--after``, read from their log.csv), the machine, and the sources.

``--set model.KEY=VALUE`` changes inference-only model settings on the way (e.g. how S is
predicted; never shapes), recorded in the metadata's ``config_changes``. The source may
also be an already shipped model instead of a run (its provenance is kept)::

    .venv/bin/python scripts/ship_model.py skeleton_perception/weights/default.pt \
        --out skeleton_perception/weights/default.pt --set model.structure=search
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from skeleton_perception.training.config import TrainConfig, parse_override, set_value
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
    parser.add_argument(
        "run", type=Path, help="run directory (checkpoint.pt, log.csv) or a shipped model file"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--after", type=Path, nargs="*", default=[], help="runs it started from")
    parser.add_argument(
        "--after-model",
        type=Path,
        help="shipped model the run started from (--init): its provenance is carried over",
    )
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="model.KEY=VALUE", help="model config changes"
    )
    args = parser.parse_args()
    source = args.run if args.run.is_file() else args.run / "checkpoint.pt"
    parent = load_checkpoint(args.after_model)["metadata"] if args.after_model else None
    export_weights(source, args.out, half=True)
    ckpt = load_checkpoint(args.out)
    meta = dict(ckpt["metadata"])
    if not args.run.is_file():
        runs = [*args.after, args.run]
        meta.setdefault("hardware", hardware() + " (the machine that exported it)")
        meta["train_seconds"] = sum(run_seconds(r) for r in runs)
        meta["training_runs"] = [str(r) for r in runs]
        meta["total_steps"] = sum(int(load_checkpoint(r / "checkpoint.pt")["step"]) for r in runs)
        if parent is not None:  # read before --out, which may be the same file
            meta["train_seconds"] += float(parent.get("train_seconds", 0.0))
            meta["total_steps"] += int(parent.get("total_steps", 0))
            meta["training_runs"] = [*parent.get("training_runs", []), *meta["training_runs"]]
            meta["started_from"] = str(args.after_model)
            if "joint_selection" in parent:  # the fixed joint ids it kept
                meta.setdefault("joint_selection", parent["joint_selection"])
    config = ckpt["config"]
    if args.set:
        cfg = TrainConfig.from_dict(config)
        for text in args.set:
            key, value = parse_override(text)
            if not key.startswith("model."):
                parser.error(f"--set {text}: only model.* keys can be changed")
            set_value(cfg, key, value)
        config = cfg.to_dict()
        changes = dict(meta.get("config_changes", {}))
        changes.update({parse_override(t)[0]: parse_override(t)[1] for t in args.set})
        meta["config_changes"] = changes
    save_checkpoint(args.out, ckpt["model"], config, ckpt["step"], None, meta)
    size = args.out.stat().st_size / 2**20
    print(f"wrote {args.out} ({size:.1f} MiB): {meta['total_steps']} steps, "
          f"{meta['train_seconds'] / 60:.0f} min of training")  # fmt: skip


if __name__ == "__main__":
    main()
