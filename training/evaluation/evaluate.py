"""``skeleton-perception evaluate``: score a method on held-out episodes (paper Sec. IV).

Runs the method on every frame of every episode of a split (one frame at a time), scores
it with :mod:`skeleton_perception.training.evaluation.protocol`, prints the paper's tables
and writes a JSON with every metric, per-episode values and where the numbers come from.

Examples::

    skeleton-perception evaluate --checkpoint runs/cartpoles/checkpoint.pt \
        --data data/cartpoles --out results/cartpoles-ours.json
    skeleton-perception evaluate --model transporter \
        --checkpoint runs/transporter-cartpoles/checkpoint.pt \
        --data data/cartpoles --out results/cartpoles-transporter.json
    skeleton-perception evaluate --model random --data data/cartpoles \
        --out results/cartpoles-random.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
from skeleton_perception.training.evaluation import paper, predictors, tables
from skeleton_perception.training.evaluation.protocol import (
    JOINT_METRICS,
    STRUCTURE_METRICS,
    EpisodeTruth,
    EvalParams,
    Evaluator,
    structure_frame,
)
from skeleton_perception.training.sim.storage import dataset_name

from skeleton_perception.atomic import write_bytes_atomic

MODELS = ("ours", "transporter", "random")


def _jsonable(x):
    """NaN -> None, numpy/torch values -> Python (big arrays -> a note), recursively."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if hasattr(x, "shape") and hasattr(x, "tolist"):  # numpy arrays, torch tensors
        size = int(np.prod(x.shape)) if len(x.shape) else 1
        return _jsonable(x.tolist()) if size <= 16 else f"<array {tuple(x.shape)}>"
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return None
    return x


def checkpoint_metadata(path: str | None) -> dict:
    """Training hardware/time and settings stored in a checkpoint, whatever its producer."""
    if not path:
        return {}
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # metadata is informative only
        return {"error": f"{path}: could not read metadata: {err}"}
    if not isinstance(ckpt, dict):
        return {}
    meta = dict(ckpt.get("metadata") or ckpt.get("meta") or {})
    for key in ("step", "steps", "iteration", "config", "train_seconds", "hardware"):
        if key in ckpt and key not in meta and not hasattr(ckpt[key], "shape"):
            meta[key] = ckpt[key]
    if "train_seconds" not in meta:  # else the last elapsed time of the run's log.csv
        seconds = _log_seconds(Path(path).parent / "log.csv")
        if seconds is not None:
            meta["train_seconds"] = seconds
            meta["train_seconds_source"] = "log.csv beside the checkpoint"
    meta.setdefault("hardware", "not recorded in the checkpoint")
    return _jsonable(meta)


def _log_seconds(path: Path) -> float | None:
    """Last value of a seconds column (seconds, time_s, elapsed) of a training log CSV."""
    import csv

    if not path.exists():
        return None
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error):
        return None
    for column in ("seconds", "time_s", "elapsed", "train_seconds"):
        if rows and column in rows[-1]:
            try:
                return float(rows[-1][column])
            except (TypeError, ValueError):
                return None
    return None


def make_predictor(
    model: str,
    checkpoint: str | None,
    max_joints: int,
    seed: int,
    device: str,
    structure: str | None = None,
):
    """The method named ``model`` (one of :data:`MODELS`); ``structure``: see --structure."""
    if model == "random":
        return predictors.RandomPredictor(max_joints=max_joints, seed=seed)
    if not checkpoint:
        raise SystemExit(f"evaluate: a checkpoint is required for model {model!r}")
    if model == "transporter":
        return predictors.TransporterPredictor(checkpoint, device=device)
    if model == "ours":
        return predictors.OursPredictor(checkpoint, device=device, structure=structure)
    raise SystemExit(f"evaluate: unknown model {model!r}; choose from {', '.join(MODELS)}")


def evaluate_store(store, predictor, params: EvalParams, joint_set: str, limit: int | None):
    """Runs and scores ``predictor`` on every episode of ``store``.

    Returns:
        (evaluator, seconds spent in the predictor, frames seen, first episode's
        (episode, skeletons) for figures).
    """
    from tqdm import tqdm

    ev = Evaluator(params)
    predict_seconds, frames_seen, first = 0.0, 0, None
    count = len(store) if limit is None else min(limit, len(store))
    for i in tqdm(range(count), desc=f"evaluate {predictor.name}", leave=False, disable=None):
        ep = store[i]
        start = time.monotonic()
        skeletons = predictor.predict_episode(ep.frames, ep.index)
        predict_seconds += time.monotonic() - start
        frames_seen += len(ep.frames)
        T, H, W, _ = ep.frames.shape
        r = structure_frame(ep.index, T, params.seed)
        pred = predictors.to_prediction(
            skeletons, r, predictor.has_structure, joint_set, params.link_threshold
        )
        truth = EpisodeTruth(ep.joints, ep.visible, ep.adjacency, (W, H), ep.index)
        ev.evaluate(truth, pred)
        if first is None:
            first = (ep, skeletons)
    ev.accumulate()
    return ev, predict_seconds, frames_seen, first


def print_tables(label: str, summary: dict, dataset: str) -> None:
    """Prints our measured row under the paper's rows for the same dataset."""
    rows = paper.paper_rows(dataset)
    if summary["structure"] is not None:
        print(f"\nStructure (Table I), {dataset}")
        print(
            tables.markdown_table(
                {f"{label} (measured)": summary["structure"], **rows["structure"]},
                STRUCTURE_METRICS,
            )
        )
    print(f"\nJoints (Table II), {dataset}")
    print(
        tables.markdown_table(
            {f"{label} (measured)": summary["joints"], **rows["joints"]}, JOINT_METRICS
        )
    )
    j = summary["joints"]
    print(
        f"\nPer image: joint F1 {j['f1']:.3f}, at ε/2 {j['f1_half_eps']:.3f}, "
        f"consistency {j['consistency']:.3f}, published joints within 2 px of the border "
        f"{j['border_fraction']:.3f}"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Command-line arguments of ``evaluate``."""
    parser.add_argument("--data", required=True, help="dataset folder from `generate`")
    parser.add_argument("--checkpoint", help="checkpoint of --model ours or transporter")
    parser.add_argument("--model", choices=MODELS, default="ours")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", help="JSON path (default: results/<dataset>-<model>.json)")
    parser.add_argument("--dataset", help="dataset name (default: from --data/dataset.json)")
    parser.add_argument("--epsilon", type=float, help="override the dataset's ε")
    parser.add_argument(
        "--joint-set",
        choices=predictors.JOINT_SETS,
        default="frame",
        help="predicted trajectory set (docs/evaluation.md)",
    )
    parser.add_argument("--episodes", type=int, help="score only the first N episodes")
    parser.add_argument("--seed", type=int, default=0, help="structure-frame and chance seed")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--figure", help="PNG of the first episode (e.g. docs/images/x.png)")
    parser.add_argument(
        "--figure-with",
        action="append",
        default=[],
        metavar="MODEL=CHECKPOINT",
        help="extra figure row from another method (e.g. transporter=runs/t/checkpoint.pt, "
        "random=); repeatable",
    )
    parser.add_argument("--label", help="row label in tables (default: --model)")
    parser.add_argument(
        "--structure",
        choices=("fixed", "psi", "search", "video"),
        help="--model ours: the checkpoint's chosen joints linked by a tree, the network ψ, "
        "or search, on each image (default: the checkpoint's model.structure); 'video': one "
        "link set searched over the whole episode (SkeletonDetector.predict_video; not per "
        "image, a diagnostic)",
    )


def run(args: argparse.Namespace) -> int:
    """Entry point of ``skeleton-perception evaluate``."""
    from skeleton_perception.training.sim.datasets import get_dataset
    from skeleton_perception.training.sim.storage import EpisodeStore

    spec = get_dataset(dataset_name(args.data, args.dataset))
    epsilon = args.epsilon if args.epsilon is not None else float(spec.epsilon)
    params = EvalParams(epsilon=epsilon, seed=args.seed)
    store = EpisodeStore(args.data, args.split)
    predictor = make_predictor(
        args.model, args.checkpoint, int(spec.max_joints), args.seed, args.device, args.structure
    )
    label = args.label or args.model
    start = time.monotonic()
    ev, predict_seconds, frames_seen, first = evaluate_store(
        store, predictor, params, args.joint_set, args.episodes
    )
    summary = ev.summarize()
    print_tables(label, summary, spec.name)
    out = Path(args.out or f"results/{spec.name}-{args.model}.json")
    result = {
        "dataset": spec.name,
        "model": args.model,
        "label": label,
        "split": args.split,
        "data": str(args.data),
        "checkpoint": args.checkpoint,
        "structure": args.structure,
        "num_episodes": len(ev.episodes),
        "num_frames": frames_seen,
        "params": {
            "epsilon": epsilon,
            "link_threshold": params.link_threshold,
            "seed": params.seed,
            "joint_set": args.joint_set,
        },
        "summary": summary,
        "per_episode": ev.per_episode(),
        "checkpoint_metadata": checkpoint_metadata(args.checkpoint),
        "evaluation": {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU threads, {args.device}",
            "seconds": time.monotonic() - start,
            "predict_ms_per_frame": 1000.0 * predict_seconds / max(frames_seen, 1),
        },
    }
    if args.figure and first is not None:
        from skeleton_perception.training.evaluation.figures import episode_figure

        ep, skeletons = first
        rows = {label: skeletons}
        for spec_text in args.figure_with:
            model, _, ckpt = spec_text.partition("=")
            other = make_predictor(model, ckpt or None, int(spec.max_joints), args.seed, "cpu")
            rows[model] = other.predict_episode(ep.frames, ep.index)
        episode_figure(
            ep.frames,
            ep.joints,
            ep.visible,
            ep.adjacency,
            rows,
            args.figure,
            title=f"{spec.name}, {args.split} episode {ep.index} ({ep.family})",
        )
        result["figure"] = str(args.figure)
        print(f"figure: {args.figure}")
    write_bytes_atomic(out, json.dumps(_jsonable(result), indent=1).encode())
    print(f"results: {out}")
    return 0
