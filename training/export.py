"""``skeleton-perception export``: a training run as a small fp16 inference model, with provenance.

::

    skeleton-perception export runs/default --after runs/cartpoles \
        --out skeleton_perception/weights/default.pt

records in the checkpoint's metadata the training time summed over the run and the runs it
was initialised from (``--after``, read from their log.csv; ``--after-model``, a shipped
model's own record), the machine, and the sources.

``--set model.KEY=VALUE`` changes inference-only model settings on the way (e.g. how S is
predicted; never shapes), recorded in the metadata's ``config_changes``. The source may
also be an already shipped model instead of a run (its provenance is kept)::

    skeleton-perception export skeleton_perception/weights/default.pt \
        --out skeleton_perception/weights/default.pt --set model.structure=search
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

from skeleton_perception.checkpoint import (
    CheckpointError,
    export_weights,
    load_checkpoint,
    save_checkpoint,
)

from .config import TrainConfig, parse_override, set_value
from .runinfo import hardware, run_steps


def run_seconds(run: Path) -> float:
    """Wall-clock seconds of a run, from the last row of its log.csv."""
    with open(run / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return float(rows[-1]["time_s"]) if rows else 0.0


def provenance(meta: dict, run: Path, after: list[Path], parent: dict | None) -> dict:
    """``meta`` with the training time, steps and runs of ``run`` and what it started from.

    Args:
        meta: the exported checkpoint's metadata.
        run: the run directory.
        after: runs it was initialised from, in order (their log.csv and checkpoint.pt).
        parent: the metadata of the shipped model it started from (``--after-model``).
    """
    meta = dict(meta)
    meta.pop("first_step", None)  # the run's counter, not the model's
    runs = [*after, run]
    meta.setdefault("hardware", hardware() + " (the machine that exported it)")
    meta["train_seconds"] = sum(run_seconds(r) for r in runs)
    meta["training_runs"] = [str(r) for r in runs]
    meta["total_steps"] = sum(run_steps(load_checkpoint(r / "checkpoint.pt")) for r in runs)
    if parent is not None:
        meta["train_seconds"] += float(parent.get("train_seconds", 0.0))
        meta["total_steps"] += int(parent.get("total_steps", 0))
        meta["training_runs"] = [*parent.get("training_runs", []), *meta["training_runs"]]
        meta["started_from"] = str(parent["path"])
        if "joint_selection" in parent:  # the fixed joint ids it kept
            meta.setdefault("joint_selection", parent["joint_selection"])
    return meta


def changed_config(config: dict, meta: dict, overrides: list[str]) -> tuple[dict, dict]:
    """The config with ``model.*`` ``overrides`` applied, and ``meta`` recording them.

    Raises:
        ValueError: a key outside ``model.*``, or one the config refuses.
    """
    cfg = TrainConfig.from_dict(config)
    changes = dict(meta.get("config_changes", {}))
    for text in overrides:
        key, value = parse_override(text)
        if not key.startswith("model."):
            raise ValueError(f"--set {text}: only model.* keys can be changed")
        set_value(cfg, key, value)
        changes[key] = value
    return cfg.to_dict(), {**meta, "config_changes": changes}


def export(
    run: Path,
    out: Path,
    after: list[Path] = (),
    after_model: Path | None = None,
    overrides: list[str] = (),
) -> dict:
    """Writes ``out`` from a run directory or a shipped model file; returns its metadata."""
    source = run if run.is_file() else run / "checkpoint.pt"
    if overrides:  # a bad key is refused before anything is written
        changed_config(load_checkpoint(source)["config"], {}, list(overrides))
    parent = None
    if after_model is not None:  # read before writing: --out may be the same file
        parent = {**load_checkpoint(after_model)["metadata"], "path": after_model}
    export_weights(source, out, half=True)
    ckpt = load_checkpoint(out)
    meta, config = ckpt["metadata"], ckpt["config"]
    if not run.is_file():
        meta = provenance(meta, run, list(after), parent)
    if overrides:
        config, meta = changed_config(config, meta, list(overrides))
    save_checkpoint(out, ckpt["model"], config, ckpt["step"], None, meta)
    return meta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``skeleton-perception export``."""
    parser.add_argument(
        "run", type=Path, help="run directory (checkpoint.pt, log.csv) or a shipped model file"
    )
    parser.add_argument("--out", type=Path, required=True, help="the model file to write")
    parser.add_argument("--after", type=Path, nargs="*", default=[], help="runs it started from")
    parser.add_argument(
        "--after-model",
        type=Path,
        help="shipped model the run started from (--init): its provenance is carried over",
    )
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="model.KEY=VALUE", dest="overrides",
        help="inference-only model config changes, e.g. model.structure=search",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Entry point of ``skeleton-perception export``."""
    try:
        meta = export(args.run, args.out, args.after, args.after_model, args.overrides)
    except (CheckpointError, ValueError, OSError) as err:
        print(f"export: {err}", file=sys.stderr)
        return 2
    size = args.out.stat().st_size / 2**20
    steps, seconds = meta.get("total_steps", "?"), float(meta.get("train_seconds", 0.0))
    print(f"wrote {args.out} ({size:.1f} MiB): {steps} steps, {seconds / 60:.0f} min of training")
    return 0
