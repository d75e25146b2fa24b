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

Structure by search with other weights than the checkpoint's (``--search``), scored on the
val splits of several datasets (``--data`` with several folders; the last line is the mean
of structure Bcc, structure F1 and joints F1 over them, the rule that chose the shipped
search weights, docs/model.md)::

    skeleton-perception evaluate --checkpoint skeleton_perception/weights/default.pt \
        --data data/v1/cartpoles data/v1/swimmers --split val --episodes 20 \
        --joint-set structure-frame --search count_power=1 sparse_joints=20 sparse_links=0 \
        --out runs/search-sweep
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
import yaml
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
    search: dict | None = None,
):
    """The method named ``model`` (one of :data:`MODELS`).

    ``structure``: see --structure; ``search``: ``model.search`` keys changed (S by search).
    """
    if model == "random":
        return predictors.RandomPredictor(max_joints=max_joints, seed=seed)
    if not checkpoint:
        raise SystemExit(f"evaluate: a checkpoint is required for model {model!r}")
    if model == "transporter":
        return predictors.TransporterPredictor(checkpoint, device=device)
    if model == "ours" and search:
        return predictors.OursPredictor(detector=searching_detector(checkpoint, search, device))
    if model == "ours":
        return predictors.OursPredictor(checkpoint, device=device, structure=structure)
    raise SystemExit(f"evaluate: unknown model {model!r}; choose from {', '.join(MODELS)}")


def parse_search(texts: list[str]) -> dict:
    """``--search`` ``KEY=VALUE`` texts -> ``SearchConfig`` keys and values (typed).

    Raises:
        SystemExit: naming a key that is not a ``SearchConfig`` field, or a bad value.
    """
    from skeleton_perception.nn.structure_search import SearchConfig

    defaults, changes = SearchConfig(), {}
    for text in texts:
        key, sep, raw = text.partition("=")
        if not sep or not hasattr(defaults, key):
            raise SystemExit(f"evaluate: --search {text}: expected KEY=VALUE with KEY a "
                             f"model.search field ({', '.join(defaults.to_dict())})")  # fmt: skip
        try:
            changes[key] = type(getattr(defaults, key))(yaml.safe_load(raw))
        except (TypeError, ValueError) as err:
            raise SystemExit(f"evaluate: --search {text}: {err}") from err
    return changes


def searching_detector(checkpoint: str, search: dict, device: str):
    """A detector for ``checkpoint`` predicting S by search with ``search`` keys changed."""
    from skeleton_perception import SkeletonDetector
    from skeleton_perception.checkpoint import build_model_from_checkpoint, load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    weights = {**ckpt["config"]["model"].get("search", {}), **search}
    model = build_model_from_checkpoint(
        ckpt, checkpoint, {"structure": "search", "search": weights}
    )
    return SkeletonDetector(model, device, source=str(checkpoint))


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
    parser.add_argument(
        "--data", required=True, nargs="+",
        help="dataset folder(s) from `generate`; with several, each is scored and the mean of "
        "structure Bcc, structure F1 and joints F1 over them is printed last",
    )  # fmt: skip
    parser.add_argument("--checkpoint", help="checkpoint of --model ours or transporter")
    parser.add_argument("--model", choices=MODELS, default="ours")
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--out",
        help="JSON path, or a folder for <dataset>-<model>.json files (needed with several "
        "--data; default: results/<dataset>-<model>.json)",
    )
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
    parser.add_argument(
        "--search", nargs="+", default=[], metavar="KEY=VALUE",
        help="--model ours: S by search on each image with these model.search weights "
        "changed (e.g. sparse_joints=3 count_power=1), the checkpoint's for the others",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Entry point of ``skeleton-perception evaluate``."""
    several = len(args.data) > 1
    if several and (args.out is None or args.out.endswith(".json")):
        raise SystemExit("evaluate: with several --data, --out names a folder for the JSONs")
    if args.search and (args.model != "ours" or args.structure not in (None, "search")):
        raise SystemExit("evaluate: --search goes with --model ours (S by search)")
    search = parse_search(args.search)
    rows = []
    for folder in args.data:
        summary = evaluate_folder(args, folder, search, several)
        if summary["structure"] is not None:
            st, jo = summary["structure"], summary["joints"]
            rows.append((st["bcc"], st["f1"], jo["f1"]))
    if several and rows:
        bcc, f1, joints = np.nanmean(np.array(rows, dtype=float), axis=0)
        print(f"\nmean over {len(rows)} datasets: structure Bcc {bcc:.3f} F1 {f1:.3f} | "
              f"joints F1 {joints:.3f}; their mean {np.mean([bcc, f1, joints]):.3f}")  # fmt: skip
    return 0


def evaluate_folder(args: argparse.Namespace, folder: str, search: dict, several: bool) -> dict:
    """Scores ``args``'s method on one dataset folder, prints its tables, writes its JSON.

    Returns:
        The evaluation's summary.
    """
    from skeleton_perception.training.sim.datasets import get_dataset
    from skeleton_perception.training.sim.storage import EpisodeStore

    spec = get_dataset(dataset_name(folder, args.dataset))
    epsilon = args.epsilon if args.epsilon is not None else float(spec.epsilon)
    params = EvalParams(epsilon=epsilon, seed=args.seed)
    store = EpisodeStore(folder, args.split)
    predictor = make_predictor(
        args.model, args.checkpoint, int(spec.max_joints), args.seed, args.device,
        args.structure, search,
    )  # fmt: skip
    label = args.label or args.model
    start = time.monotonic()
    ev, predict_seconds, frames_seen, first = evaluate_store(
        store, predictor, params, args.joint_set, args.episodes
    )
    summary = ev.summarize()
    print_tables(label, summary, spec.name)
    name = f"{spec.name}-{args.model}.json"
    if args.out is None:
        out = Path("results") / name
    else:
        out = Path(args.out) / name if several or not args.out.endswith(".json") else Path(args.out)
    result = {
        "dataset": spec.name,
        "model": args.model,
        "label": label,
        "split": args.split,
        "data": str(folder),
        "checkpoint": args.checkpoint,
        "structure": "search" if search else args.structure,
        "search": search or None,
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
    return summary
