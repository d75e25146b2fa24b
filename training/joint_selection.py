"""``skeleton-perception select-joints``: a joint set that holds from image to image.

Searched on one image, the link set (``ModelConfig.structure = "search"``) changes from
frame to frame, because one image cannot tell a rigid link from a coincidence: the
published joints flicker and, scored per image, are mostly wrong. Over a whole episode a
link is unambiguous (it joins points that stay on the object in every frame). So,
without labels:

1. **Episode skeletons** (:func:`episode_skeletons`): for every training episode, the one
   link set searched over π's points on every ``every``-th frame
   (:meth:`~skeleton_perception.SkeletonDetector.predict_video`).
2. **Joint frequency** (:func:`joint_frequency`): how often each point id is a joint of
   its episode's skeleton.
3. **The joint set** (:func:`select`): one of the candidates, chosen on the val
   split(s) by the per-image joint F1 of ``evaluate`` (mean over the datasets given;
   ties: the smaller set). The candidates are the K most frequent ids for each K, and
   the ids that the model's ψ network links (:func:`psi_ids`; ψ was trained with the
   paper's skeleton losses and links nearly the same ids in every image). The model
   then publishes these K points in every image, linked
   by the tree that best follows the object in that image (``structure = "fixed"``,
   :func:`~skeleton_perception.nn.structure_search.tree_skeleton`).

The weights are unchanged: the output checkpoint is the input with ``structure``,
``joint_ids`` and the selection table (metadata ``joint_selection``). docs/model.md has
the numbers.
"""

from __future__ import annotations

import argparse
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from skeleton_perception.training.evaluation.evaluate import evaluate_store
from skeleton_perception.training.evaluation.predictors import OursPredictor
from skeleton_perception.training.evaluation.protocol import EvalParams
from skeleton_perception.training.sim.datasets import get_dataset
from skeleton_perception.training.sim.storage import EpisodeStore, dataset_name

from skeleton_perception import SkeletonDetector
from skeleton_perception.checkpoint import (
    build_model_from_checkpoint,
    load_checkpoint,
    save_checkpoint,
)

DEFAULT_KS = (3, 4, 5, 6, 8, 10, 12, 16, 20, 24)


def episode_skeletons(detector: SkeletonDetector, store: EpisodeStore, every: int) -> np.ndarray:
    """The link set of every episode of a split, searched over its every-th frame.

    Returns:
        (E, P, P) bool adjacency over point ids.
    """
    out = []
    for ep in store:
        frames = list(ep.frames[:: max(1, int(every))])
        out.append(detector.predict_video(frames, every=1)[0].connectivity > 0.5)
    return np.stack(out)


def joint_frequency(skeletons: np.ndarray) -> np.ndarray:
    """(E, P, P) episode link sets -> (P,) fraction of episodes in which each id is a joint."""
    return skeletons.any(-1).mean(0)


def top_ids(frequency: np.ndarray, k: int) -> list[int]:
    """The ``k`` most frequent ids, sorted (ties: the lower id)."""
    order = np.argsort(-frequency, kind="stable")
    return sorted(int(i) for i in order[:k])


@contextmanager
def linking(detector: SkeletonDetector, structure: str, joint_ids: list[int] | None = None):
    """Lets an unoptimised detector's model link by ``structure`` (and ``joint_ids``) inside."""
    cfg = detector.model.cfg
    saved = cfg.structure, cfg.joint_ids
    cfg.structure, cfg.joint_ids = structure, list(joint_ids or cfg.joint_ids)
    try:
        yield detector
    finally:
        cfg.structure, cfg.joint_ids = saved


def psi_ids(detector: SkeletonDetector, stores: list[EpisodeStore], every: int) -> list[int]:
    """The ids that ψ links in at least half of the frames (every ``every``-th of each episode)."""
    counts, frames = np.zeros(detector.model.cfg.num_points), 0
    with linking(detector, "psi"):
        for store in stores:
            for ep in store:
                for sk in detector.predict_batch(list(ep.frames[:: max(1, int(every))])):
                    counts[sk.joint_ids] += 1
                    frames += 1
    return [int(i) for i in np.flatnonzero(counts >= 0.5 * max(frames, 1))]


def score(detector: SkeletonDetector, data: list[Path], joint_ids: list[int], episodes: int):
    """Per-image joint F1 and structure Bcc on the val split of each folder."""
    rows = []
    with linking(detector, "fixed", joint_ids):
        predictor = OursPredictor(detector=detector)
        for folder in data:
            store = EpisodeStore(folder, "val")
            spec = get_dataset(dataset_name(folder))
            ev, *_ = evaluate_store(store, predictor, EvalParams(spec.epsilon), "frame", episodes)
            summary = ev.summarize()
            rows.append((summary["joints"]["f1"], (summary["structure"] or {}).get("bcc")))
    return rows


def select(
    checkpoint: str | Path,
    data: list[str | Path],
    out: str | Path,
    ks: tuple[int, ...] = DEFAULT_KS,
    every: int = 10,
    val_episodes: int = 20,
) -> dict:
    """Chooses the joint set and writes the checkpoint (see the module docstring).

    Args:
        checkpoint: the trained model.
        data: dataset folders (train splits: episode skeletons; val splits: choosing K).
        out: the checkpoint written.
        ks: candidate K.
        every: frames between the searched frames of an episode.
        val_episodes: val episodes scored per folder.

    Returns:
        The selection record stored in the checkpoint's metadata.
    """
    ckpt = load_checkpoint(checkpoint)
    model = build_model_from_checkpoint(ckpt, checkpoint)
    detector = SkeletonDetector(model, device="cpu", optimize=False)
    stores = [EpisodeStore(d, "train") for d in data]
    frequency = joint_frequency(
        np.concatenate([episode_skeletons(detector, s, every) for s in stores])
    )
    candidates = [
        (f"top {k}", top_ids(frequency, k)) for k in sorted(set(ks)) if 2 <= k <= len(frequency)
    ]
    linked = psi_ids(detector, stores, every)
    if len(linked) >= 2:
        candidates.append(("psi", linked))
    table = []
    for source, ids in candidates:
        rows = score(detector, [Path(d) for d in data], ids, val_episodes)
        f1 = float(np.mean([r[0] for r in rows]))
        k = len(ids)
        table.append(
            {"source": source, "k": k, "joint_ids": ids, "val_f1": f1, "per_dataset": rows}
        )
        print(f"select-joints: {source:6s} K {k:2d}  val joint F1 {f1:.3f}  " + "  ".join(
            f"{Path(d).name} {r[0]:.3f}/Bcc {r[1] if r[1] is None else round(r[1], 3)}"
            for d, r in zip(data, rows, strict=True)
        ))  # fmt: skip
    best = max(table, key=lambda r: (r["val_f1"], -r["k"]))  # ties: the smaller set
    record = {
        "data": [str(d) for d in data],
        "every": every,
        "val_episodes": val_episodes,
        "frequency": [round(float(f), 4) for f in frequency],
        "table": [{k: v for k, v in r.items() if k != "per_dataset"} for r in table],
        "chosen_k": best["k"],
        "chosen": best["source"],
    }
    config = dict(ckpt["config"])
    config["model"] = {**config["model"], "structure": "fixed", "joint_ids": best["joint_ids"]}
    metadata = {**ckpt["metadata"], "joint_selection": record}
    save_checkpoint(out, ckpt["model"], config, ckpt["step"], None, metadata)
    print(f"select-joints: {best['source']}, K = {best['k']} ({best['joint_ids']}) -> {out}")
    return record


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``skeleton-perception select-joints``."""
    parser.add_argument("--checkpoint", required=True, help="the trained model")
    parser.add_argument("--data", nargs="+", required=True, help="dataset folder(s)")
    parser.add_argument("--out", required=True, help="checkpoint to write")
    parser.add_argument("--k", type=int, nargs="+", default=list(DEFAULT_KS), help="candidates")
    parser.add_argument("--every", type=int, default=10, help="episode frames step")
    parser.add_argument("--val-episodes", type=int, default=20, help="val episodes per folder")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``skeleton-perception select-joints``."""
    import torch

    torch.set_num_threads(1)
    select(args.checkpoint, args.data, args.out, tuple(args.k), args.every, args.val_episodes)
    return 0
