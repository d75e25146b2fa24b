r"""Scores structure-by-search settings on a split, without training anything.

The numbers of docs/model.md, "Structure by search" (and the search rows of RESULTS.md's
"what was tried") come from this script: a checkpoint's π gives the points, the search
(``skeleton_perception/nn/structure_search.py``) gives S with the weights given here, and
the evaluation protocol scores the result (``structure-frame`` predicted joints, as in those
tables)::

    .venv/bin/python scripts/score_search.py skeleton_perception/weights/default.pt \
        --data data/v1/cartpoles data/v1/swimmers data/v1/spiders data/v1/mwhc \
        --episodes 20 --set count_power=1 sparse_joints=20 sparse_links=0
    .venv/bin/python scripts/score_search.py models/cartpoles.pt --data data/v1/cartpoles \
        --episodes 30 --gap 8 --set count_power=2 sparse_joints=250 sparse_links=500

``--gap N`` searches on two frames N apart (as a training pair would be), the default one
frame (as at inference). ``--set`` keys are ``SearchConfig`` fields; the rest keep the
checkpoint's ``model.search`` values.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
import yaml
from skeleton_perception.training.evaluation.evaluate import evaluate_store
from skeleton_perception.training.evaluation.protocol import EvalParams
from skeleton_perception.training.sim.datasets import get_dataset
from skeleton_perception.training.sim.storage import EpisodeStore, dataset_name

from skeleton_perception import SkeletonDetector
from skeleton_perception.detector import skeleton_from_prediction
from skeleton_perception.nn.structure_search import search_skeleton
from skeleton_perception.preprocess import Letterbox


class SearchPredictor:
    """π's points from a detector, S from the search (one frame, or two ``gap`` apart)."""

    name = "search"
    has_structure = True

    def __init__(self, detector: SkeletonDetector, search, gap: int):
        self.detector, self.search, self.gap = detector, search, gap

    def predict_episode(self, frames: np.ndarray, episode_index: int) -> list:
        """One skeleton per frame of ``frames`` (T, H, W, 3)."""
        T, H, W = frames.shape[:3]
        points = np.stack([s.points for s in self.detector.predict_batch(list(frames))])
        box = Letterbox.fit(W, H, self.detector.input_size)
        xy = torch.from_numpy(box.to_network_pixels(points.reshape(-1, 2)).reshape(points.shape))
        views = [xy]
        if self.gap:
            partner = [t + self.gap if t + self.gap < T else t - self.gap for t in range(T)]
            views.append(xy[partner])
        S = search_skeleton(views, self.detector.input_size, self.search).numpy()
        return [
            skeleton_from_prediction(xy[t].numpy(), S[t], box, self.detector.link_threshold)
            for t in range(T)
        ]


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data", nargs="+", required=True, help="dataset folders")
    parser.add_argument("--split", default="val")
    parser.add_argument("--episodes", type=int, default=20, help="first N episodes of each")
    parser.add_argument("--gap", type=int, default=0, help="second frame this far (0: one)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--joint-set", default="structure-frame")
    args = parser.parse_args()
    torch.set_num_threads(1)
    detector = SkeletonDetector.from_checkpoint(args.checkpoint, device="cpu")
    search = detector.model.cfg.search
    for text in args.set:
        key, _, raw = text.partition("=")
        if key not in {f.name for f in dataclasses.fields(search)}:
            parser.error(f"--set {text}: {key!r} is not a SearchConfig field")
        setattr(search, key, type(getattr(search, key))(yaml.safe_load(raw)))
    predictor = SearchPredictor(detector, search, args.gap)
    rows = []
    for folder in args.data:
        spec = get_dataset(dataset_name(folder))
        store = EpisodeStore(folder, args.split)
        params = EvalParams(epsilon=float(spec.epsilon), seed=0)
        ev, *_ = evaluate_store(store, predictor, params, args.joint_set, args.episodes)
        st, jo = (ev.summarize()[k] for k in ("structure", "joints"))
        rows.append((st["bcc"], st["f1"], jo["f1"]))
        print(f"{spec.name:13s} structure Bcc {st['bcc']:.3f} F1 {st['f1']:.3f} | joints "
              f"F1 {jo['f1']:.3f} prec {jo['prec']:.2f} rec {jo['rec']:.2f} "
              f"Diff {jo['diff']:.2f}", flush=True)  # fmt: skip
    mean = np.nanmean(np.array(rows, dtype=float), axis=0)
    print(f"mean          structure Bcc {mean[0]:.3f} F1 {mean[1]:.3f} | joints F1 {mean[2]:.3f}")


if __name__ == "__main__":
    main()
